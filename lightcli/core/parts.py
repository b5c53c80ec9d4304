"""The typed parts of a :class:`~lightcli.System` given as mappings in YAML: data, metrics and scheduler per mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader
from torchmetrics import Metric

from lightcli.core.data import Loader

__all__ = ["DataLoaders", "LoaderArg", "Metrics", "MetricsArg", "Mode", "Scheduler"]

Mode = Literal["train", "val", "test", "predict"]
MetricsArg = Metric | list[Metric] | dict[str, Metric] | None
LoaderArg = Loader | Callable[[], DataLoader] | None


@dataclass
class DataLoaders:
    """The data of each mode. A loader is built only when its mode runs."""

    train: LoaderArg = None
    """Training data (``lightcli fit``)."""
    val: LoaderArg = None
    """Validation data (``lightcli fit`` and ``lightcli validate``)."""
    test: LoaderArg = None
    """Test data (``lightcli test``)."""
    predict: LoaderArg = None
    """Prediction data (``lightcli predict``)."""


@dataclass
class Metrics:
    """Metrics of each mode: a torchmetrics Metric, a list of them, or a dict name -> Metric.

    Each mode gets its own metric state.
    """

    train: MetricsArg = None
    """Metrics computed on the training batches."""
    val: MetricsArg = None
    """Metrics computed on the validation data."""
    test: MetricsArg = None
    """Metrics computed on the test data."""


@dataclass
class Scheduler:
    """A learning-rate scheduler and when to step it (Lightning's ``lr_scheduler`` config)."""

    scheduler: Callable[[Optimizer], LRScheduler | ReduceLROnPlateau]
    """The scheduler class_path and its init_args; the optimizer is passed in."""
    interval: Literal["epoch", "step"] = "epoch"
    """Step the scheduler every epoch or every optimizer step."""
    frequency: int = 1
    """Step the scheduler every this many intervals."""
    monitor: str | None = None
    """Logged metric that drives ReduceLROnPlateau, e.g. ``val/loss``."""
    strict: bool = True
    """Fail if the monitored metric is missing."""
