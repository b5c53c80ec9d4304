"""What the user sees in the terminal: a quiet console, a progress bar with the loss, a metrics table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from pytorch_lightning.callbacks import TQDMProgressBar

from lightcli.run.quiet import quiet

__all__ = ["ProgressBar", "metrics_table", "quiet"]


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
