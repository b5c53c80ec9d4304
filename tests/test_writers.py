"""Prediction writers through ``lightcli predict``: the digits CSV, file formats, identifiers, errors, DDP."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conftest import REPO, loader, subprocess_env, tiny_config, write_config
from lightcli.core.data import Digits

TABLE = "lightcli.core.writers.TableWriter"
FILES = "lightcli.core.writers.FileWriter"
QUIET = ["--trainer.enable_progress_bar", "false"]


def read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def save_text(value: torch.Tensor, path: Path) -> None:
    """A user's writer for FileWriter(format=...): the values as text."""
    path.with_suffix(".txt").write_text(" ".join(f"{v:.4f}" for v in value.flatten().tolist()))


@pytest.mark.slow
def test_digits_predictions_match_the_validation_accuracy(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The header's chain: fit digits, then predict with its checkpoint; the CSV scores what validate says."""
    short = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "10", *QUIET]
    assert cli("fit", "--config", REPO / "configs/digits.yaml", *short) == 0
    (ckpt,) = workdir.glob("runs/digits/**/epoch=*.ckpt")
    capsys.readouterr()
    assert cli("validate", "--config", REPO / "configs/digits.yaml", "--ckpt_path", ckpt, *QUIET) == 0
    found = re.search(r"val/acc\s+([0-9.]+)", capsys.readouterr().out)
    assert found is not None
    validated = float(found.group(1))
    assert cli("predict", "--config", REPO / "configs/digits_predict.yaml", "--ckpt_path", ckpt, *QUIET) == 0
    (table,) = workdir.glob("runs/digits_predict/**/predictions.csv")
    assert f"predictions: 359 rows in {table.relative_to(workdir)}\n" in capsys.readouterr().out
    rows = read_table(table)
    labels = Digits(split="all").targets
    identifiers = [int(r["identifier"]) for r in rows]
    assert identifiers == sorted(Digits(split="val").indices.tolist())  # every val image once, sorted
    correct = sum(int(r["pred"]) == labels[int(r["identifier"])] for r in rows)
    assert correct / len(rows) == pytest.approx(validated, abs=1e-6)
    assert 0.2 < validated < 1  # a model that learned something: chance is 0.1


def predict_config(workdir: Path, callback: dict[str, Any], **system: Any) -> Path:
    config = tiny_config(
        trainer={"callbacks": [callback], "limit_predict_batches": None},
        system={"dataloaders": {"predict": loader("lightcli.Digits", batch_size=100, split="val")}, **system},
    )
    return write_config(workdir / "predict.yaml", config)


def test_without_identifiers_rows_are_numbered_and_vectors_get_columns(cli, workdir: Path) -> None:
    config = predict_config(workdir, {"class_path": TABLE, "init_args": {"path": "out/table.csv"}})
    assert cli("predict", "--config", config) == 0
    rows = read_table(workdir / "out/table.csv")
    assert [int(r["identifier"]) for r in rows] == list(range(359))
    assert list(rows[0]) == ["identifier", *(f"pred_{i}" for i in range(10))]  # the 10 class scores


def image_system() -> dict[str, Any]:
    """The identity model on 1x8x8 digit images: the predictions are the images themselves."""
    return {
        "model": {"class_path": "torch.nn.Identity"},
        "dataloaders": {"predict": loader("lightcli.Digits", batch_size=4, split="val", flatten=False)},
        "adapters": {"predict": {"batch": {"input": 0, "target": None, "identifier": 2}}},
        "metrics": None,
    }


