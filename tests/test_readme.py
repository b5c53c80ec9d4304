"""Every README command block that names a shipped config runs as written, in order, in a fresh folder.

The blocks share one folder, as a reader typing them one after the other would: the first ``fit`` makes
``runs/digits/version_0``, which the ``test`` command after it reads. A ``<ckpt>`` placeholder stands for
the checkpoint the last ``fit`` printed. Training runs 1 epoch (an added override) to keep the test lean.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, subprocess_env
from lightcli.commands import main

NOT_RUN = {
    "bash scripts/setup.sh": "creates a virtual environment and installs packages",
    "torchrun ": "needs 2 machines",
    "srun ": "needs SLURM",
    "--trainer.strategy ddp": "2 processes: tests/test_ddp.py runs DDP fits",
    "lightcli sweep ": "20 trials: tests/test_sweep.py runs sweeps",
    "--executor slurm": "needs SLURM: tests/test_submit.py checks the sbatch script with a stand-in sbatch",
}
"""Commands a test cannot run as written, and where else they are covered."""


def readme_commands() -> list[list[str]]:
    """The command blocks of the README that name a shipped config: each a list of commands (``\\`` joined)."""
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)
    found = []
    for block in blocks:
        lines = block.replace("\\\n", " ").splitlines()
        if not any("configs/" in line and line.lstrip().startswith(("lightcli ", "$ lightcli")) for line in lines):
            continue
        if any(line.startswith("$ ") for line in lines):
            continue  # a console session showing an error: the tests of that error check its text
        commands = [line.split("  #")[0].strip() for line in lines if line.startswith("lightcli ")]
        found.append([c for c in commands if not any(marker in c for marker in NOT_RUN)])
    return [block for block in found if block]


def test_the_readme_blocks_are_found() -> None:
    """The parser of the README finds the first steps, and leaves out only what :data:`NOT_RUN` names."""
    blocks = readme_commands()
    first = blocks[0]
    assert first[0].startswith("lightcli fit --config configs/digits.yaml")
    assert first[2].startswith("lightcli test --config my.yaml --ckpt_path runs/digits/version_0/")
    assert any("lightcli predict --config configs/digits_predict.yaml" in c for b in blocks for c in b)


@pytest.mark.slow
def test_every_readme_command_block_naming_a_shipped_config_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first block runs as real ``lightcli`` processes in a shell (its ``> my.yaml`` included); the others
    in-process through the same entry point (one torch import: the test stays in seconds, not minutes)."""
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    checkpoint = None
    for number, block in enumerate(readme_commands()):
        for command in block:
            if checkpoint is not None:
                command = command.replace("<ckpt>", checkpoint)
            assert not re.search(r"<\w+>", command), f"a placeholder without a value: {command}"
            if command.startswith("lightcli fit ") and "--print_config" not in command:
                command += " --trainer.max_epochs 1 --trainer.enable_progress_bar false"
            if number == 0:
                shell = command.replace("lightcli ", f"{sys.executable} -m lightcli ", 1)
                done = subprocess.run(
                    shell, shell=True, cwd=tmp_path, capture_output=True, text=True, env=subprocess_env(), check=False
                )
                code, out, err = done.returncode, done.stdout, done.stderr
            else:
                code = main(shlex.split(command)[1:])
                out, err = capsys.readouterr()
            assert code == 0, f"{command}\n{out[-2000:]}\n{err[-2000:]}"
            printed = re.findall(r"^checkpoint: (.+)$", out, flags=re.M)
            checkpoint = printed[-1] if printed else checkpoint
    assert (tmp_path / "my.yaml").is_file()
    assert list((tmp_path / "runs" / "my").glob("version_0"))  # `lightcli test --config my.yaml` ran
