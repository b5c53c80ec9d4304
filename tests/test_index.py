"""The environment's index: a question never asked before is answered without torch, as the import path prints it.

The subprocess tests run ``lightcli`` as the command does (``main(background=True)``: the rest of the index is
rendered by a forked copy of the process) and wait for that copy through the lock it holds; ``sys.modules`` of
a later process proves it imported neither torch nor Lightning, and its output is compared byte for byte with
the import path's (``LIGHTCLI_NO_CACHE=1``). The in-process tests check the order answers are rendered in and
what is kept.
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import pytest

from conftest import Answer, lightcli_answer, subprocess_env
from lightcli.config import answers, index


def _lightcli(
    cwd: Path, *args: str, cached: bool = True, background: bool = True, env: dict[str, str] | None = None
) -> Answer:
    """``lightcli <args>`` in a fresh process (the cache beside ``cwd``, or off), as the ``lightcli`` command by default."""
    return lightcli_answer(cwd, cwd.parent / "cache", *args, cached=cached, background=background, env=env)


def _indexed(cwd: Path) -> list[Path]:
    """Waits until no process renders an index beside ``cwd`` (each holds its lock file); the indexes."""
    folder = cwd.parent / "cache" / "lightcli" / "index"
    for lock in folder.glob("*.lock"):
        with open(lock) as file:
            fcntl.flock(file, fcntl.LOCK_EX)
    return sorted(folder.glob("*.index"))


def _printed(answer: Answer) -> tuple[bytes, bytes, int]:
    return answer.stdout, answer.stderr, answer.code


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working directory with a module of the user's (the cache sits beside it)."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "mine.py").write_text("WIDTH = 8\n")
    return folder


@pytest.mark.slow  # waits for the background index of a fresh environment (about 9 s of CPU)
def test_after_fit_help_other_questions_are_answered_without_torch_as_the_import_path_prints_them(work: Path) -> None:
    first = _lightcli(work, "fit", "--help")
    assert first.code == 0 and b"usage:" in first.stdout and "torch" in first.heavy
    [path] = _indexed(work)
    assert len(index._load(path)) == len(index.QUESTIONS)
    for args in (["validate", "--help"], ["completion", "zsh"], ["schema"]):
        kept = _lightcli(work, *args)
        assert kept.heavy == set(), args
        assert kept.code == 0 and kept.stdout.startswith((b"usage:", b"#compdef lightcli", b"{")), args
    for args in (["validate", "--help"], ["schema"]):  # every question: the slow test below
        fresh = _lightcli(work, *args, cached=False)
        assert "torch" in fresh.heavy
        assert _printed(_lightcli(work, *args)) == _printed(fresh), args
    assert _indexed(work) == [path]


@pytest.mark.slow  # waits for the background index of a fresh environment (about 9 s of CPU)
def test_a_changed_project_file_or_installed_version_is_another_index(work: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    env = {"PYTHONPATH": f"{subprocess_env()['PYTHONPATH']}{os.pathsep}{site}"}
    heavy = [_lightcli(work, "fit", "--help", background=False, env=env).heavy]
    heavy.append(_lightcli(work, "fit", "--help", background=False, env=env).heavy)  # nothing changed: indexed
    (work / "mine.py").write_text("WIDTH = 16\n")  # a module of the user's: its classes may be named
    heavy.append(_lightcli(work, "fit", "--help", background=False, env=env).heavy)
    (site / "torch-9.0.dist-info").mkdir()  # another version installed
    heavy.append(_lightcli(work, "fit", "--help", background=False, env=env).heavy)
    heavy.append(_lightcli(work, "fit", "--help", background=False, env=env).heavy)
    assert ["torch" in h for h in heavy] == [True, False, True, True, False]
    assert len(_indexed(work)) == 3


_IMPORT_PATH: dict[tuple[str, ...], tuple[bytes, bytes, int]] = {}
"""What the import path prints for each indexed question (the same in every such working directory): asked once."""


@pytest.mark.slow
@pytest.mark.parametrize("asked", [["predict", "-h"], ["completion", "bash"]], ids=["help-first", "tool-first"])
def test_every_indexed_answer_is_what_the_import_path_prints(work: Path, asked: list[str]) -> None:
    first = _lightcli(work, *asked)
    assert first.code == 0 and "torch" in first.heavy
    _indexed(work)
    for question in index.QUESTIONS:
        kept = _lightcli(work, *question)
        assert kept.heavy == set(), question
        if question not in _IMPORT_PATH:
            _IMPORT_PATH[question] = _printed(_lightcli(work, *question, cached=False))
        assert _printed(kept) == _IMPORT_PATH[question], question


@pytest.mark.parametrize(
    ("args", "question"),
    [
        (["--help"], ("--help",)),
        (["fit", "-h"], ("fit", "--help")),
        (["schema"], ("schema", "fit")),
        (["schema", "test"], ("schema", "test")),
        (["completion", "zsh"], ("completion", "zsh")),
        (["check"], ("check", "--help")),
        (["fit", "--config", "a.yaml", "--help"], None),  # the config changes the help
        (["fit", "--system.model.help", "lightcli.MLP"], None),
        (["schema", "--here"], None),
        (["schema", "-o", "fit.json"], None),
        (["check", "fit", "--config", "a.yaml"], None),
    ],
)
def test_only_the_questions_that_read_no_config_are_indexed(args: list[str], question: tuple[str, ...] | None) -> None:
    assert index.question(args) == question


class _Renderer:
    """Renders every question as its name, and records what it was asked, in order."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.asked: list[tuple[str, ...]] = []
        self.failing = failing

    def __call__(self, args: list[str]) -> int:
        self.asked.append(tuple(args))
        print(f"answer to {' '.join(args)}")
        print("a warning", file=sys.stderr)
        return 2 if tuple(args) == self.failing else 0


