"""``--print_config=provenance``: the resolved config with where each value came from (file and line, command
line, checkpoint, or the default of which class), and config errors that name the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import tiny_config, write_config

SMALL = """\
trainer:
  max_epochs: 1
system:
  model:
    class_path: lightcli.MLP
    init_args: {in_features: 64, out_features: 10}
  criterion:
    class_path: torch.nn.CrossEntropyLoss
"""
SGD = "# plain SGD\nclass_path: torch.optim.SGD\ninit_args:\n  lr: 0.1\n  momentum: 0.9\n"

# the provenance of everything lightcli decides (the defaults of torch and Lightning classes vary by version:
# those lines are checked by their rule below)
EXPECTED = """\
seed_everything: true  # default of lightcli fit
trainer:
  logger: [...]  # default of lightcli fit
  max_epochs: 1  # small.yaml:2
system:
  class_path: lightcli.System  # default of lightcli fit
  init_args:
    model:
      class_path: lightcli.MLP  # small.yaml:5
      init_args:
        in_features: 64  # small.yaml:6
        out_features: 10  # small.yaml:6
        hidden: [8]  # command line --system.model.hidden
        activation: relu  # default of lightcli.MLP
        dropout: 0.0  # default of lightcli.MLP
    criterion:
      class_path: torch.nn.CrossEntropyLoss  # small.yaml:8
      init_args:
    optimizer:
      class_path: torch.optim.SGD  # sgd.yaml:2
      init_args:
        lr: 0.5  # command line --system.optimizer.lr
        momentum: 0.9  # sgd.yaml:5
    scheduler: null  # default of lightcli.System
    dataloaders: null  # default of lightcli.System
    metrics: null  # default of lightcli.System
    adapters: null  # default of lightcli.System
    inferer: null  # default of lightcli.System
    weights: null  # default of lightcli.System
    param_groups: null  # default of lightcli.System
    stop_on_nan: true  # default of lightcli.System
data: null  # default of lightcli fit
run:
  name: null  # default of lightcli.run.folders.RunOptions
  root: runs  # default of lightcli.run.folders.RunOptions
project: null  # default of lightcli fit
ckpt_path: null  # default of lightcli fit
"""

_OF_A_LIBRARY = re.compile(
    r"  # default of (pytorch_lightning\.Trainer|torch\.optim\.SGD|torch\.nn\.CrossEntropyLoss)$"
)


def test_print_config_provenance_names_the_file_and_line_the_command_line_and_the_default(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "small.yaml").write_text(SMALL)
    (workdir / "sgd.yaml").write_text(SGD)
    args = ["--config", "small.yaml", "--system.optimizer", "sgd.yaml", "--system.optimizer.lr", "0.5"]
    args += ["--system.model.hidden", "[8]"]
    assert cli("fit", *args, "--print_config=provenance") == 0
    out, err = capsys.readouterr()
    assert err == ""
    ours, theirs = [], []
    for line in out.splitlines():
        if line.startswith("  logger: [{class_path: lightcli.run.loggers.TensorBoardLogger"):
            line = re.sub(r"\[.*\]", "[...]", line)
        (theirs if _OF_A_LIBRARY.search(line) or line.startswith("weights_only:") else ours).append(line)
    assert "\n".join(ours) + "\n" == EXPECTED
    assert len(theirs) > 30  # every Trainer, SGD and CrossEntropyLoss default, each said to be one
    assert not (workdir / "runs").exists()  # nothing ran

    # the output is the resolved config itself: the same values as --print_config
    assert cli("fit", *args, "--print_config") == 0
    assert yaml.safe_load(out) == yaml.safe_load(capsys.readouterr().out)


def test_print_config_provenance_names_the_checkpoint_of_stored_values(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("fit", "--config", write_config(workdir / "tiny.yaml", tiny_config())) == 0
    capsys.readouterr()
    ckpt = "runs/tiny/version_0/checkpoints/last.ckpt"
    assert (
        cli("validate", "--ckpt_path", ckpt, "--system.optimizer.init_args.lr", "0.5", "--print_config=provenance") == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert "      class_path: lightcli.MLP  # checkpoint runs/tiny/version_0/checkpoints/last.ckpt" in lines
    assert "        hidden: [16]  # checkpoint runs/tiny/version_0/checkpoints/last.ckpt" in lines
    assert "        lr: 0.5  # command line --system.optimizer.init_args.lr" in lines
    assert f"ckpt_path: {ckpt}  # command line --ckpt_path" in lines
    assert "  max_epochs: null  # default of pytorch_lightning.Trainer" in lines  # the trainer is not stored
    assert (
        "        dropout: 0.0  # checkpoint runs/tiny/version_0/checkpoints/last.ckpt" in lines
    )  # stored defaults too
    assert not any(line.endswith("# default of lightcli.MLP") for line in lines)


def test_a_config_error_names_the_file_and_the_line(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "small.yaml").write_text(
        SMALL + "  optimizer:\n    class_path: torch.optim.SGD\n    init_args:\n      lr: fast\n"
    )
    assert cli("fit", "--config", "small.yaml") == 2
    assert capsys.readouterr().err == (
        "error: system.optimizer.init_args.lr: expected a number, got the string 'fast' (in small.yaml:12). "
        "Write a number without quotes, e.g. lr: 0.001.\n"
    )


def test_a_shared_value_shows_its_reference_and_the_value_it_took(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = SMALL + "  scheduler:\n    scheduler:\n      class_path: torch.optim.lr_scheduler.CosineAnnealingLR\n"
    shared += "      init_args:\n        T_max: ${trainer.max_epochs}\n"
    (workdir / "shared.yaml").write_text(shared)
    assert cli("fit", "--config", "shared.yaml", "--trainer.max_epochs", "3", "--print_config=provenance") == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  max_epochs: 3  # command line --trainer.max_epochs" in lines
    line = next(i for i, text in enumerate(shared.splitlines(), 1) if "T_max" in text)
    assert f"          T_max: 3  # shared.yaml:{line}, from ${{trainer.max_epochs}}" in lines
