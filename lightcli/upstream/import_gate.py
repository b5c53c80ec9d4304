"""jsonargparse's imports of import paths given as values pass lightcli's allowlist first.

Private names used (``tests/test_upstream.py`` fails when one of them changes; outside the checked
versions, :mod:`lightcli.upstream.versions` refuses to run):

========================================  =========================================  ===============
name                                      where upstream                             checked on
========================================  =========================================  ===============
``_util.import_object`` (and the modules  ``jsonargparse/_util.py``, imported by      4.51.0 - 4.53.0
that import it by name)                   ``_typehints``, ``_actions``, ...
``_typehints.check_import_path``          ``jsonargparse/_common.py``                 4.51.0 - 4.53.0
``_common.ImportDenied``                  ``jsonargparse/_common.py``                 4.51.0 - 4.53.0
========================================  =========================================  ===============

:func:`guard_imports` makes jsonargparse call lightcli's allowlist gate
(:func:`lightcli.config.allowlist.check_import`) before it imports an import path given as a value
(``import_object(path)`` with ``check_path=True``: a ``class_path``, a class or a function by name, a
``Type`` value; and a ``ModuleType`` value through ``check_import_path``). A refusal is raised as
jsonargparse's ``ImportDenied`` (which it passes on naming the key), caused by lightcli's ``ConfigError``.
``import_object(path, check_path=False)`` is jsonargparse's re-import of an object that is already loaded
(serializing a value, a type from code): it is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["guard_imports", "guarded"]

_gate: dict[str, Callable[..., None]] = {}  # "check": check(path, module=False) raising when a path is refused


def _denied(path: str, module: bool) -> None:
    check = _gate.get("check")
    if check is None:
        return
    try:
        check(path, module=module)
    except Exception as error:
        from jsonargparse._common import ImportDenied

        raise ImportDenied(str(error)) from error


def _guarded_import_object(original: Callable[..., Any]) -> Callable[..., Any]:
    def import_object(name: str, *args: Any, **kwargs: Any) -> Any:
        check_path = args[0] if args else kwargs.get("check_path", True)  # no check_path before jsonargparse 4.52
        if check_path and isinstance(name, str):  # a path given as a value (False: jsonargparse re-imports code)
            _denied(name, False)
        return original(name, *args, **kwargs)

    import_object.__wrapped__ = original  # type: ignore[attr-defined]
    import_object.__lightcli_guard__ = True  # type: ignore[attr-defined]
    return import_object


def _guarded_check_import_path(original: Callable[[str], None]) -> Callable[[str], None]:
    def check_import_path(path: str) -> None:
        _denied(path, True)  # jsonargparse checks a ModuleType value here before it looks the module up
        original(path)

    check_import_path.__wrapped__ = original  # type: ignore[attr-defined]
    check_import_path.__lightcli_guard__ = True  # type: ignore[attr-defined]
    return check_import_path


_IMPORTERS = ("_util", "_typehints", "_actions", "_from_config", "_completions", "_completions_jsonschema", "typing")
"""The jsonargparse modules that hold ``import_object`` by name (``_completions_jsonschema`` only from 4.52)."""


def _importers() -> list[Any]:
    """The modules of :data:`_IMPORTERS` that the installed jsonargparse has."""
    import importlib
    import importlib.util

    return [
        importlib.import_module(f"jsonargparse.{name}")
        for name in _IMPORTERS
        if importlib.util.find_spec(f"jsonargparse.{name}") is not None
    ]


def guarded() -> bool:
    """Whether every jsonargparse import of a value's path goes through the gate given to :func:`guard_imports`."""

    from jsonargparse import _typehints

    functions = [getattr(m, "import_object", None) for m in _importers()]
    if "check_import_path" in _typehints.__dict__:  # a ModuleType value's import (jsonargparse >= 4.52)
        functions.append(_typehints.check_import_path)
    return "check" in _gate and all(getattr(f, "__lightcli_guard__", False) for f in functions)


def guard_imports(check: Callable[..., None]) -> bool:
    """Makes jsonargparse 4.x call ``check(path, module=...)`` before importing any path given as a value.

    ``check`` raises to refuse (nothing is imported then). Idempotent: installing again replaces the gate.
    Returns whether jsonargparse imports through it.
    """

    import jsonargparse
    from jsonargparse import _typehints, _util

    _gate["check"] = check
    if guarded():
        return True
    if not jsonargparse.__version__.startswith("4."):
        return False  # another version: the allowlist's preflight still checks what it can
    original = _util.__dict__["import_object"]
    original = getattr(original, "__wrapped__", original)
    wrapped = _guarded_import_object(original)
    for module in _importers():
        current = module.__dict__.get("import_object")
        if current is original or getattr(current, "__wrapped__", None) is original:
            setattr(module, "import_object", wrapped)  # noqa: B010 - replaced on purpose
    checker = _typehints.__dict__.get("check_import_path")
    if checker is not None and not getattr(checker, "__lightcli_guard__", False):
        setattr(_typehints, "check_import_path", _guarded_check_import_path(checker))  # noqa: B010
    return guarded()
