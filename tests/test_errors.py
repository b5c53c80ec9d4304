"""Config errors: one shape, named by key, all at once, exit code 2, no traceback, nothing on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO, subprocess_env
from lightcli.cli import LightCLI, main
from lightcli.config.problems import ConfigError, Problem, describe_type, suggest

CORPUS = REPO / "tests" / "invalid"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory holding the corpus' valid base.yaml; sys.path is restored afterwards."""
    (tmp_path / "base.yaml").write_text((CORPUS / "base.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("LIGHTCLI_TRACEBACK", raising=False)
    monkeypatch.delenv("LIGHTCLI_ALLOWED_MODULES", raising=False)
    return tmp_path


def test_the_corpus_is_large_and_named_uniquely() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) >= 40
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_invalid_config(
    case: dict[str, Any], folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, text in (case.get("files") or {}).items():
        (folder / name).write_text(text)
    for name, value in (case.get("env") or {}).items():
        monkeypatch.setenv(name, value)
    before = _files(folder)
    code = main(case["args"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err == case["error"].replace("{tmp}", str(folder)) + "\n"
    assert "Traceback" not in err
    assert out == ""
    assert _files(folder) == before  # no run directory, checkpoint or config file


def test_every_error_line_has_the_one_shape() -> None:
    for case in CASES:
        for line in case["error"].splitlines():
            if line.startswith("error: "):
                key, _, rest = line[len("error: ") :].partition(": expected ")
                assert key and " " not in key.strip("'"), line
                assert ", got " in rest, line
                assert rest.rstrip().endswith((".", "?")), line


def test_a_yaml_tag_never_runs_python(folder: Path) -> None:
    (folder / "bad.yaml").write_text("trainer: !!python/object/apply:os.system [touch pwned]\n")
    assert main(["fit", "--config", "bad.yaml"]) == 2
    assert not (folder / "pwned").exists()


def test_component_error_keeps_the_original_exception(folder: Path) -> None:
    (folder / "brokenmodel.py").write_text(
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        raise KeyError('weights.pt')\n"
    )
    sys.path.insert(0, str(folder))
    with pytest.raises(ConfigError) as raised:
        LightCLI(args=["fit", "--config", "base.yaml", "--system.model", "brokenmodel.Net"])
    assert str(raised.value) == (
        "system.model: expected brokenmodel.Net to build, got KeyError: 'weights.pt'. "
        "Check its init_args (LIGHTCLI_TRACEBACK=1 shows the traceback)."
    )
    assert isinstance(raised.value.__cause__, KeyError)
    assert not (folder / "runs").exists()


def test_traceback_is_shown_on_request(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIGHTCLI_TRACEBACK", "1")
    assert main(["fit", "--config", "base.yaml", "--trainer.max_epochs", "ten"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith(
        "error: trainer.max_epochs: expected an int or null, got the string 'ten' (on the command line). "
        "Write a whole number, e.g. max_epochs: 10.\n"
    )


def test_a_config_error_is_its_problems() -> None:
    error = ConfigError(Problem("a.b", "an int", "the string 'x'", "Write a whole number."))
    assert error.problems == [Problem("a.b", "an int", "the string 'x'", "Write a whole number.")]
    assert str(error) == "a.b: expected an int, got the string 'x'. Write a whole number."


def test_problem_names_where_the_key_came_from() -> None:
    assert str(Problem("k", "X", "Y", "Fix.", "my.yaml")) == "k: expected X, got Y (in my.yaml). Fix."
    assert str(Problem("k", "X", "Y", "Fix.", "the command line")) == "k: expected X, got Y (on the command line). Fix."


def test_suggestions() -> None:
    assert suggest("max_epoch", ["max_epochs", "min_epochs"]) == " Did you mean 'max_epochs'?"
    assert suggest("LR", ["lr", "eps"]) == " Did you mean 'lr'?"
    assert suggest("zzz", ["lr", "eps"]) == ""


def test_type_descriptions() -> None:
    assert describe_type(int | None) == "an int or null"
    assert describe_type(list[int]) == "a list of ints"
    assert describe_type(dict[str, float]) == "a mapping of names to a number"


def test_several_errors_from_files_and_command_line_are_reported_together(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "a.yaml").write_text("trainer:\n  max_epochs: many\n")
    (folder / "b.yaml").write_text("system:\n  optimizer:\n    init_args: {lr: fast}\n")
    code = main(
        ["fit", "--config", "base.yaml", "--config", "a.yaml", "--config", "b.yaml", "--trainer.min_epochs", "x"]
    )
    assert code == 2
    assert capsys.readouterr().err == (
        "error: trainer.max_epochs: expected an int or null, got the string 'many' (in a.yaml:2). "
        "Write a whole number, e.g. max_epochs: 10.\n"
        "error: trainer.min_epochs: expected an int or null, got the string 'x' (on the command line). "
        "Write a whole number, e.g. min_epochs: 10.\n"
        "error: system.optimizer.init_args.lr: expected a number, got the string 'fast' (in b.yaml:3). "
        "Write a number without quotes, e.g. lr: 0.001.\n"
        "3 errors; nothing was run.\n"
    )


@pytest.mark.slow
def test_subprocess_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text((CORPUS / "base.yaml").read_text())
    env = {k: v for k, v in subprocess_env().items() if k != "LIGHTCLI_TRACEBACK"}
    result = subprocess.run(
        [sys.executable, "-m", "lightcli", "fit", "--config", "base.yaml", "--system.model", "lightcli.MPL"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "error: system.model.class_path: expected an importable class path, got 'lightcli.MPL' "
        "(lightcli has no 'MPL') (on the command line). Check the spelling. Did you mean 'lightcli.MLP'?\n"
    )
    assert result.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["base.yaml"]


def test_no_false_alarms_on_the_shipped_configs(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One wrong override on a valid config: that error alone is reported, nothing else in the config."""
    for config in sorted((REPO / "configs").rglob("*.yaml")):
        assert main(["fit", "--config", str(config), "--trainer.max_epochs", "ten"]) == 2
        assert capsys.readouterr().err == (
            "error: trainer.max_epochs: expected an int or null, got the string 'ten' (on the command line). "
            "Write a whole number, e.g. max_epochs: 10.\n"
        ), config


def test_the_parser_loads_yaml_safely_too() -> None:
    """jsonargparse (which parses every config and command-line value) uses a safe YAML loader."""
    from jsonargparse import get_loader

    with pytest.raises(yaml.constructor.ConstructorError):
        get_loader("yaml")("a: !!python/object/apply:os.system ['echo hacked']")
