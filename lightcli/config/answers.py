"""Answers kept per environment: ``--help``, ``completion``, ``schema`` and a static ``check`` without torch.

These answers are the same every time their inputs are the same, and most of their time goes to importing
torch and Lightning (about 4 s). Those that read no config (``--help``, ``fit --help``, ``completion zsh``,
``schema``...) are kept together, in the environment's index (:mod:`lightcli.config.index`, keyed by
:func:`cache_key` without the arguments): the first of them renders the others too, so a question never asked
before is answered without torch. The others (``fit --config x.yaml --help``, ``--system.model.help CLASS``,
``check fit --config x.yaml``) are kept here one by one: the first run answers as usual and keeps what it
printed; the next run with the same key prints it again without importing either. The key holds everything
the answer depends on:

- the program's name (the usage line shows it), the arguments and the working directory;
- the Python (executable, version, ``sys.path``) and every installed distribution with its version (the
  ``*.dist-info`` names on ``sys.path``): installing or upgrading torch, Lightning, jsonargparse,
  torchmetrics or lightcli changes it;
- lightcli's own ``.py`` files, the ``.py`` and YAML files of the working directory (its modules are
  importable by class_path) and of every folder named in the arguments (``--project``), by modification
  time and size;
- the contents of every file named in the arguments (``--config``), and for each string in those config
  files that names an existing path, that path's modification time and size;
- the environment variables that change an answer (``LIGHTCLI_*``, ``JSONARGPARSE_*``, ``PL_*``,
  ``COLUMNS``, ``PYTHONPATH``...), the terminal's size and whether the output is a terminal.

Answers live in ``$XDG_CACHE_HOME/lightcli/answers`` (default ``~/.cache/lightcli/answers``), one JSON file
per key written whole (a temporary file renamed), the newest :data:`KEEP` kept. ``LIGHTCLI_NO_CACHE=1``
turns the cache off. A working directory with more than :data:`MOST_FILES` files to look at (a home
folder) is not cached. Only answers that succeeded are kept (and a ``check`` that found problems: exit
code 2, the same problems for the same key), and none from a process that prints its imports
(``python -X importtime``); nothing else is ever answered from the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from lightcli.config.commands import SUBCOMMANDS, requested_subcommand

__all__ = [
    "CACHE_ENV_VAR",
    "KEEP",
    "MOST_FILES",
    "answered",
    "cache_folder",
    "cache_key",
    "kind",
    "profiled",
    "teed",
    "turned_off",
]

CACHE_ENV_VAR = "LIGHTCLI_NO_CACHE"
"""Set to ``1`` to answer every command afresh (nothing read from or written to the cache)."""

KEEP = 200
"""How many answers the cache keeps (the oldest go first)."""

MOST_FILES = 5000
"""The most files looked at under the working directory and the folders named in the arguments."""

_FORMAT = "lightcli-answers-1"
_ENV_PREFIXES = ("LIGHTCLI_", "JSONARGPARSE_", "PL_")
_ENV_NAMES = ("COLUMNS", "LINES", "PYTHONPATH", "NO_COLOR", "FORCE_COLOR", "TERM")
_SKIPPED_FOLDERS = ("__pycache__", "runs", "node_modules", "site-packages", "build", "dist", "lightning_logs")
_WATCHED = (".py", ".yaml", ".yml")
_HASHED_UP_TO = 1 << 20  # files named in the arguments: contents hashed up to 1 MiB, larger ones by stat
_HELP = ("-h", "--help")
_KEPT_CODES = {"help": (0,), "tool": (0,), "check": (0, 2)}


def kind(argv: list[str]) -> str | None:
    """What kind of cacheable answer ``lightcli <argv>`` asks for: ``help``, ``tool``, ``check``, or None."""
    name = requested_subcommand(argv)
    if name is None or name in SUBCOMMANDS:
        helped = any(a in _HELP or a.split("=", 1)[0].endswith(".help") for a in argv)
        return "help" if helped else None
    rest = argv[argv.index(name) + 1 :]
    if name in ("schema", "completion"):
        writes = any(a in ("-o", "--output") or a.startswith(("-o", "--output=")) for a in rest)
        return None if writes else "tool"
    if name == "check":
        return None if "--run" in rest else "check"
    return None


def cache_folder() -> Path:
    """Where answers are kept: ``$XDG_CACHE_HOME/lightcli/answers`` (default ``~/.cache/lightcli/answers``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "lightcli" / "answers"


def _stamp(path: str) -> list[Any]:
    try:
        stat = os.stat(path)
    except OSError:
        return [path, None]
    return [path, stat.st_mtime_ns, stat.st_size, stat.st_mode]


def _folder(root: str, seen: list[int]) -> list[Any] | None:
    """The watched files under ``root`` with their stamps (hidden, cache and output folders skipped).

    None when more than :data:`MOST_FILES` entries (counted in ``seen`` across folders) were looked at.
    """
    found: list[Any] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_FOLDERS)
        seen[0] += len(files) + len(dirs)
        if seen[0] > MOST_FILES:
            return None
        found += [_stamp(os.path.join(folder, f)) for f in sorted(files) if f.endswith(_WATCHED)]
    return found


