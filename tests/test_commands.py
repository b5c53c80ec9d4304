"""The table of subcommands is the one source: the parser, check and the dispatcher follow it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lightcli.cli import build_parser
from lightcli.config.commands import COMMANDS, MODES, NAMES, SUBCOMMANDS, TOOLS
from lightcli.tools import check


def test_the_table_splits_into_lightning_subcommands_and_tools() -> None:
    assert list(SUBCOMMANDS) == ["fit", "validate", "test", "predict"]
    assert MODES == {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("predict",)}
    assert list(TOOLS) == ["schema", "completion", "sweep", "submit", "diff", "convert", "compare", "check", "migrate"]
    assert NAMES == tuple(c.name for c in COMMANDS) == (*SUBCOMMANDS, *TOOLS)
    for name, (target, _) in TOOLS.items():
        assert target == f"lightcli.tools.{name}:main"


def test_build_parser_builds_without_parsing_or_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = list(sys.argv)
    root = build_parser("fit", root=True)
    assert list(root._subcommands_action._name_parser_map) == list(NAMES)  # the table's order, in --help
    fit = build_parser("fit")
    assert root._subcommands_action._name_parser_map["fit"] is not fit  # a new parser each call
    dests = {a.dest for a in fit._actions}
    assert {"trainer.max_epochs", "system", "ckpt_path", "run.name"} <= dests
    assert "ckpt_path" in {a.dest for a in build_parser("predict")._actions}
    assert sys.argv == argv
    assert list(tmp_path.iterdir()) == []  # no run directory, nothing written


def test_check_usage_lists_the_lightning_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: lightcli check {fit,validate,test,predict} [--run]")
