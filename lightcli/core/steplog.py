"""What a :class:`~lightcli.System` keeps and logs per step and per epoch, at the lowest cost per step.

Every step adds its weighted loss to an on-device sum per mode (no host sync) and updates the metrics' state.
Only a training step that Lightning logs (every ``trainer.log_every_n_steps``) reads values on the host: that
step's loss parts, the metrics computed on its batch, the learning rate and momentum, written straight to the
loggers in one call per logger (``train/step/...``, ``train/lr``, ``train/momentum``). Lightning's ``self.log``
is called only at the end of an epoch, once per name (``<mode>/loss``, ``<mode>/<metric>``), so checkpointing,
early stopping and schedulers see the epoch values; a step never goes through Lightning's result collection.

Lightning sets the module's ``_current_fx_name`` around each of the ~40 hook calls of a training step;
:meth:`LoggedSteps.__setattr__` sets it, and the per-step values kept here, as plain attributes instead of
through ``torch.nn.Module.__setattr__`` (about 2 µs a call spent checking for parameters, buffers and modules
none of these names ever is).
"""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
from torchmetrics import Metric, MetricCollection

from lightcli.upstream.lightning_core import attached_trainer

__all__ = ["LoggedSteps"]

_PLAIN_ATTRIBUTES = frozenset({"_current_fx_name", "_last_loss", "_step_losses", "_step_metrics"})
"""Attributes set during every step that are never a parameter, buffer or sub-module."""


