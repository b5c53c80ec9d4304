"""The index of an environment: every answer that depends only on the environment, rendered together.

``lightcli --help``, ``lightcli <fit|validate|test|predict> --help``, the helps of ``schema``, ``completion``
and ``check``, ``lightcli completion bash|zsh`` and ``lightcli schema [fit|validate|test|predict]`` (to stdout)
read no config: their answers depend only on what :func:`lightcli.config.answers.cache_key` looks at besides
the arguments (the Python, the installed distributions and versions, lightcli's files, the ``.py`` and YAML
files of the working directory and of ``--project``, the environment variables that change an answer, the
terminal). These are the :data:`QUESTIONS`. They are kept in one file per environment, the *index*,
``$XDG_CACHE_HOME/lightcli/index/<key>.index``: a JSON header line (each answer's place, exit code and stderr),
then each answer's stdout, zlib-compressed.

A question of the index is answered from it without importing torch or Lightning. When it is not there yet,
it is answered on the import path, and the index gets the rest in the same process, which has torch and
Lightning imported already:

- once a help is answered (and printed), a forked copy of the process renders the remaining questions in
  the background (detached: its own session, the standard streams on ``/dev/null``, lower priority), once the
  command has ended, and adds each one to the index as soon as it is rendered; the command itself ends as soon
  as its answer is out;
- the Lightning helps (:data:`HELPS`) are rendered before a schema, a completion script or a tool's help:
  those import more classes (torchmetrics, lightcli's tools), and ``--help`` lists the known subclasses of
  what is imported, so a help rendered after them would differ from a fresh one. For such a question, the
  copy is forked before it is answered, once torch and Lightning are imported (with ``--project``, whose
  modules are imported before them, the process renders the helps itself first);
- only the ``lightcli`` command forks (:func:`lightcli.commands.run`), never a caller of
  :func:`lightcli.commands.main` (the answer alone is kept, with the helps rendered first); a lock file beside
  the index (``<key>.lock``, held by the forked process) keeps it to one such process per environment.

Any change in the key is another index: answered on the import path again, then indexed again. The index is
written whole (a temporary file renamed), the newest :data:`KEEP` kept. ``LIGHTCLI_NO_CACHE=1`` turns it
off, a process that prints its imports (``python -X importtime``) stores nothing, and only answers that
succeeded (exit code 0) are kept. Questions that read a config (``fit --config x.yaml --help``, ``check``)
and the help of one class (``--system.model.help lightcli.MLP``) are kept one by one by
:mod:`lightcli.config.answers`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

from lightcli.config.answers import cache_folder, cache_key, profiled, teed, turned_off
from lightcli.config.commands import SUBCOMMANDS

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no background indexing
    fcntl = None  # type: ignore[assignment]

__all__ = ["HELPS", "KEEP", "QUESTIONS", "TOOLS", "answered", "index_folder", "index_path", "question"]

HELPS: tuple[tuple[str, ...], ...] = (("--help",), *((name, "--help") for name in SUBCOMMANDS))
"""The Lightning helps: the top-level one and each Lightning subcommand's."""

TOOLS: tuple[tuple[str, ...], ...] = (
    ("schema", "--help"),
    ("completion", "--help"),
    ("check", "--help"),
    ("completion", "bash"),
    ("completion", "zsh"),
    *(("schema", name) for name in SUBCOMMANDS),
)
"""The tools' answers that read no config, in the order they are rendered."""

QUESTIONS: tuple[tuple[str, ...], ...] = HELPS + TOOLS
"""Every question the index answers, in the order they are rendered (see the module docstring for why)."""

KEEP = 20
"""How many indexes (environments) are kept (the oldest go first)."""

_FORMAT = "lightcli-index-1"
_ALIASES: dict[tuple[str, ...], tuple[str, ...]] = {("schema",): ("schema", "fit"), ("check",): ("check", "--help")}

Render = Callable[[list[str]], int]
"""Answers ``lightcli <args>`` (printing it) and returns the exit code."""


def question(args: list[str]) -> tuple[str, ...] | None:
    """The question of the index that ``lightcli <args>`` asks (``-h`` read as ``--help``), or None."""
    asked = tuple("--help" if a == "-h" else a for a in args)
    asked = _ALIASES.get(asked, asked)
    return asked if asked in QUESTIONS else None


def index_folder() -> Path:
    """Where indexes are kept: ``$XDG_CACHE_HOME/lightcli/index`` (default ``~/.cache/lightcli/index``)."""
    return cache_folder().parent / "index"


def index_path(project_args: list[str]) -> Path | None:
    """The index of this environment (with ``--project <folder>`` when given), or None when not to be kept."""
    key = cache_key(project_args, tag=_FORMAT)
    return None if key is None else index_folder() / f"{key}.index"


_Entry = tuple[bytes, str, int]  # the compressed stdout, the stderr, the exit code


def _name(asked: tuple[str, ...]) -> str:
    return " ".join(asked)


