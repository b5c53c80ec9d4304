"""Runtime mistakes (tests/runtime/cases.yaml): one message each, exit 2 with nothing left behind when found before
the run or in a first batch, exit 1 with the run folder, its traceback and its last good checkpoint during the run."""

from __future__ import annotations

import errno
import io
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from conftest import REPO
from lightcli.cli import main
from lightcli.run.failures import TRACEBACK_FILE

CORPUS = REPO / "tests" / "runtime"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())
BASE = REPO / "tests" / "invalid" / "base.yaml"
_TRAINS = ("dataset that raises in the second epoch", "loss that turns NaN during the run", "callback that raises")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of base.yaml after one epoch."""
    folder = tmp_path_factory.mktemp("trained")
    shutil.copy(BASE, folder / "base.yaml")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert main(["fit", "--config", "base.yaml"]) == 0
    finally:
        os.chdir(cwd)
    return next(folder.glob("runs/base/version_0/checkpoints/last.ckpt"))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(BASE, tmp_path / "base.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("LIGHTCLI_TRACEBACK", raising=False)
    monkeypatch.delenv("LIGHTCLI_ALLOWED_MODULES", raising=False)
    for name in [m for m in sys.modules if m in ("flaky", "nanloss", "boom")]:
        monkeypatch.delitem(sys.modules, name)  # each case imports its own files
    return tmp_path


def _prepare(case: dict[str, Any], folder: Path, trained: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for name, content in (case.get("files") or {}).items():
        path = folder / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    if "deep" in case:
        (folder / "deep.yaml").write_text("trainer: " + "[" * case["deep"] + "]" * case["deep"] + "\n")
    if "truncate" in case:
        (folder / "cut.ckpt").write_bytes(trained.read_bytes()[: case["truncate"]])
    if "state_dict" in case:
        torch.save({"weight": torch.zeros(2)}, folder / case["state_dict"])
    patch = case.get("patch")
    if patch == "read-only":
        real_mkdir = os.mkdir

        def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            if "runs" in os.fspath(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
            real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
    elif patch == "disk-full":
        real_open = io.open

        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if ".ckpt" in str(file) and "w" in mode:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(io, "open", open_)
        monkeypatch.setattr("builtins.open", open_)
    return [str(a).replace("{ckpt}", str(trained)) for a in case["args"]]


def test_the_corpus_is_large_and_named_uniquely() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) >= 30
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c["name"], marks=[pytest.mark.slow] if c["name"].startswith(_TRAINS) else []) for c in CASES],
)
def test_runtime_mistake(
    case: dict[str, Any],
    folder: Path,
    trained: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = _prepare(case, folder, trained, monkeypatch)
    before = _files(folder)
    code = main(args)
    err = capsys.readouterr().err
    if os.environ.get("RECORD_CORPUS"):
        with open(os.environ["RECORD_CORPUS"], "a") as record:
            record.write(yaml.safe_dump([{"name": case["name"], "code": code, "err": err}]))
    monkeypatch.undo()  # the patched os.mkdir / open
    assert err == case["error"].replace("{tmp}", str(folder)).replace("{ckpt}", str(trained)) + "\n"
    assert "Traceback" not in err
    assert code == case.get("code", 2)
    if code == 2:
        assert _files(folder) == before  # no run folder, checkpoint or config file
        return
    run = folder / "runs" / "base" / "version_0"
    if case.get("checkpoint", True):  # else none could be written, or none was good
        assert list(run.glob("checkpoints/*.ckpt")), "the last good checkpoint stays"
        text = (run / TRACEBACK_FILE).read_text()
        assert text.startswith("Traceback") and text.rstrip().splitlines()[-1] in err
