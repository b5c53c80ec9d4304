"""What a run needs, each rule written once: checked on the parsed config (:mod:`lightcli.core.rules`) and by the
:class:`~lightcli.System` when the run gets there."""

from __future__ import annotations

from lightcli.config.problems import Problem

__all__ = ["criterion_required", "loader_required", "monitor_required", "optimizer_required"]


def criterion_required() -> Problem:
    """``fit`` needs a criterion (unless the System's subclass trains its own way)."""
    return Problem(
        "system.criterion",
        "a loss for training",
        "null",
        "Set it, e.g. criterion: {class_path: torch.nn.CrossEntropyLoss}.",
    )


def optimizer_required() -> Problem:
    """``fit`` needs an optimizer (unless the System's subclass configures its own)."""
    return Problem(
        "system.optimizer",
        "an optimizer for training",
        "null",
        "Set it, e.g. optimizer: {class_path: torch.optim.Adam, init_args: {lr: 0.001}}.",
    )


def loader_required(mode: str) -> Problem:
    """A mode that runs needs its loader (or a datamodule)."""
    return Problem(
        f"system.dataloaders.{mode}",
        f"a loader for the {mode} data",
        "null",
        f"Set system.dataloaders.{mode} (e.g. class_path: lightcli.Loader) or pass --data.",
    )


def monitor_required() -> Problem:
    """ReduceLROnPlateau steps on a logged metric, so it needs ``monitor``."""
    return Problem(
        "system.scheduler.monitor",
        "the name of a logged metric for ReduceLROnPlateau",
        "null",
        "Set it, e.g. monitor: val/loss.",
    )
