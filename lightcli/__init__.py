"""lightcli: train PyTorch models from typed, checked YAML configs on PyTorch Lightning."""

from lightcli.core.adapters import Adapters, ArgumentsAdapter, BatchAdapter, Call, LoggingAdapter, ModeAdapters
from lightcli.core.data import Diabetes, Digits, Loader, SyntheticClassification, TensorSplitDataset, Wine
from lightcli.core.freezer import Freezer
from lightcli.core.models import MLP
from lightcli.core.optim import ParamGroup
from lightcli.core.system import DataLoaders, Metrics, Scheduler, System
from lightcli.core.weights import Weights
from lightcli.core.writers import Argmax, FileWriter, TableWriter

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