@pytest.mark.parametrize("fmt", ["pt", "npy", "png", "test_writers.save_text"])
def test_file_writer_writes_one_file_per_sample(
    cli, workdir: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    callback = {"class_path": FILES, "init_args": {"directory": "images", "format": fmt}}
    config = predict_config(workdir, callback, **image_system())
    assert cli("predict", "--config", config, "--trainer.limit_predict_batches", "2") == 0
    assert "predictions: 8 files in images\n" in capsys.readouterr().out
    data = Digits(split="val", flatten=False)
    suffix = {"pt": ".pt", "npy": ".npy", "png": ".png"}.get(fmt, ".txt")
    assert sorted(p.name for p in (workdir / "images").iterdir()) == sorted(
        f"{i}{suffix}" for i in data.indices[:8].tolist()
    )
    image, _, index = data[0]
    file = workdir / "images" / f"{index}{suffix}"
    if fmt == "pt":
        assert torch.equal(torch.load(file, weights_only=True), image)
    elif fmt == "npy":
        assert np.array_equal(np.load(file), image.numpy())
    elif fmt == "png":
        pil = pytest.importorskip("PIL.Image")
        with pil.open(file) as png:
            assert png.size == (8, 8)
            assert png.mode == "L"
            pixels = torch.tensor(np.asarray(png), dtype=torch.float32)
        scaled = (image[0] - image.min()) / (image.max() - image.min()) * 255
        assert torch.equal(pixels, scaled.round())
    else:
        assert file.read_text() == " ".join(f"{v:.4f}" for v in image.flatten().tolist())


def test_png_needs_image_shaped_data(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    callback = {"class_path": FILES, "init_args": {"directory": "images", "format": "png"}}
    config = predict_config(workdir, callback)  # the MLP's predictions: 10 scores per sample
    assert cli("predict", "--config", config, "--trainer.limit_predict_batches", "1") == 2
    assert (
        "error: trainer.callbacks.FileWriter.format: expected 2-D or 3-channel data for png, got shape (10,). "
        "Use pt or npy for other shapes.\n"
    ) in capsys.readouterr().err


def test_unknown_format_is_refused_before_predicting(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    callback = {"class_path": FILES, "init_args": {"directory": "images", "format": "jpg"}}
    assert cli("predict", "--config", predict_config(workdir, callback)) == 2
    err = capsys.readouterr().err
    assert "format" in err
    assert "'jpg'" in err or " jpg" in err
    assert "Traceback" not in err
    assert not (workdir / "images").exists()


def test_unwritable_table_path_is_refused_before_predicting(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "taken").write_text("a file, not a folder")
    callback = {"class_path": TABLE, "init_args": {"path": "taken/table.csv"}}
    assert cli("predict", "--config", predict_config(workdir, callback)) == 2
    err = capsys.readouterr().err
    assert (
        "trainer.callbacks.TableWriter.path: expected a writable file path, got 'taken/table.csv', "
        "but 'taken' is a file, not a folder. Choose another path."
    ) in err
    assert "Traceback" not in err
    assert not list(workdir.glob("**/*.csv"))


def test_table_path_that_is_a_folder_is_refused(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "out").mkdir()
    callback = {"class_path": TABLE, "init_args": {"path": "out"}}
    assert cli("predict", "--config", predict_config(workdir, callback)) == 2
    assert (
        "trainer.callbacks.TableWriter.path: expected a file path to write, got 'out', which is a folder. "
        "Add a file name, e.g. 'out/predictions.csv'."
    ) in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_two_processes_write_one_table_once(workdir: Path) -> None:
    callback = {"class_path": TABLE, "init_args": {"path": "table.csv"}}
    config = predict_config(workdir, callback)
    single = subprocess.run(
        [sys.executable, "-m", "lightcli", "predict", "--config", str(config), *QUIET],
        check=False,
        cwd=workdir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr
    expected = read_table(workdir / "table.csv")
    (workdir / "table.csv").unlink()
    ddp = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
    result = subprocess.run(
        [sys.executable, "-m", "lightcli", "predict", "--config", str(config), *ddp, *QUIET],
        check=False,
        cwd=workdir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("predictions: 359 rows in table.csv\n") == 1  # written once, by one process
    rows = read_table(workdir / "table.csv")
    # both processes' rows, numbered in the order of the data as in a single process, and the same predictions
    assert [r["identifier"] for r in rows] == [str(i) for i in range(359)]
    for got, want in zip(rows, expected, strict=True):
        assert [float(v) for v in got.values()] == pytest.approx([float(v) for v in want.values()], abs=1e-4)
    assert not list(workdir.glob("*.partial"))
