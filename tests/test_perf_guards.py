"""Performance guards that count instead of timing, so a regression fails CI without flaking.

Host syncs per training step, metric updates and computations per epoch, the modules that
``lightcli --help`` imports, and the linear-time parsing of long class_path lists (benchmarks/ has
the timings).
"""

from __future__ import annotations

import copy
import inspect
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytorch_lightning as pl
import torch
import yaml
from pytorch_lightning.profilers import Profiler
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import Dataset
from torchmetrics.classification import MulticlassAccuracy

from conftest import REPO, subprocess_env, tiny_config, write_config
from lightcli.cli import LightCLI, main
from lightcli.core.system import System
from lightcli.run.console import quiet
from lightcli.upstream import jsonargparse as parsing
from lightcli.upstream import lightning as upstream_lightning
from lightcli.upstream import parse_memo

STEPS = 12
LOG_EVERY = 4


class HostSyncs(TorchDispatchMode):
    """Counts the ops that copy a tensor value to Python (``.item()``, ``float(t)``, ``bool(t)``...)."""

    count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            HostSyncs.count += 1
        return func(*args, **(kwargs or {}))


class StepSyncs(pl.Callback):
    """Records the host syncs of each training step (from one batch start to the next)."""

    per_step: ClassVar[list[int]] = []

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._start: int | None = None

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self._start is not None:
            StepSyncs.per_step.append(HostSyncs.count - self._start)
        self._start = HostSyncs.count


class CountingAccuracy(MulticlassAccuracy):
    """Micro accuracy that counts its updates and computations.

    Args:
        num_classes: Number of classes.
    """

    updates: ClassVar[int] = 0
    computes: ClassVar[int] = 0

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes=num_classes, average="micro")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        CountingAccuracy.updates += 1
        super().update(preds, target)

    def compute(self) -> torch.Tensor:
        CountingAccuracy.computes += 1
        return super().compute()


class Blobs(Dataset):
    """Random inputs and labels in memory; reading a sample copies nothing to Python.

    Args:
        n: Number of samples.
    """

    def __init__(self, n: int = 1024) -> None:
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(n, 64, generator=generator)
        self.targets = torch.randint(10, (n,), generator=generator)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[i], self.targets[i]


def _run_fit(tmp_path: Path, **trainer: Any) -> int:
    """Trains on ``Blobs`` with SGD (torch's Adam reads its step count with ``.item()`` itself)."""
    config = tiny_config(
        trainer={
            "max_epochs": 1,
            "limit_train_batches": STEPS,
            "log_every_n_steps": LOG_EVERY,
            "enable_checkpointing": False,
            **trainer,
        }
    )
    blobs = {"class_path": "test_perf_guards.Blobs"}
    config["system"]["dataloaders"] = {
        "train": {"class_path": "lightcli.Loader", "init_args": {"dataset": blobs, "batch_size": 16}}
    }
    config["system"]["optimizer"] = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1, "momentum": 0.9}}
    return main(["fit", "--config", str(write_config(tmp_path / "perf.yaml", config))])


def test_no_host_sync_between_logging_steps(workdir: Path) -> None:
    StepSyncs.per_step.clear()
    callbacks = [{"class_path": "test_perf_guards.StepSyncs"}]
    with HostSyncs():
        assert _run_fit(workdir, callbacks=callbacks, limit_val_batches=0) == 0
    steps = StepSyncs.per_step  # steps 0..STEPS-2: each window ends at the next batch start
    assert len(steps) == STEPS - 1
    logging_steps = [i for i in range(len(steps)) if (i + 1) % LOG_EVERY == 0]
    assert [s for i, s in enumerate(steps) if i not in logging_steps] == [0] * (len(steps) - len(logging_steps))
    # a logging step reads the loss and the accuracy once each, nothing else
    assert [steps[i] for i in logging_steps] == [2] * len(logging_steps)


class StepCalls(pl.Callback):
    """Records the calls counted in :attr:`counts` during each training step (from one batch start to the next)."""

    counts: ClassVar[Counter[str]] = Counter()
    per_step: ClassVar[list[dict[str, int]]] = []

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        self._start: Counter[str] | None = None

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if self._start is not None:
            counted = ("log", "setattr", "profile", "signature")
            StepCalls.per_step.append({k: StepCalls.counts[k] - self._start[k] for k in counted})
        self._start = Counter(StepCalls.counts)


