"""Resume: a run killed with SIGKILL mid-epoch, resumed with --ckpt_path last, ends exactly like an uninterrupted one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import subprocess_env, tiny_config, write_config

# Runs lightcli, but parks the process in the middle of an epoch (after the batch given by the environment)
# and writes a marker file, so the test can SIGKILL it there: no timing involved.
PARKING = """
import os, sys, time
from pathlib import Path
from lightcli.core.system import System
from lightcli.cli import main

_original = System.on_train_batch_end

def on_train_batch_end(self, outputs, batch, batch_idx):
    _original(self, outputs, batch, batch_idx)
    if (self.current_epoch, batch_idx) == (int(os.environ["PARK_EPOCH"]), int(os.environ["PARK_BATCH"])):
        Path(os.environ["PARK_MARKER"]).write_text(str(self.global_step))
        while True:  # parked mid-epoch until the test kills the process
            time.sleep(0.05)

System.on_train_batch_end = on_train_batch_end
sys.exit(main(sys.argv[1:]))
"""

DEADLINE = 600  # seconds: only a guard against a hung CI job, never reached by a working run


def lightcli(workdir: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightcli", *map(str, args)],
        cwd=workdir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def state(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(workdir: Path) -> None:
    config = tiny_config(trainer={"max_epochs": 3, "deterministic": True})
    config["system"]["model"]["init_args"]["dropout"] = 0.2  # the random state must resume too
    write_config(workdir / "k.yaml", config)

    done = lightcli(workdir, "fit", "--config", "k.yaml")
    assert done.returncode == 0, done.stderr
    reference = workdir / "runs" / "k" / "version_0"

    (workdir / "parking.py").write_text(PARKING)
    marker = workdir / "parked"
    env = {**subprocess_env(), "PARK_EPOCH": "1", "PARK_BATCH": "2", "PARK_MARKER": str(marker)}
    process = subprocess.Popen(
        [sys.executable, "parking.py", "fit", "--config", "k.yaml"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    start = time.monotonic()
    while not marker.exists():  # poll for the marker file: the process is parked mid-epoch
        if process.poll() is not None:
            pytest.fail(
                f"training ended before reaching the kill point: {process.stderr.read() if process.stderr else ''}"
            )
        if time.monotonic() - start > DEADLINE:
            process.kill()
            pytest.fail("training never reached the kill point")
        time.sleep(0.05)
    process.kill()  # SIGKILL: no handler runs, nothing is flushed
    process.communicate()
    assert process.returncode == -9
    run = workdir / "runs" / "k" / "version_1"
    assert marker.read_text() == "7"  # killed at step 7, in epoch 1 ...
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4  # ... after epoch 0

    done = lightcli(workdir, "fit", "--config", run / "config.yaml", "--ckpt_path", "last")
    assert done.returncode == 0, done.stderr

    assert sorted(p.name for p in (workdir / "runs" / "k").iterdir()) == ["version_0", "version_1"]
    final, expected = state(run / "checkpoints" / "last.ckpt"), state(reference / "checkpoints" / "last.ckpt")
    assert final.keys() == expected.keys()
    assert all(torch.equal(final[k], expected[k]) for k in expected)
    # every metric row, per step and per epoch, as if the run had never been interrupted
    assert (run / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    commands = (run / "command.txt").read_text().splitlines()
    assert commands == ["lightcli fit --config k.yaml", f"lightcli fit --config {run / 'config.yaml'} --ckpt_path last"]


def test_ckpt_path_last_resumes_the_newest_run_of_the_config(cli, workdir: Path) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config) == 0
    assert cli("fit", "--config", config, "--ckpt_path", "last", "--trainer.max_epochs", "2") == 0
    run = workdir / "runs" / "tiny" / "version_0"
    assert sorted(p.name for p in run.parent.iterdir()) == ["version_0"]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 8
    record = yaml.safe_load((run / "run.yaml").read_text())
    assert record["resumes"][0]["resumed_from"] == "runs/tiny/version_0/checkpoints/last.ckpt"
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["max_epochs"] == 2


def test_ckpt_path_last_without_a_run_starts_a_new_one(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Set and forget for preemptible jobs: the first launch starts, the next ones resume."""
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config, "--ckpt_path", "last") == 0
    assert "ckpt_path last: no checkpoint in runs/tiny: starting a new run." in capsys.readouterr().err
    assert (workdir / "runs" / "tiny" / "version_0" / "checkpoints" / "last.ckpt").is_file()


def test_values_given_on_resume_win_over_the_checkpoint_and_are_reported(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())  # lr 0.01
    assert cli("fit", "--config", config) == 0
    run = workdir / "runs" / "tiny" / "version_0"
    capsys.readouterr()
    args = ["--trainer.max_epochs", "2", "--system.optimizer.init_args.lr", "0.5"]
    assert cli("fit", "--config", run / "config.yaml", "--ckpt_path", "last", *args) == 0
    err = capsys.readouterr().err
    assert err == (
        "resuming with values that differ from the checkpoint (those in force now are used):\n"
        "  system.optimizer.init_args.lr: checkpoint 0.01 -> now 0.5\n"
        "  trainer.max_epochs: checkpoint 1 -> now 2\n"
    )
    # Lightning restores the optimizer state, lr included: the given lr must still be the one trained with
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == 0.5
    assert ckpt["hyper_parameters"]["optimizer"]["init_args"]["lr"] == 0.5


def test_changes_that_cannot_work_on_resume_are_clear_errors_naming_the_key(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model's shapes and the optimizer class cannot change on resume: refused before anything runs."""
    assert cli("fit", "--config", write_config(workdir / "tiny.yaml", tiny_config())) == 0
    run = workdir / "runs" / "tiny" / "version_0"
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    resume = ["fit", "--config", "runs/tiny/version_0/config.yaml", "--ckpt_path", "last"]
    refused = {
        ("--system.model.init_args.hidden", "[32]"): (
            "error: system.model.init_args.hidden: expected [16] (the value runs/tiny/version_0/checkpoints/last.ckpt "
            "was trained with), got [32]. The checkpoint's weights do not fit the changed model (model.1.bias, "
            "model.1.weight, model.3.weight): resume with the checkpoint's model, or start a new run without "
            "--ckpt_path.\n"
        ),
        ("--system.optimizer", "torch.optim.SGD"): (
            "error: system.optimizer.class_path: expected torch.optim.Adam (the optimizer "
            "runs/tiny/version_0/checkpoints/last.ckpt was trained with: its state is restored on resume), got "
            "'torch.optim.SGD'. Resume with that optimizer, or start a new run without --ckpt_path (system.weights "
            "loads the checkpoint's weights alone).\n"
        ),
    }
    for change, error in refused.items():
        assert cli(*resume, *change) == 2
        assert capsys.readouterr().err == error
        assert {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # the run is untouched
