"""jsonargparse internals used by lightcli, in one place (no torch, no Lightning: lightcli.config imports it).

Private names used (``tests/test_upstream.py`` fails when one of them changes; outside the checked
versions, :mod:`lightcli.upstream.versions` refuses to run):

========================================  =========================================  ===============  ==============================
name                                      where upstream                             checked on       lightcli function (used by)
========================================  =========================================  ===============  ==============================
``ActionTypeHint``                        ``jsonargparse/_typehints.py``             4.51.0 - 4.53.0  :func:`is_typehint_action` (explain)
``ActionTypeHint._typehint``              ``jsonargparse/_typehints.py``             4.51.0 - 4.53.0  :func:`action_typehint`, :func:`has_typehint`
                                                                                                      (explain, schema)
``ActionTypeHint.add_sub_defaults``       ``jsonargparse/_typehints.py``             4.51.0 - 4.53.0  :func:`install` (``_once_per_pass``)
``_typehints.sub_defaults``               ``jsonargparse/_typehints.py``             4.51.0 - 4.53.0  :func:`install` (``_once_per_pass``)
``_typehints.deepcopy``                   ``jsonargparse/_typehints.py``             4.51.0 - 4.53.0  :func:`install` (``_deepcopy``)
``get_signature_parameters``              ``jsonargparse/_parameter_resolvers.py``   4.51.0 - 4.53.0  :func:`signature_parameters`
                                                                                                      (typecheck, schema)
``ArgumentParser._actions``               ``argparse`` (jsonargparse inherits it)    4.51.0 - 4.53.0  :func:`parser_actions`
                                                                                                      (explain, schema, completion)
``ArgumentParser._subcommands_action``    ``jsonargparse/_core.py``                  4.51.0 - 4.53.0  :func:`subcommand_parsers`
``._name_parser_map``                     ``argparse._SubParsersAction``                              (explain, classes)
``ArgumentParser._instantiators``         ``jsonargparse/_core.py``, from 4.49       4.51.0 - 4.53.0  :func:`parser_instantiators` (explain)
``ActionLink``, ``sub_add_kwargs``        ``jsonargparse/_link_arguments.py``        4.51.0 - 4.53.0  :func:`has_link_targets` (cli)
``["linked_targets"]``
                                          ``jsonargparse/_deprecated.py``
``path_type(mode)._mode``                 ``jsonargparse/typing.py``                 4.51.0 - 4.53.0  :func:`path_mode` (typecheck)
``ActionTypeHint.extra_help``             ``jsonargparse/_typehints.py``             4.51.0 - 4.53.0  :func:`shorten_class_lists` (cli)
``_common.null_logger``                   ``jsonargparse/_common.py``                 4.53.0           :func:`install` (cli)
``_namespace.recreate_branches`` (and     ``jsonargparse/_namespace.py``,             4.53.0           :func:`install` (cli)
``_core``'s name for it)                  ``jsonargparse/_core.py``
========================================  =========================================  ===============  ==============================

Imports guarded: :mod:`lightcli.upstream.import_gate`.

Parse time: configs with many class_path entries parse and build in time linear in their number.
Two parts, both used by :class:`lightcli.cli.LightCLI`:

- :func:`install`: three targeted fixes for jsonargparse 4.x (below, ``_once_per_pass``, and
  ``_branches_recreated``: ``Namespace.clone`` without re-parsing each stored key), and its logger of
  parsers without a logger disabled (it discards everything, but built a record for each debug call first).
- :class:`SectionInstantiator`: LightningCLI stores the system's config as its hyperparameters by
  dumping (validating, serializing, reloading) the *whole* config when the system is built; with
  1000 callbacks that dump dominates. This instantiator dumps only the section it builds.

The jsonargparse fix:

jsonargparse's ``adapt_typehints`` validates a list element by element and, for each element,
deep-copies its keyword arguments (``_typehints.py``, the list branch, ``deepcopy(adapt_kwargs)``).
Those arguments hold ``prev_val`` and ``orig_val``: the previous value of the *whole list* and the
value as given. Copying them for every element makes a list of N subclass specs cost O(N^2)
(a list of 1000 callbacks: minutes). The copies are never written to: in the common case
``prev_val`` is immediately replaced by the element's own previous value (the original, uncopied),
and ``orig_val`` is only read.

:func:`install` makes that deep copy share ``prev_val`` and ``orig_val`` instead of copying them.
Everything else is still deep-copied, every value still goes through the same validation, so
every type check is kept. It is applied by :class:`lightcli.cli.LightCLI` when it builds its
parser, never on ``import lightcli``, and only to the jsonargparse versions it was checked on.

Config files read once: :func:`read_config_files_with` routes jsonargparse's reading of local config
files (``--config``, a values file such as ``--system.model model.yaml``, sub-config files in lists)
through lightcli's reader (:mod:`lightcli.config.files`), so each file is opened once per command.
jsonargparse reads every such file with ``jsonargparse._paths.Path.read_text`` (``parse_path``,
``parse_value_or_config``, ``adapt_subconfig_path``); standard input, URLs and fsspec paths are left to it.
It uses the private names ``_paths.Path.read_text``, ``Path._absolute``, ``Path._std_io``,
``Path._is_url`` and ``Path._is_fsspec``, checked on jsonargparse 4.53.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable
from typing import Any

__all__ = [
    "ALL_CLASSES_ENV_VAR",
    "SHORT_CLASS_LIST",
    "action_typehint",
    "has_link_targets",
    "has_typehint",
    "install",
    "installed",
    "is_typehint_action",
    "parser_actions",
    "parser_instantiators",
    "path_mode",
    "read_config_files_with",
    "short_class_list",
    "shorten_class_lists",
    "signature_parameters",
    "subcommand_parsers",
]

_SHARED_KEYS = ("prev_val", "orig_val")
_ADAPT_KWARGS_KEYS = frozenset(
    {"serialize", "instantiate_classes", "append", "enable_path", "sub_add_kwargs", "logger"}
)


def _deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy``, except that an ``adapt_typehints`` kwargs dict shares its ``prev_val``/``orig_val``."""
    if type(value) is dict and value.keys() >= _ADAPT_KWARGS_KEYS:
        memo = {} if memo is None else memo
        for key in _SHARED_KEYS:
            if key in value:
                memo[id(value[key])] = value[key]
    return copy.deepcopy(value, memo)


