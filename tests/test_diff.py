"""``lightcli diff``: the config keys that differ between two runs or two config files, with both values."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import subprocess_env, tiny_config, write_config
from lightcli.cli import main
from lightcli.tools.diff import Difference, config_differences, flatten


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two real runs of the tiny config: the second with SGD at lr 0.1 for 2 epochs."""
    root = tmp_path_factory.mktemp("runs")
    before = os.getcwd()
    os.chdir(root)
    try:
        write_config(root / "tiny.yaml", tiny_config())
        assert main(["fit", "--config", "tiny.yaml"]) == 0
        overrides = ["--system.optimizer", "torch.optim.SGD", "--system.optimizer.init_args.lr", "0.1"]
        assert main(["fit", "--config", "tiny.yaml", *overrides, "--trainer.max_epochs", "2"]) == 0
        yield root
    finally:
        os.chdir(before)


def test_two_runs_show_every_differing_key_with_both_values(
    runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(runs)
    assert main(["diff", "runs/tiny/version_0", "runs/tiny/version_1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "11 keys differ between runs/tiny/version_0 and runs/tiny/version_1:"
    rows = {tuple(cell.strip() for cell in line.split("|")) for line in out if "|" in line}
    assert ("key", "runs/tiny/version_0", "runs/tiny/version_1") in rows
    assert ("trainer.max_epochs", "1", "2") in rows
    assert ("system.optimizer.class_path", "torch.optim.Adam", "torch.optim.SGD") in rows
    assert ("system.optimizer.init_args.lr", "0.01", "0.1") in rows
    assert ("system.optimizer.init_args.betas", "[0.9, 0.999]", "(not set)") in rows
    assert ("system.optimizer.init_args.momentum", "(not set)", "0.0") in rows


def test_ignore_and_exit_code(runs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(runs)
    args = ["diff", "runs/tiny/version_0", "runs/tiny/version_1", "--ignore", "system.optimizer"]
    assert main([*args, "--exit-code"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 key differs between runs/tiny/version_0 and runs/tiny/version_1:"
    assert [line.split("|")[0].strip() for line in out if "|" in line] == ["key", "trainer.max_epochs"]
    assert main(["diff", "runs/tiny/version_0", "runs/tiny/version_0/config.yaml", "--exit-code"]) == 0
    assert capsys.readouterr().out == (
        "no differences between runs/tiny/version_0/config.yaml and runs/tiny/version_0/config.yaml\n"
    )


def test_config_files_are_compared_with_their_defaults_filled_in(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    explicit = tiny_config()
    explicit["system"]["optimizer"]["init_args"]["betas"] = [0.9, 0.999]  # Adam's default, written out
    write_config(workdir / "a.yaml", tiny_config())
    write_config(workdir / "b.yaml", explicit)
    assert cli("diff", "a.yaml", "b.yaml") == 0
    assert capsys.readouterr().out == "no differences between a.yaml and b.yaml\n"
    assert cli("diff", "a.yaml", "b.yaml", "--as-written") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 key differs between a.yaml and b.yaml:"
    assert ["system.optimizer.init_args.betas", "(not set)", "[0.9, 0.999]"] in [
        [cell.strip() for cell in line.split("|")] for line in out
    ]


def test_missing_run_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_config(workdir / "a.yaml", tiny_config())
    assert cli("diff", "a.yaml", "runs/nope") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "RUN_B: expected a run directory or a config file, got 'runs/nope' (not found). "
        "Give a run directory (e.g. runs/digits/version_0) or a YAML config file.\n"
    )


def test_a_folder_of_several_runs_is_an_error(runs: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(runs)
    assert main(["diff", "runs/tiny", "runs/tiny/version_1"]) == 2
    assert capsys.readouterr().err == (
        "RUN_A: expected one run directory, got 'runs/tiny', which holds 2 runs "
        "(runs/tiny/version_0, runs/tiny/version_1). Give one of them.\n"
    )


def test_a_file_that_is_not_a_mapping_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "list.yaml").write_text("- 1\n- 2\n")
    write_config(workdir / "a.yaml", tiny_config())
    assert cli("diff", "list.yaml", "a.yaml") == 2
    assert capsys.readouterr().err == (
        "RUN_A: expected a YAML mapping of config keys, got 'list.yaml' holding a list. "
        "Give a config file of `key: value` lines.\n"
    )


def test_flatten_and_differences() -> None:
    a = {"trainer": {"callbacks": [{"class_path": "X", "init_args": {"patience": 3}}]}, "seed": 1, "flag": True}
    b = {"trainer": {"callbacks": [{"class_path": "X", "init_args": {"patience": 5}}]}, "seed": 1, "flag": 1}
    assert flatten(a) == {
        "trainer.callbacks[0].class_path": "X",
        "trainer.callbacks[0].init_args.patience": 3,
        "seed": 1,
        "flag": True,
    }
    assert config_differences(a, b) == [
        Difference("trainer.callbacks[0].init_args.patience", 3, 5),
        Difference("flag", True, 1),
    ]


@pytest.mark.slow
def test_command_line(tmp_path: Path) -> None:
    write_config(tmp_path / "a.yaml", tiny_config())
    write_config(tmp_path / "b.yaml", tiny_config(trainer={"max_epochs": 3}))
    result = subprocess.run(
        [sys.executable, "-m", "lightcli", "diff", "a.yaml", "b.yaml", "--as-written"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == (
        "1 key differs between a.yaml and b.yaml:\n"
        + "-" * 40
        + "\n"
        + "  key                | a.yaml | b.yaml\n"
        + "-" * 40
        + "\n"
        + "  trainer.max_epochs | 1      | 3\n"
        + "-" * 40
        + "\n"
    )
