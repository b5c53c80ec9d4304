"""Each input read once per command, counted: config files, a ``--ckpt_path`` checkpoint, the optimizer.

Runs the real ``lightcli`` in-process on real files and counts the opens of each YAML file, the
``torch.load`` calls lightcli makes on a checkpoint (before Lightning's own load), and the
constructions of the optimizer and scheduler before the first training step.
"""

from __future__ import annotations

import builtins
import functools
import io
import os
import pathlib
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytorch_lightning as pl
import torch

from conftest import tiny_config, write_config
from lightcli.cli import main
from lightcli.core.rules import check_optimizers
from lightcli.core.system import Scheduler, System

FILES = ("base.yaml", "trainer.yaml", "model.yaml")
"""A --config file, a second --config file and a values file (``--system.model model.yaml``)."""
ARGS = ["--config", "base.yaml", "--config", "trainer.yaml", "--system.model", "model.yaml"]


class Opens:
    """Counts the opens of watched files through ``open``/``io.open``/``Path.read_text``/``Path.read_bytes``.

    A call that opens through another one (``Path.read_text`` -> ``io.open``) counts once.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, paths: list[Path]) -> None:
        self.watched = {os.path.realpath(p) for p in paths}
        self.counts: Counter[str] = Counter()
        self._depth = 0
        opener = self._counting(builtins.open)
        monkeypatch.setattr(builtins, "open", opener)
        monkeypatch.setattr(io, "open", opener)
        monkeypatch.setattr(pathlib.Path, "read_text", self._counting(pathlib.Path.read_text))
        monkeypatch.setattr(pathlib.Path, "read_bytes", self._counting(pathlib.Path.read_bytes))

    def _counting(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def counted(file: Any, *args: Any, **kwargs: Any) -> Any:
            if self._depth == 0 and isinstance(file, (str, os.PathLike)):
                path = os.path.realpath(os.fspath(file))
                if path in self.watched:
                    self.counts[os.path.basename(path)] += 1
            self._depth += 1
            try:
                return function(file, *args, **kwargs)
            finally:
                self._depth -= 1

        return counted

    def take(self) -> dict[str, int]:
        """The counts so far (every watched file, opened or not), then starts again from zero."""
        counts = {os.path.basename(p): self.counts[os.path.basename(p)] for p in sorted(self.watched)}
        self.counts.clear()
        return counts


class Loads:
    """Records every ``torch.load``: the file (a path, or what Lightning passes), the calling module, weights_only."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        load = torch.load

        def counted(file: Any, *args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            where = os.path.realpath(os.fspath(file)) if isinstance(file, (str, os.PathLike)) else repr(file)
            self.calls.append((where, caller, kwargs.get("weights_only")))
            return load(file, *args, **kwargs)

        monkeypatch.setattr(torch, "load", counted)

    def take(self) -> list[tuple[str, str, Any]]:
        calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def folder(tiny_folder: Path) -> Path:
    """base.yaml (the tiny config without its model), trainer.yaml and model.yaml in the working directory."""
    tmp_path = tiny_folder
    config = tiny_config(trainer={"limit_train_batches": 2, "limit_val_batches": 1, "limit_test_batches": 1})
    model = config["system"].pop("model")
    write_config(tmp_path / "base.yaml", config)
    write_config(tmp_path / "trainer.yaml", {"trainer": {"max_epochs": 1}})
    write_config(tmp_path / "model.yaml", model)
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        ["fit", *ARGS, "--trainer.fast_dev_run", "1"],
        ["check", "fit", *ARGS],
    ],
    ids=["fit", "check"],
)
def test_each_config_file_is_opened_once_per_command(
    folder: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    opens = Opens(monkeypatch, [folder / f for f in FILES])
    assert main(command) == 0
    assert opens.take() == dict.fromkeys(FILES, 1)


def test_a_rejected_config_is_explained_from_files_opened_once(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(folder / "trainer.yaml", {"trainer": {"max_epochs": "many"}})
    opens = Opens(monkeypatch, [folder / f for f in FILES])
    assert main(["fit", *ARGS]) == 2
    assert "trainer.max_epochs: expected" in capsys.readouterr().err
    assert opens.take() == dict.fromkeys(FILES, 1)


def _lightcli_loads(calls: list[tuple[str, str, Any]], ckpt: Path) -> list[tuple[str, str, Any]]:
    return [c for c in calls if c[1].startswith("lightcli") and c[0] == os.path.realpath(ckpt)]


def _read_once_before_lightning(calls: list[tuple[str, str, Any]], ckpt: Path) -> None:
    ours = _lightcli_loads(calls, ckpt)
    assert [weights_only for _, _, weights_only in ours] == [True]  # once, and without unpickling code
    lightning = [i for i, c in enumerate(calls) if c[1].startswith(("lightning_fabric", "pytorch_lightning"))]
    assert lightning, calls  # Lightning loads it too (its restore)
    assert calls.index(ours[0]) < lightning[0]


def test_a_checkpoint_is_read_once_by_lightcli_before_lightning_loads_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", *ARGS]) == 0
    ckpt = folder / "runs" / "base" / "version_0" / "checkpoints" / "last.ckpt"
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mypkg")  # the stored class paths are checked too
    opens = Opens(monkeypatch, [folder / f for f in FILES])
    loads = Loads(monkeypatch)

    # resumed with a changed value: the changes, the weights' shapes and the run's position from one read
    resume = [
        "fit",
        *ARGS,
        "--ckpt_path",
        "last",
        "--trainer.max_epochs",
        "2",
        "--system.optimizer.init_args.lr",
        "0.02",
    ]
    assert main(resume) == 0
    assert "system.optimizer.init_args.lr: checkpoint 0.01 -> now 0.02" in capsys.readouterr().err
    _read_once_before_lightning(loads.take(), ckpt)
    assert opens.take() == dict.fromkeys(FILES, 1)

    assert main(["validate", *ARGS, "--ckpt_path", str(ckpt)]) == 0
    _read_once_before_lightning(loads.take(), ckpt)
    assert opens.take() == dict.fromkeys(FILES, 1)

    assert main(["validate", "--ckpt_path", str(ckpt)]) == 0  # the stored config is the whole config
    _read_once_before_lightning(loads.take(), ckpt)


class CountingSGD(torch.optim.SGD):
    """SGD that counts its constructions.

    Args:
        params: The parameters or parameter groups.
        lr: Learning rate.
    """

    built: ClassVar[int] = 0

    def __init__(self, params: Any, lr: float = 0.1) -> None:
        CountingSGD.built += 1
        super().__init__(params, lr=lr)


class CountingStepLR(torch.optim.lr_scheduler.StepLR):
    """StepLR that counts its constructions.

    Args:
        optimizer: The optimizer.
        step_size: Epochs between two decays.
    """

    built: ClassVar[int] = 0

    def __init__(self, optimizer: torch.optim.Optimizer, step_size: int = 1) -> None:
        CountingStepLR.built += 1
        super().__init__(optimizer, step_size=step_size)


class FirstStep(pl.Callback):
    """Records how many optimizers and schedulers were built when the first training step starts."""

    seen: ClassVar[list[tuple[int, int]]] = []

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if not FirstStep.seen:
            FirstStep.seen.append((CountingSGD.built, CountingStepLR.built))


def test_the_optimizer_and_scheduler_are_built_once_before_the_first_step(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CountingSGD, "built", 0)
    monkeypatch.setattr(CountingStepLR, "built", 0)
    monkeypatch.setattr(FirstStep, "seen", [])
    write_config(
        folder / "trainer.yaml",
        {
            "trainer": {"max_epochs": 1, "callbacks": [{"class_path": "test_read_once.FirstStep"}]},
            "system": {
                "optimizer": {"class_path": "test_read_once.CountingSGD", "init_args": {"lr": 0.1}},
                "param_groups": [{"prefixes": ["1"], "lr": 0.01}],  # checked on the one optimizer built
                "scheduler": {"scheduler": {"class_path": "test_read_once.CountingStepLR"}},
            },
        },
    )
    assert main(["fit", *ARGS, "--trainer.fast_dev_run", "1"]) == 0
    assert FirstStep.seen == [(1, 1)]
    assert (CountingSGD.built, CountingStepLR.built) == (1, 1)


def test_the_kept_optimizer_is_used_once_then_built_anew() -> None:
    system = System(
        model=torch.nn.Linear(2, 2),
        optimizer=functools.partial(torch.optim.SGD, lr=0.1),
        scheduler=Scheduler(scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1)),
    )
    check_optimizers(system, "fit")
    assert system.prebuilt_optimizers is not None
    optimizer, scheduler = system.prebuilt_optimizers
    first = system.configure_optimizers()
    assert first["optimizer"] is optimizer and first["lr_scheduler"]["scheduler"] is scheduler
    second = system.configure_optimizers()  # e.g. a second fit: a fresh optimizer
    assert second["optimizer"] is not optimizer and second["lr_scheduler"]["scheduler"] is not scheduler

    check_optimizers(system, "fit")
    system.model = torch.nn.Linear(2, 2)  # other parameters since the check (a strategy that wraps them)
    third = system.configure_optimizers()
    assert {id(p) for p in third["optimizer"].param_groups[0]["params"]} == {id(p) for p in system.parameters()}
