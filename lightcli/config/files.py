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

__all__ = ["forget", "read_bytes", "read_text"]

_MAX_FILES = 64
_cache: dict[tuple[int, int], tuple[tuple[int, int], bytes]] = {}


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The content of a file, opened once while it stays unchanged (per process).

    Raises:
        OSError: The file cannot be read (as ``open`` raises it).
    """
    stat = os.stat(path)
    key, stamp = (stat.st_dev, stat.st_ino), (stat.st_mtime_ns, stat.st_size)
    kept = _cache.get(key)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    with open(path, "rb") as file:
        content = file.read()
    if len(_cache) >= _MAX_FILES:
        _cache.pop(next(iter(_cache)))
    _cache[key] = (stamp, content)
    return content


def read_text(path: str | os.PathLike[str], encoding: str | None = None, errors: str | None = None) -> str:
    """The text of a file, decoded as ``open(path, encoding=encoding, errors=errors).read()`` would.

    ``encoding=None`` is the locale's encoding (as for ``open``); line endings are translated to ``\\n``.
    """
    with io.TextIOWrapper(io.BytesIO(read_bytes(path)), encoding=encoding, errors=errors) as text:
        return text.read()


def forget() -> None:
    """Drops every kept file: the next reads open the files again (done when a command starts)."""
    _cache.clear()
