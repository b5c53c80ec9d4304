"""Rules a parsed config must meet before a run starts, checked without training (what ``fit`` and ``check`` need)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from torch.optim.lr_scheduler import ReduceLROnPlateau

from lightcli.config.classpaths import resolve_class
from lightcli.config.commands import MODES
from lightcli.config.problems import TRACEBACK_ENV_VAR, ConfigErrors, Problem, first_line
from lightcli.core.system import System

__all__ = ["check_optimizers", "static_problems"]


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
            problems.append(
                Problem(
                    "system.criterion",
                    "a loss for training",
                    "null",
                    "Set it, e.g. criterion: {class_path: torch.nn.CrossEntropyLoss}.",
                )
            )
        if own_optimizers and init.get("optimizer") is None:
            problems.append(
                Problem(
                    "system.optimizer",
                    "an optimizer for training",
                    "null",
                    "Set it, e.g. optimizer: {class_path: torch.optim.Adam, init_args: {lr: 0.001}}.",
                )
            )
    mode = MODES[subcommand][0]  # the mode whose data the subcommand needs first
    if not has_data and (loaders is None or loaders.get(mode) is None):
        problems.append(
            Problem(
                f"system.dataloaders.{mode}",
                f"a loader for the {mode} data",
                "null",
                f"Set system.dataloaders.{mode} (e.g. class_path: lightcli.Loader) or pass --data.",
            )
        )
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
                problems.append(
                    Problem(
                        "system.scheduler.monitor",
                        "the name of a logged metric for ReduceLROnPlateau",
                        "null",
                        "Set it, e.g. monitor: val/loss.",
                    )
                )
    return problems


def check_optimizers(system: Any, subcommand: str | None) -> None:
    """Builds the optimizer and scheduler of a :class:`~lightcli.System` before ``fit`` starts (then drops them).

    A bad value (``lr: -1``) fails here, named by its key, instead of after the run has started.

    Raises:
        ConfigErrors: naming ``system.optimizer`` or ``system.scheduler.scheduler``.
    """
    if subcommand != "fit" or not isinstance(system, System):
        return
    if type(system).configure_optimizers is not System.configure_optimizers or system.optimizer_factory is None:
        return
    fix = f"Check its init_args ({TRACEBACK_ENV_VAR}=1 shows the traceback)."
    try:
        optimizer = system.optimizer_factory(system.parameters())
    except Exception as error:
        got = f"{type(error).__name__}: {first_line(error)}"
        raise ConfigErrors([Problem("system.optimizer", "an optimizer that builds", got, fix)]) from error
    if system.scheduler is None:
        return
    try:
        system.scheduler.scheduler(optimizer)
    except Exception as error:
        got = f"{type(error).__name__}: {first_line(error)}"
        raise ConfigErrors([Problem("system.scheduler.scheduler", "a scheduler that builds", got, fix)]) from error
