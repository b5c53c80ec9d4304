"""Adapters: batch accessors, argument placement, transforms, and their YAML form."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import loader, tiny_config, write_config
from lightcli import ArgumentsAdapter, BatchAdapter, Call, LoggingAdapter
from lightcli.config.problems import ConfigError


def test_batch_adapter_reads_tuples_dicts_tensors_and_callables() -> None:
    x, y = torch.ones(2, 3), torch.zeros(2)
    assert BatchAdapter()((x, y)) == (x, y, None)
    assert BatchAdapter(input="image", target="label", identifier="name")(
        {"image": x, "label": y, "name": ["a", "b"]}
    ) == (
        x,
        y,
        ["a", "b"],
    )
    assert BatchAdapter(target=None)(x) == (x, None, None)
    assert BatchAdapter(input=Call(lambda batch: batch[0] * 2))((x, y))[0].sum() == 12


def test_batch_adapter_errors_name_the_accessor() -> None:
    with pytest.raises(ConfigError) as error:
        BatchAdapter(input="img")({"image": 1, "label": 2})
    assert str(error.value) == "batch.input: key 'img' is not in the batch (keys: image, label)"
    with pytest.raises(ConfigError) as error:
        BatchAdapter(target=2)((1, 2))
    assert str(error.value) == "batch.target: index 2 is out of range for a batch of 2 items"
    with pytest.raises(ConfigError) as error:
        BatchAdapter(input="image")((1, 2))
    assert str(error.value) == "batch.input: expected a dict batch for key 'image', got tuple"


def test_arguments_adapter_places_positions_and_keywords() -> None:
    adapter = ArgumentsAdapter(pred="input", target="target", pred_transforms=[torch.sigmoid])
    args, kwargs = adapter.arguments(input=None, target=torch.ones(1), pred=torch.zeros(1))
    assert args == []
    assert kwargs["input"].item() == 0.5 and kwargs["target"].item() == 1
    assert ArgumentsAdapter(pred=1, target=0)(lambda a, b: (a, b), None, "t", "p") == ("t", "p")
    with pytest.raises(ConfigError) as error:
        ArgumentsAdapter(pred=0, target=2).arguments(None, 1, 2)
    assert str(error.value) == "expected argument positions 0..1 without gaps, got [0, 2]"


def test_logging_adapter_transforms_only_what_callbacks_see() -> None:
    adapter = LoggingAdapter(pred_transforms=[torch.sigmoid], target_transforms=[lambda t: t + 1])
    assert adapter(1, torch.zeros(1), torch.zeros(1))[1:] == (torch.ones(1), torch.full((1,), 0.5))


def test_dict_batches_and_keyword_criterion_from_yaml(cli, workdir: Path) -> None:
    """A dataset yielding dicts, a criterion taking keywords, and a metric fed through a transform."""
    (workdir / "dictdata.py").write_text(
        "import torch\n"
        "from torch.utils.data import Dataset\n\n"
        "class Pairs(Dataset):\n"
        "    def __len__(self):\n"
        "        return 32\n\n"
        "    def __getitem__(self, i):\n"
        "        return {'pixels': torch.rand(64), 'digit': i % 10, 'name': f's{i}'}\n"
    )
    pairs = loader("dictdata.Pairs", batch_size=8)
    adapters = {
        "batch": {"input": "pixels", "target": "digit", "identifier": "name"},
        "criterion": {"pred": "input", "target": "target"},
        "metrics": {"pred": 0, "target": 1, "pred_transforms": ["torch.sigmoid"]},
    }
    config = tiny_config()
    config["system"]["dataloaders"] = {"train": pairs, "val": pairs}
    config["system"]["adapters"] = {"train": adapters, "val": adapters}
    assert cli("fit", "--config", write_config(workdir / "dict.yaml", config)) == 0


def test_wrong_batch_key_fails_with_the_adapter_key(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config()
    config["system"]["adapters"] = {"train": {"batch": {"input": "image"}}}
    assert cli("fit", "--config", write_config(workdir / "bad.yaml", config)) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: system.adapters.train.batch.input: expected a dict batch for key 'image', got list. "
        "Point it at the right key or index of the batch."
    )
