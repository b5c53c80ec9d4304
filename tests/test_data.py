"""Loader and the bundled datasets."""

from __future__ import annotations

import functools

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from lightcli import Diabetes, Digits, Loader, SyntheticClassification, Wine


class Counting(Dataset):
    built = 0

    def __init__(self) -> None:
        Counting.built += 1

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor([i])


def test_loader_builds_its_dataset_only_when_called() -> None:
    Counting.built = 0
    loader = Loader(Counting, batch_size=4, shuffle=True)
    assert Counting.built == 0
    built = loader()
    assert isinstance(built, DataLoader) and Counting.built == 1
    assert [len(b) for b in built] == [4, 4, 2]


def test_loader_rejects_a_non_positive_batch_size() -> None:
    with pytest.raises(ValueError) as error:
        Loader(Counting, batch_size=0)
    assert str(error.value) == "batch_size: expected a positive int, got 0. Use 1 or more."


@pytest.mark.parametrize(
    ("dataset", "size", "shape"),
    [(Digits, 1797, (64,)), (Wine, 178, (13,)), (Diabetes, 442, (10,)), (SyntheticClassification, 1024, (32,))],
)
def test_splits_partition_the_data_reproducibly(dataset, size: int, shape: tuple[int, ...]) -> None:
    make = functools.partial(dataset, val_fraction=0.2, test_fraction=0.1, seed=3)
    parts = {split: make(split=split) for split in ("train", "val", "test")}
    ids = [set(p.indices.tolist()) for p in parts.values()]
    assert sum(map(len, ids)) == size and set.union(*ids) == set(range(size))
    assert len(parts["val"]) == round(size * 0.2)
    assert torch.equal(make(split="val").indices, parts["val"].indices)
    x, _, index = parts["train"][0]
    assert x.shape == shape and index == int(parts["train"].indices[0])


def test_digits_images_are_scaled_and_optionally_2d() -> None:
    x, y, _ = Digits(split="all", flatten=False)[0]
    assert x.shape == (1, 8, 8) and x.min() >= 0 and x.max() <= 1
    assert int(y) in range(10)


def test_bad_fractions_are_rejected() -> None:
    with pytest.raises(ValueError) as error:
        Wine(val_fraction=0.6, test_fraction=0.5)
    assert str(error.value) == (
        "val_fraction, test_fraction: expected fractions in [0, 1) that add up to less than 1, got 0.6 and 0.5."
    )
