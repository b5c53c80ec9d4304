"""Checkpoints you can count on: atomic writes, resumable random state, and a graceful stop on SIGTERM/SIGINT.

- :class:`AtomicCheckpointIO` writes a checkpoint to a temporary file next to its target, fsyncs it and renames
  it over the target: a kill at any moment leaves either the previous checkpoint or the new one, never a torn file.
- :class:`RandomState` stores the random number generators in each checkpoint and restores them on resume,
  so a resumed run draws the same shuffles and dropout masks as an uninterrupted one.
- :class:`GracefulStop` turns SIGTERM (cluster preemption) and a first Ctrl-C into: finish the current batch,
  save ``checkpoints/last.ckpt``, exit with code 128 + signal number and a one-line resume hint.
- :func:`run_callbacks`: these callbacks, and a ModelCheckpoint into the run folder, for the trainer of a run
  that has a folder.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, cast

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_fabric.utilities.cloud_io import get_filesystem
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from lightcli.config.problems import ConfigError, Problem
from lightcli.run import folders as runs
from lightcli.run.stored import read_checkpoint

__all__ = [
    "AtomicCheckpointIO",
    "GracefulStop",
    "RandomState",
    "ResumeOverrides",
    "atomic_save",
    "check_resume_rules",
    "check_weights_fit",
    "config_changes",
    "run_callbacks",
]

_PARTIAL = ".partial-"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/filesystem can open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_save(checkpoint: dict[str, Any], path: str | Path) -> None:
    """Saves ``checkpoint`` to ``path`` so that ``path`` always holds a complete checkpoint.

    Writes ``.<name>.partial-<pid>`` in the same directory, fsyncs it, renames it over ``path`` and
    fsyncs the directory. Leftovers of writers that were killed are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}{_PARTIAL}*"):
        with contextlib.suppress(OSError):
            stale.unlink()
    partial = path.parent / f".{path.name}{_PARTIAL}{os.getpid()}"
    try:
        with partial.open("wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    _fsync_dir(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's TorchCheckpointIO with crash-safe local writes (see :func:`atomic_save`).

    Remote paths (``s3://``...) are written by Lightning as before.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        """Saves a checkpoint; a kill during the write leaves the previous file at ``path`` intact."""
        if storage_options is not None or get_filesystem(path).protocol not in ("file", ("file", "local")):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        atomic_save(checkpoint, path)


def use_atomic_checkpoints(trainer: Trainer) -> None:
    """Makes the trainer write checkpoints atomically, unless a custom CheckpointIO was configured."""
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()


def run_callbacks(
    run: runs.RunDirectory, changes: dict[str, tuple[Any, Any]] | None, others: list[Any], checkpointing: bool
) -> list[Callback]:
    """The callbacks of a run that has a folder, added to those its trainer already has (``others``).

    ``run`` itself (the run's records), :class:`RandomState`, :class:`GracefulStop` with the command that resumes
    the run, :class:`ResumeOverrides` when a resumed fit changes values (``changes``), and with ``checkpointing`` a
    ModelCheckpoint into ``<run>/checkpoints`` (with ``last.ckpt``) unless one is given.

    Args:
        run: The run folder's callback, which writes its records.
        changes: ``key -> (value in the checkpoint, value given)`` of a resumed fit, else None.
        others: The callbacks the trainer has already (a ModelCheckpoint among them is kept as the only one).
        checkpointing: Whether the trainer checkpoints (``enable_checkpointing`` is not false).
    """
    run_dir = run.run_dir
    hint = runs.command_line(["fit", "--config", str(run_dir / runs.CONFIG_FILE), "--ckpt_path", "last"])
    callbacks: list[Callback] = [run, RandomState(), GracefulStop(run_dir / runs.CHECKPOINTS, hint)]
    if changes:
        callbacks.append(ResumeOverrides(changes))
    if checkpointing and not any(isinstance(c, ModelCheckpoint) for c in [*others, *callbacks]):
        callbacks.append(  # one run per directory: overwrite, never last-v1.ckpt
            ModelCheckpoint(dirpath=run_dir / runs.CHECKPOINTS, save_last=True, enable_version_counter=False)
        )
    return callbacks


class RandomState(Callback):
    """Stores the random generators (torch, numpy, python) in checkpoints and restores them on resume.

    Without it, a resumed run reseeds from the start and shuffles the next epoch differently from an
    uninterrupted run. Under DDP the state of rank 0 is stored (DistributedSampler shuffles by seed
    and epoch, not by this state).
    """

    def state_dict(self) -> dict[str, Any]:
        """The random state at the time the checkpoint is written (plain types: loadable with weights_only)."""
        state = {"torch": torch.get_rng_state(), "python": random.getstate()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        with contextlib.suppress(ImportError):
            import numpy as np

            kind, keys, pos, has_gauss, gauss = cast("tuple[Any, ...]", np.random.get_state())
            state["numpy"] = (kind, torch.from_numpy(keys.astype("int64")), int(pos), int(has_gauss), float(gauss))
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the random state of the checkpoint."""
        if "torch" in state_dict:
            torch.set_rng_state(state_dict["torch"])
        if "python" in state_dict:
            version, internal, gauss = state_dict["python"]
            random.setstate((version, tuple(internal), gauss))
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        if "numpy" in state_dict:
            import numpy as np

            kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
            np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, gauss))


_STOP_SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


class GracefulStop(Callback):
    """On SIGTERM or a first Ctrl-C: finish the current batch, save ``last.ckpt``, exit cleanly.

    The signal only sets a flag; at the end of the training batch every process agrees to stop (one
    all-reduce of a flag per batch when there are several processes, so a signal that reaches a single
    rank stops them all at the same step), ``last.ckpt`` is saved and the run exits with code
    128 + the signal number (143 for SIGTERM, 130 for SIGINT), so schedulers and scripts can tell a
    stop from a finished run. A second Ctrl-C interrupts at once.

    Args:
        dirpath: Where ``last.ckpt`` goes (default: the ModelCheckpoint directory).
        resume_hint: The command that resumes the run, printed after the checkpoint is saved.
    """

    def __init__(self, dirpath: str | Path | None = None, resume_hint: str | None = None) -> None:
        self.dirpath = Path(dirpath) if dirpath is not None else None
        self.resume_hint = resume_hint
        self.signal: int | None = None
        self.saved: Path | None = None
        self._previous: dict[int, Any] = {}

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Installs the SIGTERM and SIGINT handlers (in place of the SIGTERM handler Lightning installs)."""
        if _in_main_thread():
            self._previous = {signum: signal.signal(signum, self._on_signal) for signum in _STOP_SIGNALS}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None and signum == signal.SIGINT:  # second Ctrl-C: stop now
            self._restore()
            raise KeyboardInterrupt
        self.signal = self.signal or signum

    def _restore(self) -> None:
        if _in_main_thread():
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)
        self._previous = {}

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Stops every process after this batch when a stop signal came: saves ``last.ckpt`` and exits."""
        stop = self.signal is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        signum = self.signal or signal.SIGTERM  # ranks the signal did not reach stop as for SIGTERM
        path = self._last_path(trainer)
        trainer.save_checkpoint(path, weights_only=False)
        self.saved = path
        if trainer.is_global_zero:
            name = _STOP_SIGNALS.get(signal.Signals(signum), str(signum))
            message = (
                f"stopped by {name} at epoch {trainer.current_epoch}, step {trainer.global_step}: "
                f"checkpoint saved to {path}"
            )
            if self.resume_hint:
                message += f"\nresume with: {self.resume_hint}"
            print(message, file=sys.stderr, flush=True)
        self._restore()
        raise SIGTERMException(128 + int(signum))

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Restores the previous signal handlers."""
        self._restore()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Restores the previous signal handlers."""
        self._restore()

    def _last_path(self, trainer: Trainer) -> Path:
        if self.dirpath is not None:
            return self.dirpath / "last.ckpt"
        callback = trainer.checkpoint_callback
        if isinstance(callback, ModelCheckpoint) and callback.dirpath:
            return Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
        return Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}"))
        return flat
    return {prefix: value}


def config_changes(
    stored: dict[str, Any], current: dict[str, Any], others: tuple[dict[str, Any], dict[str, Any]] | None = None
) -> dict[str, tuple[Any, Any]]:
    """The keys whose value differs between a checkpoint's stored config and the one in force, sorted.

    Keys are given as the user types them (``system.optimizer.init_args.lr``, ``trainer.max_epochs``).

    Args:
        stored: The system config stored in the checkpoint (its hyperparameters).
        current: The system config in force.
        others: The other sections (``trainer``, ``data``, ``seed_everything``) as stored in the checkpoint
            and as in force, when the checkpoint holds the run's whole config.
    """
    pairs = [(_flatten(stored, "system"), _flatten(current, "system"))]
    if others is not None:
        pairs.append(tuple(_flatten(section, "") for section in others))  # type: ignore[arg-type]
    missing = object()
    changes = {}
    for old, new in pairs:
        for key in set(old) | set(new):
            before, after = old.get(key, missing), new.get(key, missing)
            if before is missing or after is missing or yaml_equal(before, after):
                continue
            changes[key.lstrip(".").replace("system.init_args.", "system.", 1)] = (before, after)
    return dict(sorted(changes.items()))


def check_resume_rules(ckpt_path: str | Path, changes: dict[str, tuple[Any, Any]]) -> None:
    """Raises a ConfigError for a change that cannot work on resume: another optimizer class.

    Lightning restores the optimizer's state into the optimizer built now: another class gets state it cannot
    use (Adam's moments in SGD, no step count for Adam), which fails or misleads mid-training.
    """
    key = "system.optimizer.class_path"
    if key in changes:
        old, new = changes[key]
        raise ConfigError(
            Problem(
                key,
                f"{old} (the optimizer {ckpt_path} was trained with: its state is restored on resume)",
                repr(new),
                "Resume with that optimizer, or start a new run without --ckpt_path "
                "(system.weights loads the checkpoint's weights alone).",
            )
        )


def yaml_equal(a: Any, b: Any) -> bool:
    """Compares two config values as they would be written to YAML (tuples equal lists, paths equal strings)."""
    import yaml

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return str(value)

    return bool(yaml.safe_dump(plain(a)) == yaml.safe_dump(plain(b)))


class ResumeOverrides(Callback):
    """Makes values given for a resumed run win over the state restored from its checkpoint, and says so.

    Lightning restores the optimizer's state, which brings back the learning rate, momentum, weight
    decay... of the checkpoint. For every optimizer argument the user changed, the new value is put
    back after the restore (and a changed ``lr`` becomes the schedulers' base learning rate). All
    changes are listed on stderr when training starts.

    Args:
        changes: ``key -> (value in the checkpoint, value given)``, from :func:`config_changes`.
    """

    def __init__(self, changes: dict[str, tuple[Any, Any]]) -> None:
        self.changes = changes

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Lists the values that differ from the checkpoint's."""
        if self.changes and trainer.is_global_zero:
            lines = [f"  {key}: checkpoint {old!r} -> now {new!r}" for key, (old, new) in self.changes.items()]
            print(
                "resuming with values that differ from the checkpoint (those in force now are used):",
                *lines,
                sep="\n",
                file=sys.stderr,
            )

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Applies changed optimizer arguments to the restored optimizer state."""
        prefix = "system.optimizer.init_args."
        changed = {key[len(prefix) :]: new for key, (_, new) in self.changes.items() if key.startswith(prefix)}
        if not changed:
            return
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                for name, value in changed.items():
                    if name in group:
                        group[name] = tuple(value) if isinstance(group[name], tuple) else value
                    if name == "lr" and "initial_lr" in group:
                        group["initial_lr"] = value
        if "lr" in changed:
            for config in trainer.lr_scheduler_configs:
                if hasattr(config.scheduler, "base_lrs"):
                    config.scheduler.base_lrs = [changed["lr"] for _ in config.scheduler.base_lrs]


def check_weights_fit(model: torch.nn.Module, ckpt_path: str | Path, changes: dict[str, tuple[Any, Any]]) -> None:
    """Raises a ConfigError naming the changed model keys when the checkpoint's weights do not fit ``model``.

    Changing the model on resume is fine as long as the weights still load (dropout, activation...);
    a change of shape is reported before anything runs, instead of a state-dict traceback mid-setup.
    """
    stored = read_checkpoint(ckpt_path).weight_shapes  # read once per command (lightcli.run.stored)
    current = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    misfits = [name for name in sorted(set(stored) | set(current)) if stored.get(name) != current.get(name)]
    if not misfits:
        return
    model_changes = {k: v for k, v in changes.items() if k.startswith("system.model")}
    key, (old, new) = next(iter(model_changes.items()), (misfits[0], ("its weights", "another model")))
    raise ConfigError(
        Problem(
            key,
            f"{old!r} (the value {ckpt_path} was trained with)",
            repr(new),
            f"The checkpoint's weights do not fit the changed model ({', '.join(misfits[:3])}"
            f"{', ...' if len(misfits) > 3 else ''}): resume with the checkpoint's model, "
            "or start a new run without --ckpt_path.",
        )
    )
