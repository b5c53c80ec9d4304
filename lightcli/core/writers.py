"""Prediction writers: callbacks that save what ``lightcli predict`` computes, one file per sample or one table.

Both go under ``trainer.callbacks``. They write the ``pred`` of each predict step (after
``system.adapters.predict.logging.pred_transforms``, e.g. ``lightcli.Argmax``), named by the identifiers of
``system.adapters.predict.batch.identifier``; without identifiers, samples are numbered in the order of
the predict data (unique across processes under DDP).
"""

from __future__ import annotations

import csv
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from lightcli.config.problems import ConfigError, Problem

__all__ = ["Argmax", "FileWriter", "TableWriter"]

FileFormat = Literal["pt", "npy", "png"]


class Argmax:
    """A transform: the index of the largest value along a dimension (class scores -> class).

    Use it in ``system.adapters.predict.logging.pred_transforms`` to write predicted classes.

    Args:
        dim: The dimension to reduce; 1 is the class dimension of a ``(batch, classes)`` output.
    """

    def __init__(self, dim: int = 1) -> None:
        self.dim = dim

    def __call__(self, value: torch.Tensor) -> torch.Tensor:
        """Returns ``value.argmax(dim)``."""
        return value.argmax(self.dim)


def _check_writable(key: str, path: Path, folder: bool) -> None:
    """Fails unless ``path`` can be created or overwritten, without creating anything."""
    what = "folder" if folder else "file"
    if path.exists():
        if folder and not path.is_dir():
            raise ConfigError(
                Problem(key, "a folder to write into", f"{str(path)!r}, which is a file", "Choose a folder path.")
            )
        if not folder and path.is_dir():
            fix = f"Add a file name, e.g. {str(path / 'predictions.csv')!r}."
            raise ConfigError(Problem(key, "a file path to write", f"{str(path)!r}, which is a folder", fix))
    existing = path if path.exists() else path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        got = f"{str(path)!r}, but {str(existing)!r} is a file, not a folder"
        raise ConfigError(Problem(key, f"a writable {what} path", got, "Choose another path."))
    if not os.access(existing, os.W_OK | os.X_OK):
        got = f"{str(path)!r}, but {str(existing)!r} is not writable"
        raise ConfigError(Problem(key, f"a writable {what} path", got, "Choose another path."))


def _identifiers(outputs: dict[str, Any], n: int, start: int, trainer: pl.Trainer) -> list[Any]:
    """One identifier per sample: the adapter's, else a running index unique across processes."""
    given = outputs.get("identifier")
    if given is None:
        return [(start + i) * trainer.world_size + trainer.global_rank for i in range(n)]
    if isinstance(given, torch.Tensor):
        given = given.reshape(-1).tolist() if given.ndim else [given.item()]
    elif not isinstance(given, (list, tuple)):
        given = [given]
    if len(given) != n:
        raise ConfigError(
            Problem(
                "system.adapters.predict.batch.identifier",
                f"one identifier per sample ({n})",
                str(len(given)),
                "Point it at a per-sample value of the batch (e.g. the index of the sample).",
            )
        )
    return [v.item() if isinstance(v, torch.Tensor) else v for v in given]


def _samples(key: str, pred: Any) -> list[torch.Tensor]:
    if not isinstance(pred, torch.Tensor):
        fix = "Turn it into one with system.adapters.predict.logging.pred_transforms."
        raise ConfigError(Problem(key, "the prediction to be a tensor", type(pred).__name__, fix))
    pred = pred.detach().cpu()
    return [pred] if pred.ndim == 0 else list(pred)


def _sort_key(identifier: Any) -> tuple[int, Any]:
    return (0, identifier) if isinstance(identifier, (int, float)) else (1, str(identifier))


