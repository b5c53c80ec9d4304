"""lightcli: train PyTorch models from typed, checked YAML configs on PyTorch Lightning."""

from lightcli.adapters import Adapters, ArgumentsAdapter, BatchAdapter, Call, LoggingAdapter, ModeAdapters
from lightcli.data import Diabetes, Digits, Loader, SyntheticClassification, TensorSplitDataset, Wine
from lightcli.freezer import Freezer
from lightcli.models import MLP
from lightcli.optim import ParamGroup
from lightcli.system import DataLoaders, Metrics, Scheduler, System
from lightcli.weights import Weights
from lightcli.writers import Argmax, FileWriter, TableWriter

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "Adapters",
    "Argmax",
    "ArgumentsAdapter",
    "BatchAdapter",
    "Call",
    "DataLoaders",
    "Diabetes",
    "Digits",
    "FileWriter",
    "Freezer",
    "Loader",
    "LoggingAdapter",
    "Metrics",
    "ModeAdapters",
    "ParamGroup",
    "Scheduler",
    "SyntheticClassification",
    "System",
    "TableWriter",
    "TensorSplitDataset",
    "Weights",
    "Wine",
    "__version__",
]
