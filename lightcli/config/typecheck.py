"""Checks a merged user config against the type hints of the parser and of every class_path.

It runs after jsonargparse has rejected a config, to find *every* problem and to name each one by
the key the user wrote, with a "did you mean" where a name is close to a known one. jsonargparse
stays the authority on what is valid: this module only explains.
"""

from __future__ import annotations

import enum
import inspect
import pathlib
import re
import typing
from typing import Any, Literal

from lightcli.config import hints
from lightcli.config.classpaths import (
    accepting,
    example_class,
    is_subclass,
    loader_instead,
    resolve_class,
    use_subclass,
    what,
)
from lightcli.config.problems import ConfigError, Problem, describe_type, describe_value, suggest, type_name
from lightcli.config.shapes import fix_for, leaf, shape_matches
from lightcli.config.sources import Sources
from lightcli.upstream.jsonargparse import path_mode

__all__ = ["Checker", "resolve_class"]

_GLUED = re.compile(r"^[A-Za-z_]\w*:\S")
_CLASS_KEYS = ("class_path", "init_args", "dict_kwargs", "__path__")
_EMPTY = inspect.Parameter.empty


def _params(cls: Any) -> list[Any]:
    try:
        return hints.parameters(cls)
    except Exception:  # a class the resolver cannot read: its arguments are not checked
        return []


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

    def _unresolved(self, error: ConfigError, key: str, function: bool = False) -> Problem:
        """The problem of a class path :func:`resolve_class` refused, at ``key``."""
        found = error.problems[0]
        expected = found.expected.replace("importable class path", "importable path") if function else found.expected
        return self.problem(key, expected, found.got, found.fix)

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
        if hints.union_args(hint) is not None:
            return self._union(value, hint, key, default_class)
        if typing.get_origin(hint) is Literal:
            return self._literal(value, hint, key)
        if hint is type(None):
            return [] if value is None else [self._mismatch(value, hint, key)]
        if hint in (bool, int, float, str) or hint in (pathlib.Path, pathlib.PurePath):
            return self._scalar(value, hint, key)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            ok = value in hint.__members__ or value in [m.value for m in hint]
            return [] if ok else [self._mismatch(value, hint, key, suggest(str(value), hint.__members__))]
        if hints.is_sequence(hint):
            return self._sequence(value, hint, key)
        if hints.is_mapping(hint):
            return self._mapping(value, hint, key)
        if hints.is_callable(hint):
            return self._callable(value, hint, key)
        if hints.is_checked_path(hint):
            return self._path(value, hint, key)
        if hints.is_tensor(hint):
            ok = isinstance(value, (int, float, list)) and not isinstance(value, bool)
            return [] if ok else [self._mismatch(value, hint, key)]
        if hints.is_class(hint):
            return self._class(value, hint, key, default_class)
        return []

    def _mismatch(self, value: Any, hint: Any, key: str, extra: str = "") -> Problem:
        return self.problem(key, describe_type(hint), describe_value(value), fix_for(hint, key) + extra)

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
        options = hints.literal_options(hint) or ()
        if any(value == o and type(value) is type(o) for o in options):
            return []
        return [self._mismatch(value, hint, key, suggest(str(value), [str(o) for o in options]))]

    def _union(self, value: Any, hint: Any, key: str, default_class: Any) -> list[Problem]:
        args = hints.members(hint)
        options = hints.literal_options(hint)
        if options is not None:  # several Literals: one list of options
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
            if shape_matches(value, arg, default_class):
                depth = max(p.key.count(".") + p.key.count("[") for p in problems)
                tried.append(((depth, -len(problems)), problems))
        if not tried:
            return [self._mismatch(value, hint, key)]
        return max(tried, key=lambda t: t[0])[1]

    def _sequence(self, value: Any, hint: Any, key: str) -> list[Problem]:
        if not isinstance(value, list):
            return [self._mismatch(value, hint, key)]
        fixed = hints.fixed_items(hint)
        problems: list[Problem] = []
        if fixed is not None:
            if len(fixed) != len(value):
                return [
                    self.problem(key, describe_type(hint), describe_value(value), f"Give exactly {len(fixed)} items.")
                ]
            for i, (item, item_hint) in enumerate(zip(value, fixed, strict=False)):
                problems += self.check(item, item_hint, f"{key}[{i}]")
            return problems
        item_hint = hints.item_type(hint)
        for i, item in enumerate(value):
            problems += self.check(item, item_hint, f"{key}[{i}]")
        return problems

    def _mapping(self, value: Any, hint: Any, key: str) -> list[Problem]:
        if not isinstance(value, dict) or "class_path" in value:
            return [self._mismatch(value, hint, key)]
        value_hint = hints.value_type(hint)
        problems: list[Problem] = []
        for name, item in value.items():
            problems += self.check(item, value_hint, f"{key}.{name}")
        return problems

    # -- classes -------------------------------------------------------------------------------------

    def _class(self, value: Any, hint: type, key: str, default_class: Any) -> list[Problem]:
        if hints.is_dataclass_type(hint) and isinstance(value, dict) and "class_path" not in value:
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
                    f"Add class_path, e.g. {leaf(key)}: {{class_path: {example_class(hint)}, init_args: {{...}}}}.",
                )
            ]
        if not isinstance(path, str):
            return [
                self.problem(f"{key}.class_path", "an import path string", describe_value(path), "Write module.Class.")
            ]
        try:
            cls = resolve_class(path, hint)
        except ConfigError as error:
            return [self._unresolved(error, f"{key}.class_path")]
        if not is_subclass(cls, hint) and _is_dataloader_class(cls):
            return self._dataloader(path, value, key)
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
                hint = suggest(arg, by_name) or _taken_by(arg, cls)
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
        runtime = hints.callable_parts(hint)[0]
        skip = len(runtime) if isinstance(runtime, list) else 0
        if isinstance(value, str):
            try:
                resolve_class(value)
            except ConfigError as error:
                return [self._unresolved(error, key, function=True)]
            return []
        if not isinstance(value, dict) or "class_path" not in value:
            return [self._mismatch(value, hint, key)]
        path = value["class_path"]
        if not isinstance(path, str):
            return [
                self.problem(f"{key}.class_path", "an import path string", describe_value(path), "Write module.Class.")
            ]
        bases = list(hints.returned_classes(hint))
        try:
            cls = resolve_class(path, bases[0] if len(bases) == 1 else None)
        except ConfigError as error:
            return [self._unresolved(error, f"{key}.class_path")]
        base = next((b for b in bases if is_subclass(cls, b)), None)
        if base is not None and _is_dataloader_class(cls):
            return self._dataloader(path, value, key)
        if base is not None:
            return self._class_arguments(cls, value, key, skip)
        base = bases[0] if bases else None
        if not inspect.isclass(cls):
            return self._function_arguments(cls, path, value, key, skip)
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

    def _dataloader(self, path: str, value: dict[str, Any], key: str) -> list[Problem]:
        """A DataLoader class given as a loader (built at once, with its dataset): the Loader YAML that works."""
        init: dict[str, Any] = value["init_args"] if isinstance(value.get("init_args"), dict) else {}
        expected = "a lightcli.Loader or a function that returns a DataLoader"
        return [
            self.problem(f"{key}.class_path", expected, f"{path!r} (a DataLoader class)", loader_instead(path, init))
        ]

    def _function_arguments(self, fn: Any, path: str, value: dict[str, Any], key: str, skip: int) -> list[Problem]:
        """A function given by class_path with init_args where the value is called with arguments (a transform):
        jsonargparse refuses its init_args; a class that takes them is what works."""
        init = value.get("init_args")
        if skip == 0 or not isinstance(init, dict) or not init:
            return []  # a function called with its init_args (a loader function): jsonargparse's to check
        first = str(next(iter(init)))
        near = accepting(first, fn)
        example = f" e.g. {{class_path: {near[0]}, init_args: {{{first}: ...}}}}" if near else ""
        fix = f"Use a class that takes {first} and is called on the value{',' + example if example else ''}."
        return [
            self.problem(
                f"{key}.init_args",
                "no init_args: a function given by class_path is called on the value as it is",
                f"{path!r} (a function) with init_args {', '.join(map(str, init))}",
                fix,
            )
        ]


def _taken_by(argument: str, cls: Any) -> str:
    """`` Did you mean lightcli.Argmax, which takes 'dim'?`` when a class near ``cls`` takes ``argument``."""
    near = accepting(argument, cls)
    return f" {' or '.join(near)} take{'s' if len(near) == 1 else ''} {argument!r}." if near else ""


def _is_dataloader_class(cls: Any) -> bool:
    return inspect.isclass(cls) and any(
        c.__name__ == "DataLoader" and c.__module__.startswith("torch.utils.data") for c in cls.__mro__
    )


def _is_number_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True
