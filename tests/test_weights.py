"""Pretrained weights from YAML: state dicts and checkpoints, sub-modules, remapping, ignoring, errors, fine-tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import REPO, tiny_config, write_config

_RANDOM = torch.Generator().manual_seed(1)
WEIGHTS = {
    name: torch.randn(shape, generator=_RANDOM)
    for name, shape in (("1.weight", (16, 64)), ("1.bias", (16,)), ("3.weight", (10, 16)), ("3.bias", (10,)))
}
"""Weights of the tiny MLP (64 -> 16 -> 10)."""

NO_TRAINING = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.0}}
"""An optimizer that leaves the weights as loaded, so the checkpoint shows what was loaded."""


def fit_with(cli, workdir: Path, weights: dict[str, Any], **sections: Any) -> int:
    checkpoint = {"class_path": "pytorch_lightning.callbacks.ModelCheckpoint", "init_args": {"dirpath": "ckpts"}}
    config = tiny_config(
        trainer={"callbacks": [checkpoint], "limit_train_batches": 1, "limit_val_batches": 1},
        system={"weights": weights, "optimizer": NO_TRAINING, **sections},
    )
    return cli("fit", "--config", write_config(workdir / "load.yaml", config))


def model_state(workdir: Path) -> dict[str, torch.Tensor]:
    (ckpt,) = (workdir / "ckpts").glob("*.ckpt")
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    return {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}


def test_state_dict_file_is_loaded_and_reported(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(WEIGHTS, workdir / "mlp.pt")
    assert fit_with(cli, workdir, {"path": "mlp.pt"}) == 0
    loaded = model_state(workdir)
    for name, value in WEIGHTS.items():
        assert torch.equal(loaded[name], value)
    assert "weights: loaded 4 tensors from mlp.pt into system.model\n" in capsys.readouterr().out


def test_checkpoint_of_an_earlier_run_is_loaded(cli, workdir: Path) -> None:
    first = tiny_config(trainer={"limit_train_batches": 2, "limit_val_batches": 1})
    assert cli("fit", "--config", write_config(workdir / "first.yaml", first)) == 0
    (ckpt,) = workdir.glob("runs/first/**/epoch=*.ckpt")
    trained = {
        k[len("model.") :]: v
        for k, v in torch.load(ckpt, weights_only=True)["state_dict"].items()
        if k.startswith("model.")
    }
    assert (
        fit_with(
            cli,
            workdir,
            {"path": str(ckpt)},
        )
        == 0
    )
    loaded = model_state(workdir)
    for name, value in trained.items():
        assert torch.equal(loaded[name], value)


def test_sub_module_remap_ignore_and_the_report(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # an encoder saved by another project: its keys say "encoder.", ours say "1." inside the model's layer
    other = {
        "encoder.weight": WEIGHTS["1.weight"],
        "encoder.bias": WEIGHTS["1.bias"],
        "encoder.scale": torch.ones(16),
        "classifier.weight": torch.zeros(3, 16),
    }
    torch.save({"state_dict": other}, workdir / "encoder.pt")
    weights = {"path": "encoder.pt", "module": "model.1", "remap": {"encoder.": ""}, "ignore": ["classifier"]}
    assert fit_with(cli, workdir, weights) == 0
    loaded = model_state(workdir)
    assert torch.equal(loaded["1.weight"], WEIGHTS["1.weight"])
    assert torch.equal(loaded["1.bias"], WEIGHTS["1.bias"])
    out = capsys.readouterr().out
    assert (
        "weights: loaded 2 tensors from encoder.pt into system.model.1\n"
        "  unexpected (not loaded): encoder.scale (as scale)\n"
        "  ignored: classifier.weight\n"
    ) in out


def test_missing_keys_are_reported(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"1.weight": WEIGHTS["1.weight"]}, workdir / "part.pt")
    assert fit_with(cli, workdir, {"path": "part.pt"}) == 0
    assert (
        "weights: loaded 1 tensor from part.pt into system.model\n"
        "  missing (kept as initialized): 1.bias, 3.weight, 3.bias\n"
    ) in capsys.readouterr().out


def error(cli, workdir: Path, capsys: pytest.CaptureFixture[str], weights: dict[str, Any]) -> str:
    assert fit_with(cli, workdir, weights) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (workdir / "ckpts").exists()
    return err


def test_no_key_in_common_is_refused(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"encoder.weight": WEIGHTS["1.weight"]}, workdir / "other.pt")
    err = error(cli, workdir, capsys, {"path": "other.pt"})
    assert (
        "system.weights.path: expected weights for system.model, got no key in common in 'other.pt' "
        "(file keys: encoder.weight; model keys: 1.weight, 1.bias, 3.weight, 3.bias). Rename the file's key "
        'prefixes with system.weights.remap, e.g. {"encoder.": ""}, or load into a sub-module with system.weights.module.'
    ) in err


def test_missing_file_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error(cli, workdir, capsys, {"path": "nope.pt"})
    assert (
        "system.weights.path: expected a weights file (a state dict or a Lightning checkpoint), got 'nope.pt' "
        "(no such file). Give the path of a file saved by torch.save or of a .ckpt of an earlier run "
        "(or --system.weights null when --ckpt_path holds the weights)."
    ) in err


def test_wrong_shapes_are_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({**WEIGHTS, "3.weight": torch.zeros(5, 16)}, workdir / "five.pt")
    err = error(cli, workdir, capsys, {"path": "five.pt"})
    assert (
        "system.weights.path: expected tensors of system.model's shapes, got different shapes in 'five.pt' "
        "(3.weight: file (5, 16), model (10, 16)). Add these keys to system.weights.ignore to keep them as initialized."
    ) in err


def test_unknown_sub_module_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(WEIGHTS, workdir / "mlp.pt")
    err = error(cli, workdir, capsys, {"path": "mlp.pt", "module": "backbone"})
    assert (
        "system.weights.module: expected a sub-module of system.model, got 'backbone'. "
        "Sub-modules with parameters: 1, 3."
    ) in err


def test_not_a_weights_file_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "notes.pt").write_text("not a torch file")
    err = error(cli, workdir, capsys, {"path": "notes.pt"})
    assert "system.weights.path: expected a weights file torch can load safely (tensors only), got 'notes.pt' (" in err


def test_finetune_config_from_an_earlier_digits_run(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """configs/finetune.yaml as its header says: a digits run first, then fine-tuning from its checkpoint."""
    short = [
        "--trainer.limit_train_batches",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.enable_progress_bar",
        "false",
    ]
    assert cli("fit", "--config", REPO / "configs/digits.yaml", "--trainer.max_epochs", "1", *short) == 0
    (pretrained,) = workdir.glob("runs/digits/**/epoch=*.ckpt")
    args = [
        "--config",
        REPO / "configs/finetune.yaml",
        "--system.weights.path",
        pretrained,
        "--trainer.max_epochs",
        "3",
    ]
    assert cli("fit", *args, *short) == 0
    out = capsys.readouterr().out
    assert f"weights: loaded 4 tensors from {pretrained} into system.model\n  ignored: 5.weight, 5.bias\n" in out
    assert (
        "Freezer: froze 4 parameter tensors (16,576 values) until epoch 2: 1.weight, 1.bias, 3.weight, 3.bias\n" in out
    )
    assert (
        "Freezer: unfroze 4 parameter tensors (16,576 values) at epoch 2: 1.weight, 1.bias, 3.weight, 3.bias\n" in out
    )
    (tuned,) = workdir.glob("runs/finetune/**/epoch=*.ckpt")
    state = torch.load(tuned, weights_only=True)
    before = torch.load(pretrained, weights_only=True)["state_dict"]
    assert not torch.equal(state["state_dict"]["model.1.weight"], before["model.1.weight"])  # trained once unfrozen
    groups = state["optimizer_states"][0]["param_groups"]
    assert [(len(g["params"]), g["lr"]) for g in groups] == [(4, 0.0003), (2, 0.003)]  # backbone, then the head
    adam = state["optimizer_states"][0]["state"]
    assert [adam[i]["step"].item() for i in groups[0]["params"]] == [2.0] * 4  # the backbone trained 1 epoch
    assert [adam[i]["step"].item() for i in groups[1]["params"]] == [6.0] * 2  # the head all 3