def test_a_training_step_calls_no_lightning_logging_no_module_setattr_and_no_generator_profiler(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step (logging steps too) writes its values straight to the loggers, never through ``LightningModule.log``;
    the ~40 ``_current_fx_name`` sets of Lightning's hook calls skip ``nn.Module.__setattr__``; without a
    ``profiler`` the ~40 profiler contexts of a step are lightcli's no-op, not Lightning's generator-based one; and
    the signature Lightning reads of ``training_step`` before each step is the stored one (no function parsed)."""
    StepCalls.per_step.clear()
    StepCalls.counts.clear()
    log, module_setattr, profile = pl.LightningModule.log, torch.nn.Module.__setattr__, Profiler.profile

    def counting_log(self: Any, *args: Any, **kwargs: Any) -> None:
        StepCalls.counts["log"] += 1
        log(self, *args, **kwargs)

    def counting_setattr(self: Any, name: str, value: Any) -> None:
        if isinstance(self, System):
            StepCalls.counts["setattr"] += 1
        module_setattr(self, name, value)

    def counting_profile(self: Any, action_name: str) -> Any:
        StepCalls.counts["profile"] += 1
        return profile(self, action_name)

    monkeypatch.setattr(pl.LightningModule, "log", counting_log)
    monkeypatch.setattr(torch.nn.Module, "__setattr__", counting_setattr)
    monkeypatch.setattr(Profiler, "profile", counting_profile)
    from_function = inspect._signature_from_function  # type: ignore[attr-defined]

    def counting_from_function(*args: Any, **kwargs: Any) -> Any:
        StepCalls.counts["signature"] += 1
        return from_function(*args, **kwargs)

    monkeypatch.setattr(inspect, "_signature_from_function", counting_from_function)
    callbacks = [{"class_path": "test_perf_guards.StepCalls"}]
    csv = {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs"}}
    assert _run_fit(workdir, callbacks=callbacks, logger=csv, limit_val_batches=0) == 0
    assert len(StepCalls.per_step) == STEPS - 1  # logging steps among them (LOG_EVERY)
    assert StepCalls.per_step == [{"log": 0, "setattr": 0, "profile": 0, "signature": 0}] * (STEPS - 1)
    assert StepCalls.counts["log"] == 2  # at the epoch's end: train/loss and train/acc, once each
    logged = (workdir / "runs").rglob("metrics.csv")
    header = next(logged).read_text().splitlines()[0].split(",")
    assert {"train/step/loss", "train/step/acc", "train/loss", "train/acc"} <= set(header)


class ProfilerKind(pl.Callback):
    """Records the class of the trainer's profiler."""

    seen: ClassVar[list[str]] = []

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        ProfilerKind.seen.append(type(trainer.profiler).__name__)


def test_the_no_op_profiler_is_only_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ProfilerKind.seen.clear()
    callbacks = [{"class_path": "test_perf_guards.ProfilerKind"}]
    for name, profiler in (("default", None), ("simple", "simple")):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        assert _run_fit(tmp_path / name, callbacks=callbacks, limit_val_batches=0, profiler=profiler) == 0
    assert ProfilerKind.seen == ["Unprofiled", "SimpleProfiler"]


def test_metrics_update_once_per_batch_and_compute_once_per_epoch_and_logging_step(workdir: Path) -> None:
    CountingAccuracy.updates = CountingAccuracy.computes = 0
    metrics = {"class_path": "test_perf_guards.CountingAccuracy"}
    config = tiny_config(
        trainer={
            "max_epochs": 2,
            "limit_train_batches": STEPS,
            "limit_val_batches": 3,
            "num_sanity_val_steps": 0,
            "log_every_n_steps": LOG_EVERY,
            "enable_checkpointing": False,
        }
    )
    config["system"]["metrics"] = {"train": {"acc": metrics}, "val": {"acc": metrics}}
    assert main(["fit", "--config", str(write_config(workdir / "perf.yaml", config))]) == 0
    epochs, train_batches, val_batches = 2, STEPS, 3
    logging_steps = (epochs * train_batches) // LOG_EVERY
    assert CountingAccuracy.updates == epochs * (train_batches + val_batches)
    # train: one batch value per logging step and one epoch value; val: one epoch value
    assert CountingAccuracy.computes == logging_steps + epochs + epochs


def _imported_by(*args: str) -> set[str]:
    code = (
        "import sys\n"
        "sys.argv = ['lightcli', *sys.argv[1:]]\n"
        "from lightcli.cli import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=subprocess_env(), cwd=REPO, check=True
    )
    assert "usage:" in proc.stdout
    return set(proc.stderr.rsplit("MODULES ", 1)[1].split())


HEAVY_UNUSED_BY_HELP = (  # not matplotlib: torchmetrics imports it whenever it is installed (the plot extra)
    "sklearn",
    "optuna",
    "lightcli.tools.compare",
    "lightcli.tools.sweep",
    "lightcli.tools.schema",
    "lightcli.tools.completion",
)


def test_help_does_not_import_tools_or_datasets() -> None:
    modules = _imported_by("--help")
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY_UNUSED_BY_HELP or m in HEAVY_UNUSED_BY_HELP) == []


