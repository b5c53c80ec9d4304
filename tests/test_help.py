"""``--help`` shows the System: its keys with their docstrings, the chosen classes' init_args, short class lists;
every ``.help`` option it advertises works; ``lightcli --version`` names the versions without importing torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, subprocess_env
from lightcli.config.helpargs import chosen_classes, with_system_help
from lightcli.upstream.jsonargparse import ALL_CLASSES_ENV_VAR, short_class_list

DIGITS = str(REPO / "configs" / "digits.yaml")
SYSTEM_KEYS = (
    "model",
    "criterion",
    "optimizer",
    "scheduler",
    "dataloaders",
    "metrics",
    "adapters",
    "inferer",
    "weights",
    "param_groups",
)


def _help(cli, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli(*args) == 0
    captured = capsys.readouterr()
    assert "error" not in captured.err, captured.err
    return re.sub(r"\s+", " ", captured.out)  # the formatter wraps lines at the terminal width


def test_fit_help_lists_the_system_keys_and_the_chosen_classes_init_args(cli, capsys) -> None:
    out = _help(cli, capsys, "fit", "--config", DIGITS, "--help")
    assert "--trainer.max_epochs" in out  # the trainer's options are still there
    for key in SYSTEM_KEYS:
        assert f"--system.{key} " in out, key
    assert "--system.model MODEL The network (any ``torch.nn.Module``)." in out
    assert "--system.optimizer OPTIMIZER The optimizer class_path and its init_args" in out
    # digits.yaml chose lightcli.MLP, torch.optim.Adam and lightcli.Digits: their own arguments are listed
    assert "--system.model: lightcli.MLP (its init_args):" in out
    assert "--system.model.init_args.hidden HIDDEN" in out and "Sizes of the hidden layers, in order." in out
    assert "--system.optimizer.init_args.lr LR" in out
    assert "--system.dataloaders.train.init_args.dataset.init_args.split" in out
    # ~500 module classes are not listed one by one: a dozen, then a count per package
    model = out[out.index("--system.model MODEL") :][:1500]
    assert "lightcli.MLP" in model and "torch.nn.Linear" in model
    assert "torch.ao.nn.quantized.reference.Conv1d" not in model
    assert re.search(r"and \d+ more \(\d+ in torchmetrics", model), model
    assert f"{ALL_CLASSES_ENV_VAR}=1" in model


def test_a_class_given_on_the_command_line_shows_its_init_args(cli, capsys) -> None:
    out = _help(cli, capsys, "fit", "--system.optimizer", "torch.optim.SGD", "--help")
    assert "--system.optimizer: torch.optim.SGD (its init_args):" in out
    assert "--system.optimizer.init_args.momentum MOMENTUM" in out


def test_a_nested_help_option_works_on_its_own(cli, capsys) -> None:
    """``--system.adapters.help`` failed with "expected one argument" unless ``--system.help`` came first."""
    out = _help(cli, capsys, "fit", "--system.adapters.help")
    assert "--system.adapters.train.batch.input INPUT" in out


@pytest.mark.slow
def test_every_help_option_that_help_advertises_works(cli, capsys) -> None:
    out = _help(cli, capsys, "fit", "--help")
    advertised = sorted(set(re.findall(r"(--system\.\w+\.help)( \[CLASS_PATH_OR_NAME\])?", out)))
    assert {option for option, _ in advertised} >= {f"--system.{k}.help" for k in ("adapters", "metrics", "model")}
    example = {"--system.model.help": "lightcli.MLP", "--system.optimizer.help": "torch.optim.SGD"}
    for option, takes_class in advertised:
        key = option.removeprefix("--system.").removesuffix(".help")
        args = [option, example[option]] if takes_class and option in example else [option]
        shown = _help(cli, capsys, "fit", *args)
        assert f"--system.{key}." in shown, (option, shown[:300])


def test_the_short_class_list_keeps_lightcli_and_common_classes_first() -> None:
    paths = [f"torch.ao.nn.X{i}" for i in range(20)] + ["torch.nn.Linear", "lightcli.MLP", "torchmetrics.Metric"]
    text = short_class_list(paths, limit=3)
    assert text.startswith("lightcli.MLP, torch.nn.Linear, torchmetrics.Metric and 20 more (20 in torch.ao")
    assert short_class_list(["a.B", "c.D"]) == "a.B, c.D"


def test_chosen_classes_follow_the_config_then_the_command_line(tmp_path: Path) -> None:
    chosen = chosen_classes(["fit", "--config", DIGITS, "--system.model=lightcli.ConvNet"])
    assert chosen["model"] == "lightcli.ConvNet"
    assert chosen["optimizer"] == "torch.optim.Adam"
    assert chosen["dataloaders.train.init_args.dataset"] == "lightcli.Digits"
    assert chosen_classes(["fit", "--config", str(tmp_path / "missing.yaml")]) == {}
    assert with_system_help(["fit", "--system.adapters.help"]) == [
        "fit",
        "--system.help",
        "lightcli.System",
        "--system.adapters.help",
    ]


def test_version_names_lightcli_and_its_dependencies_without_importing_torch() -> None:
    code = "import sys; from lightcli.commands import main; main(['--version']); print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("lightcli ")
    for name in ("torch", "pytorch-lightning", "jsonargparse", "torchmetrics"):
        assert any(re.fullmatch(rf"  {name} \d+\.\d+.*", line) for line in lines), (name, lines)
    assert lines[-1] == "False"  # importlib.metadata only
    assert done.stderr == ""
