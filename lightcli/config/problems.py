"""The one shape of every config error: ``<key.path>: expected X, got Y. <how to fix>``."""

from __future__ import annotations

import difflib
import enum
import inspect
import sys
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lightcli.config import hints

__all__ = [
    "CHECK_INIT_ARGS",
    "TRACEBACK_ENV_VAR",
    "ConfigError",
    "Problem",
    "describe_type",
    "describe_value",
    "first_line",
    "not_a_mapping",
    "raised",
    "suggest",
]

TRACEBACK_ENV_VAR = "LIGHTCLI_TRACEBACK"
"""Set to 1 to see the Python traceback of a config error."""

CHECK_INIT_ARGS = f"Check its init_args ({TRACEBACK_ENV_VAR}=1 shows the traceback)."
"""The fix of a component that raised while it was built."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config, located by its key path."""

    key: str
    """The key path as the user wrote it (``system.optimizer.init_args.lr``); relative (``batch.input``) or empty
    where the raiser does not know where it sits, until placed by :meth:`within`."""
    expected: str
    """What a valid value looks like; empty when ``got`` says it all (``key 'img' is not in the batch``)."""
    got: str
    """What was given."""
    fix: str
    """How to fix it: one sentence, ending with a period; empty when the caller knows it better."""
    origin: str | None = None
    """Where the key was set: a file name, ``the command line``, or None when unknown."""

    def __str__(self) -> str:
        where = ""
        if self.origin:
            where = f" (on {self.origin})" if self.origin == "the command line" else f" (in {self.origin})"
        head = f"{self.key}: " if self.key else ""
        said = f"expected {self.expected}, got {self.got}" if self.expected else self.got
        return f"{head}{said}{where}{f'. {self.fix}' if self.fix else ''}"

    def within(self, prefix: str, expected: str = "", fix: str = "") -> Problem:
        """This problem placed under ``prefix``, with ``expected`` and ``fix`` where it has none.

        ``batch.input`` within ``system.adapters.train`` is ``system.adapters.train.batch.input``; an empty key
        becomes ``prefix`` itself.
        """
        key = f"{prefix}.{self.key}" if self.key else prefix
        return replace(self, key=key, expected=self.expected or expected, fix=self.fix or fix)


class ConfigError(Exception):
    """The one error of a config that cannot work: one or more :class:`Problem`, each named by its key path.

    ``str()`` is one line per problem. ``lightcli`` prints each as ``error: <problem>`` and exits with code 2.
    """

    def __init__(self, problems: Problem | Sequence[Problem]) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(dict.fromkeys(problems))
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def within(self, prefix: str, expected: str = "", fix: str = "") -> ConfigError:
        """The same problems placed under ``prefix`` (see :meth:`Problem.within`); raise it ``from`` this one."""
        return ConfigError([p.within(prefix, expected, fix) for p in self.problems])


def suggest(given: str, known: Iterable[str], prefix: str = " Did you mean ", quote: bool = True) -> str:
    """`` Did you mean 'x'?`` for the closest known name, or an empty string."""
    known = [k for k in dict.fromkeys(known) if k != given]
    close = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[given.lower()]] if given.lower() in lowered else []
    if not close:
        return ""
    return f"{prefix}{close[0]!r}?" if quote else f"{prefix}{close[0]}?"


def type_name(cls: Any) -> str:
    """``torch.nn.Module`` style name of a class (public module path when it re-exports the class)."""
    if not isinstance(cls, type):
        return str(cls).replace("typing.", "")
    module: str = cls.__module__
    name: str = cls.__name__
    if module == "builtins":
        return name
    parts = module.split(".")
    for end in range(1, len(parts)):  # shortest public module that exports the same object
        public = ".".join(parts[:end])
        loaded = sys.modules.get(public)
        if loaded is not None and getattr(loaded, name, None) is cls:
            return f"{public}.{name}"
    return f"{module}.{name}"


def describe_type(hint: Any) -> str:
    """A short English description of what a type hint accepts."""
    args = hints.union_args(hint)
    options = hints.literal_options(hint)
    if args is not None and options is not None:
        text = "one of " + ", ".join(repr(o) if isinstance(o, str) else str(o) for o in options)
        return f"{text} or null" if type(None) in args else text
    if args is not None:
        parts = [describe_type(a) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(parts))
        return f"{text} or null" if type(None) in args else text
    if hint is Any or hint is object:
        return "any value"
    if hint is type(None) or hint is None:
        return "null"
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an int"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if options is not None:  # a Literal
        return "one of " + ", ".join(repr(a) if isinstance(a, str) else str(a) for a in options)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "one of " + ", ".join(repr(m.name) for m in hint)
    fixed = hints.fixed_items(hint)
    if fixed is not None:
        return f"a list of {len(fixed)} items ({', '.join(describe_type(i) for i in fixed)})"
    if hints.is_sequence(hint):
        inner = typing.get_args(hint)
        return f"a list of {_plural(inner[0])}" if inner and inner[0] is not Ellipsis else "a list"
    if hints.is_mapping(hint):
        return (
            f"a mapping of names to {describe_type(hints.value_type(hint))}"
            if len(typing.get_args(hint)) == 2
            else "a mapping"
        )
    if hints.is_callable(hint):
        returns = hints.callable_parts(hint)[1]
        if typing.get_origin(hint) is not None and isinstance(returns, type) and returns not in (object, Any):
            return f"a {type_name(returns)} class_path"  # Any is a class on Python 3.11+
        return "a callable: a class_path with init_args, or the import path of a function"
    if hints.is_tensor(hint):
        return "a number"
    if inspect.isclass(hint):
        if hints.is_dataclass_type(hint):
            return f"a mapping of {type_name(hint)} fields"
        return f"a {type_name(hint)} class_path"
    return str(hint).replace("typing.", "")


def _plural(hint: Any) -> str:
    words = {int: "ints", float: "numbers", str: "strings", bool: "true/false values"}
    if hint in words:
        return words[hint]
    return f"items that are each {describe_type(hint)}"


def describe_value(value: Any) -> str:
    """A short rendering of a given value: ``'fast'``, ``3``, ``a mapping``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    if isinstance(value, dict):
        keys = ", ".join(map(str, list(value)[:4])) + (", ..." if len(value) > 4 else "")
        return f"a mapping with keys {keys}" if value else "an empty mapping"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) > 1 else ''}" if value else "an empty list"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, int):
        return f"the int {value}"
    return repr(value)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, without closing punctuation."""
    text = str(error).strip()
    return text.splitlines()[0].rstrip(".!") if text else "(no message)"


def raised(error: BaseException) -> str:
    """``RuntimeError: <first line of the message>``: what a call that raised gave back, as a problem's ``got``."""
    return f"{type(error).__name__}: {first_line(error)}"


def not_a_mapping(key: str, value: Any, origin: str | None = None) -> Problem:
    """A section (``trainer``, ``system.dataloaders``...) given as something else than a mapping of its settings."""
    return Problem(
        key,
        f"a mapping of {key} settings",
        describe_value(value),
        f"Write {key}: followed by indented `name: value` lines.",
        origin,
    )
