"""lightcli: train PyTorch models from typed, checked YAML configs on PyTorch Lightning.

The public classes are imported on first use (``lightcli.System``), so the subcommands that need no
torch (``lightcli diff`` of two runs) start without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightcli.core.adapters import Adapters, ArgumentsAdapter, BatchAdapter, Call, LoggingAdapter, ModeAdapters
    from lightcli.core.data import Diabetes, Digits, Loader, SyntheticClassification, TensorSplitDataset, Wine
    from lightcli.core.freezer import Freezer
    from lightcli.core.models import MLP
    from lightcli.core.optim import ParamGroup
    from lightcli.core.system import DataLoaders, Metrics, Scheduler, System
    from lightcli.core.weights import Weights
    from lightcli.core.writers import Argmax, FileWriter, TableWriter

__version__ = "0.1.0"

_MODULES: dict[str, tuple[str, ...]] = {
    "lightcli.core.adapters": (
        "Adapters",
        "ArgumentsAdapter",
        "BatchAdapter",
        "Call",
        "LoggingAdapter",
        "ModeAdapters",
    ),
    "lightcli.core.data": ("Diabetes", "Digits", "Loader", "SyntheticClassification", "TensorSplitDataset", "Wine"),
    "lightcli.core.freezer": ("Freezer",),
    "lightcli.core.models": ("MLP",),
    "lightcli.core.optim": ("ParamGroup",),
    "lightcli.core.system": ("DataLoaders", "Metrics", "Scheduler", "System"),
    "lightcli.core.weights": ("Weights",),
    "lightcli.core.writers": ("Argmax", "FileWriter", "TableWriter"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

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


def __getattr__(name: str) -> Any:
    """Imports a public class on first use (``lightcli.System`` imports :mod:`lightcli.core.system`)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lightcli' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, imported or not (so ``dir(lightcli)`` lists the classes a config can name)."""
    return sorted({*globals(), *__all__})
