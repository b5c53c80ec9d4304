"""Checks a merged user config against the type hints of the parser and of every class_path.

It runs after jsonargparse has rejected a config, to find *every* problem and to name each one by
the key the user wrote, with a "did you mean" where a name is close to a known one. jsonargparse
stays the authority on what is valid: this module only explains.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import pathlib
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

from lightcli.config.classpaths import ClassPathError, example_class, is_subclass, resolve_class, use_subclass, what
from lightcli.config.problems import Problem, describe_type, describe_value, suggest, type_name
from lightcli.config.sources import Sources
from lightcli.upstream.jsonargparse import path_mode, signature_parameters

__all__ = ["Checker", "resolve_class"]

_GLUED = re.compile(r"^[A-Za-z_]\w*:\S")
_CLASS_KEYS = ("class_path", "init_args", "dict_kwargs", "__path__")
_EMPTY = inspect.Parameter.empty


def _params(cls: Any) -> list[Any]:
    try:
        params = signature_parameters(cls, logger=False)
    except Exception:
        return []
    return [p for p in params if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


class Checker:
    """Walks a user config tree next to the type hints, collecting :class:`Problem` s.

    Args:
        sources: The merged config with the origin of each key.
    """

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def problem(self, key: str, expected: str, got: str, fix: str) -> Problem:
        """A problem at ``key``, with the file or command line it came from."""
        return Problem(key, expected, got, fix, self.sources.origin(key))

    # -- dispatch --------------------------------------------------------------------------------------

    def check(self, value: Any, hint: Any, key: str, default_class: Any = None) -> list[Problem]:
        """The problems of ``value`` given where ``hint`` is expected."""
        if key in self.sources.skipped or hint in (Any, object, _EMPTY) or isinstance(hint, (str, typing.TypeVar)):
            return []
        glued = [k for k in value if isinstance(k, str) and _GLUED.match(k)] if isinstance(value, dict) else []
        if glued:  # {class_path:x} is one key in YAML: the space after the colon is missing
            name, _, rest = glued[0].partition(":")
            origin = self.sources.origins.get(f"{key}.{glued[0]}") or self.sources.origin(key)
            expected = "`name: value` with a space after the colon"
            return [
                Problem(
                    f"{key}.{name}", expected, repr(glued[0]), f"Write {name}: {rest} (YAML needs the space).", origin
                )
            ]
        origin = typing.get_origin(hint)
        if origin is Union or origin is types.UnionType:
            return self._union(value, hint, key, default_class)
        if origin is Literal:
            return self._literal(value, hint, key)
        if hint is type(None):
            return [] if value is None else [self._mismatch(value, hint, key)]
        if hint in (bool, int, float, str) or hint in (pathlib.Path, pathlib.PurePath):
            return self._scalar(value, hint, key)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            ok = value in hint.__members__ or value in [m.value for m in hint]
            return [] if ok else [self._mismatch(value, hint, key, suggest(str(value), hint.__members__))]
        if origin in (list, tuple, set, frozenset) or _abc(origin, ("Sequence", "Iterable", "MutableSequence")):
            return self._sequence(value, hint, key)
        if origin is dict or _abc(origin, ("Mapping", "MutableMapping")):
            return self._mapping(value, hint, key)
        if _abc(origin, ("Callable",)) or hint is typing.Callable or hint is Callable:
            return self._callable(value, hint, key)
        if _is_path_type(hint):
            return self._path(value, hint, key)
        if _is_tensor(hint):
            ok = isinstance(value, (int, float, list)) and not isinstance(value, bool)
            return [] if ok else [self._mismatch(value, hint, key)]
        if inspect.isclass(hint) and hint.__module__ not in ("builtins", "typing", "datetime"):
            return self._class(value, hint, key, default_class)
        return []

    def _mismatch(self, value: Any, hint: Any, key: str, extra: str = "") -> Problem:
        return self.problem(key, describe_type(hint), describe_value(value), _fix_for(hint, key) + extra)

    # -- simple types ------------------------------------------------------------------------------------

    def _scalar(self, value: Any, hint: Any, key: str) -> list[Problem]:
        if hint is bool:
            ok = isinstance(value, bool)
        elif hint is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif hint is float:
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) or _is_number_text(value)
        else:  # str and paths: jsonargparse also accepts numbers written without quotes
            ok = isinstance(value, (str, int, float)) and not isinstance(value, bool)
        return [] if ok else [self._mismatch(value, hint, key)]

    def _path(self, value: Any, hint: Any, key: str) -> list[Problem]:
        mode = path_mode(hint)
        what = "an existing directory" if "d" in mode.lower() else "a file path"
        if "r" in mode and "f" in mode:
            what = "an existing readable file"
        if not isinstance(value, (str, pathlib.PurePath)):
            return [self.problem(key, what, describe_value(value), "Write the path as text.")]
        try:
            hint(str(value))
        except (TypeError, ValueError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "not accepted"
            return [
                self.problem(
                    key,
                    what,
                    f"{str(value)!r} ({reason.rstrip('.')})",
                    "Check the path; relative paths start from the working directory.",
                )
            ]
        return []

    def _literal(self, value: Any, hint: Any, key: str) -> list[Problem]:
        options = typing.get_args(hint)
        if any(value == o and type(value) is type(o) for o in options):
            return []
        return [self._mismatch(value, hint, key, suggest(str(value), [str(o) for o in options]))]

    def _union(self, value: Any, hint: Any, key: str, default_class: Any) -> list[Problem]:
        args = typing.get_args(hint)
        literals = [a for a in args if typing.get_origin(a) is Literal]
        if len(literals) > 1 and len(literals) == len([a for a in args if a is not type(None)]):
            options = tuple(o for a in literals for o in typing.get_args(a))
            if value is None and type(None) in args:
                return []
            return self._literal(value, Literal[options], key)
        if value is None and type(None) in args:
            return []
        tried: list[tuple[tuple[int, int], list[Problem]]] = []
        for arg in args:
            if arg is type(None):
                continue
            problems = self.check(value, arg, key, default_class)
            if not problems:
                return []
            if _shape_matches(value, arg, default_class):
                depth = max(p.key.count(".") + p.key.count("[") for p in problems)
                tried.append(((depth, -len(problems)), problems))
        if not tried:
            return [self._mismatch(value, hint, key)]
        return max(tried, key=lambda t: t[0])[1]

    def _sequence(self, value: Any, hint: Any, key: str) -> list[Problem]:
        if not isinstance(value, list):
            return [self._mismatch(value, hint, key)]
        inner = typing.get_args(hint)
        problems: list[Problem] = []
        if typing.get_origin(hint) is tuple and inner and inner[-1] is not Ellipsis:
            if len(inner) != len(value):
                return [
                    self.problem(key, describe_type(hint), describe_value(value), f"Give exactly {len(inner)} items.")
                ]
            for i, (item, item_hint) in enumerate(zip(value, inner, strict=False)):
                problems += self.check(item, item_hint, f"{key}[{i}]")
            return problems
        item_hint = inner[0] if inner else Any
        for i, item in enumerate(value):
            problems += self.check(item, item_hint, f"{key}[{i}]")
        return problems

    def _mapping(self, value: Any, hint: Any, key: str) -> list[Problem]:
        if not isinstance(value, dict) or "class_path" in value:
            return [self._mismatch(value, hint, key)]
        inner = typing.get_args(hint)
        value_hint = inner[1] if len(inner) == 2 else Any
        problems: list[Problem] = []
        for name, item in value.items():
            problems += self.check(item, value_hint, f"{key}.{name}")
        return problems

    # -- classes -------------------------------------------------------------------------------------

    def _class(self, value: Any, hint: type, key: str, default_class: Any) -> list[Problem]:
        if dataclasses.is_dataclass(hint) and isinstance(value, dict) and "class_path" not in value:
            return self._class_arguments(hint, value, key, skip=0)
        if isinstance(value, str):
            value = {"class_path": value}
        if not isinstance(value, dict):
            return [self._mismatch(value, hint, key)]
        path = value.get("class_path", default_class)
        if path is None:
            return [
                self.problem(
                    key,
                    describe_type(hint),
                    describe_value(value) + " and no class_path",
                    f"Add class_path, e.g. {_leaf(key)}: {{class_path: {example_class(hint)}, init_args: {{...}}}}.",
                )
            ]
        if not isinstance(path, str):
            return [
                self.problem(f"{key}.class_path", "an import path string", describe_value(path), "Write module.Class.")
            ]
        try:
            cls = resolve_class(path, hint)
        except ClassPathError as error:
            return [self.problem(f"{key}.class_path", error.expected, error.got, error.fix)]
        if not is_subclass(cls, hint):
            return [
                self.problem(
                    f"{key}.class_path",
                    f"a subclass of {type_name(hint)}",
                    f"{path!r} ({what(cls)})",
                    use_subclass(hint),
                )
            ]
        return self._class_arguments(cls, value, key, skip=0)

    def _class_arguments(self, cls: Any, value: dict[str, Any], key: str, skip: int) -> list[Problem]:
        init = value.get("init_args")
        if init is None:
            init = {}
        if not isinstance(init, dict):
            return [
                self.problem(
                    f"{key}.init_args",
                    "a mapping of argument names to values",
                    describe_value(init),
                    "Write init_args: {name: value, ...}.",
                )
            ]
        extra = "dict_kwargs" in value
        flat = {k: v for k, v in value.items() if k not in _CLASS_KEYS}
        problems = self._arguments(cls, init, f"{key}.init_args", skip, allow_extra=extra)
        problems += self._arguments(cls, flat, key, skip, allow_extra=extra)
        given = {str(k) for k in [*init, *flat]}
        name = type_name(cls)
        for param in _params(cls)[skip:]:
            if param.default is _EMPTY and param.name not in given:
                where = f"{key}.init_args" if init or not flat else key
                problems.append(
                    self.problem(
                        f"{where}.{param.name}",
                        f"a value for this required argument of {name} ({describe_type(param.annotation)})",
                        "nothing",
                        f"Add {param.name}: <value> under {where}.",
                    )
                )
        return problems

    def _arguments(
        self, cls: Any, given: dict[str, Any], key: str, skip: int, allow_extra: bool = False
    ) -> list[Problem]:
        params = _params(cls)[skip:]
        by_name: dict[str, Any] = {}
        for param in params:
            by_name[param.name] = param
            for alias in getattr(param, "aliases", None) or ():
                by_name[alias] = param
        problems: list[Problem] = []
        for arg, item in given.items():
            arg = str(arg)
            param = by_name.get(arg)
            if param is not None:
                problems += self.check(item, param.annotation, f"{key}.{arg}")
            elif not allow_extra:
                hint = suggest(arg, by_name)
                accepted = ", ".join(p.name for p in params) or "none"
                problems.append(
                    self.problem(
                        f"{key}.{arg}",
                        f"an argument of {type_name(cls)} ({accepted})",
                        f"the unknown key {arg!r}",
                        f"Remove it or fix its name.{hint}" if hint else "Remove it or fix its name.",
                    )
                )
        return problems

    def _callable(self, value: Any, hint: Any, key: str) -> list[Problem]:
        args = typing.get_args(hint)
        returns = args[-1] if args else Any
        runtime = args[0] if args else Ellipsis
        skip = len(runtime) if isinstance(runtime, list) else 0
        if isinstance(value, str):
            try:
                resolve_class(value)
            except ClassPathError as error:
                return [
                    self.problem(
                        key, error.expected.replace("importable class path", "importable path"), error.got, error.fix
                    )
                ]
            return []
        if not isinstance(value, dict) or "class_path" not in value:
            return [self._mismatch(value, hint, key)]
        path = value["class_path"]
        if not isinstance(path, str):
            return [
                self.problem(f"{key}.class_path", "an import path string", describe_value(path), "Write module.Class.")
            ]
        bases = [r for r in _union_members(returns) if isinstance(r, type) and r not in (object, Any)]
        try:
            cls = resolve_class(path, bases[0] if len(bases) == 1 else None)
        except ClassPathError as error:
            return [self.problem(f"{key}.class_path", error.expected, error.got, error.fix)]
        base = next((b for b in bases if is_subclass(cls, b)), None)
        if base is not None:
            return self._class_arguments(cls, value, key, skip)
        base = bases[0] if bases else None
        if not inspect.isclass(cls):
            return []
        if base is not None and not any("__call__" in vars(c) for c in cls.__mro__[:-1]):
            return [
                self.problem(
                    f"{key}.class_path",
                    f"a subclass of {type_name(base)}",
                    f"{path!r} ({what(cls)})",
                    use_subclass(base),
                )
            ]
        return self._class_arguments(cls, value, key, 0)


def _union_members(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _is_path_type(hint: Any) -> bool:
    """A jsonargparse path type (``Path_fr``, ``path_type("dr")``...), checked when parsed."""
    from jsonargparse import Path as CheckedPath

    return isinstance(hint, type) and issubclass(hint, CheckedPath)


def _is_tensor(hint: Any) -> bool:
    return isinstance(hint, type) and hint.__name__ == "Tensor" and hint.__module__.startswith("torch")


def _abc(origin: Any, names: tuple[str, ...]) -> bool:
    return getattr(origin, "__module__", "") == "collections.abc" and getattr(origin, "__name__", "") in names


def _is_number_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def _shape_matches(value: Any, hint: Any, default_class: Any) -> bool:
    origin = typing.get_origin(hint)
    if isinstance(value, dict):
        if origin is dict or _abc(origin, ("Mapping", "MutableMapping")):
            return "class_path" not in value
        if _abc(origin, ("Callable",)) or hint is Callable:
            return "class_path" in value
        if inspect.isclass(hint) and hint.__module__ != "builtins":
            if dataclasses.is_dataclass(hint):
                return True
            return "class_path" in value or default_class is not None
        return False
    if isinstance(value, list):
        return origin in (list, tuple, set) or _abc(origin, ("Sequence", "Iterable", "MutableSequence"))
    if isinstance(value, str):
        if origin is Literal:
            return any(isinstance(o, str) for o in typing.get_args(hint))
        if hint is str or hint in (pathlib.Path, pathlib.PurePath):
            return True
        looks_like_class = bool(re.match(r"^[A-Za-z_][\w.]*$", value)) and ("." in value or value[:1].isupper())
        return looks_like_class and (
            _abc(origin, ("Callable",))
            or (inspect.isclass(hint) and hint.__module__ != "builtins" and not _is_tensor(hint))
        )
    if isinstance(value, bool):
        return hint is bool or (origin is Literal and any(isinstance(o, bool) for o in typing.get_args(hint)))
    if isinstance(value, (int, float)):
        return hint in (int, float) or origin is Literal or _is_tensor(hint)
    return False


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _fix_for(hint: Any, key: str) -> str:
    leaf = _leaf(key).split("[")[0]
    if key.endswith("]") and typing.get_origin(hint) not in (Union, types.UnionType):
        return f"Write {describe_type(hint)} there."
    if typing.get_origin(hint) in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None) and not _is_tensor(a)]
        if len(inner) == 1:
            return _fix_for(inner[0], key)
        return "Give a value of one of these kinds."
    if hint is int:
        return f"Write a whole number, e.g. {leaf}: 10."
    if hint is float:
        return f"Write a number without quotes, e.g. {leaf}: 0.001."
    if hint is bool:
        return f"Write true or false, e.g. {leaf}: true."
    if hint is str:
        return f"Write text, e.g. {leaf}: name."
    if typing.get_origin(hint) is Literal:
        return "Use one of the listed values."
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "Use one of the listed names."
    origin = typing.get_origin(hint)
    if origin in (list, tuple, set) or _abc(origin, ("Sequence", "Iterable", "MutableSequence")):
        return f"Write a YAML list, e.g. {leaf}: [...]."
    if origin is dict or _abc(origin, ("Mapping", "MutableMapping")):
        return f"Write a mapping of names to values under {leaf}:."
    if _abc(origin, ("Callable",)) or hint is Callable:
        return f"Write {leaf}: {{class_path: module.Class, init_args: {{...}}}}."
    if dataclasses.is_dataclass(hint):
        return f"Write the fields of {type_name(hint)} under {leaf}:."
    if inspect.isclass(hint):
        return f"Write {leaf}: {{class_path: {example_class(hint)}, init_args: {{...}}}}."
    return "Fix the value."
