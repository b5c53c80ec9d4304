"""A checkpoint given to a command, read once: what lightcli needs from it before Lightning loads it.

``--ckpt_path`` (or ``ckpt_path: last``) is read by lightcli for the system config to parse with, the
allowlist of that config's class paths, the position to resume the run's metrics from, and the shapes
of the weights a changed model must still fit. :func:`read_checkpoint` loads the file once for all of
them, with ``torch.load(weights_only=True)`` (no code is unpickled), and keeps only that summary: every
later question about the same unchanged file gets the same :class:`StoredCheckpoint`.
"""

from __future__ import annotations

import errno
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from lightcli.config.files import ReadOnce
from lightcli.config.problems import ConfigError, Problem, raised
from lightcli.upstream.lightning_core import CLASS_PATH_KEY, INSTANTIATOR_KEY

__all__ = ["RUN_CONFIG_KEY", "StoredCheckpoint", "forget", "read_checkpoint", "stored_system_config", "unreadable"]

RUN_CONFIG_KEY = "lightcli_config"
"""The checkpoint entry holding the run's whole config as YAML text (trainer included), written by lightcli's runs."""

_MAX_FILES = 8


@dataclass(frozen=True)
class StoredCheckpoint:
    """What a checkpoint holds that lightcli reads before Lightning restores it. Read-only: shared by all readers."""

    path: str
    """The checkpoint file, as given."""
    system_config: dict[str, Any] | None = None
    """The system config it was trained with (``class_path`` and ``init_args``), if its hyperparameters hold one."""
    epoch: int = 0
    """Its epoch."""
    global_step: int = 0
    """Its global step."""
    mid_epoch: int = 0
    """Training batches done in an unfinished epoch; 0 for a checkpoint saved at the end of an epoch."""
    weight_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """The shape of every tensor of its ``state_dict``."""
    run_config: dict[str, Any] | None = None
    """The whole config of the run that wrote it (trainer, data, seed...), if it was written by a lightcli run."""

    @property
    def position(self) -> tuple[int, int, int]:
        """``(epoch, global step, batches done in an unfinished epoch)``."""
        return self.epoch, self.global_step, self.mid_epoch


def read_checkpoint(path: str | os.PathLike[str]) -> StoredCheckpoint:
    """The summary of a checkpoint file, loaded once while the file stays unchanged (per process).

    Raises:
        ConfigError: naming ``ckpt_path``: the file cannot be read, is truncated or corrupted, is not a checkpoint,
            or is not loadable without unpickling code.
    """
    try:
        return _checkpoints(path)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(unreadable(path, error)) from error


def unreadable(path: str | os.PathLike[str], error: BaseException) -> Problem:
    """The problem of a checkpoint file that cannot be loaded, said for users (truncated, corrupted, not one)."""
    if isinstance(error, OSError) and not isinstance(error, FileNotFoundError) and error.errno == errno.EACCES:
        reason = "not readable: permission denied"
    elif not zipfile.is_zipfile(path):
        reason = "not a complete checkpoint file: truncated, corrupted, or another kind of file"
    else:
        reason = f"unreadable: {raised(error)}"
    return Problem(
        "ckpt_path",
        "a checkpoint saved by lightcli or Lightning",
        f"{os.fspath(path)!r} ({reason})",
        "Give another checkpoint: runs/<name>/version_<n>/checkpoints/ holds each run's (last.ckpt is the newest).",
    )


def _summary(path: str, checkpoint: Any) -> StoredCheckpoint:
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        got = type(checkpoint).__name__ if not isinstance(checkpoint, dict) else "a dict without a state_dict"
        raise ConfigError(
            Problem(
                "ckpt_path",
                "a checkpoint saved by lightcli or Lightning",
                f"{path!r} (it holds {got}: weights alone go in system.weights)",
                "Give a .ckpt of an earlier run, or load the weights with --system.weights.path.",
            )
        )
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    hparams.pop(INSTANTIATOR_KEY, None)
    class_path = hparams.pop(CLASS_PATH_KEY, None)
    config = {"class_path": class_path, "init_args": hparams} if class_path is not None else None
    progress = checkpoint.get("loops", {}).get("fit_loop", {}).get("epoch_loop.batch_progress", {})
    done = int(progress.get("current", {}).get("processed", 0))
    state = checkpoint.get("state_dict") or {}
    text = checkpoint.get(RUN_CONFIG_KEY)
    run_config = yaml.safe_load(text) if isinstance(text, str) else None
    return StoredCheckpoint(
        path=path,
        system_config=config,
        epoch=int(checkpoint.get("epoch", 0)),
        global_step=int(checkpoint.get("global_step", 0)),
        mid_epoch=0 if progress.get("is_last_batch", True) else done,
        weight_shapes={name: tuple(value.shape) for name, value in state.items() if hasattr(value, "shape")},
        run_config=run_config if isinstance(run_config, dict) else None,
    )


def stored_system_config(ckpt_path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """The system config (class_path and init_args) a checkpoint was trained with, if it is a file holding one."""
    if not ckpt_path or not Path(ckpt_path).is_file():
        return None
    return read_checkpoint(ckpt_path).system_config


def _load(path: str) -> StoredCheckpoint:
    return _summary(path, torch.load(path, map_location="cpu", weights_only=True, mmap=True))


_checkpoints: ReadOnce[StoredCheckpoint] = ReadOnce(_load, most=_MAX_FILES)


def forget() -> None:
    """Drops every kept summary: the next question about a checkpoint loads it again."""
    _checkpoints.forget()