class LoggedSteps(pl.LightningModule):
    """Base of :class:`lightcli.System`: the per-step loss sums, the logging steps and the epoch logs.

    Args:
        stop_on_nan: Stop the run when a training loss is NaN or infinite (see :class:`lightcli.System`).
    """

    def __init__(self, stop_on_nan: bool = True) -> None:
        super().__init__()
        self.stop_on_nan = stop_on_nan
        self._loss_sums: dict[str, dict[str, torch.Tensor]] = {}
        self._loss_counts: dict[str, int] = {}
        self._last_loss: torch.Tensor | None = None  # shown by lightcli's progress bar
        self._step_losses: dict[str, torch.Tensor] | None = None  # this logging step's losses, until written
        self._step_metrics: dict[str, Any] | None = None  # ... and its batch's metric values

    def __setattr__(self, name: str, value: Any) -> None:
        """Sets the per-step attributes (Lightning's ``_current_fx_name`` among them) as plain attributes."""
        if name in _PLAIN_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def metrics_of(self, mode: str) -> MetricCollection | None:
        """The metric collection of a mode, or None."""
        return getattr(self, f"{mode}_metrics", None)

    def is_logging_step(self) -> bool:
        """Whether the running training step is one Lightning logs (every ``trainer.log_every_n_steps``)."""
        trainer = attached_trainer(self)
        if trainer is None or not trainer.loggers or trainer.sanity_checking:
            return False
        every: int = getattr(trainer, "log_every_n_steps", 50)  # set by Lightning's logger connector
        return (self.global_step + 1) % max(every, 1) == 0

    def add_losses(self, mode: str, losses: dict[str, torch.Tensor], n: int, logging_step: bool) -> None:
        """Adds a step's losses (``loss``, ``loss/<part>``), weighted by its batch size ``n``, to the epoch's sums;
        a training step's are kept for its progress bar and, on a logging step, for the loggers."""
        sums = self._loss_sums.setdefault(mode, {})
        for name, loss in losses.items():
            weighted = loss.detach() * n
            sums[name] = sums[name] + weighted if name in sums else weighted
        self._loss_counts[mode] = self._loss_counts.get(mode, 0) + n
        if mode == "train":
            self._last_loss = losses["loss"].detach()
            self._step_losses = losses if logging_step else None

    def keep_step_metrics(self, values: dict[str, Any]) -> None:
        """Keeps a logging step's metric values (computed on its batch) for the loggers."""
        self._step_metrics = values

    # -- non-finite losses ---------------------------------------------------------------------------

    def _stop_if_not_finite(self, values: dict[str, float], when: str) -> None:
        """Raises FloatingPointError naming the first non-finite loss part among ``values`` (``loss``, ``loss/<part>``).

        Called with values read anyway (logging steps, the epoch's loss sums): no extra host sync per step.
        """
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if not self.stop_on_nan or not bad:
            return
        name = next((k for k in bad if k != "loss"), bad[0])
        part = f"the loss part {name.removeprefix('loss/')!r}" if name != "loss" else "the loss"
        raise FloatingPointError(
            f"{part} is {values[name]} at epoch {self.current_epoch}, {when}: the run stopped "
            "(lower the learning rate or check the data; stop_on_nan: false trains on)"
        )

    def _check_epoch_losses(self) -> None:
        """Before validation in fit and at the end of a training epoch: the epoch's losses so far are finite."""
        sums = self._loss_sums.get("train")
        if self.stop_on_nan and sums:
            values = {k: float(v) if v.numel() == 1 else float(v.sum()) for k, v in sums.items()}
            self._stop_if_not_finite(values, f"by step {self.global_step - 1}")

    def on_validation_start(self) -> None:
        """In fit: stops the run before a non-finite training loss reaches validation and its checkpoint."""
        trainer = attached_trainer(self)
        if trainer is not None and trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._check_epoch_losses()

    # -- logging -------------------------------------------------------------------------------------

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Writes this step's loss, metrics, learning rate and momentum to the loggers on logging steps."""
        losses = self._step_losses
        if losses is None:
            return
        read = {k: v.item() for k, v in losses.items()}
        self._stop_if_not_finite(read, f"step {self.global_step - 1}")
        values: dict[str, float] = {f"train/step/{k}": v for k, v in read.items()}
        for name, value in (self._step_metrics or {}).items():
            for key, number in _flatten(f"train/step/{name}", value):
                values[key] = float(number)
        values.update(self._optimizer_values())
        values["epoch"] = self.current_epoch
        for logger in self.trainer.loggers:
            logger.log_metrics(values, step=self.global_step)
        self._step_losses = None
        self._step_metrics = None

    def _optimizer_values(self) -> dict[str, float]:
        optimizers = self.trainer.optimizers
        values: dict[str, float] = {}
        for o, optimizer in enumerate(optimizers):
            groups = optimizer.param_groups
            for g, group in enumerate(groups):
                suffix = ("" if len(optimizers) == 1 else f"/opt{o}") + ("" if len(groups) == 1 else f"/group{g}")
                values[f"train/lr{suffix}"] = float(group["lr"])
                momentum = group.get("momentum", group.get("betas", (None,))[0])
                if momentum is not None:
                    values[f"train/momentum{suffix}"] = float(momentum)
        return values

    def _log_epoch(self, mode: str) -> None:
        count = self._loss_counts.pop(mode, 0)
        sums = self._loss_sums.pop(mode, {})
        on_bar = mode != "train"
        for name, total in sums.items():
            self.log(f"{mode}/{name}", total / max(count, 1), sync_dist=True, prog_bar=on_bar and name == "loss")
        collection = self.metrics_of(mode)
        if collection is None or not _updated(collection):
            return
        for name, value in collection.compute().items():
            for key, number in _flatten(f"{mode}/{name}", value):
                self.log(key, number, prog_bar=on_bar)
        collection.reset()

    def on_train_epoch_end(self) -> None:
        """Logs the epoch's mean loss and its metrics, computed once from the accumulated state."""
        self._check_epoch_losses()
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        """Logs the validation loss and metrics."""
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        """Logs the test loss and metrics."""
        self._log_epoch("test")


def _updated(collection: MetricCollection) -> bool:
    """Whether a metric of the collection was updated (a wrapper such as MultitaskWrapper: one of the metrics it holds)."""
    return any(m.update_called for top in collection.values() for m in top.modules() if isinstance(m, Metric))


def _flatten(name: str, value: Any) -> list[tuple[str, Any]]:
    """One scalar per logged name: a vector metric (e.g. per class) becomes ``name/0``, ``name/1``...; a dict
    (a metric returning several values) ``name/<key>``."""
    if isinstance(value, dict):
        return [item for key, inner in value.items() for item in _flatten(f"{name}/{key}", inner)]
    if value.numel() == 1:
        return [(name, value.reshape(()))]
    return [(f"{name}/{i}", v) for i, v in enumerate(value.flatten())]
