"""``lightcli compare``: real runs side by side (config keys that differ, final and best metrics, learning curves)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env, tiny_config, write_config
from lightcli.tools.compare import curves_figure, find_runs, lower_is_better, read_run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def two_runs(cli, folder: Path) -> list[Path]:
    """Two tiny digits runs of two epochs that differ in their learning rate."""
    write_config(folder / "tiny.yaml", tiny_config(trainer={"max_epochs": 2, "limit_train_batches": 2}))
    for lr in ("0.01", "0.05"):
        assert cli("fit", "--config", "tiny.yaml", "--system.optimizer.init_args.lr", lr) == 0
    return [folder / "runs" / "tiny" / "version_0", folder / "runs" / "tiny" / "version_1"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_two_digits_runs_compared_with_a_png_of_one_curve_per_run(
    tiny_folder: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = two_runs(cli, tiny_folder)
    capsys.readouterr()
    assert cli("compare", "runs/tiny", "--plot", "curves.png") == 0
    out = capsys.readouterr().out
    assert "1 config key differs:" in out
    assert "system.optimizer.init_args.lr | 0.01           | 0.05" in out
    assert "run            | train/acc final/best (max) | train/loss final/best (min) | val/acc final/best (max)" in out
    # the runs' own numbers, read back from their metrics.csv
    first = read_run(runs[0], "tiny/version_0")
    losses = [value for _, _, value in first.metrics["val/loss"]]
    assert len(losses) == 2
    assert f"{losses[-1]:.4g} / {min(losses):.4g}" in out
    assert "learning curves: curves.png" in out
    width, height = png_size(tiny_folder / "curves.png")
    assert width > 600 and height > 400
    from matplotlib.image import imread

    assert imread(tiny_folder / "curves.png").shape[:2] == (height, width)

    figure = curves_figure([first, read_run(runs[1], "tiny/version_1")], ["val/acc", "val/loss"])
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["val/acc (higher is better)", "val/loss (lower is better)"]
    for ax in panels:  # one line per run, drawn per epoch
        assert [list(line.get_xdata()) for line in ax.get_lines()] == [[0, 1], [0, 1]]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["tiny/version_0", "tiny/version_1"]


def test_globs_and_folders_name_runs_and_a_missing_one_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a/version_0", "a/version_1", "b/version_0"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "config.yaml").write_text("trainer: {max_epochs: 1}\n")
    assert find_runs([str(tmp_path / "a" / "version_*"), str(tmp_path / "b")]) == [
        tmp_path / "a" / "version_0",
        tmp_path / "a" / "version_1",
        tmp_path / "b" / "version_0",
    ]
    from lightcli.commands import main

    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "error: RUN: expected a run folder (holding config.yaml), a folder of runs or a glob" in err
    assert "nothing' (no such folder)" in err
    assert main(["compare", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "the configs are the same" in out and "no metrics: none of these runs has a metrics.csv" in out


def test_the_best_of_a_loss_is_its_lowest() -> None:
    assert lower_is_better("val/loss") and lower_is_better("train/step/loss") and lower_is_better("val_error")
    assert not lower_is_better("val/acc") and not lower_is_better("val/f1")


@pytest.mark.slow
def test_compare_in_a_subprocess_and_the_sweep_report(tiny_folder: Path, cli, capsys) -> None:
    two_runs(cli, tiny_folder)
    done = subprocess.run(
        [sys.executable, "-m", "lightcli", "compare", "runs/tiny/version_*", "--metric", "val/acc", "--plot", "x.png"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "val/acc final/best (max)" in done.stdout and "val/loss" not in done.stdout
    assert done.stderr == ""
    png_size(tiny_folder / "x.png")

    space = {
        "metric": "val/acc",
        "direction": "maximize",
        "params": {"system.optimizer.init_args.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}},
    }
    write_config(tiny_folder / "space.yaml", space)
    args = ["sweep", "--space", "space.yaml", "--config", "tiny.yaml", "--sampler", "random", "--seed", "1"]
    assert cli(*args, "--trials", "3") == 0
    assert "trials compared: sweeps/space/compare.txt, sweeps/space/curves.png" in capsys.readouterr().out
    sweep = tiny_folder / "sweeps" / "space"
    text = (sweep / "compare.txt").read_text()
    assert "system.optimizer.init_args.lr" in text
    assert "trial_0000/version_0" in text and "trial_0002/version_0" in text
    assert "parameter importance (Optuna):\n  system.optimizer.init_args.lr: 1.000" in text
    png_size(sweep / "curves.png")