def _installed() -> list[Any]:
    """The distributions installed on ``sys.path`` (their ``dist-info`` names carry the versions)."""
    found: list[Any] = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found.append([entry, sorted(n for n in names if n.endswith((".dist-info", ".egg-info", ".egg-link", ".pth")))])
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _strings(key)
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


def _named_file(path: str) -> list[Any]:
    """A file named in the arguments: its contents (hashed), and the paths its YAML names (stamped)."""
    stamp = _stamp(path)
    if stamp[1] is None or stamp[2] > _HASHED_UP_TO:
        return stamp
    data = Path(path).read_bytes()
    named: list[Any] = []
    if path.endswith((".yaml", ".yml", ".json")):
        with contextlib.suppress(yaml.YAMLError, ValueError):
            base = os.path.dirname(path)
            for text in dict.fromkeys(_strings(yaml.safe_load(data))):
                if 0 < len(text) < 4096 and "\n" not in text:
                    named += [_stamp(p) for p in dict.fromkeys((text, os.path.join(base, text))) if os.path.exists(p)]
    return [path, hashlib.sha256(data).hexdigest(), named]


def cache_key(argv: list[str], tag: str = _FORMAT) -> str | None:
    """The key of the answer to ``lightcli <argv>`` in this environment, or None when it is not to be cached.

    Args:
        argv: The arguments (the files and folders they name are part of the key).
        tag: What the key is for (another tag, another key: :mod:`lightcli.config.index` keys its index with it).
    """
    cwd = os.getcwd()
    seen = [0]
    package = str(Path(__file__).resolve().parents[1])
    try:
        folders = [_folder(package, [0]), _folder(cwd, seen)]  # then the folders named (--project)
        named: list[Any] = []
        for arg in argv:
            for text in dict.fromkeys((arg, arg.split("=", 1)[-1])):
                if text and os.path.isfile(text):
                    named.append(_named_file(text))
                elif text and os.path.isdir(text) and os.path.realpath(text) != os.path.realpath(cwd):
                    folders.append(_folder(text, seen))
    except OSError:
        return None
    if None in folders:
        return None  # a folder too large to look at (a home folder): not cached
    size = shutil.get_terminal_size()
    environment = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES}
    environment.pop(CACHE_ENV_VAR, None)
    streams = [s.isatty() if hasattr(s, "isatty") else None for s in (sys.stdout, sys.stderr)]
    program = os.path.basename(sys.argv[0]) if sys.argv else ""  # the usage line names it
    parts = [tag, program, argv, cwd, sys.executable, sys.version, _installed(), folders, named]
    parts += [sorted(environment.items()), [size.columns, size.lines], streams]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


@dataclass
class _Answer:
    stdout: str
    stderr: str
    code: int


class _Tee:
    """A text stream that writes through to another and keeps what was written."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _load(path: Path) -> _Answer | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _Answer(str(data["stdout"]), str(data["stderr"]), int(data["code"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(folder: Path, key: str, answer: _Answer) -> None:
    """Writes the answer whole (a temporary file renamed), then drops the oldest beyond :data:`KEEP`."""
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=folder, prefix=".", suffix=".partial")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump({"stdout": answer.stdout, "stderr": answer.stderr, "code": answer.code}, file)
            os.replace(partial, folder / f"{key}.json")
        finally:
            with contextlib.suppress(OSError):
                os.unlink(partial)
        kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
        for old in kept[:-KEEP]:
            old.unlink()


def profiled() -> bool:
    """Whether this process prints its imports (``python -X importtime``): its stderr says what ran, not kept."""
    return "importtime" in sys._xoptions or bool(os.environ.get("PYTHONPROFILEIMPORTTIME"))


def turned_off() -> bool:
    """Whether ``LIGHTCLI_NO_CACHE`` asks for every answer afresh (the answer cache and the index alike)."""
    return os.environ.get(CACHE_ENV_VAR, "") not in ("", "0")


def teed(answer: Callable[[], int]) -> tuple[str, str, int]:
    """Runs ``answer()``, printing as it does; what it printed on stdout and stderr, and its exit code."""
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = answer()
    finally:
        sys.stdout, sys.stderr = streams
    return "".join(out.parts), "".join(err.parts), code


def answered(argv: list[str], answer: Callable[[], int]) -> int:
    """Runs ``answer()`` for ``lightcli <argv>``, or prints its kept answer without running it.

    Returns:
        The exit code (the kept one on a hit).
    """
    what = kind(argv)
    if what is None or turned_off():
        return answer()
    key = cache_key(argv)
    if key is None:
        return answer()
    folder = cache_folder()
    kept = _load(folder / f"{key}.json")
    if kept is not None:
        sys.stdout.write(kept.stdout)
        sys.stderr.write(kept.stderr)
        return kept.code
    stdout, stderr, code = teed(answer)
    if code in _KEPT_CODES[what] and not profiled():
        _store(folder, key, _Answer(stdout, stderr, code))
    return code
