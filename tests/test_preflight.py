"""Checks around the parse: the subcommand and allowlist before it, what a run needs after it."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import REPO
from lightcli.cli import LightCLI
from lightcli.config.preflight import preflight
from lightcli.config.problems import ConfigError
from lightcli.core.rules import check_optimizers, static_problems
from lightcli.core.system import Scheduler, System
from lightcli.run.console import quiet

SUBCOMMANDS = ["fit", "validate", "test", "predict"]
PLATEAU = "torch.optim.lr_scheduler.ReduceLROnPlateau"


class _Parsed(LightCLI):
    """LightCLI that parses (real jsonargparse, real type checks) and builds nothing."""

    def before_instantiate_classes(self) -> None:
        pass

    def instantiate_classes(self) -> None:
        pass


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delenv("LIGHTCLI_ALLOWED_MODULES", raising=False)
    (tmp_path / "base.yaml").write_text((REPO / "tests" / "invalid" / "base.yaml").read_text())
    return tmp_path


def _parse(*args: str) -> Any:
    """The parsed config of base.yaml plus ``args`` (the keys of one subcommand)."""
    with quiet():
        return _Parsed(args=["--config", "base.yaml", "--seed_everything", "0", *args], run=False).config


def _messages(error: pytest.ExceptionInfo[ConfigError]) -> list[str]:
    return [str(p) for p in error.value.problems]


def test_the_subcommand_is_required_and_checked(folder: Path) -> None:
    preflight(["--help"], SUBCOMMANDS)  # help without a subcommand is fine
    with pytest.raises(ConfigError) as raised:
        preflight(["tset", "--config", "base.yaml"], SUBCOMMANDS)
    assert _messages(raised) == [
        "subcommand: expected one of fit, validate, test, predict, got 'tset'. "
        "Write e.g. `lightcli fit --config my.yaml`. Did you mean 'test'?"
    ]
    with pytest.raises(ConfigError) as raised:
        preflight([], SUBCOMMANDS)  # `lightcli` alone
    assert _messages(raised) == [
        "subcommand: expected one of fit, validate, test, predict, got nothing. "
        "Write e.g. `lightcli fit --config my.yaml`."
    ]
    with pytest.raises(ConfigError) as raised:
        preflight(["--config", "base.yaml"], SUBCOMMANDS)  # the file is the option's value, not a subcommand
    assert _messages(raised) == [
        "subcommand: expected one of fit, validate, test, predict, got nothing. "
        "Write e.g. `lightcli fit --config base.yaml`."
    ]


def test_config_before_the_subcommand_only_for_files_keyed_by_subcommand(folder: Path) -> None:
    (folder / "top.yaml").write_text("fit:\n  trainer: {max_epochs: 1}\n")
    preflight(["--config", "top.yaml", "fit"], SUBCOMMANDS)  # jsonargparse's top-level config: accepted
    with pytest.raises(ConfigError) as raised:
        preflight(["-c", "base.yaml", "fit"], SUBCOMMANDS)
    assert _messages(raised) == [
        "--config: expected it after the subcommand, got it before 'fit' (on the command line). "
        "Write `lightcli fit --config FILE`."
    ]


def test_every_class_path_outside_the_allowlist_is_refused_with_its_file_and_nothing_is_imported(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "lightcli_test_evil.py").write_text("open('imported', 'w').close()\n")
    (folder / "bad.yaml").write_text(
        "system:\n  model: {class_path: lightcli_test_evil.Net}\n  criterion: {class_path: lightcli_test_evil.Loss}\n"
    )
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mypkg")
    with pytest.raises(ConfigError) as raised:
        preflight(["fit", "--config", "base.yaml", "--config", "bad.yaml"], SUBCOMMANDS)
    fix = (
        "Add its package to LIGHTCLI_ALLOWED_MODULES if you trust it, "
        "e.g. LIGHTCLI_ALLOWED_MODULES=mypkg,lightcli_test_evil."
    )
    expected = "a module allowed by LIGHTCLI_ALLOWED_MODULES (mypkg and lightcli's own libraries)"
    assert _messages(raised) == [
        f"system.model.class_path: expected {expected}, got 'lightcli_test_evil.Net' (in bad.yaml:2). {fix}",
        f"system.criterion.class_path: expected {expected}, got 'lightcli_test_evil.Loss' (in bad.yaml:3). {fix}",
    ]
    assert not (folder / "imported").exists()
    assert "lightcli_test_evil" not in sys.modules


def test_reduce_lr_on_plateau_needs_a_monitor_to_fit(folder: Path) -> None:
    config = _parse("--system.scheduler.scheduler", PLATEAU)
    assert [str(p) for p in static_problems(config, "fit")] == [
        "system.scheduler.monitor: expected the name of a logged metric for ReduceLROnPlateau, got null. "
        "Set it, e.g. monitor: val/loss."
    ]
    assert static_problems(config, "validate") == []  # no scheduler steps outside fit
    monitored = _parse("--system.scheduler.scheduler", PLATEAU, "--system.scheduler.monitor", "val/loss")
    assert static_problems(monitored, "fit") == []


def test_missing_loader_and_checkpoint_are_caught_before_anything_is_built(folder: Path) -> None:
    config = _parse()
    assert static_problems(config, "fit") == []
    config.ckpt_path = "runs/old/last.ckpt"
    assert [str(p) for p in static_problems(config, "test")] == [
        "system.dataloaders.test: expected a loader for the test data, got null. "
        "Set system.dataloaders.test (e.g. class_path: lightcli.Loader) or pass --data.",
        "ckpt_path: expected an existing checkpoint file, got 'runs/old/last.ckpt' (no such file). "
        "Check the path; checkpoints are under runs/<name>/version_<n>/checkpoints/.",
    ]


def test_a_scheduler_that_cannot_be_built_fails_before_fit_starts() -> None:
    system = System(
        model=torch.nn.Linear(2, 2),
        optimizer=functools.partial(torch.optim.SGD, lr=0.1),
        scheduler=Scheduler(scheduler=functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1)),
    )
    check_optimizers(system, "validate")  # only fit builds optimizers
    with pytest.raises(ConfigError) as raised:
        check_optimizers(system, "fit")
    assert _messages(raised) == [
        "system.scheduler.scheduler: expected a scheduler that builds, got ValueError: "
        "You must define either total_steps OR (epochs AND steps_per_epoch). "
        "Check its init_args (LIGHTCLI_TRACEBACK=1 shows the traceback)."
    ]


def test_a_system_subclass_with_its_own_step_needs_no_criterion_or_optimizer(folder: Path) -> None:
    (folder / "lightcli_test_custom.py").write_text(
        "import lightcli\n\n\nclass Custom(lightcli.System):\n"
        "    def training_step(self, batch, batch_idx):\n        return None\n\n"
        "    def configure_optimizers(self):\n        return None\n"
    )
    unset = ["--system.criterion", "null", "--system.optimizer", "null"]
    try:
        assert static_problems(_parse("--system.class_path", "lightcli_test_custom.Custom", *unset), "fit") == []
    finally:
        sys.modules.pop("lightcli_test_custom", None)
    assert [str(p) for p in static_problems(_parse(*unset), "fit")] == [
        "system.criterion: expected a loss for training, got null. "
        "Set it, e.g. criterion: {class_path: torch.nn.CrossEntropyLoss}.",
        "system.optimizer: expected an optimizer for training, got null. "
        "Set it, e.g. optimizer: {class_path: torch.optim.Adam, init_args: {lr: 0.001}}.",
    ]
