"""Which classes a config can name, and the parser of one subcommand."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightcli.cli import build_parser
from lightcli.tools.classes import LIBRARY_MODULES, collect_classes, lightcli_modules, project_modules


def test_project_modules_skip_scripts_tests_and_hidden_folders(workdir: Path) -> None:
    (workdir / "models.py").write_text("import torch\n\nclass Net(torch.nn.Module):\n    pass\n")
    (workdir / "train_script.py").write_text("print('training!')\n")
    (workdir / "guarded.py").write_text("X = 1\nif __name__ == '__main__':\n    print(X)\n")
    (workdir / "pkg").mkdir()
    (workdir / "pkg" / "__init__.py").write_text("")
    (workdir / "pkg" / "data.py").write_text("class Rows:\n    pass\n")
    (workdir / "tests").mkdir()
    (workdir / "tests" / "test_x.py").write_text("")
    assert project_modules(workdir) == ["guarded", "models", "pkg", "pkg.data"]


def test_project_classes_are_only_those_they_define(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(workdir))
    (workdir / "mine.py").write_text("from torch.nn import Linear\n\nclass Head(Linear):\n    pass\n")
    paths, problems = collect_classes([], project=["mine"])
    assert [p for found in paths.values() for p in found] == ["mine.Head"]
    assert problems == []


def test_lightcli_s_inner_modules_name_only_the_classes_they_define() -> None:
    paths, _ = collect_classes([*LIBRARY_MODULES, *lightcli_modules()])
    named = {path: cls for cls, found in paths.items() for path in found}
    inner = {path: cls for path, cls in named.items() if path.count(".") > 1 and path.startswith("lightcli.")}
    assert inner and all(path.rpartition(".")[0] == cls.__module__ for path, cls in inner.items())
    # what a module imports for its own use is not offered as a name to give in a config
    assert "lightcli.cli.ModelCheckpoint" not in named and "lightcli.run.record.Trainer" not in named
    assert "lightcli.MLP" in named and "lightcli.run.checkpoints.GracefulStop" in named  # the API, and definitions


def test_subcommand_parser_is_the_cli_parser() -> None:
    parser = build_parser("test")
    keys = {action.dest for action in parser._actions}
    assert {"system", "trainer.max_epochs", "ckpt_path"} <= keys
