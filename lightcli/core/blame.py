"""Which part of a run raised: the config key of the component whose code is in an exception's traceback."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

from lightcli.core.system import System

__all__ = ["component_key"]

_MODES = ("train", "val", "test", "predict")
_LOADERS = {
    "train": "train_dataloader",
    "val": "val_dataloaders",
    "test": "test_dataloaders",
    "predict": "predict_dataloaders",
}


def _loaders(trainer: Any, mode: str) -> list[Any]:
    try:
        loaders = getattr(trainer, _LOADERS[mode], None)
    except Exception:  # a loop that never ran
        return []
    if loaders is None:
        return []
    if isinstance(loaders, dict):
        return list(loaders.values())
    return list(loaders) if isinstance(loaders, (list, tuple)) else [loaders]


def _keys(system: Any, trainer: Any, datamodule: Any) -> dict[int, str]:
    """Each component of a built run by id, with its config key."""
    keys: dict[int, str] = {}
    if datamodule is not None:
        keys[id(datamodule)] = "data"
    for callback in getattr(trainer, "callbacks", None) or []:
        keys.setdefault(id(callback), f"trainer.callbacks.{type(callback).__name__}")
    if not isinstance(system, System):
        return keys
    keys[id(system)] = "system"
    source = "data" if datamodule is not None else "system.dataloaders.{mode}"
    for mode in _MODES:
        for loader in _loaders(trainer, mode):
            keys[id(loader)] = source.format(mode=mode)
            dataset = getattr(loader, "dataset", None)
            if dataset is not None:
                keys[id(dataset)] = source.format(mode=mode) + ("" if datamodule is not None else ".dataset")
        adapters = getattr(system.adapters, mode, None)
        if adapters is not None:
            keys[id(adapters)] = f"system.adapters.{mode}"
        collection = system.metrics_of(mode)
        if collection is not None:
            for name, metric in collection.items(keep_base=True):
                keys[id(metric)] = f"system.metrics.{mode}.{name}"
    for name, value in (("criterion", system.criterion), ("inferer", system.inferer)):
        if value is not None:
            keys[id(value)] = f"system.{name}"
            if isinstance(value, nn.Module):
                keys.update({id(m): f"system.{name}" for m in value.modules() if id(m) not in keys})
    keys.update({id(m): "system.model" for m in system.model.modules()})
    return keys


def component_key(system: Any, trainer: Any, datamodule: Any, objects: Iterable[Any]) -> str | None:
    """The config key of the innermost of ``objects`` (the ``self`` of each frame of a traceback, innermost first)
    that is a component of the run: ``system.model``, ``system.dataloaders.train.dataset``, ``system.metrics.val.acc``,
    ``trainer.callbacks.EarlyStopping``..., or None when none of them is."""
    keys = _keys(system, trainer, datamodule)
    return next((keys[id(o)] for o in objects if id(o) in keys), None)
