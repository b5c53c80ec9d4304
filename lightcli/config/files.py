"""Config files read once per command: every reader of a YAML file in ``lightcli`` asks this module.

A command reads a config file in several places: the checks made before parsing
(:mod:`lightcli.config.preflight`), jsonargparse's own parse (routed here by
:func:`lightcli.upstream.jsonargparse.read_config_files_with`), and the explanation of a rejected
config (:mod:`lightcli.config.explain`). The first read opens the file and keeps its bytes; the
others get the same bytes. A file is known by its device and inode (so two paths to one file are
one file), its bytes are kept while its modification time and size stay the same, and every command
starts afresh (:func:`forget`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ReadOnce", "forget", "read_bytes", "read_text"]

T = TypeVar("T")


class ReadOnce(Generic[T]):
    """What ``read(path)`` made of a file, kept per process while the file stays unchanged.

    A file is known by its device and inode (two paths to one file are one file) and is unchanged while its
    modification time and size stay the same; at most ``most`` files are kept (the oldest goes first).

    Args:
        read: Reads a file (given as text) into what is kept.
        most: How many files are kept at the most.
    """

    def __init__(self, read: Callable[[str], T], most: int) -> None:
        self._read = read
        self._most = most
        self._kept: dict[tuple[int, int], tuple[tuple[int, int], T]] = {}

    def __call__(self, path: str | os.PathLike[str]) -> T:
        """What ``read`` made of ``path``, read now unless the file is kept unchanged.

        Raises:
            OSError: The file cannot be read (and whatever ``read`` raises).
        """
        stat = os.stat(path)
        key, stamp = (stat.st_dev, stat.st_ino), (stat.st_mtime_ns, stat.st_size)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        made = self._read(os.fspath(path))
        if len(self._kept) >= self._most:
            self._kept.pop(next(iter(self._kept)))
        self._kept[key] = (stamp, made)
        return made

    def forget(self) -> None:
        """Drops every kept file: the next reads read the files again."""
        self._kept.clear()


def _content(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


read_bytes: ReadOnce[bytes] = ReadOnce(_content, most=64)
"""The bytes of a config file, opened once while it stays unchanged (per process)."""


def read_text(path: str | os.PathLike[str], encoding: str | None = None, errors: str | None = None) -> str:
    """The text of a file, decoded as ``open(path, encoding=encoding, errors=errors).read()`` would.

    ``encoding=None`` is the locale's encoding (as for ``open``); line endings are translated to ``\\n``.
    """
    with io.TextIOWrapper(io.BytesIO(read_bytes(path)), encoding=encoding, errors=errors) as text:
        return text.read()


def forget() -> None:
    """Drops every kept file: the next reads open the files again (done when a command starts)."""
    read_bytes.forget()
