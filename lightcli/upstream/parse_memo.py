"""Each nested class_path value validated once per parse: a memo of jsonargparse's ``adapt_class_type``.

Private names used (``tests/test_upstream.py`` fails when one of them changes; outside the checked
versions, :mod:`lightcli.upstream.versions` refuses to run):

=========================================  ==============================  ===============
name                                       where upstream                  checked on
=========================================  ==============================  ===============
``_typehints.adapt_class_type``            ``jsonargparse/_typehints.py``  4.53.0
``_typehints.NestedArg``                   ``jsonargparse/_typehints.py``  4.53.0
``ArgumentParser.get_defaults`` (patched)  ``jsonargparse/_core.py``       4.53.0
``_typehints.sub_defaults``,               ``jsonargparse/_typehints.py``  4.53.0
``allow_default_instance``, ``dump_kwargs``
``_common.lenient_check``,                 ``jsonargparse/_common.py``     4.53.0
``load_value_mode``, ``parsing_defaults``,
``validating_defaults``, ``parent_parser``,
``nested_links``,
``path_dump_preserve_relative``
``_paths._current_path_dir``               ``jsonargparse/_paths.py``      4.53.0
``_util.config_load_stack``                ``jsonargparse/_util.py``       4.53.0
``Namespace`` keys in ``vars()``           ``jsonargparse/_namespace.py``  4.53.0
=========================================  ==============================  ===============

Why: jsonargparse 4.x validates a nested class_path value (``{class_path, init_args}``) by parsing its
``init_args`` with the class's parser (``adapt_class_type`` -> ``parse_object``), and it validates the
same value again in each of its passes over the config (defaults applied, values applied, sub-defaults
added, the final check) *at every enclosing level*: the benchmark job's config (a dataset inside a
``Loader`` inside ``system.dataloaders``, metrics, model, optimizer, logger) made 236 such parses for 17
class_path values, about 0.3 s of the 0.4 s its parse took, and a dump validates everything again.

What: while :func:`remembered` is active (lightcli's parse, the run record's dump, the hyperparameters'
dump), the result of ``adapt_class_type`` for a value is kept, keyed by everything that result depends on:

- the value as given (class_path and init_args, compared by content and type: ``1`` and ``true`` and
  ``1.0`` are different values), the previous value it is merged onto, the type hint, the class parser's
  options (``sub_add_kwargs``, ``partial_skip_args``), whether it serializes (a dump) and how;
- every jsonargparse context variable that changes a parse: sub-defaults, lenient checking, the load mode,
  defaults being parsed or validated, the parent parser, nested links, the folder relative paths resolve
  against, the stack of config files being loaded.

A value equal to what a validation returned in the same context is answered with that result too, when
the previous value merges nothing into it (none, one naming a class only, or the value itself): a validated
value validates to itself (``tests/test_parse_memo.py`` has jsonargparse validate every value the memo answers
for every bundled config and compares the two answers). jsonargparse's later passes give back what its
earlier passes returned, so this answers about a third of the parses that remained.

A value holding anything but plain data (str, int, float, bool, None, bytes, lists, dicts, namespaces,
enums), a value still given as a nested ``--key.init_args.x`` argument, and a build
(``instantiate_classes``) are never kept: they go through jsonargparse every time. A value that fails
validation raises every time (only results are kept). Each answer is a copy of the kept result that shares no
container with it, so a caller changing it changes nothing kept. Every value is still validated once, with the same checks.
"""

from __future__ import annotations

import contextlib
import copy
import enum
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import jsonargparse
from jsonargparse import Namespace, _common, _core, _paths, _typehints, _util

__all__ = ["adapt_class_type", "forget", "get_defaults", "install", "installed", "remembered", "stats"]

_memo: ContextVar[dict[Any, Any] | None] = ContextVar("lightcli_adapt_class_type_memo", default=None)
_stats = {"kept": 0, "reused": 0, "passed": 0}
_PLAIN = (str, int, float, bool, type(None), bytes)
VALIDATED = object()
"""The first item of the key a validated result is kept under as a given value (no frozen value is this object)."""