def _callbacks_config(n: int, bad: int | None = None) -> dict[str, Any]:
    callback = {
        "class_path": "pytorch_lightning.callbacks.LearningRateMonitor",
        "init_args": {"logging_interval": "step"},
    }
    callbacks = [dict(callback, init_args=dict(callback["init_args"])) for _ in range(n)]
    if bad is not None:
        callbacks[bad]["init_args"]["logging_interval"] = 7
    return tiny_config(trainer={"callbacks": callbacks})


def _dict_copies_while_building(path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """The number of dicts deep-copied while parsing ``path`` and building its objects (a measure of work)."""
    count = 0
    inner = copy._deepcopy_dispatch[dict]  # type: ignore[attr-defined]

    def counting(value: Any, memo: Any, deepcopy: Any = copy.deepcopy) -> Any:
        nonlocal count
        count += 1
        return inner(value, memo, deepcopy)

    with monkeypatch.context() as patch:
        patch.setitem(copy._deepcopy_dispatch, dict, counting)  # type: ignore[attr-defined]
        with quiet():
            LightCLI(args=["--config", str(path)], run=False)
    return count


def test_a_long_callback_list_parses_in_linear_time(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    short = _dict_copies_while_building(write_config(workdir / "short.yaml", _callbacks_config(20)), monkeypatch)
    long = _dict_copies_while_building(write_config(workdir / "long.yaml", _callbacks_config(200)), monkeypatch)
    assert parsing.installed()
    assert long / short < 12  # 10x the entries, at most ~10x the copies (jsonargparse alone: ~60x)


@pytest.mark.slow
def test_a_wrong_type_deep_inside_a_1000_callback_list_is_still_rejected(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(workdir / "many.yaml", _callbacks_config(1000, bad=997))
    assert main(["fit", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "logging_interval" in err
    assert not (workdir / "runs").exists()


def test_hyperparameters_are_the_system_section_as_lightningcli_dumps_it(workdir: Path) -> None:
    seen: dict[str, Any] = {}

    class Compare(LightCLI):
        def instantiate_classes(self) -> None:
            seen["sections"] = upstream_lightning.section_dump(self, ("system", "data"))
            self._dump_config()  # LightningCLI's own: the whole config, checked
            seen["full"] = {key: self.config_dump.get(key) for key in ("system", "data")}
            super().instantiate_classes()
            seen["hparams"] = dict(self.model.hparams)

    path = write_config(workdir / "hp.yaml", tiny_config())
    with quiet():
        Compare(args=["fit", "--config", str(path), "--trainer.fast_dev_run", "true"])
    assert seen["sections"] == seen["full"]
    system = seen["full"]["system"]
    hparams = seen["hparams"]
    assert hparams.pop("_instantiator") == "pytorch_lightning.cli.instantiate_module"
    assert hparams == {"_class_path": system["class_path"], **system["init_args"]}


@pytest.mark.parametrize(("args", "built"), [(["--help"], 0), (["fit", "--help"], 1), (["validate", "--help"], 1)])
def test_only_the_requested_subcommand_parser_is_built(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], built: int
) -> None:
    calls: list[str] = []
    original = LightCLI._prepare_subcommand_parser

    def counting(self: LightCLI, klass: type, subcommand: str, **kwargs: Any) -> Any:
        calls.append(subcommand)
        return original(self, klass, subcommand, **kwargs)

    monkeypatch.setattr(LightCLI, "_prepare_subcommand_parser", counting)
    assert main(args) == 0
    assert "usage:" in capsys.readouterr().out
    assert calls == args[:built]


@pytest.mark.slow
def test_the_fast_exit_of_lightcli_keeps_every_log_and_checkpoint(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_config(trainer={"max_epochs": 2, "limit_train_batches": 3, "limit_val_batches": 2})
    write_config(tmp_path / "tiny.yaml", config)
    proc = subprocess.run(
        [sys.executable, "-m", "lightcli", "fit", "--config", "tiny.yaml"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "final metrics" in proc.stdout  # printed after fit, flushed before the process ends
    [run_dir] = [p.parent for p in tmp_path.glob("runs/tiny/version_*/config.yaml")]
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    epochs_with_val = {r.split(",")[header.index("epoch")] for r in rows[1:] if r.split(",")[header.index("val/acc")]}
    assert epochs_with_val == {"0", "1"}
    [events] = list(run_dir.glob("events.out.tfevents.*"))
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    assert [event.step for event in accumulator.Scalars("val/acc")] == [2, 5]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert (last["epoch"], last["global_step"]) == (1, 6)


def test_nested_class_paths_are_not_reparsed_for_each_enclosing_level(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: dict[str, int] = {}
    adapt = _jsonargparse_adapt(monkeypatch)

    def counting(value: Any, *args: Any, **kwargs: Any) -> Any:
        class_path = value if isinstance(value, str) else getattr(value, "get", lambda _: None)("class_path")
        parsed[class_path] = parsed.get(class_path, 0) + 1
        return adapt(value, *args, **kwargs)

    monkeypatch.setitem(parse_memo._original, "adapt_class_type", counting)
    path = write_config(workdir / "tiny.yaml", tiny_config())
    with quiet():
        LightCLI(args=["--config", str(path)], run=False)
    # lightcli.Digits sits in a Loader in system.dataloaders (4 loaders): jsonargparse alone parses it ~240 times;
    # with lightcli's memo each of the 4 values is parsed once per distinct pass (defaults, values, sub-defaults,
    # the final check, the dump)
    assert parsed["lightcli.Digits"] <= 4 * 6


def _jsonargparse_adapt(monkeypatch: pytest.MonkeyPatch) -> Any:
    """jsonargparse's own ``adapt_class_type`` (what lightcli's memo calls for a value it does not hold)."""
    assert parse_memo.install()
    return parse_memo._original["adapt_class_type"]


_MODULES_AFTER = (
    "import runpy, sys\n"
    "target, args = sys.argv[1], sys.argv[2:]\n"
    "sys.argv = [target, *args]\n"
    "try:\n"
    "    if target == 'lightcli':\n"
    "        from lightcli.commands import main\n"
    "        main(args)\n"
    "    else:\n"
    "        exec(target)\n"
    "except SystemExit:\n"
    "    pass\n"
    "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
)
_PLAIN_CLI = (
    "from pytorch_lightning import LightningDataModule, LightningModule\n"
    "from pytorch_lightning.cli import LightningCLI\n"
    "LightningCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True)\n"
)


def _modules_after(cwd: Path, target: str, *args: str) -> set[str]:
    """The modules imported by the end of ``lightcli <args>`` (``target='lightcli'``) or of a Python script."""
    proc = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, target, *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=cwd,
        check=False,
    )
    assert "MODULES " in proc.stderr, proc.stderr[-2000:]
    return set(proc.stderr.rsplit("MODULES ", 1)[1].split())


def test_a_fit_imports_nothing_that_plain_lightningcli_help_does_not(tmp_path: Path) -> None:
    # a fit that replaces the default loggers: TensorBoard, scikit-learn and scipy are never imported by lightcli
    csv = {"class_path": "pytorch_lightning.loggers.CSVLogger", "init_args": {"save_dir": "runs"}}
    trainer = {"logger": csv, "max_steps": 1}
    config = tiny_config(trainer={**trainer, "limit_val_batches": 0, "enable_checkpointing": False})
    write_config(tmp_path / "csv.yaml", config)
    ours = _modules_after(tmp_path, "lightcli", "fit", "--config", "csv.yaml")
    assert "lightcli.core.system" in ours and (tmp_path / "runs" / "csv" / "version_0" / "metrics.csv").is_file()
    plain = {m.split(".")[0] for m in _modules_after(tmp_path, _PLAIN_CLI, "fit", "--help")}
    # packages only: training itself imports more of torch and Lightning than their help does
    assert {m.split(".")[0] for m in ours} - plain - {"lightcli", *sys.stdlib_module_names} == set()
    assert {m for m in ours if m.split(".")[0] in ("sklearn", "tensorboard", "tensorboardX")} == set()


def test_a_fit_dumps_its_config_once_and_stores_that_dump_as_hyperparameters(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jsonargparse import ArgumentParser

    calls = {"dump": 0, "nested": 0, "get_defaults": 0}
    depth = [0]
    dump, get_defaults = ArgumentParser.dump, ArgumentParser.get_defaults

    def counting_dump(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["dump" if depth[0] == 0 else "nested"] += 1
        depth[0] += 1
        try:
            return dump(self, *args, **kwargs)
        finally:
            depth[0] -= 1

    def counting_defaults(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["get_defaults"] += 1
        return get_defaults(self, *args, **kwargs)

    monkeypatch.setattr(ArgumentParser, "dump", counting_dump)
    monkeypatch.setattr(ArgumentParser, "get_defaults", counting_defaults)
    seen: dict[str, Any] = {}

    class Probe(pl.Callback):
        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            seen["hparams"] = dict(pl_module.hparams)

    monkeypatch.setattr(sys.modules[__name__], "Probe", Probe, raising=False)
    config = tiny_config(trainer={"callbacks": [{"class_path": "test_perf_guards.Probe"}], "limit_val_batches": 0})
    with quiet():
        assert main(["fit", "--config", str(write_config(workdir / "tiny.yaml", config))]) == 0
    assert calls["dump"] == 1  # the run record's config.yaml; the hyperparameters reuse it (LightningCLI: a 2nd dump)
    assert calls["get_defaults"] <= 260  # jsonargparse's passes over the defaults (248 today; 4 nested loaders)
    saved = yaml.safe_load(next(workdir.glob("runs/tiny/version_*/config.yaml")).read_text())
    hparams = seen["hparams"]
    assert hparams.pop("_class_path") == saved["system"]["class_path"]
    hparams.pop("_instantiator")
    assert hparams == saved["system"]["init_args"]


class Layers(torch.nn.Module):
    """A model made of the layers a config lists.

    Args:
        layers: The layers, applied in order.
    """

    def __init__(self, layers: list[torch.nn.Module]) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def test_a_model_of_many_nested_layers_parses_and_builds_in_linear_work(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapt = _jsonargparse_adapt(monkeypatch)

    def counting(*args: Any, **kwargs: Any) -> Any:
        adapted[0] += 1
        return adapt(*args, **kwargs)

    monkeypatch.setitem(parse_memo._original, "adapt_class_type", counting)
    inner = copy._deepcopy_dispatch[dict]  # type: ignore[attr-defined]

    def copying(value: Any, memo: Any, deepcopy: Any = copy.deepcopy) -> Any:
        adapted[1] += 1
        return inner(value, memo, deepcopy)

    monkeypatch.setitem(copy._deepcopy_dispatch, dict, copying)  # type: ignore[attr-defined]
    adapted = [0, 0]  # class_path values parsed, dicts deep-copied
    work = {}
    for n in (10, 20, 40):
        # distinct layers: the memo answers an identical value again without parsing it
        layers = [
            {"class_path": "torch.nn.Linear", "init_args": {"in_features": 64, "out_features": 64 + i}}
            for i in range(n)
        ]
        config = tiny_config()
        config["system"]["model"] = {"class_path": "test_perf_guards.Layers", "init_args": {"layers": layers}}
        adapted[:] = [0, 0]
        with quiet():
            cli = LightCLI(args=["--config", str(write_config(workdir / f"layers{n}.yaml", config))], run=False)
            cli.parser.instantiate_classes(cli.config)  # build too
        work[n] = tuple(adapted)
    # each layer (three class_path levels deep: system -> model -> layers[i]) costs the same: no quadratic term
    # (jsonargparse alone copies the whole list for each element: 20 more layers cost ~4x the copies of 10 more)
    for counted in (0, 1):
        assert work[40][counted] - work[20][counted] == 2 * (work[20][counted] - work[10][counted])
