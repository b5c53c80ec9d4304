"""What the user sees in the terminal: a quiet console, a progress bar with the loss, a metrics table."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from pytorch_lightning.callbacks import TQDMProgressBar

__all__ = ["ProgressBar", "metrics_table", "quiet"]

# Library chatter that says nothing about the user's run. Matched against the start of a warning's text.
_NOISE = [
    r".*does not have many workers",
    r".*The number of training batches \(\d+\) is smaller than the logging interval",
    r".*Checkpoint directory .* exists and is not empty",
    r".*Total length of .* across ranks is zero",
    r".*You defined a `validation_step` but have no `val_dataloader`",
    r".*is an instance of `nn.Module` and is already saved during checkpointing",
    r".*It is recommended to use `self.log\(.*sync_dist=True\)`",
    r".*Experiment logs directory .* exists and is not empty",
    r".*No positive samples in targets",
    r".*The ``compute`` method of metric .* was called before the ``update``",
    r".*Found keys that are in the model state dict but not in the checkpoint",
    r".*Found keys that are not in the model state dict but in the checkpoint",
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated",
    r".*Starting from v1\.9\.0, `tensorboardX` has been removed",
    r".*The dirpath has changed from",
    r".*No seed found, seed set to",
    r".*Trying to infer the `batch_size` from an ambiguous collection",
]
_NOISY_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "pytorch_lightning.accelerators.cuda",
    "pytorch_lightning.utilities.migration",
    "lightning_fabric.utilities.seed",
    "lightning_fabric.utilities.distributed",
    "pytorch_lightning.trainer.connectors.signal_connector",
)


@contextmanager
def quiet() -> Iterator[None]:
    """Silences library tips, deprecation notices and informational chatter for the duration.

    Warnings about the user's own code and data still show. Everything is restored on exit.
    """
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module="(torch|pytorch_lightning|lightning_fabric)")
        warnings.filterwarnings("ignore", module="jsonargparse")
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            yield
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


class ProgressBar(TQDMProgressBar):
    """Lightning's progress bar, showing the training loss of the last step.

    Args:
        refresh_rate: Refresh the bar every this many batches (the loss is read only then).
        leave: Leave the finished bar of each epoch on screen.
    """

    def __init__(self, refresh_rate: int = 1, leave: bool = False) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=leave)

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, int | str | float | dict[str, float]]:
        """The bar's figures: Lightning's, without the version number, plus the last training loss."""
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        last = getattr(pl_module, "_last_loss", None)
        if last is not None and trainer.training:
            metrics["loss"] = f"{last.item():.4g}"
        return metrics


def metrics_table(metrics: Mapping[str, Any], title: str = "metrics") -> str:
    """Formats ``name -> scalar`` as a two-column text table, sorted by name."""
    rows = [(name, _format(value)) for name, value in sorted(metrics.items()) if name != "epoch"]
    if not rows:
        return ""
    width = max(len(title), *(len(name) for name, _ in rows))
    value_width = max(len("value"), *(len(value) for _, value in rows))
    line = "-" * (width + value_width + 5)
    out = [line, f"  {title:<{width}} | {'value':>{value_width}}", line]
    out += [f"  {name:<{width}} | {value:>{value_width}}" for name, value in rows]
    out.append(line)
    return "\n".join(out)


def _format(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