def _load(path: Path) -> dict[str, _Entry]:
    """The answers in the index at ``path`` (none when it is missing or unreadable)."""
    try:
        data = path.read_bytes()
        end = data.index(b"\n")
        header = json.loads(data[:end])
        if header.get("format") != _FORMAT:
            return {}
        blobs = data[end + 1 :]
        return {
            k: (blobs[at : at + size], str(err), int(code)) for k, (at, size, code, err) in header["answers"].items()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _store(path: Path, answers: dict[tuple[str, ...], tuple[str, str, int]]) -> None:
    """Adds the answers that succeeded to the index at ``path`` (written whole), then drops the oldest indexes."""
    new = {
        _name(q): (zlib.compress(out.encode("utf-8", "surrogateescape")), err, code)
        for q, (out, err, code) in answers.items()
        if code == 0
    }
    if not new:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = {**_load(path), **new}
        header: dict[str, list[object]] = {}
        at = 0
        for name, (blob, err, code) in entries.items():
            header[name] = [at, len(blob), code, err]
            at += len(blob)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(json.dumps({"format": _FORMAT, "answers": header}).encode() + b"\n")
                file.writelines(blob for blob, _, _ in entries.values())
            os.replace(partial, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(partial)
        kept = sorted(path.parent.glob("*.index"), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-KEEP]:
            old.unlink()
            old.with_suffix(".lock").unlink(missing_ok=True)


class _Captured(io.StringIO):
    """What an answer rendered for the index prints, from a stream that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def _ttys() -> tuple[bool, bool]:
    return tuple(bool(getattr(s, "isatty", lambda: False)()) for s in (sys.stdout, sys.stderr))  # type: ignore[return-value]


def _rendered(render: Render, asked: tuple[str, ...], ttys: tuple[bool, bool]) -> tuple[str, str, int]:
    """Renders the answer to ``asked`` without printing it: (stdout, stderr, exit code; 1 when it raised)."""
    out, err = _Captured(ttys[0]), _Captured(ttys[1])
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = render(list(asked))
    except Exception:
        code = 1  # not kept: asked again, it is answered (and its error reported) on the import path
    finally:
        sys.stdout, sys.stderr = streams
    return out.getvalue(), err.getvalue(), code


def answered(
    asked: tuple[str, ...],
    project_args: list[str],
    render: Render,
    background: bool = False,
    prepare: Callable[[], object] | None = None,
) -> int:
    """Prints the answer to ``asked`` (one of :data:`QUESTIONS`) from the index, or renders it and indexes it.

    Args:
        asked: The question.
        project_args: ``["--project", folder]`` when given (its files are part of the key), else empty.
        render: Answers a question on the import path (printing it) and returns the exit code.
        background: Whether the rest of the index may be rendered by a forked copy of this process.
        prepare: Imports what every answer imports first (torch, Lightning), as a fresh ``--help`` would: the
            copy that renders the rest can then be forked before the answer to a tool's question imports more.

    Returns:
        The exit code.
    """
    path = None if turned_off() else index_path(project_args)
    if path is None:
        return render(list(asked))
    entries = _load(path)
    kept = entries.get(_name(asked))
    if kept is not None:
        with contextlib.suppress(zlib.error, UnicodeDecodeError):
            out = zlib.decompress(kept[0]).decode("utf-8", "surrogateescape")
            sys.stdout.write(out)
            sys.stderr.write(kept[1])
            return kept[2]
    if profiled():
        return render(list(asked))
    ttys = _ttys()
    missing = [q for q in QUESTIONS if _name(q) not in entries and q != asked]
    new: dict[tuple[str, ...], tuple[str, str, int]] = {}
    forked = False
    if asked not in HELPS and any(q in HELPS for q in missing):  # the helps list the imported subclasses:
        if background and prepare is not None:  # rendered before anything imports more classes
            with contextlib.suppress(Exception):  # else the answer reports it
                prepare()
                forked = _in_background(path, missing, render, ttys)
        if not forked:
            new = {q: _rendered(render, q, ttys) for q in HELPS if q in missing}
    new[asked] = teed(lambda: render(list(asked)))
    code = new[asked][2]
    _store(path, new)
    rest = [q for q in missing if q not in new]
    if code == 0 and background and not forked and rest:
        _in_background(path, rest, render, ttys)
    return code


def _in_background(path: Path, missing: list[tuple[str, ...]], render: Render, ttys: tuple[bool, bool]) -> bool:
    """Renders the ``missing`` questions into the index in a forked, detached copy of this process.

    Returns:
        Whether it was forked: not when this system cannot fork, nor when another process indexes this environment.
    """
    if fcntl is None or not hasattr(os, "fork"):
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(path.with_suffix(".lock"), os.O_CREAT | os.O_RDWR, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until the forked process ends
    except OSError:
        os.close(lock)
        return False
    size = shutil.get_terminal_size()  # the width the answers are rendered for, once the streams are /dev/null
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    parent_alive, alive = os.pipe()  # the write end stays open in this process until it ends
    if os.fork() != 0:
        os.close(lock)  # the forked process still holds it
        os.close(parent_alive)
        return True
    try:  # the forked process: never returns to the caller
        os.setsid()  # not stopped by the terminal's Ctrl-C
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)  # a pipe reading the command's output ends with the command
        os.environ["COLUMNS"], os.environ["LINES"] = str(size.columns), str(size.lines)
        with contextlib.suppress(OSError):
            os.nice(10)
        os.close(alive)
        os.read(parent_alive, 1)  # returns once the command has ended: the answer is never slowed by the rest
        for asked in missing:
            _store(path, {asked: _rendered(render, asked, ttys)})
    finally:
        os._exit(0)
