"""Rules a parsed config must meet before a run starts, checked without training (what ``fit`` and ``check`` need)."""

from __future__ import annotations

import contextlib
import inspect
from pathlib import Path
from typing import Any

from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader

from lightcli.config.classpaths import loader_instead, resolve_class
from lightcli.config.commands import MODES
from lightcli.config.problems import CHECK_INIT_ARGS, ConfigError, Problem, raised
from lightcli.core.logged import monitor_problems
from lightcli.core.optim import build_optimizer
from lightcli.core.required import criterion_required, loader_required, monitor_required, optimizer_required
from lightcli.core.system import System

__all__ = ["check_optimizers", "run_folder_problems", "static_problems"]


def static_problems(config: Any, subcommand: str | None) -> list[Problem]:
    """Problems visible in a parsed config that would otherwise only show once training runs."""
    if config is None or subcommand is None:
        return []
    system = config.get("system")
    init = system.get("init_args") if system is not None and hasattr(system, "get") else None
    if init is None:
        return []
    cls: Any = System
    with contextlib.suppress(Exception):
        cls = resolve_class(str(system.get("class_path") or "lightcli.System"))
    own_step = getattr(cls, "training_step", None) is System.training_step  # else the subclass may not need these
    own_optimizers = getattr(cls, "configure_optimizers", None) is System.configure_optimizers
    problems: list[Problem] = []
    has_data = config.get("data") is not None
    loaders = init.get("dataloaders")
    if subcommand == "fit":
        if own_step and init.get("criterion") is None:
            problems.append(criterion_required())
        if own_optimizers and init.get("optimizer") is None:
            problems.append(optimizer_required())
    problems += _dataloader_classes(loaders)
    mode = MODES[subcommand][0]  # the mode whose data the subcommand needs first
    if not has_data and (loaders is None or loaders.get(mode) is None):
        problems.append(loader_required(mode))
    ckpt = config.get("ckpt_path")
    if (
        isinstance(ckpt, str)
        and ckpt not in ("last", "best", "hpc")
        and "://" not in ckpt
        and not ckpt.startswith("registry")
    ) and not Path(ckpt).is_file():
        problems.append(
            Problem(
                "ckpt_path",
                "an existing checkpoint file",
                f"{ckpt!r} (no such file)",
                "Check the path; checkpoints are under runs/<name>/version_<n>/checkpoints/.",
            )
        )
    scheduler = init.get("scheduler")
    if (
        own_optimizers
        and subcommand == "fit"
        and scheduler is not None
        and scheduler.get("monitor") in (None, "None", "null", "")
    ):
        path = scheduler.get("scheduler.class_path") if hasattr(scheduler, "get") else None
        with contextlib.suppress(Exception):
            if isinstance(path, str) and issubclass(resolve_class(path), ReduceLROnPlateau):
                problems.append(monitor_required())
    return problems + monitor_problems(config, subcommand)


_LOCAL_LOGGERS = ("TensorBoardLogger", "CSVLogger")  # lightcli points them into the run folder


def run_folder_problems(config: Any) -> list[Problem]:
    """Settings lightcli would override with the run folder: ``trainer.default_root_dir`` and a TensorBoard or CSV
    logger's ``save_dir`` other than ``run.root``, refused instead of silently replaced."""
    trainer = config.get("trainer")
    root = str(config.get("run.root") or "runs")
    fix = "lightcli writes each run to <run.root>/<run.name>/version_<n>"
    problems = []
    given = trainer.get("default_root_dir") if trainer is not None else None
    if given is not None:
        problems.append(
            Problem(
                "trainer.default_root_dir", "null", repr(str(given)), f"Remove it and give --run.root {given} ({fix})."
            )
        )
    loggers = trainer.get("logger") if trainer is not None else None
    for i, logger in enumerate(loggers if isinstance(loggers, list) else [loggers]):
        path = str(logger.get("class_path") or "") if hasattr(logger, "get") else ""
        save_dir = logger.get("init_args.save_dir") if path.endswith(_LOCAL_LOGGERS) else None
        if save_dir is not None and str(save_dir) not in ("runs", root):
            key = (
                f"trainer.logger[{i}].init_args.save_dir"
                if isinstance(loggers, list)
                else "trainer.logger.init_args.save_dir"
            )
            problems.append(
                Problem(
                    key, f"the run root {root!r}", repr(str(save_dir)), f"Give --run.root {save_dir} instead ({fix})."
                )
            )
    return problems


def _dataloader_classes(loaders: Any) -> list[Problem]:
    """A DataLoader class given as a loader: jsonargparse may accept it, but builds its dataset wrong (a bare
    ``Dataset`` for ``dataset: {class_path: ...}``); the fix is the Loader YAML or a function returning a DataLoader."""
    problems: list[Problem] = []
    for mode in ("train", "val", "test", "predict"):
        loader: Any = loaders.get(mode) if loaders is not None and hasattr(loaders, "get") else None
        path = loader.get("class_path") if loader is not None and hasattr(loader, "get") else None
        if not isinstance(path, str):
            continue
        cls: Any = None
        with contextlib.suppress(Exception):
            cls = resolve_class(path)
        if not (inspect.isclass(cls) and issubclass(cls, DataLoader)):
            continue
        init = loader.get("init_args")
        given = init.as_dict() if hasattr(init, "as_dict") else dict(init or {})
        defaults = {n: p.default for n, p in inspect.signature(cls).parameters.items()}
        given = {k: v for k, v in given.items() if k not in defaults or v != defaults[k]}
        expected = "a lightcli.Loader or a function that returns a DataLoader"
        got = f"{path!r} (a DataLoader class)"
        problems.append(Problem(f"system.dataloaders.{mode}.class_path", expected, got, loader_instead(path, given)))
    return problems


def check_optimizers(system: Any, subcommand: str | None) -> None:
    """Builds the optimizer and scheduler of a :class:`~lightcli.System` before ``fit`` starts, once.

    A bad value (``lr: -1``, an option of ``param_groups`` the optimizer does not have) fails here, named
    by its key, instead of after the run has started. What is built is kept on the system
    (``prebuilt_optimizers``) and used by its first ``configure_optimizers``: the optimizer is built once.

    Raises:
        ConfigError: naming ``system.optimizer``, ``system.scheduler.scheduler``, or the ``system.param_groups``
            option the optimizer does not have.
    """
    if subcommand != "fit" or not isinstance(system, System):
        return
    if type(system).configure_optimizers is not System.configure_optimizers or system.optimizer_factory is None:
        return
    fix = CHECK_INIT_ARGS
    factory = system.optimizer_factory

    def optimizer_factory(params: Any) -> Any:  # names the key of an optimizer that does not build
        try:
            return factory(params)
        except Exception as error:
            raise ConfigError(Problem("system.optimizer", "an optimizer that builds", raised(error), fix)) from error

    optimizer = build_optimizer(optimizer_factory, system.model, system.param_groups, system.parameters())
    scheduler = None
    if system.scheduler is not None:
        try:
            scheduler = system.scheduler.scheduler(optimizer)
        except Exception as error:
            expected = "a scheduler that builds"
            raise ConfigError(Problem("system.scheduler.scheduler", expected, raised(error), fix)) from error
    system.prebuilt_optimizers = (optimizer, scheduler)
