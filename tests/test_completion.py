"""``lightcli completion bash|zsh``: subcommands, nested keys, classes, init_args and values complete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env
from lightcli.cli import main

pytestmark = pytest.mark.slow  # real bash and zsh sessions driving the generated scripts

needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bash script from a real ``lightcli completion bash`` process, the zsh one in-process."""
    folder = tmp_path_factory.mktemp("completion")
    bash = subprocess.run(
        [sys.executable, "-m", "lightcli", "completion", "bash"],
        cwd=folder,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert bash.returncode == 0, bash.stderr
    assert bash.stderr == ""
    (folder / "lightcli.bash").write_text(bash.stdout)
    before = os.getcwd()
    os.chdir(folder)  # an empty project
    try:
        assert main(["completion", "zsh", "-o", "_lightcli"]) == 0
    finally:
        os.chdir(before)
    return {"bash": folder / "lightcli.bash", "zsh": folder / "_lightcli"}


def candidates(shell: str, script: Path, *words: str) -> list[str]:
    """What the script offers for the last word of ``lightcli <words>``."""
    line = " ".join(f"'{w}'" for w in ("lightcli", *words))
    result = subprocess.run(
        [shell, "-c", f"source '{script}' && _lightcli_candidates {len(words)} {line}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


SHELLS = ["bash", pytest.param("zsh", marks=needs_zsh)]


@pytest.mark.parametrize("shell", SHELLS)
def test_subcommands(scripts: dict[str, Path], shell: str) -> None:
    assert set(candidates(shell, scripts[shell], "")) >= {
        "fit",
        "validate",
        "test",
        "predict",
        "schema",
        "sweep",
        "diff",
    }
    assert sorted(candidates(shell, scripts[shell], "s")) == ["schema", "submit", "sweep"]


@pytest.mark.parametrize("shell", SHELLS)
def test_nested_keys(scripts: dict[str, Path], shell: str) -> None:
    script = scripts[shell]
    assert candidates(shell, script, "fit", "--trainer.max_e") == ["--trainer.max_epochs"]
    assert "--system.optimizer.init_args.lr" in candidates(shell, script, "fit", "--system.optimizer.init_args.")
    loader = candidates(shell, script, "test", "--system.dataloaders.test.init_args.batch_si")
    assert loader == ["--system.dataloaders.test.init_args.batch_size"]
    assert candidates(shell, script, "fit", "--system.scheduler.inter") == ["--system.scheduler.interval"]


@pytest.mark.parametrize("shell", SHELLS)
def test_values_of_a_key(scripts: dict[str, Path], shell: str) -> None:
    script = scripts[shell]
    assert candidates(shell, script, "fit", "--system.scheduler.interval", "") == ["epoch", "step"]
    assert candidates(shell, script, "fit", "--trainer.enable_progress_bar", "") == ["true", "false", "null"]
    assert candidates(shell, script, "fit", "--system.optimizer", "torch.optim.SG") == ["torch.optim.SGD"]
    assert "Adam" in candidates(shell, script, "fit", "--system.optimizer", "Ad")
    assert "torchmetrics.classification.MulticlassAccuracy" in candidates(
        shell, script, "fit", "--system.metrics.val", "torchmetrics.classification.Multiclass"
    )
    assert candidates(shell, script, "fit", "--config", "") == ["__files__"]


@pytest.mark.parametrize("shell", SHELLS)
def test_init_args_of_the_class_given_on_the_line(scripts: dict[str, Path], shell: str) -> None:
    script = scripts[shell]
    words = ("fit", "--system.model", "lightcli.MLP", "--system.model.init_args.")
    assert candidates(shell, script, *words) == [
        "--system.model.init_args.in_features",
        "--system.model.init_args.out_features",
        "--system.model.init_args.hidden",
        "--system.model.init_args.activation",
        "--system.model.init_args.dropout",
    ]
    assert candidates(shell, script, "fit", "--system.model", "torch.nn.Linear", "--system.model.init_args.in") == [
        "--system.model.init_args.in_features"
    ]


@pytest.mark.parametrize("shell", SHELLS)
def test_tool_options_and_choices(scripts: dict[str, Path], shell: str) -> None:
    script = scripts[shell]
    assert candidates(shell, script, "sweep", "--sam") == ["--sampler"]
    assert candidates(shell, script, "sweep", "--sampler", "") == ["tpe", "random"]
    assert candidates(shell, script, "completion", "") == ["bash", "zsh"]
    assert candidates(shell, script, "diff", "--ig") == ["--ignore"]


def test_bash_registers_and_fills_compreply(scripts: dict[str, Path]) -> None:
    program = (
        f"source '{scripts['bash']}' && complete -p lightcli && "
        "COMP_WORDS=(lightcli fit --trainer.max_e) COMP_CWORD=2 && _lightcli && printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=False)
    assert result.stdout.splitlines() == [
        "complete -o bashdefault -o filenames -F _lightcli lightcli",
        "--trainer.max_epochs",
    ]


@needs_zsh
def test_zsh_autoloads_from_fpath(scripts: dict[str, Path]) -> None:
    folder = scripts["zsh"].parent
    program = f"fpath=('{folder}' $fpath); autoload -Uz compinit; compinit -u -D; print -r -- $_comps[lightcli]"
    result = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "_lightcli"