def test_a_tool_question_renders_the_helps_first_and_the_index_answers_them(
    cached: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    render = _Renderer(failing=("validate", "--help"))
    assert index.answered(("completion", "zsh"), [], render) == 0
    assert render.asked == [*index.HELPS, ("completion", "zsh")]  # before the tool imports more classes
    assert capsys.readouterr() == ("answer to completion zsh\n", "a warning\n")  # the helps are not printed
    render.asked.clear()
    for question in (("completion", "zsh"), ("fit", "--help"), ("--help",)):
        assert index.answered(question, [], render) == 0
        assert capsys.readouterr() == (f"answer to {' '.join(question)}\n", "a warning\n")
    assert render.asked == []
    assert index.answered(("validate", "--help"), [], render) == 2  # failed: not kept, asked afresh
    assert render.asked == [("validate", "--help")]
    [path] = index.index_folder().glob("*.index")
    assert sorted(index._load(path)) == sorted(
        " ".join(q) for q in [*index.HELPS, ("completion", "zsh")] if q != ("validate", "--help")
    )


def test_a_project_is_part_of_the_key_and_nothing_is_kept_when_profiled_or_turned_off(
    cached: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = cached / "nets"
    project.mkdir()
    assert index.index_path(["--project", "nets"]) != index.index_path([])
    render = _Renderer()
    monkeypatch.setenv(answers.CACHE_ENV_VAR, "1")
    index.answered(("fit", "--help"), [], render)
    monkeypatch.delenv(answers.CACHE_ENV_VAR)
    monkeypatch.setitem(sys._xoptions, "importtime", True)
    index.answered(("fit", "--help"), [], render)
    assert render.asked == [("fit", "--help")] * 2 and not index.index_folder().exists()


def test_the_newest_indexes_are_kept(cached: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "KEEP", 2)
    for width in ("60", "70", "80"):
        monkeypatch.setenv("COLUMNS", width)  # another terminal width: another index
        index.answered(("fit", "--help"), [], _Renderer())
    monkeypatch.setenv("COLUMNS", "60")
    assert len(list(index.index_folder().glob("*.index"))) == 2
    render = _Renderer()
    index.answered(("fit", "--help"), [], render)
    assert render.asked == [("fit", "--help")]  # the oldest went first
    assert not list(index.index_folder().glob(".*"))  # no partial file left
