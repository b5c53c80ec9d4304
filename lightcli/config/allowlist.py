"""Which modules a config may import through ``class_path`` (and import paths of functions).

A ``class_path`` imports Python code: that is how a config names a model or a loss. By default any
importable module is allowed, as with LightningCLI. Set ``LIGHTCLI_ALLOWED_MODULES`` to a
comma-separated list of module prefixes (``mypkg,otherpkg.models``) to refuse everything else; the
libraries lightcli itself is built on stay allowed. The list comes from the environment only, so a
config file cannot widen it. Prefixes are checked before anything is imported.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from typing import Any

__all__ = ["ALWAYS_ALLOWED", "ENV_VAR", "allowed_prefixes", "import_paths", "refused"]

ENV_VAR = "LIGHTCLI_ALLOWED_MODULES"
"""The environment variable holding the allowed module prefixes, comma-separated."""

ALWAYS_ALLOWED = (
    "lightcli",
    "torch",
    "torchmetrics",
    "pytorch_lightning",
    "lightning_fabric",
    "lightning.pytorch",
    "lightning.fabric",
)
"""Modules lightcli imports anyway; always allowed when an allowlist is set."""

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


def allowed_prefixes() -> tuple[str, ...] | None:
    """The allowed module prefixes, or None when every module is allowed (the variable is unset or empty)."""
    raw = os.environ.get(ENV_VAR, "")
    given = tuple(p.strip().rstrip(".") for p in re.split(r"[,:\s]+", raw) if p.strip())
    return (*ALWAYS_ALLOWED, *given) if given else None


def refused(path: str) -> tuple[str, str, str] | None:
    """``(expected, got, fix)`` when ``path`` is outside the allowlist, else None."""
    prefixes = allowed_prefixes()
    if prefixes is None or "." not in path:
        return None
    if any(path == p or path.startswith(p + ".") for p in prefixes):
        return None
    given = [p for p in prefixes if p not in ALWAYS_ALLOWED]
    return (
        f"a module allowed by {ENV_VAR} ({', '.join(given)} and lightcli's own libraries)",
        f"{path!r}",
        f"Add its package to {ENV_VAR} if you trust it, e.g. {ENV_VAR}={','.join([*given, path.split('.', maxsplit=1)[0]])}.",
    )


def import_paths(tree: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Yields ``(key, path)`` for every ``class_path`` and every string that names an importable module path."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            sub = f"{key}.{name}" if key else str(name)
            if name == "class_path" and isinstance(value, str):
                yield sub, value
            else:
                yield from import_paths(value, sub)
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from import_paths(value, f"{key}[{i}]")
    elif isinstance(tree, str) and _DOTTED.match(tree) and _is_module(tree.split(".")[0]):
        yield key, tree


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