def _once_per_pass(add_sub_defaults: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    """``ActionTypeHint.add_sub_defaults`` that does nothing when an enclosing pass is already adding them.

    jsonargparse adds the defaults of nested subclasses with a pass over the config in which every
    nested class_path is parsed again (``parse_object``), and each of those parses starts its own
    pass over its own nested values, so a class_path at depth d was parsed again ~3^d times (a
    dataset inside a Loader inside ``system.dataloaders``: ~100 times). Inside the enclosing pass
    (``sub_defaults`` set), every nested value is already parsed with sub-defaults on, so the inner
    passes only repeat that work. The enclosing pass and all validation still run.
    """

    def once(parser: Any, cfg: Any) -> None:
        from jsonargparse import _typehints

        if _typehints.sub_defaults.get():
            return None
        return add_sub_defaults(parser, cfg)

    once.__wrapped__ = add_sub_defaults  # type: ignore[attr-defined]
    return once


def _branches_recreated(original: Callable[..., Any]) -> Callable[..., Any]:
    """jsonargparse's ``recreate_branches`` (``Namespace.clone``), setting a namespace's keys as they are stored.

    The original sets each key of a copied namespace through ``Namespace.__setitem__``, which splits it on dots,
    checks it and walks to its parent: a third of the time of parsing 1000 nested layers went there. The keys of
    a namespace's ``vars()`` are already single, checked, clash-marked names, so they are set as they are.
    Anything but a plain ``Namespace`` (a dict, a subclass) goes through the original.
    """
    from jsonargparse import Namespace

    def recreate_branches(data: Any, skip_keys: Any = None) -> Any:
        kind = type(data)
        if kind is Namespace:
            new = Namespace()
            vars(new).update(
                (key, recreate_branches(value, skip_keys))
                for key, value in vars(data).items()
                if skip_keys is None or key not in skip_keys
            )
            return new
        if kind is list:
            return [recreate_branches(value, skip_keys) for value in data]
        if kind is dict:
            return {
                key: recreate_branches(value, skip_keys)
                for key, value in data.items()
                if skip_keys is None or key not in skip_keys
            }
        if isinstance(data, (Namespace, dict, list)):
            return original(data, skip_keys)
        return data

    recreate_branches.__wrapped__ = original  # type: ignore[attr-defined]
    return recreate_branches


def installed() -> bool:
    """Whether the fixes are active in this process."""
    from jsonargparse import _common, _core, _namespace, _typehints

    add_sub_defaults = _typehints.ActionTypeHint.__dict__.get("add_sub_defaults")
    wrapped = getattr(getattr(add_sub_defaults, "__func__", None), "__wrapped__", None)
    recreated = [getattr(module.recreate_branches, "__wrapped__", None) for module in (_namespace, _core)]
    return (
        getattr(_typehints, "deepcopy", None) is _deepcopy
        and wrapped is not None
        and _common.null_logger.disabled
        and all(recreated)
    )


def install() -> bool:
    """Applies the fixes to jsonargparse 4.x (idempotent). Returns whether they are active."""
    import jsonargparse
    from jsonargparse import _common, _typehints

    if installed():
        return True
    action = _typehints.ActionTypeHint
    if (
        not jsonargparse.__version__.startswith("4.")
        or getattr(_typehints, "deepcopy", None) is not copy.deepcopy
        or not isinstance(action.__dict__.get("add_sub_defaults"), staticmethod)
    ):
        return False  # another version, or someone else replaced them: leave jsonargparse alone
    # the logger of parsers without one (lightcli's) discards everything, but with no level of its own and no
    # parent it was enabled for every level: each of jsonargparse's debug calls built a record (16,000 while
    # parsing 1000 nested layers) for its NullHandler. Disabled, it discards the same messages without building them.
    _common.null_logger.disabled = True
    setattr(_typehints, "deepcopy", _deepcopy)  # noqa: B010 - a module attribute, replaced on purpose
    from jsonargparse import _core, _namespace

    original = _namespace.recreate_branches
    recreate = _branches_recreated(getattr(original, "__wrapped__", original))
    for module in (_namespace, _core):  # Namespace.clone looks it up in _namespace; _core imported it by name
        setattr(module, "recreate_branches", recreate)  # noqa: B010 - replaced on purpose
    action.add_sub_defaults = staticmethod(_once_per_pass(action.__dict__["add_sub_defaults"].__func__))  # type: ignore[method-assign]
    return True


_reading: dict[str, Callable[[str], str]] = {}  # "reader": the reader of local config files, when one is set


def _read_text(original: Callable[[Any], str]) -> Callable[[Any], str]:
    """``jsonargparse._paths.Path.read_text`` that reads local files with lightcli's reader."""

    def read_text(path: Any) -> str:
        absolute = getattr(path, "_absolute", None)
        not_local = any(getattr(path, name, True) for name in ("_std_io", "_is_url", "_is_fsspec"))
        reader = _reading.get("reader")
        if reader is None or not_local or not isinstance(absolute, str):
            return original(path)
        return reader(absolute)

    read_text.__wrapped__ = original  # type: ignore[attr-defined]
    return read_text


def read_config_files_with(reader: Callable[[str], str] | None) -> bool:
    """Makes jsonargparse 4.x read local config files with ``reader(absolute path) -> text`` (None: its own way).

    Idempotent: installing again replaces the reader. Returns whether jsonargparse reads through it.
    """
    import jsonargparse
    from jsonargparse import _paths

    current = _paths.Path.__dict__.get("read_text")
    if getattr(current, "__module__", None) != __name__:  # not replaced yet
        if not jsonargparse.__version__.startswith("4.") or not callable(current):
            return False  # another version: leave jsonargparse alone
        setattr(_paths.Path, "read_text", _read_text(current))  # noqa: B010 - replaced on purpose
    if reader is None:
        _reading.pop("reader", None)
        return False
    _reading["reader"] = reader
    return True


# -- reading parsers -----------------------------------------------------------------------------------


def parser_actions(parser: Any) -> list[Any]:
    """The actions of a parser (argparse's ``_actions``: a jsonargparse or a plain argparse parser)."""
    return list(parser._actions)


def is_typehint_action(action: Any) -> bool:
    """Whether an action holds a type hint (jsonargparse's ``ActionTypeHint``)."""
    from jsonargparse._typehints import ActionTypeHint

    return isinstance(action, ActionTypeHint)


def has_typehint(action: Any) -> bool:
    """Whether an action carries a type hint of its own (any action with jsonargparse's ``_typehint``)."""
    return hasattr(action, "_typehint")


def action_typehint(action: Any) -> Any:
    """The type hint an ``ActionTypeHint`` checks its values against."""
    return action._typehint


def subcommand_parsers(parser: Any) -> dict[str, Any] | None:
    """The parsers of a parser's subcommands by name, or None when it has no subcommands."""
    action = getattr(parser, "_subcommands_action", None)
    return None if action is None else action._name_parser_map


def has_link_targets(parser: Any) -> bool:
    """Whether a dump of the parser's config leaves link targets out (an ``ActionLink``, or a class's linked keys).

    Without any, a dump with and without ``skip_link_targets`` is the same.
    """
    from jsonargparse._link_arguments import ActionLink

    return any(
        isinstance(action, ActionLink) or getattr(action, "sub_add_kwargs", {}).get("linked_targets")
        for action in parser._actions
    )


def parser_instantiators(parser: Any) -> dict[Any, Any]:
    """The instantiators of a parser (``(class, subclasses) -> callable``), created empty when it has none.

    The dict is the parser's own: an entry added to it is used by ``instantiate_classes`` until removed.
    """
    if parser._instantiators is None:
        parser._instantiators = {}
    return parser._instantiators


def signature_parameters(cls: Any, logger: Any = True) -> list[Any]:
    """The parameters jsonargparse resolves for a class (following ``**kwargs`` into its parents).

    Raises:
        Exception: Whatever jsonargparse's resolver raises for a class it cannot read.
    """
    from jsonargparse._parameter_resolvers import get_signature_parameters

    return list(get_signature_parameters(cls, None, logger=logger))


def path_mode(hint: Any) -> str:
    """The mode of a jsonargparse path type (``"fr"`` for ``Path_fr``), empty when it has none."""
    return str(getattr(hint, "_mode", ""))


SHORT_CLASS_LIST = 12
"""How many known subclasses ``--help`` names for one option (lightcli's own first); the rest are counted by package."""

ALL_CLASSES_ENV_VAR = "LIGHTCLI_HELP_ALL_CLASSES"
"""Set to 1 to list every known subclass in ``--help``."""


def short_class_list(class_paths: list[str], limit: int = SHORT_CLASS_LIST) -> str:
    """The known subclasses as ``--help`` shows them: up to ``limit`` names, then the others counted by package."""
    if len(class_paths) <= limit:
        return ", ".join(class_paths)
    common = ("lightcli.", "torch.nn.", "torch.optim.", "torch.utils.data.", "torchmetrics.classification.")
    rank = {path: next((i for i, c in enumerate(common) if path.startswith(c)), len(common)) for path in class_paths}
    ordered = sorted(class_paths, key=lambda p: (rank[p], p.count("."), class_paths.index(p)))
    shown, rest = ordered[:limit], ordered[limit:]
    packages: dict[str, int] = {}
    for path in rest:
        package = ".".join(path.split(".")[:2]) if path.startswith("torch.") else path.split(".")[0]
        packages[package] = packages.get(package, 0) + 1
    counted = ", ".join(f"{n} in {package}" for package, n in sorted(packages.items(), key=lambda kv: -kv[1]))
    return f"{', '.join(shown)} and {len(rest)} more ({counted}; all of them: {ALL_CLASSES_ENV_VAR}=1)"


def shorten_class_lists() -> bool:
    """Makes ``--help`` name at most :data:`SHORT_CLASS_LIST` known subclasses per option (idempotent).

    jsonargparse lists every known subclass (``torch.nn.Module``: about 300). Returns whether it is active.
    """
    from jsonargparse import _typehints

    action = _typehints.ActionTypeHint
    original = action.__dict__.get("extra_help")
    if getattr(original, "__wrapped__", None) is not None:
        return True
    if original is None or not callable(getattr(_typehints, "get_all_subclass_paths", None)):
        return False

    @functools.wraps(original)
    def extra_help(self: Any) -> str:
        class_paths = _typehints.get_all_subclass_paths(self._typehint, closed_types=False)
        if not class_paths or os.environ.get(ALL_CLASSES_ENV_VAR) == "1":
            return str(original(self))
        return ", known subclasses: " + short_class_list(class_paths)

    action.extra_help = extra_help  # type: ignore[method-assign]
    return True