class FileWriter(Callback):
    """Saves each sample's prediction to its own file during ``lightcli predict``.

    Files are named after the sample's identifier (``<directory>/<identifier>.<format>``).

    Args:
        directory: Folder for the files; null writes into ``<run log dir>/predictions``.
        format: ``pt`` (``torch.save``), ``npy`` (NumPy), ``png`` (2-D data, or 1 or 3 channels first or
            last; floats are scaled to 0-255 per image), or a function ``fn(value, path)`` that writes
            ``path`` (given without a suffix) for anything else.
    """

    def __init__(self, directory: str | None = None, format: FileFormat | Callable[[Any, Path], Any] = "pt") -> None:
        key = "trainer.callbacks.FileWriter"
        if isinstance(format, str) and format not in ("pt", "npy", "png"):
            raise ConfigError(
                Problem(
                    f"{key}.format",
                    "pt, npy, png or a function fn(value, path)",
                    repr(format),
                    "Use one of these, or the import path of a function that writes the file.",
                )
            )
        self.directory = Path(directory) if directory is not None else None
        """The folder given, or None for the run's log dir."""
        if self.directory is not None:
            _check_writable(f"{key}.directory", self.directory, folder=True)
        self.format = format
        self.written_to: Path | None = None
        """The folder of the last predict run."""
        self._count = 0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Picks the folder (the run's log dir by default), checks it and creates it before predicting."""
        if stage != "predict":
            return
        folder = self.directory or Path(trainer.log_dir or trainer.default_root_dir) / "predictions"
        _check_writable("trainer.callbacks.FileWriter.directory", folder, folder=True)
        folder.mkdir(parents=True, exist_ok=True)
        self.written_to = folder
        self._count = 0

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Writes one file per sample of the batch."""
        folder = self.written_to
        assert folder is not None
        samples = _samples("trainer.callbacks.FileWriter", outputs["pred"])
        names = _identifiers(outputs, len(samples), self._count, trainer)
        self._count += len(samples)
        for name, value in zip(names, samples, strict=True):
            stem = str(name).replace("/", "_").replace("\\", "_")
            if callable(self.format):
                self.format(value, folder / stem)
            elif self.format == "pt":
                torch.save(value.clone(), folder / f"{stem}.pt")
            elif self.format == "npy":
                import numpy as np

                np.save(folder / f"{stem}.npy", value.numpy())
            else:
                (folder / f"{stem}.png").write_bytes(_png(value))

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Says where the files are."""
        total = int(trainer.strategy.reduce(torch.tensor(float(self._count)), reduce_op="sum").item())
        if trainer.is_global_zero:
            print(f"predictions: {total} files in {self.written_to}")


def _png(value: torch.Tensor) -> bytes:
    """Encodes 2-D data or a 1/3-channel image (channels first or last) as an 8-bit PNG."""
    image = value
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = image.permute(1, 2, 0)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise ConfigError(
            Problem(
                "trainer.callbacks.FileWriter.format",
                "2-D or 3-channel data for png",
                f"shape {tuple(value.shape)}",
                "Use pt or npy for other shapes.",
            )
        )
    if image.dtype.is_floating_point:
        low, high = image.min(), image.max()
        image = (image - low) / (high - low) * 255 if high > low else torch.zeros_like(image)
    image = image.round().clamp(0, 255).to(torch.uint8).contiguous()
    height, width = image.shape[:2]
    rows = image.reshape(height, -1).numpy()
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    color = 2 if image.ndim == 3 else 0
    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


class TableWriter(Callback):
    """Writes all predictions of ``lightcli predict`` to one CSV file, one row per sample, sorted by identifier.

    Columns: ``identifier``, then ``pred`` for a scalar prediction or ``pred_0``, ``pred_1``... for a
    small vector, then ``target`` (or ``target_0``...) when the predict batches have a target. Under DDP,
    the rows of every process are gathered and the first process writes the file once.

    Args:
        path: The CSV file (overwritten if it exists); null writes ``<run log dir>/predictions.csv``.
        max_columns: Most values a prediction may have per sample; larger outputs belong in a FileWriter.
    """

    def __init__(self, path: str | None = None, max_columns: int = 64) -> None:
        self.path = Path(path) if path is not None else None
        """The file given, or None for ``predictions.csv`` in the run's log dir."""
        if self.path is not None:
            _check_writable("trainer.callbacks.TableWriter.path", self.path, folder=False)
        if max_columns < 1:
            raise ConfigError(
                Problem("trainer.callbacks.TableWriter.max_columns", "1 or more", str(max_columns), "Use 1 or more.")
            )
        self.max_columns = max_columns
        self.written_to: Path | None = None
        """The file of the last predict run."""
        self._rows: list[tuple[Any, list[Any], list[Any]]] = []
        self._count = 0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Picks the file (in the run's log dir by default) and checks it can be written, before predicting."""
        if stage != "predict":
            return
        self.written_to = self.path or Path(trainer.log_dir or trainer.default_root_dir) / "predictions.csv"
        _check_writable("trainer.callbacks.TableWriter.path", self.written_to, folder=False)
        self._rows = []
        self._count = 0

    def _values(self, value: torch.Tensor) -> list[Any]:
        flat = value.reshape(-1).tolist()
        if len(flat) > self.max_columns:
            raise ConfigError(
                Problem(
                    "trainer.callbacks.TableWriter.max_columns",
                    f"predictions of at most {self.max_columns} values per sample",
                    str(len(flat)),
                    "Raise max_columns, reduce the prediction (e.g. lightcli.Argmax in "
                    "system.adapters.predict.logging.pred_transforms) or use lightcli.FileWriter.",
                )
            )
        return flat

    def on_predict_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keeps the batch's rows until the end of the predict epoch."""
        preds = _samples("trainer.callbacks.TableWriter", outputs["pred"])
        target = outputs.get("target")
        targets = _samples("trainer.callbacks.TableWriter", target) if isinstance(target, torch.Tensor) else None
        names = _identifiers(outputs, len(preds), self._count, trainer)
        self._count += len(preds)
        for i, (name, pred) in enumerate(zip(names, preds, strict=True)):
            self._rows.append((name, self._values(pred), [] if targets is None else self._values(targets[i])))

    def on_predict_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Gathers the rows of every process and writes the table once, from the first process."""
        rows = self._rows
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list[Any] | None = [None] * trainer.world_size if trainer.is_global_zero else None
            torch.distributed.gather_object(rows, gathered, dst=0)
            rows = [row for part in gathered or [] for row in part]
        self._rows = []
        if not trainer.is_global_zero:
            return
        path = self.written_to
        assert path is not None
        rows.sort(key=lambda row: _sort_key(row[0]))
        width = max((len(r[1]) for r in rows), default=1)
        target_width = max((len(r[2]) for r in rows), default=0)
        header = ["identifier", *_columns("pred", width), *_columns("target", target_width)]
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            for name, pred, target in rows:
                writer.writerow([name, *map(_cell, pred), *map(_cell, target)])
        partial.replace(path)
        print(f"predictions: {len(rows)} rows in {path}")


def _columns(name: str, width: int) -> list[str]:
    return [] if width == 0 else [name] if width == 1 else [f"{name}_{i}" for i in range(width)]


def _cell(value: Any) -> Any:
    return format(value, ".7g") if isinstance(value, float) else value
