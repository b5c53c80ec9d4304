"""Data from YAML: a lazy loader factory and small datasets that ship inside installed packages.

Every dataset here is built from data shipped inside lightcli (``bundled/``: scikit-learn's small
datasets, with their licence and origin in ``bundled/NOTICE``) or generated: nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["Diabetes", "Digits", "Loader", "SyntheticClassification", "TensorSplitDataset", "Wine"]

Split = Literal["train", "val", "test", "all"]


class Loader:
    """Builds a DataLoader when its mode runs, so unused data is never loaded.

    Args:
        dataset: The dataset, as a class_path with its init_args; it is built only when needed.
        batch_size: Samples per batch.
        shuffle: Reshuffle the data every epoch (set it for training data).
        num_workers: Worker processes for loading; 0 loads in the main process.
        drop_last: Drop the last incomplete batch.
        pin_memory: Copy tensors into pinned memory (helps GPU transfers).
        collate_fn: Merges a list of samples into a batch; the default stacks tensors.
        persistent_workers: Keep worker processes alive between epochs.
    """

    def __init__(
        self,
        dataset: Callable[[], Dataset],
        batch_size: int = 32,
        shuffle: bool = False,
        num_workers: int = 0,
        drop_last: bool = False,
        pin_memory: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        persistent_workers: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size}. Use 1 or more.")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.drop_last = drop_last
        self.pin_memory = pin_memory
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers and num_workers > 0

    def __call__(self) -> DataLoader:
        """Builds the dataset and returns a DataLoader over it."""
        return DataLoader(
            self.dataset(),
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            num_workers=self.num_workers,
            drop_last=self.drop_last,
            pin_memory=self.pin_memory,
            collate_fn=self.collate_fn,
            persistent_workers=self.persistent_workers,
        )


class TensorSplitDataset(Dataset):
    """A split of in-memory tensors; a sample is ``(input, target, index)``.

    The index is the sample's position in the full dataset, usable as an identifier.

    Args:
        inputs: All inputs, one row per sample.
        targets: All targets, one row per sample.
        split: Which part to keep.
        val_fraction: Fraction of samples held out for validation.
        test_fraction: Fraction of samples held out for testing.
        seed: Seed of the shuffle that assigns samples to splits (the same seed gives the same splits).
    """

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        split: Split = "train",
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
            raise ValueError(
                f"val_fraction, test_fraction: expected fractions in [0, 1) that add up to less than 1, "
                f"got {val_fraction} and {test_fraction}."
            )
        n = len(inputs)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        n_val, n_test = round(n * val_fraction), round(n * test_fraction)
        parts = {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}
        self.indices = torch.arange(n) if split == "all" else parts[split].sort().values
        self.inputs = inputs[self.indices]
        self.targets = targets[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.inputs[i], self.targets[i], int(self.indices[i])


BUNDLED = Path(__file__).with_name("bundled")


def bundled(name: str) -> dict[str, Any]:
    """The arrays of a dataset shipped in ``bundled/<name>.npz`` (numpy, no pickle), as scikit-learn loads them."""
    import numpy as np

    with np.load(BUNDLED / f"{name}.npz", allow_pickle=False) as arrays:
        return {key: arrays[key] for key in arrays.files}


def _standardize(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(0)) / x.std(0).clamp_min(1e-8)


class Digits(TensorSplitDataset):
    """scikit-learn's handwritten digits: 1797 images of 8x8 pixels, 10 classes, bundled with the package.

    Args:
        split: Which part to keep.
        val_fraction: Fraction of samples held out for validation.
        test_fraction: Fraction of samples held out for testing.
        seed: Seed of the split.
        flatten: Give each image as 64 features instead of a 1x8x8 tensor.
    """

    def __init__(
        self,
        split: Split = "train",
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        seed: int = 0,
        flatten: bool = True,
    ) -> None:
        data = bundled("digits")
        images = torch.tensor(data["images"], dtype=torch.float32) / 16.0
        images = images.flatten(1) if flatten else images.unsqueeze(1)
        target = torch.tensor(data["target"], dtype=torch.int64)
        super().__init__(images, target, split, val_fraction, test_fraction, seed)


class Wine(TensorSplitDataset):
    """scikit-learn's wine recognition data: 178 samples, 13 standardized features, 3 classes.

    Args:
        split: Which part to keep.
        val_fraction: Fraction of samples held out for validation.
        test_fraction: Fraction of samples held out for testing.
        seed: Seed of the split.
    """

    def __init__(self, split: Split = "train", val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0):
        data = bundled("wine")
        features = _standardize(torch.tensor(data["data"], dtype=torch.float32))
        target = torch.tensor(data["target"], dtype=torch.int64)
        super().__init__(features, target, split, val_fraction, test_fraction, seed)


class Diabetes(TensorSplitDataset):
    """scikit-learn's diabetes regression data: 442 samples, 10 features, a standardized float target of shape (1,).

    Args:
        split: Which part to keep.
        val_fraction: Fraction of samples held out for validation.
        test_fraction: Fraction of samples held out for testing.
        seed: Seed of the split.
    """

    def __init__(self, split: Split = "train", val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0):
        data = bundled("diabetes")
        features = _standardize(torch.tensor(data["data"], dtype=torch.float32))
        target = _standardize(torch.tensor(data["target"], dtype=torch.float32).unsqueeze(1))
        super().__init__(features, target, split, val_fraction, test_fraction, seed)


class SyntheticClassification(TensorSplitDataset):
    """Generated classification data: Gaussian clusters, one per class, with a fixed seed.

    Args:
        num_samples: Samples in the whole dataset (before splitting).
        num_features: Features per sample.
        num_classes: Number of classes.
        noise: Standard deviation of the noise around each class center.
        split: Which part to keep.
        val_fraction: Fraction of samples held out for validation.
        test_fraction: Fraction of samples held out for testing.
        seed: Seed of the data and of the split.
    """

    def __init__(
        self,
        num_samples: int = 1024,
        num_features: int = 32,
        num_classes: int = 10,
        noise: float = 1.0,
        split: Split = "train",
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        seed: int = 0,
    ) -> None:
        generator = torch.Generator().manual_seed(seed)
        centers = torch.randn(num_classes, num_features, generator=generator) * 2.0
        targets = torch.randint(num_classes, (num_samples,), generator=generator)
        inputs = centers[targets] + noise * torch.randn(num_samples, num_features, generator=generator)
        super().__init__(inputs, targets, split, val_fraction, test_fraction, seed)