def _frozen(value: Any) -> Any:
    """A hashable image of ``value`` that is equal only for equal values of the same types (a string is its own
    image: every other image is a tuple)."""
    kind = type(value)
    if kind is str:
        return value
    if kind in _PLAIN:
        return (kind, value)
    if kind is Namespace:
        return (kind, tuple([(k, _frozen(v)) for k, v in vars(value).items()]))
    if kind is list or kind is tuple:
        return (kind, tuple([_frozen(v) for v in value]))
    if kind is dict:
        return (kind, tuple([(k, _frozen(v)) for k, v in value.items()]))
    if kind is set or kind is frozenset:
        return (kind, frozenset([_frozen(v) for v in value]))
    if isinstance(value, enum.Enum):
        return (kind, value.name)
    raise TypeError(f"not kept: {kind.__name__} is not plain data")  # never kept: passed to jsonargparse as is


def _copied(value: Any) -> Any:
    """A copy of a kept result that shares no container with it: lists, dicts and namespaces rebuilt (a
    namespace's attributes set as they are stored, without jsonargparse re-parsing each key), plain values shared,
    anything else deep-copied."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is Namespace:
        copied = Namespace()
        vars(copied).update({k: _copied(v) for k, v in vars(value).items()})
        return copied
    if kind is list:
        return [_copied(v) for v in value]
    if kind is dict:
        return {k: _copied(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _context() -> tuple[Any, ...]:
    """The jsonargparse context variables that change what ``adapt_class_type`` returns (lenient checking aside)."""
    parent = _common.parent_parser.get()
    mode = _common.load_value_mode.get() or getattr(parent, "parser_mode", None)  # None: the parent parser's
    return (
        _typehints.sub_defaults.get(),
        _typehints.allow_default_instance.get(),
        _frozen(_typehints.dump_kwargs.get()),
        mode,
        _common.parsing_defaults.get(),
        _common.validating_defaults.get(),
        _common.path_dump_preserve_relative.get(),
        None if parent is None else id(parent),  # parsers live as long as the memo (one command)
        _frozen(_common.nested_links.get()),
        _paths._current_path_dir.get() or os.getcwd(),  # where relative paths resolve
        _frozen(_util.config_load_stack.get()),
    )


def _kept_or_computed(memo: dict[Any, Any], key: Any, compute: Callable[[], Any], copied: Callable[[Any], Any]) -> Any:
    """A copy of the result kept under ``key``, else ``compute()``'s result, a copy of it kept.

    A result computed under a lenient check is not kept for a strict one (it may hold what a strict check refuses);
    a strict success answers a lenient check too (lenient checking only lets errors pass).
    """
    lenient = bool(_common.lenient_check.get())
    kept = memo.get(key)
    if kept is not None and (lenient or not kept[1]):
        _stats["reused"] += 1
        return copied(kept[0])
    result = compute()
    memo[key] = (copied(result), lenient)
    _stats["kept"] += 1
    return result


_original: dict[str, Callable[..., Any]] = {}
"""jsonargparse's own ``adapt_class_type`` and ``ArgumentParser.get_defaults``, called for what the memo does not hold
(set once, by :func:`install`)."""


def _merges_nothing(prev_val: Any, given: Any) -> bool:
    """Whether validating ``value`` onto ``prev_val`` is validating it alone: no previous value, a previous value
    that names a class only (jsonargparse reads ``init_args`` and ``dict_kwargs`` of it, nothing else), or the
    value itself (``given`` is its frozen image)."""
    if prev_val is None:
        return True
    if not isinstance(prev_val, (dict, Namespace)):
        return False
    if set(prev_val.keys()) <= {"class_path"}:
        return True
    return _frozen(prev_val) == given  # the image holds the types


def _validated_key(result: Any, common: tuple[Any, ...]) -> Any:
    """The key a validated ``result`` answers under as a given value (None: it is not kept as one).

    A value with ``dict_kwargs`` is not: jsonargparse loads their strings as YAML, so validating them twice can
    change them (``"'1'"`` -> ``"1"`` -> ``1``).
    """
    try:
        if result.get("dict_kwargs"):
            return None
        return (VALIDATED, _frozen(result), *common)
    except (TypeError, AttributeError):
        return None


def adapt_class_type(
    value: Any,
    serialize: bool,
    instantiate_classes: bool,
    sub_add_kwargs: dict[str, Any],
    prev_val: Any = None,
    partial_skip_args: Any = None,
    typehint: Any = None,
) -> Any:
    """jsonargparse's ``adapt_class_type``, answering a value it already validated in the same context from the memo.

    Two ways a value is answered: the same value onto the same previous value, or (with a previous value that
    merges nothing) a value equal to what a validation returned in the same context, which validates to itself.
    """
    original = _original["adapt_class_type"]
    memo = _memo.get()
    args = (value, serialize, instantiate_classes, sub_add_kwargs, prev_val, partial_skip_args, typehint)
    if memo is None or instantiate_classes:
        return original(*args)
    try:
        init_args = value.get("init_args") if isinstance(value, dict) else getattr(value, "init_args", None)
        if isinstance(init_args, _typehints.NestedArg):
            raise TypeError("a nested --key.init_args.x argument")  # never kept: passed to jsonargparse as is
        given = _frozen(value)
        common = (serialize, _frozen(sub_add_kwargs), _frozen(partial_skip_args), typehint, _context())
        key = (given, _frozen(prev_val), *common)
        hash(key)
    except TypeError:  # not plain data, or not hashable
        _stats["passed"] += 1
        return original(*args)
    if key not in memo and _merges_nothing(prev_val, given):
        validated = (VALIDATED, given, *common)
        key = validated if validated in memo else key
    result = _kept_or_computed(memo, key, lambda: original(*args), _copied)
    if key[0] is not VALIDATED:
        kept_as = _validated_key(result, common)
        if kept_as is not None and kept_as not in memo:
            memo[kept_as] = memo[key]
    return result


def get_defaults(self: Any, skip_validation: bool = False, **kwargs: Any) -> Any:
    """``ArgumentParser.get_defaults``, answered from the memo for a parser it already answered in the same context.

    jsonargparse asks a class parser for its defaults for every element of a list of class_path values in
    several passes (1000 nested layers: 16,000 times), each time copying every default and adding the defaults
    of nested classes. A parser's defaults do not change while a command parses (they are set when it is
    built); a parser with default config files (read from disk) is always asked afresh.
    """
    original = _original["get_defaults"]
    memo = _memo.get()
    if memo is None or kwargs or self.default_config_files:
        return original(self, skip_validation, **kwargs)
    key = ("get_defaults", id(self), skip_validation, _context())
    return _kept_or_computed(memo, key, lambda: original(self, skip_validation), _copied)


def installed() -> bool:
    """Whether jsonargparse's ``adapt_class_type`` and ``ArgumentParser.get_defaults`` go through the memo."""
    return (
        _typehints.__dict__.get("adapt_class_type") is adapt_class_type
        and _core.ArgumentParser.__dict__.get("get_defaults") is get_defaults
    )


