"""Loader and the bundled datasets."""

from __future__ import annotations

import functools
import hashlib

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from lightcli import Diabetes, Digits, Loader, SyntheticClassification, Wine
from lightcli.core.data import BUNDLED, _standardize, bundled


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


BUNDLED_ARRAYS = {  # name -> key -> (dtype, shape, first 16 hex digits of the sha256 of the bytes)
    "digits": {"images": ("uint8", (1797, 8, 8), "8f26b2bd9d135c25"), "target": ("uint8", (1797,), "8ba4f891220f5e4c")},
    "wine": {"data": ("float64", (178, 13), "8edcf3903afd97c6"), "target": ("uint8", (178,), "fc03f75caa6e6d07")},
    "diabetes": {
        "data": ("float64", (442, 10), "3108d770fbdb92eb"),
        "target": ("float64", (442,), "4911e8747aff95aa"),
    },
}


@pytest.mark.parametrize("name", sorted(BUNDLED_ARRAYS))
def test_the_bundled_arrays_are_the_ones_extracted_from_scikit_learn(name: str) -> None:
    arrays = bundled(name)
    got = {k: (str(v.dtype), v.shape, hashlib.sha256(v.tobytes()).hexdigest()[:16]) for k, v in arrays.items()}
    assert got == BUNDLED_ARRAYS[name]
    assert "scikit-learn" in (BUNDLED / "NOTICE").read_text()


@pytest.mark.parametrize(("dataset", "flatten"), [(Digits, True), (Digits, False), (Wine, None), (Diabetes, None)])
def test_bundled_datasets_give_the_tensors_scikit_learn_loads(dataset, flatten: bool | None) -> None:
    datasets = pytest.importorskip("sklearn.datasets")  # lightcli no longer needs it; compare when it is there
    kwargs = {} if flatten is None else {"flatten": flatten}
    ours = dataset(split="all", **kwargs)
    loaded = getattr(datasets, f"load_{dataset.__name__.lower()}")()
    if dataset is Digits:
        inputs = torch.tensor(loaded.images, dtype=torch.float32) / 16.0
        inputs = inputs.flatten(1) if flatten else inputs.unsqueeze(1)
        targets = torch.tensor(loaded.target)
    elif dataset is Wine:
        inputs, targets = _standardize(torch.tensor(loaded.data, dtype=torch.float32)), torch.tensor(loaded.target)
    else:
        inputs = _standardize(torch.tensor(loaded.data, dtype=torch.float32))
        targets = _standardize(torch.tensor(loaded.target, dtype=torch.float32).unsqueeze(1))
    for got, expected in ((ours.inputs, inputs), (ours.targets, targets)):
        assert got.dtype == expected.dtype and torch.equal(got, expected)
