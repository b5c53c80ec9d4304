"""lightcli: train PyTorch models from typed, checked YAML configs on PyTorch Lightning."""

from lightcli.adapters import Adapters, ArgumentsAdapter, BatchAdapter, Call, LoggingAdapter, ModeAdapters
from lightcli.data import Diabetes, Digits, Loader, SyntheticClassification, TensorSplitDataset, Wine
from lightcli.models import MLP
from lightcli.system import DataLoaders, Metrics, Scheduler, System

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "Adapters",
    "ArgumentsAdapter",
    "BatchAdapter",
    "Call",
    "DataLoaders",
    "Diabetes",
    "Digits",
    "Loader",
    "LoggingAdapter",
    "Metrics",
    "ModeAdapters",
    "Scheduler",
    "SyntheticClassification",
    "System",
    "TensorSplitDataset",
    "Wine",
    "__version__",
]
