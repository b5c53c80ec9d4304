"""lightcli.upstream.jsonargparse: the jsonargparse patch for long class_path lists, and the section-only hyperparameter dump."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonargparse import _typehints

from conftest import loader, tiny_config, write_config
from lightcli.cli import LightCLI, build_parser, main
from lightcli.run.console import quiet
from lightcli.upstream import jsonargparse as parsing
from lightcli.upstream import lightning as upstream_lightning

MONITOR = {"class_path": "pytorch_lightning.callbacks.LearningRateMonitor", "init_args": {"logging_interval": "step"}}


def many_callbacks(n: int = 40) -> dict[str, Any]:
    """The tiny config with n callbacks and one nested dataloader (a Digits dataset inside a Loader)."""
    config = tiny_config(trainer={"callbacks": [copy.deepcopy(MONITOR) for _ in range(n)]})
    config["system"]["dataloaders"] = {"train": loader("lightcli.Digits", split="train")}
    del config["system"]["metrics"]
    return config


@pytest.fixture
def unpatched(monkeypatch: pytest.MonkeyPatch) -> None:
    """jsonargparse as shipped for the duration of a test (the patch is back afterwards)."""
    assert parsing.install()
    action = _typehints.ActionTypeHint
    original = action.__dict__["add_sub_defaults"].__func__.__wrapped__
    monkeypatch.setattr(_typehints, "deepcopy", copy.deepcopy)
    monkeypatch.setattr(action, "add_sub_defaults", staticmethod(original))
    assert not parsing.installed()


def test_install_is_idempotent_and_reports_it(unpatched: None) -> None:
    assert parsing.install() is True
    assert parsing.installed()
    assert parsing.install() is True
    assert parsing.installed()


def test_install_leaves_a_replaced_jsonargparse_alone(unpatched: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def someone_elses(value: Any, memo: Any = None) -> Any:
        return copy.deepcopy(value, memo)

    monkeypatch.setattr(_typehints, "deepcopy", someone_elses)
    assert parsing.install() is False
    assert _typehints.deepcopy is someone_elses
    assert not parsing.installed()


def test_a_long_list_parses_to_the_same_config_as_without_the_patch(
    unpatched: None, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(workdir / "many.yaml", many_callbacks())
    parser = build_parser("fit", root=True)
    # an appended element and an init_arg set on it: both start from the list's previous value
    args = ["fit", "--config", str(path), "--trainer.callbacks+=ModelCheckpoint", "--trainer.callbacks.monitor=val/acc"]
    without = parser.dump(parser.parse_args(args))
    assert parsing.install()
    with_patch = parser.dump(parser.parse_args(args))
    assert with_patch == without
    fit = yaml.safe_load(with_patch)["fit"]
    callbacks = fit["trainer"]["callbacks"]
    assert len(callbacks) == 41
    assert callbacks[0]["init_args"] == {"logging_interval": "step", "log_momentum": False, "log_weight_decay": False}
    assert callbacks[-1]["class_path"] == "pytorch_lightning.callbacks.ModelCheckpoint"
    assert callbacks[-1]["init_args"]["monitor"] == "val/acc"
    dataset = fit["system"]["init_args"]["dataloaders"]["train"]["init_args"]["dataset"]
    assert dataset["class_path"] == "lightcli.Digits"
    assert dataset["init_args"]["split"] == "train"


def test_a_wrong_type_inside_a_long_list_is_still_rejected(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = many_callbacks()
    config["trainer"]["callbacks"][33]["init_args"]["logging_interval"] = 7
    write_config(workdir / "many.yaml", config)
    assert main(["fit", "--config", "many.yaml"]) == 2
    assert parsing.installed()
    assert capsys.readouterr().err == (
        "error: trainer.callbacks[33].init_args.logging_interval: expected one of 'step', 'epoch', got the int 7 "
        "(in many.yaml:12). Use one of the listed values.\n"
    )
    assert sorted(p.name for p in workdir.iterdir()) == ["many.yaml"]


def test_hyperparameters_come_from_the_system_section_only(workdir: Path) -> None:
    path = write_config(workdir / "tiny.yaml", tiny_config())
    with quiet():
        cli = LightCLI(args=["--config", str(path)], run=False)  # no subcommand: the config is at the top level
    assert sorted(cli.config_dump) == ["data", "system"]  # not trainer, seed_everything, ...
    assert upstream_lightning.section_dump(cli, ("system",)).keys() == {"system"}
    system = cli.config_dump["system"]
    optimizer = system["init_args"]["optimizer"]
    assert (optimizer["class_path"], optimizer["init_args"]["lr"]) == ("torch.optim.Adam", 0.01)
    assert optimizer["init_args"]["betas"] == [0.9, 0.999]  # defaults filled in, as plain YAML values
    hparams = dict(cli.model.hparams)
    assert hparams.pop("_instantiator") == "pytorch_lightning.cli.instantiate_module"
    assert hparams == {"_class_path": "lightcli.System", **system["init_args"]}
