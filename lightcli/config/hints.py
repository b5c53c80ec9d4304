"""The one reader of type hints: what a hint's parts are, for the checker, the messages and the schema.

:class:`~lightcli.config.typecheck.Checker`, :func:`~lightcli.config.problems.describe_type` and the
JSON Schema builder (:mod:`lightcli.tools.schematypes`) all take hints apart with these functions, so
they agree on what a union, a list, a mapping, a callable or a class is. The parameters of a class are
jsonargparse's (:func:`parameters`), as the parser sees them.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

from jsonargparse import Path as _CheckedPath
from jsonargparse._parameter_resolvers import get_signature_parameters

__all__ = [
    "callable_parts",
    "fixed_items",
    "is_abc",
    "is_callable",
    "is_checked_path",
    "is_class",
    "is_dataclass_type",
    "is_mapping",
    "is_optional",
    "is_sequence",
    "is_tensor",
    "item_type",
    "literal_options",
    "members",
    "parameters",
    "returned_classes",
    "union_args",
    "value_type",
]

_SEQUENCE_ABCS = ("Sequence", "Iterable", "MutableSequence")
_MAPPING_ABCS = ("Mapping", "MutableMapping")


def union_args(hint: Any) -> tuple[Any, ...] | None:
    """The members of a union (``X | None`` included), or None when ``hint`` is not a union."""
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(hint)
    return None


def members(hint: Any) -> tuple[Any, ...]:
    """The members of a union, or ``(hint,)`` for any other hint."""
    args = union_args(hint)
    return (hint,) if args is None else args


def is_optional(hint: Any) -> bool:
    """Whether ``hint`` is a union that accepts None."""
    return type(None) in (union_args(hint) or ())


def is_abc(origin: Any, names: tuple[str, ...]) -> bool:
    """Whether ``origin`` is one of the named ``collections.abc`` classes."""
    return getattr(origin, "__module__", "") == "collections.abc" and getattr(origin, "__name__", "") in names


def is_sequence(hint: Any) -> bool:
    """A list, tuple, set or sequence hint with its item type (``list[int]``, ``Sequence[str]``...)."""
    origin = typing.get_origin(hint)
    return origin in (list, tuple, set, frozenset) or is_abc(origin, _SEQUENCE_ABCS)


def is_mapping(hint: Any) -> bool:
    """A dict or mapping hint with its key and value types (``dict[str, int]``, ``Mapping[str, Any]``)."""
    origin = typing.get_origin(hint)
    return origin is dict or is_abc(origin, _MAPPING_ABCS)


def fixed_items(hint: Any) -> tuple[Any, ...] | None:
    """The item types of a fixed-length tuple (``tuple[int, str]``), else None (``tuple[int, ...]`` too)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and args and args[-1] is not Ellipsis:
        return args
    return None


def item_type(hint: Any) -> Any:
    """The item type of a sequence hint (``Any`` when not given)."""
    args = typing.get_args(hint)
    return args[0] if args else Any


def value_type(hint: Any) -> Any:
    """The value type of a mapping hint (``Any`` when not given)."""
    args = typing.get_args(hint)
    return args[1] if len(args) == 2 else Any


def literal_options(hint: Any) -> tuple[Any, ...] | None:
    """The options of a ``Literal``, or of a union of several Literals (None allowed or not); else None."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    args = union_args(hint)
    if args is None:
        return None
    literals = [a for a in args if typing.get_origin(a) is Literal]
    if len(literals) > 1 and len(literals) == len([a for a in args if a is not type(None)]):
        return tuple(o for a in literals for o in typing.get_args(a))
    return None


def is_callable(hint: Any) -> bool:
    """Whether ``hint`` is a ``Callable`` (bare or with its parameters and return type)."""
    return is_abc(typing.get_origin(hint), ("Callable",)) or hint is typing.Callable or hint is Callable


def callable_parts(hint: Any) -> tuple[Any, Any]:
    """The parameters (a list, or ``...``) and the return type of a ``Callable`` hint."""
    args = typing.get_args(hint)
    if len(args) == 2:
        return args[0], args[1]
    return Ellipsis, args[-1] if args else Any


def returned_classes(hint: Any) -> tuple[type, ...]:
    """The classes a ``Callable`` hint returns (the members of a union of them), ``object`` and ``Any`` left out."""
    returns = callable_parts(hint)[1]
    return tuple(r for r in members(returns) if isinstance(r, type) and r not in (object, Any))


def is_checked_path(hint: Any) -> bool:
    """A jsonargparse path type (``Path_fr``, ``path_type("dr")``...), checked when parsed."""
    return isinstance(hint, type) and issubclass(hint, _CheckedPath)


def is_tensor(hint: Any) -> bool:
    """Whether ``hint`` is ``torch.Tensor`` (recognised by name: this module does not import torch)."""
    return isinstance(hint, type) and hint.__name__ == "Tensor" and hint.__module__.startswith("torch")


def is_dataclass_type(hint: Any) -> bool:
    """Whether ``hint`` is a dataclass (its fields are given as a mapping, without class_path)."""
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def is_class(hint: Any) -> bool:
    """Whether ``hint`` is a class given by class_path (or a dataclass), not a builtin or typing construct."""
    return inspect.isclass(hint) and hint.__module__ not in ("builtins", "typing", "datetime")


def parameters(cls: Any) -> list[Any]:
    """The parameters jsonargparse accepts for ``cls`` (``**kwargs`` followed as the parser does).

    ``*args`` and ``**kwargs`` themselves are left out.

    Raises:
        Exception: Whatever jsonargparse's resolver raises for a class it cannot read.
    """
    params = get_signature_parameters(cls, None, logger=False)
    return [p for p in params if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
