"""The benchmark workload shared by every contender, and the timing probe.

In-memory synthetic classification (8192 train / 2048 val samples, 32 features, 10 classes), an MLP
32-256-256-10, CrossEntropyLoss, Adam lr 1e-3, batch 64, 3 epochs, torchmetrics accuracy for train
(per step and per epoch) and val (per epoch), a CSV logger, no checkpointing, no progress bar.

Contenders (A) and (B) import this module directly; (C) and (D) name its classes by class_path,
so run everything from the repository root (``python benchmarks/run.py``).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Any, Literal

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

NUM_TRAIN = 8192
NUM_VAL = 2048
NUM_FEATURES = 32
NUM_CLASSES = 10
HIDDEN = 256
BATCH_SIZE = 64
EPOCHS = 3
LR = 1e-3
LOG_EVERY_N_STEPS = 50
"""Lightning's default ``log_every_n_steps``; every contender writes the step values this often."""

_SEED = 0


class SyntheticData(Dataset):
    """Synthetic classification data held in memory; a sample is ``(features, label)``.

    The labels come from a fixed random linear teacher, so the task is learnable.

    Args:
        split: ``train`` (8192 samples) or ``val`` (2048 samples).
    """

    def __init__(self, split: Literal["train", "val"] = "train") -> None:
        generator = torch.Generator().manual_seed(_SEED)
        inputs = torch.randn(NUM_TRAIN + NUM_VAL, NUM_FEATURES, generator=generator)
        teacher = torch.randn(NUM_FEATURES, NUM_CLASSES, generator=generator)
        targets = (inputs @ teacher + 0.5 * torch.randn(len(inputs), NUM_CLASSES, generator=generator)).argmax(1)
        part = slice(0, NUM_TRAIN) if split == "train" else slice(NUM_TRAIN, NUM_TRAIN + NUM_VAL)
        self.inputs = inputs[part].contiguous()
        self.targets = targets[part].contiguous()

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[i], self.targets[i]


def loader(split: Literal["train", "val"]) -> DataLoader:
    """The DataLoader every contender uses (batch 64, shuffled training data, no workers)."""
    return DataLoader(SyntheticData(split), batch_size=BATCH_SIZE, shuffle=split == "train")


def mlp(hidden: int = HIDDEN) -> nn.Module:
    """The MLP 32-256-256-10 of contenders A, B and C (D builds the same one with ``lightcli.MLP``)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(NUM_FEATURES, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, NUM_CLASSES),
    )


class Probe:
    """Timestamps of one run, written as JSON to ``$BENCH_OUT`` at the end of fit.

    ``time.time()`` is used so the driver (another process) can compare against its own clock.
    """

    def __init__(self) -> None:
        self.first_step: float | None = None
        self.fit_start: float | None = None
        self.step_times: list[float] = []
        self.epoch_steps: list[list[float]] = []

    def on_fit_start(self) -> None:
        self.fit_start = time.time()

    def on_epoch_start(self) -> None:
        self.epoch_steps.append([])

    def on_step_start(self) -> None:
        now = time.perf_counter()
        if self.first_step is None:
            self.first_step = time.time()
        self.epoch_steps[-1].append(now)

    def on_fit_end(self, **extra: Any) -> None:
        fit_end = time.time()
        diffs = [b - a for steps in self.epoch_steps for a, b in itertools.pairwise(steps)]
        record = {
            "first_step": self.first_step,
            "fit_start": self.fit_start,
            "fit_end": fit_end,
            "fit_loop": fit_end - (self.fit_start or fit_end),
            "step_mean": sum(diffs) / max(len(diffs), 1),
            "steps": sum(len(s) for s in self.epoch_steps),
            **extra,
        }
        path = os.environ.get("BENCH_OUT")
        if path:
            with open(path, "w") as f:
                json.dump(record, f)


try:  # the Lightning parts; the raw loop (A) does not need Lightning installed to import this module
    import pytorch_lightning as pl
    from torchmetrics.classification import MulticlassAccuracy
except ImportError:  # pragma: no cover
    pl = None  # type: ignore[assignment]

if pl is not None:

    class Timing(pl.Callback):
        """The probe as a Lightning callback (contenders B, C and D)."""

        def __init__(self) -> None:
            self.probe = Probe()

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            self.probe.on_fit_start()

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.probe.on_epoch_start()

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            self.probe.on_step_start()

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            self.probe.on_fit_end(metrics=metrics)

    class HandWritten(pl.LightningModule):
        """The hand-written LightningModule (contenders B and C), logging like the docs show.

        Args:
            hidden: Width of the two hidden layers.
            lr: Adam's learning rate.
        """

        def __init__(self, hidden: int = HIDDEN, lr: float = LR) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.model = mlp(hidden)
            self.criterion = nn.CrossEntropyLoss()
            self.train_acc = MulticlassAccuracy(num_classes=NUM_CLASSES, average="micro")
            self.val_acc = MulticlassAccuracy(num_classes=NUM_CLASSES, average="micro")
            self.lr = lr

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x)

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            logits = self(x)
            loss = self.criterion(logits, y)
            self.train_acc(logits, y)
            self.log("train/loss", loss, on_step=True, on_epoch=True)
            self.log("train/acc", self.train_acc, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            x, y = batch
            logits = self(x)
            self.val_acc(logits, y)
            self.log("val/loss", self.criterion(logits, y), on_epoch=True)
            self.log("val/acc", self.val_acc, on_epoch=True)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=self.lr)

    class SyntheticDataModule(pl.LightningDataModule):
        """The synthetic data as a LightningDataModule (contenders B and C)."""

        def train_dataloader(self) -> DataLoader:
            return loader("train")

        def val_dataloader(self) -> DataLoader:
            return loader("val")
