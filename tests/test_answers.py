"""Help, completion, schema and static check answered again from the per-environment cache, without torch.

The questions that read no config go to the environment's index (tests/test_index.py covers it more).

The subprocess tests prove the point end to end (``sys.modules`` of the second process has no torch, and
its output is byte for byte the first one's); the in-process ones check what the key holds and what is kept.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from conftest import Answer, lightcli_answer, tiny_config, write_config
from lightcli import commands
from lightcli.config import answers
from lightcli.tools import completion, schema


def _lightcli(cwd: Path, cache: Path, *args: str) -> Answer:
    """Runs ``lightcli <args>`` in a fresh process with the cache on; what it printed and the heavy modules it imported."""
    return lightcli_answer(cwd, cache, *args)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working directory with a module of the user's and a tiny config (the cache sits beside it)."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "mine.py").write_text("WIDTH = 8\n")
    write_config(folder / "tiny.yaml", tiny_config())
    return folder


def test_the_help_of_a_config_is_answered_again_without_torch_byte_for_byte(work: Path) -> None:
    cache = work.parent / "cache"
    first = _lightcli(work, cache, "fit", "--config", "tiny.yaml", "--help")  # the config's classes: not indexed
    assert first.code == 0 and b"usage:" in first.stdout
    assert "torch" in first.heavy and "pytorch_lightning" in first.heavy  # answered by the parser
    second = _lightcli(work, cache, "fit", "--config", "tiny.yaml", "--help")
    assert second.heavy == set()
    assert (second.stdout, second.stderr, second.code) == (first.stdout, first.stderr, first.code)
    assert len(list((cache / "lightcli" / "answers").glob("*.json"))) == 1


def test_a_static_check_is_answered_again_without_torch(work: Path) -> None:
    cache = work.parent / "cache"
    first = _lightcli(work, cache, "check", "fit", "--config", "tiny.yaml")
    assert first.code == 0 and b"ok (parsed and type-checked" in first.stdout and "torch" in first.heavy
    second = _lightcli(work, cache, "check", "fit", "--config", "tiny.yaml")
    assert (second.stdout, second.stderr, second.code, second.heavy) == (first.stdout, first.stderr, 0, set())


@pytest.mark.slow
def test_a_check_that_found_problems_is_answered_again_and_a_fixed_config_is_checked_afresh(work: Path) -> None:
    cache = work.parent / "cache"
    config = tiny_config()
    config["system"]["optimizer"]["init_args"]["lr"] = "fast"
    write_config(work / "tiny.yaml", config)
    wrong = _lightcli(work, cache, "check", "fit", "--config", "tiny.yaml")
    assert wrong.code == 2 and b"system.optimizer.init_args.lr" in wrong.stderr and "torch" in wrong.heavy
    again = _lightcli(work, cache, "check", "fit", "--config", "tiny.yaml")  # the same problems, kept
    assert (again.stdout, again.stderr, again.code, again.heavy) == (wrong.stdout, wrong.stderr, 2, set())
    write_config(work / "tiny.yaml", tiny_config())
    fixed = _lightcli(work, cache, "check", "fit", "--config", "tiny.yaml")
    assert fixed.code == 0 and fixed.stderr == b"" and "torch" in fixed.heavy


@pytest.mark.parametrize(
    ("args", "tool"),
    [(["schema", "validate"], schema), pytest.param(["completion", "bash"], completion, marks=pytest.mark.slow)],
    ids=["schema", "bash"],
)
def test_schema_and_completion_are_answered_from_the_index_as_first_printed(
    cached: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], tool: object
) -> None:
    assert commands.main(args) == 0
    first = capsys.readouterr()
    assert first.out.startswith(("{", "# lightcli bash completion"))

    def not_again(args: list[str]) -> int:
        raise AssertionError("answered afresh")

    monkeypatch.setattr(tool, "main", not_again)
    assert commands.main(args) == 0
    assert capsys.readouterr() == first
    (cached / "mine.py").write_text("WIDTH = 8\n")  # a new module of the user's: its classes may be accepted
    with pytest.raises(AssertionError, match="answered afresh"):
        commands.main(args)


def _key(*args: str) -> str | None:
    return answers.cache_key(list(args))


def test_the_key_changes_with_what_the_answer_depends_on(cached: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (cached / "mine.py").write_text("WIDTH = 8\n")
    write_config(cached / "tiny.yaml", {"data": {"root": "data"}})
    project = cached.parent / "project"
    project.mkdir()
    (project / "nets.py").write_text("DEPTH = 1\n")
    args = ("check", "fit", "--project", str(project), "--config", "tiny.yaml")
    keys = [_key(*args)]
    assert keys[0] is not None and _key(*args) == keys[0]  # nothing changed: the same key
    (cached / "mine.py").write_text("WIDTH = 16\n")  # a module of the working directory
    keys.append(_key(*args))
    write_config(cached / "tiny.yaml", {"data": {"root": "data", "size": 2}})  # the config's contents
    keys.append(_key(*args))
    (cached / "data").mkdir()  # a path the config names comes into being
    keys.append(_key(*args))
    (project / "nets.py").write_text("DEPTH = 22\n")  # the --project folder
    keys.append(_key(*args))
    site = cached.parent / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    keys.append(_key(*args))
    (site / "torch-9.0.dist-info").mkdir()  # another version installed
    keys.append(_key(*args))
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mine")
    keys.append(_key(*args))
    monkeypatch.setenv("COLUMNS", "61")
    keys.append(_key(*args))
    keys.append(_key(*args, "--trainer.max_epochs", "3"))
    assert len(set(keys)) == len(keys)


def test_a_folder_too_large_to_look_at_is_not_cached(cached: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "MOST_FILES", 5)
    for i in range(6):
        (cached / f"m{i}.py").write_text("")
    assert _key("fit", "--help") is None


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["--help"], "help"),
        (["fit", "--config", "a.yaml", "-h"], "help"),
        (["fit", "--system.model.help", "lightcli.MLP"], "help"),
        (["fit", "--config", "a.yaml"], None),
        (["schema", "fit"], "tool"),
        (["schema", "fit", "-o", "fit.json"], None),
        (["completion", "zsh", "--output=x"], None),
        (["check", "fit", "--config", "a.yaml"], "check"),
        (["check", "fit", "--config", "a.yaml", "--run"], None),
        (["sweep", "--help"], None),
        (["diff", "a.yaml", "b.yaml"], None),
    ],
)
def test_only_help_schema_completion_and_static_check_are_cached(args: list[str], kind: str | None) -> None:
    assert answers.kind(args) == kind


def test_only_the_answers_of_their_kind_are_kept(cached: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[int] = []

    def answer(code: int) -> int:
        calls.append(code)
        print("out")
        print("err", file=sys.stderr)
        return code

    for args, code, kept in [
        (["fit", "--help"], 0, True),
        (["validate", "--help"], 2, False),  # help that failed: a usage error, asked afresh
        (["check", "fit"], 2, True),  # the problems a static check found
        (["check", "test"], 1, False),  # a crash
    ]:
        calls.clear()
        assert answers.answered(args, lambda c=code: answer(c)) == code
        assert answers.answered(args, lambda c=code: answer(c)) == code
        assert calls == ([code] if kept else [code, code])
        assert capsys.readouterr() == ("out\nout\n", "err\nerr\n")
    folder = answers.cache_folder()
    assert len(list(folder.glob("*.json"))) == 2 and not list(folder.glob(".*"))  # no partial file left


def test_no_cache_and_an_unreadable_answer_answer_afresh(
    cached: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []
    answer = lambda: calls.append("run") or 0  # noqa: E731
    assert answers.answered(["--help"], answer) == 0
    [kept] = answers.cache_folder().glob("*.json")
    assert json.loads(kept.read_text()) == {"stdout": "", "stderr": "", "code": 0}
    monkeypatch.setenv(answers.CACHE_ENV_VAR, "1")
    assert answers.answered(["--help"], answer) == 0
    monkeypatch.delenv(answers.CACHE_ENV_VAR)
    kept.write_text("{not json")
    assert answers.answered(["--help"], answer) == 0
    assert calls == ["run", "run", "run"]
    assert os.listdir(answers.cache_folder()) == [kept.name]
