"""What a rejected value looks like next to its type hint: the union member the user meant, and the fix to suggest."""

from __future__ import annotations

import enum
import inspect
import pathlib
import re
import typing
from typing import Any, Literal

from lightcli.config import hints
from lightcli.config.classpaths import example_class
from lightcli.config.problems import describe_type, type_name

__all__ = ["fix_for", "leaf", "shape_matches"]


def shape_matches(value: Any, hint: Any, default_class: Any) -> bool:
    """Whether ``value`` has the shape of ``hint`` (a mapping for a class, a list for a list...).

    Of the members of a union that reject a value, the ones whose shape it has are the ones the user meant.
    """
    origin = typing.get_origin(hint)
    if isinstance(value, dict):
        if hints.is_mapping(hint):
            return "class_path" not in value
        if hints.is_callable(hint):
            return "class_path" in value
        if inspect.isclass(hint) and hint.__module__ != "builtins":
            if hints.is_dataclass_type(hint):
                return True
            return "class_path" in value or default_class is not None
        return False
    if isinstance(value, list):
        return hints.is_sequence(hint)
    if isinstance(value, str):
        if origin is Literal:
            return any(isinstance(o, str) for o in typing.get_args(hint))
        if hint is str or hint in (pathlib.Path, pathlib.PurePath):
            return True
        looks_like_class = bool(re.match(r"^[A-Za-z_][\w.]*$", value)) and ("." in value or value[:1].isupper())
        return looks_like_class and (
            hints.is_callable(hint)
            or (inspect.isclass(hint) and hint.__module__ != "builtins" and not hints.is_tensor(hint))
        )
    if isinstance(value, bool):
        return hint is bool or (origin is Literal and any(isinstance(o, bool) for o in typing.get_args(hint)))
    if isinstance(value, (int, float)):
        return hint in (int, float) or origin is Literal or hints.is_tensor(hint)
    return False


def leaf(key: str) -> str:
    """The last part of a dotted key (``lr`` of ``system.optimizer.init_args.lr``)."""
    return key.rsplit(".", 1)[-1]


def fix_for(hint: Any, key: str) -> str:
    """The fix to suggest for a value of the wrong kind at ``key``, where ``hint`` is expected."""
    name = leaf(key).split("[")[0]
    args = hints.union_args(hint)
    if key.endswith("]") and args is None:
        return f"Write {describe_type(hint)} there."
    if args is not None:
        inner = [a for a in args if a is not type(None) and not hints.is_tensor(a)]
        if len(inner) == 1:
            return fix_for(inner[0], key)
        return "Give a value of one of these kinds."
    if hint is int:
        return f"Write a whole number, e.g. {name}: 10."
    if hint is float:
        return f"Write a number without quotes, e.g. {name}: 0.001."
    if hint is bool:
        return f"Write true or false, e.g. {name}: true."
    if hint is str:
        return f"Write text, e.g. {name}: name."
    if typing.get_origin(hint) is Literal:
        return "Use one of the listed values."
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "Use one of the listed names."
    if hints.is_sequence(hint):
        return f"Write a YAML list, e.g. {name}: [...]."
    if hints.is_mapping(hint):
        return f"Write a mapping of names to values under {name}:."
    if hints.is_callable(hint):
        return f"Write {name}: {{class_path: module.Class, init_args: {{...}}}}."
    if hints.is_dataclass_type(hint):
        return f"Write the fields of {type_name(hint)} under {name}:."
    if inspect.isclass(hint):
        return f"Write {name}: {{class_path: {example_class(hint)}, init_args: {{...}}}}."
    return "Fix the value."
