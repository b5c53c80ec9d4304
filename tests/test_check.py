"""``lightcli check``: static by default, one real batch per mode with --run, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO, stage_of
from lightcli.cli import main


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture
def folder(tiny_folder: Path) -> Path:
    return tiny_folder


def test_static_check_of_a_valid_config(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _files(folder)
    assert main(["check", "fit", "--config", "tiny.yaml"]) == 0
    assert capsys.readouterr().out == (
        "lightcli check fit: ok (parsed and type-checked, nothing built)\n"
        "  system: lightcli.System\n"
        "  system.model: lightcli.MLP\n"
        "  system.criterion: torch.nn.CrossEntropyLoss\n"
        "  system.optimizer: torch.optim.Adam\n"
        "  add --run to build it and push one batch through each mode: lightcli check fit --config tiny.yaml --run\n"
    )
    assert _files(folder) == before


def test_run_pushes_one_batch_through_each_mode(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _files(folder)
    assert main(["check", "fit", "--config", "tiny.yaml", "--run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lightcli check fit: ok (built and ran one batch per mode)\n")
    assert "  train: input float32[64, 64] -> pred float32[64, 10] -> loss " in out
    assert "  val: input float32[64, 64] -> pred float32[64, 10] -> loss " in out
    assert out.rstrip().endswith("-> metrics acc")
    assert _files(folder) == before


def test_run_names_the_model_on_a_shape_mismatch(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "validate", "--config", "tiny.yaml", "--system.model.init_args.in_features", "32", "--run"])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: system.model: expected a model that takes the val input float32[64, 64], got RuntimeError: "
        "mat1 and mat2 shapes cannot be multiplied (64x64 and 32x16). "
        "Check the model's input size against the data, or system.adapters.val.batch.input.\n"
    )


def test_run_names_the_batch_adapter(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "test", "--config", "tiny.yaml", "--system.adapters.test.batch.target", "5", "--run"])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: system.adapters.test.batch.target: expected a batch accessor that fits the test batch "
        "([float32[64, 64], int64[64], int64[64]]), got index 5 is out of range for a batch of 3 items. "
        "Point it at the right key or index of the batch.\n"
    )


def test_run_catches_a_loss_that_is_not_a_scalar(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "test", "--config", "tiny.yaml", "--system.criterion.init_args.reduction", "none", "--run"])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: system.criterion: expected a scalar loss (one number) or a dict with a scalar 'total', "
        "got float32[64]. Use a reducing loss (e.g. reduction: mean) or return the loss to optimize under 'total'.\n"
    )


def test_run_names_the_criterion_adapter_and_the_metric(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "check",
            "test",
            "--config",
            "tiny.yaml",
            "--system.adapters.test.criterion.pred",
            "2",
            "--system.metrics.test.acc.init_args.num_classes",
            "3",
            "--run",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: system.adapters.test.criterion: expected argument positions 0..1 without gaps, got [1, 2]. "
        "Give pred, target and input distinct positions 0, 1, ... (or keyword names).\n"
        "error: system.metrics.test.acc: expected a metric that takes pred float32[64, 10] and target int64[64], got "
    )
    assert err.endswith("2 errors; nothing was run.\n")


def test_static_errors_are_reported_like_fit(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "fit", "--config", "tiny.yaml", "--system.optimizer", "null"]) == 2
    assert capsys.readouterr().err == (
        "error: system.optimizer: expected an optimizer for training, got null. "
        "Set it, e.g. optimizer: {class_path: torch.optim.Adam, init_args: {lr: 0.001}}.\n"
    )


def test_unknown_stage(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tset", "--config", "tiny.yaml"]) == 2
    assert capsys.readouterr().err == (
        "error: subcommand: expected one of fit, validate, test, predict after check, got 'tset'. "
        "Write e.g. `lightcli check fit --config my.yaml`. Did you mean 'test'?\n"
    )


def test_every_shipped_config_passes_the_static_check(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for config in sorted((REPO / "configs").rglob("*.yaml")):
        assert main(["check", stage_of(config), "--config", str(config)]) == 0, (config, capsys.readouterr().err)
    capsys.readouterr()


def test_run_folder_settings_are_refused_like_fit(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logger = "{class_path: pytorch_lightning.loggers.CSVLogger, init_args: {save_dir: logs}}"
    assert main(["check", "fit", "--config", "tiny.yaml", "--trainer.logger", logger]) == 2
    assert capsys.readouterr().err == (
        "error: trainer.logger.init_args.save_dir: expected the run root 'runs', got 'logs'. Give --run.root logs "
        "instead (lightcli writes each run to <run.root>/<run.name>/version_<n>).\n"
    )


def test_the_benchmark_config_passes_the_static_check(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(REPO))  # benchmarks.workload, as `PYTHONPATH=.` gives it
    assert main(["check", "fit", "--config", str(REPO / "benchmarks" / "d_system.yaml")]) == 0, capsys.readouterr().err
