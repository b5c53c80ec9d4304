"""Shared values: ``${dotted.key}`` in a config value is the value of another key, resolved before validation.

::

    trainer:
      max_epochs: 10
    system:
      scheduler:
        class_path: torch.optim.lr_scheduler.CosineAnnealingLR
        init_args: {T_max: ${trainer.max_epochs}}

A value that is one reference (``${trainer.max_epochs}``) takes the referenced value as it is (an int
stays an int, a mapping is copied); a reference inside a longer string (``run_${trainer.max_epochs}``)
is replaced by the referenced scalar's text. References are resolved on the merged config: every
``--config`` file and every ``--key value`` on the command line, so ``--trainer.max_epochs 6`` moves
``T_max`` too. They name keys given in the config files or on the command line (a list item by its
index: ``${system.metrics.val.0}``), and they are resolved before jsonargparse checks the config, so
the resolved values are type-checked like any other; ``--print_config`` and the run folder's
``config.yaml`` show them resolved.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import yaml

from lightcli.config.files import read_text
from lightcli.config.problems import Problem, describe_value, suggest

__all__ = ["REFERENCE", "has_references", "resolve_references", "resolve_text", "resolved_arguments", "resolved_reader"]

REFERENCE = re.compile(r"\$\{([^${}]*)\}")
"""``${dotted.key}``: a reference to another key's value."""

_SCALARS = (str, int, float, bool, type(None))
_MISSING = object()


def has_references(value: Any) -> bool:
    """Whether a value (a tree of mappings and lists) holds a ``${...}`` reference anywhere."""
    if isinstance(value, str):
        return REFERENCE.search(value) is not None
    if isinstance(value, dict):
        return any(has_references(v) for v in value.values())
    if isinstance(value, list):
        return any(has_references(v) for v in value)
    return False


def _lookup(tree: Any, key: str) -> Any:
    node = tree
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _text(value: Any) -> str:
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _keys(tree: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a tree (list items by index)."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    found = []
    for key, value in items:
        dotted = f"{prefix}{key}"
        found += [dotted, *_keys(value, f"{dotted}.")]
    return found


class _Resolver:
    """Resolves the references of one merged config, each key once, following references of references."""

    def __init__(self, tree: dict[str, Any], origin: Callable[[str], str | None]) -> None:
        self.tree = tree
        self.origin = origin
        self.problems: list[Problem] = []
        self._done: dict[str, Any] = {}
        self._trail: list[str] = []

    def value(self, key: str, value: Any) -> Any:
        """``value`` (found at ``key``) with every reference in it resolved; problems are collected."""
        if isinstance(value, dict):
            return {k: self.value(f"{key}.{k}", v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(f"{key}.{i}", v) for i, v in enumerate(value)]
        if not isinstance(value, str) or REFERENCE.search(value) is None:
            return value
        whole = REFERENCE.fullmatch(value.strip())
        if whole is not None:
            return self._target(key, whole.group(1).strip(), value)
        parts = []
        for text, target in zip(REFERENCE.split(value)[::2], [*REFERENCE.findall(value), None], strict=True):
            parts.append(text)
            if target is None:
                break
            resolved = self._target(key, target.strip(), value)
            if resolved is _MISSING:
                return _MISSING
            if not isinstance(resolved, _SCALARS):
                self._problem(
                    key,
                    "a reference to a single value (a number, a string, true/false) inside a string",
                    f"${{{target.strip()}}}, {describe_value(resolved)}, in {value!r}",
                    f"Make the whole value the reference ({key}: ${{{target.strip()}}}) to share a mapping or list.",
                )
                return _MISSING
            parts.append(_text(resolved))
        return "".join(parts)

    def _target(self, key: str, target: str, written: str) -> Any:
        if target in self._done:
            return copy.deepcopy(self._done[target])
        if target in self._trail or target == key:
            cycle = [*self._trail[self._trail.index(target) :], target] if target in self._trail else [key, target]
            self._problem(
                key,
                "references that end at a value",
                f"{written!r}, a cycle: {' -> '.join(cycle)}",
                "Give one of these keys a value instead of a reference.",
            )
            return _MISSING
        found = _lookup(self.tree, target)
        if found is _MISSING:
            near = suggest(target, _keys(self.tree), prefix="", quote=False).removesuffix("?")
            self._problem(
                key,
                "a reference to a key given in the config files or on the command line",
                f"{written!r} ({target} is not given)",
                f"Did you mean ${{{near}}}?" if near else f"Set {target} in the config to share its value.",
            )
            return _MISSING
        self._trail.append(target)
        try:
            resolved = self.value(target, found)
        finally:
            self._trail.pop()
        if resolved is not _MISSING:
            self._done[target] = resolved
        return copy.deepcopy(resolved)

    def _problem(self, key: str, expected: str, got: str, fix: str) -> None:
        if not any(p.key == key for p in self.problems):
            self.problems.append(Problem(key, expected, got, fix, self.origin(key)))


def resolve_references(
    tree: dict[str, Any], origin: Callable[[str], str | None] = lambda key: None
) -> tuple[dict[str, Any], list[Problem]]:
    """The merged config with every ``${dotted.key}`` resolved, and a problem for each that cannot be.

    Args:
        tree: The merged config (config files and command-line values), nested as in YAML.
        origin: Where a dotted key was set (for the problems).

    Returns:
        The resolved config (``tree`` itself when it holds no reference) and the problems (unknown keys,
        with the closest known key; cycles; a mapping or list referenced inside a string), each naming the key
        that holds the reference.
    """
    if not has_references(tree):
        return tree, []
    resolver = _Resolver(tree, origin)
    resolved = {key: resolver.value(key, value) for key, value in tree.items()}
    return resolved, resolver.problems


def resolve_text(value: Any, resolved: dict[str, Any]) -> Any:
    """``value`` (a part of a config file or a command-line value) with its references taken from ``resolved``.

    ``resolved`` is the merged config returned by :func:`resolve_references` without problems.
    """
    resolver = _Resolver(resolved, lambda key: None)
    result = resolver.value("", value)
    return value if result is _MISSING else result


def resolved_reader(resolved: dict[str, Any], base: Callable[[str], str] = read_text) -> Callable[[str], str]:
    """A reader of config files (for jsonargparse) that gives each file's text with its references resolved.

    A file without references is given as ``base`` reads it; the references of one are taken from ``resolved``
    (the merged config), so jsonargparse checks the resolved values.
    """

    def read(path: str) -> str:
        text = base(path)
        if REFERENCE.search(text) is None:
            return text
        try:
            content = yaml.safe_load(text)
        except yaml.YAMLError:
            return text  # jsonargparse reports it
        return yaml.safe_dump(resolve_text(content, resolved), sort_keys=False)

    return read


def resolved_arguments(args: list[str], resolved: dict[str, Any]) -> list[str]:
    """Command-line arguments with the references in ``--key value`` values taken from ``resolved``."""
    out = []
    for arg in args:
        if REFERENCE.search(arg) is None:
            out.append(arg)
            continue
        name, equals, value = arg.partition("=")
        if equals and name.startswith("--"):
            out.append(f"{name}={_argument(resolve_text(value, resolved))}")
        else:
            out.append(_argument(resolve_text(arg, resolved)))
    return out


def _argument(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