def install() -> bool:
    """Puts the memo in front of jsonargparse 4.x's ``adapt_class_type`` (idempotent); whether it is there.

    It keeps nothing until :func:`remembered` is active.
    """
    # once per process: a function put in front of the memo later (a test counting calls) calls the memo
    if _original:
        return True
    current = _typehints.__dict__.get("adapt_class_type")
    defaults = _core.ArgumentParser.__dict__.get("get_defaults")
    if not jsonargparse.__version__.startswith("4.") or not callable(current) or not callable(defaults):
        return False  # another version: leave jsonargparse alone
    _original.update(adapt_class_type=current, get_defaults=defaults)
    setattr(_typehints, "adapt_class_type", adapt_class_type)  # noqa: B010 - replaced on purpose
    _core.ArgumentParser.get_defaults = get_defaults  # type: ignore[method-assign]
    return True


@contextlib.contextmanager
def remembered() -> Iterator[None]:
    """Keeps validated class_path values for the duration of the block (nested blocks share the outer memo)."""
    if _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def forget() -> None:
    """Drops what the active memo holds (once the values are built, nothing asks for them again)."""
    memo = _memo.get()
    if memo is not None:
        memo.clear()


def stats() -> dict[str, int]:
    """How many values were kept, answered from the memo, and passed through unkept, since the process started."""
    return dict(_stats)
