"""Which modules a config may import through ``class_path`` (and import paths of functions).

A ``class_path`` imports Python code: that is how a config names a model or a loss. By default any
importable module is allowed, as with LightningCLI. Set ``LIGHTCLI_ALLOWED_MODULES`` to a
comma-separated list of module prefixes (``mypkg,otherpkg.models``) to refuse everything else; the
libraries lightcli itself is built on stay allowed. The list comes from the environment only, so a
config file cannot widen it. Prefixes are checked before anything is imported.

One chokepoint: every import path that a config, a command-line value, a checkpoint, a search space or
a YAML file referenced from a config names is imported by :func:`import_object` (or its module by
:func:`import_module`), which calls :func:`check_import` first. jsonargparse's own resolution of class
paths is routed through :func:`check_import` too (:func:`lightcli.upstream.import_gate.guard_imports`).
:mod:`lightcli.config.preflight` applies the same rule (:func:`refused`) to what it can see before parsing
(the config files, values, files named by values, a checkpoint's stored config), for messages that name
where each path was given; the gate holds whatever the preflight misses.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from lightcli.config.problems import ConfigError, Problem

__all__ = [
    "ALWAYS_ALLOWED",
    "ENV_VAR",
    "allowed_prefixes",
    "check_import",
    "import_module",
    "import_object",
    "import_paths",
    "refused",
    "trust",
]

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


_trusted: list[str] = []  # packages the command line vouched for (--project): their code has run already


def trust(package: str) -> None:
    """Allows ``package`` for the rest of the process: the ``--project`` folder, imported when the command starts."""
    if package not in _trusted:
        _trusted.append(package)


def allowed_prefixes() -> tuple[str, ...] | None:
    """The allowed module prefixes, or None when every module is allowed (the variable is unset or empty)."""
    raw = os.environ.get(ENV_VAR, "")
    given = tuple(p.strip().rstrip(".") for p in re.split(r"[,:\s]+", raw) if p.strip())
    return (*ALWAYS_ALLOWED, *given, *_trusted) if given else None


def refused(path: str, module: bool = False) -> tuple[str, str, str] | None:
    """``(expected, got, fix)`` when ``path`` is outside the allowlist, else None.

    Args:
        path: ``module.Name`` (a bare ``Name`` is a loaded class, never refused), or a module with ``module=True``.
        module: ``path`` names a module.
    """
    prefixes = allowed_prefixes()
    if prefixes is None or ("." not in path and not module):
        return None
    if not _outside(path, prefixes):
        return None
    given = [p for p in prefixes if p not in ALWAYS_ALLOWED and p not in _trusted]
    return (
        f"a module allowed by {ENV_VAR} ({', '.join(given)} and lightcli's own libraries)",
        f"{path!r}",
        f"Add its package to {ENV_VAR} if you trust it, e.g. {ENV_VAR}={','.join([*given, path.split('.', maxsplit=1)[0]])}.",
    )


def _outside(name: str, prefixes: tuple[str, ...]) -> bool:
    return not any(name == p or name.startswith(p + ".") for p in prefixes)


def check_import(path: str, key: str = "", module: bool = False) -> None:
    """The allowlist's gate: raises when ``path`` (``module.Name``, or a module with ``module=True``) is refused.

    Every import of a name given by a config goes through here before anything is imported.

    Raises:
        ConfigError: naming ``key`` and the refused module.
    """
    blocked = refused(path, module) if isinstance(path, str) else None
    if blocked is not None:
        raise ConfigError(Problem(key, *blocked))


def import_module(name: str, key: str = "") -> ModuleType:
    """Imports a module named by a config, after :func:`check_import` (the only way lightcli imports one).

    Raises:
        ConfigError: The module is outside the allowlist (nothing is imported).
        ImportError: It cannot be imported.
    """
    check_import(name, key, module=True)
    return importlib.import_module(name)


def import_object(path: str, key: str = "") -> Any:
    """Imports ``module.Name`` named by a config, after :func:`check_import` (the only way lightcli imports one).

    Raises:
        ConfigError: The path is outside the allowlist (nothing is imported).
        ImportError: Its module cannot be imported.
        AttributeError: The module has no such name.
    """
    check_import(path, key)
    module_name, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


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
