"""A quiet console: library tips and chatter silenced for the duration of a command (no torch needed)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["quiet"]

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
_CHATTY_AT_WARNING = ("pytorch_lightning.loggers.mlflow",)  # "Experiment with name x not found. Creating it."


@contextmanager
def quiet() -> Iterator[None]:
    """Silences library tips, deprecation notices and informational chatter for the duration.

    Warnings about the user's own code and data still show. Everything is restored on exit.
    """
    levels = {name: logging.getLogger(name).level for name in (*_NOISY_LOGGERS, *_CHATTY_AT_WARNING)}
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning, module="(torch|pytorch_lightning|lightning_fabric)")
        warnings.filterwarnings("ignore", module="jsonargparse")
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        for name in _CHATTY_AT_WARNING:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
