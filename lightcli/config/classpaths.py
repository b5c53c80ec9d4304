"""Resolving a ``class_path`` (or a function's import path) with a "did you mean" when it cannot be found."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import sys
from typing import Any

from lightcli.config.allowlist import check_import, import_module
from lightcli.config.problems import ConfigError, Problem, suggest, type_name
from lightcli.config.project import MISSING_FIX, PACKAGE

__all__ = [
    "LOADER_ARGUMENTS",
    "accepting",
    "alias_lightning",
    "example_class",
    "is_subclass",
    "loader_instead",
    "resolve_class",
    "use_subclass",
    "what",
]

LOADER_ARGUMENTS = frozenset(
    {"dataset", "batch_size", "shuffle", "num_workers", "drop_last", "pin_memory", "collate_fn", "persistent_workers"}
)
"""The arguments ``lightcli.Loader`` shares with ``torch.utils.data.DataLoader``."""


def _unresolved(expected: str, got: str, fix: str) -> ConfigError:
    """A class path that cannot be imported: its problem has no key (the caller knows where the path was)."""
    return ConfigError(Problem("", expected, got, fix))


def resolve_class(path: str, base: Any = None) -> Any:
    """Imports ``module.Name`` (or finds a loaded subclass of ``base`` by its short name).

    Raises:
        ConfigError: with a did-you-mean when it cannot be found.
    """
    check_import(path)  # the allowlist, before anything is imported
    if "." not in path:
        classes = _subclasses(base) if isinstance(base, type) else []
        same = sorted({type_name(c) for c in classes if c.__name__ == path}, key=lambda n: (n.count("."), len(n)))
        if len(same) > 1:  # as jsonargparse does: a short name must name one class
            raise _unresolved(
                "a class name that names one class",
                f"the name {path!r}, shared by {', '.join(same[:4])}{', ...' if len(same) > 4 else ''}",
                f"Write the full import path, e.g. {same[0]}.",
            )
        found = {c.__name__: c for c in classes}
        if path in found:
            return found[path]
        hint = ""
        for full in ({type_name(c): c.__name__ for c in found.values()}, _common_names()):
            close = suggest(path, full.values(), prefix="", quote=False).rstrip("?")
            hint = next((f" Did you mean {k!r}?" for k, v in full.items() if v == close), "")
            if hint:
                break
        raise _unresolved(
            "a full import path such as torch.nn.Linear",
            f"the name {path!r}",
            f"Write module.Class.{hint}" if hint else "Write module.Class (the full import path).",
        )
    module_name, _, name = path.rpartition(".")
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or module_name
        if missing == "lightning" or missing.startswith("lightning."):
            raise _unresolved(
                "an importable class path",
                f"{path!r}: importing {module_name} failed: no module named {missing!r}",
                "lightcli runs on pytorch_lightning: write `from pytorch_lightning...` for `from lightning.pytorch...` "
                "there, or name a lightning.pytorch class in the config (then lightning.pytorch is pytorch_lightning).",
            ) from None
        if not module_name.startswith(missing) and not missing.startswith(module_name.split(".")[0]):
            raise _unresolved(
                "an importable class", f"{path!r}: importing it failed: {error}", "Install the missing package."
            ) from None
        parent, _, _last = missing.rpartition(".")
        if parent:
            options = _public_names(import_module(parent))
            hint = suggest(missing, [f"{parent}.{n}" for n in options])
            fix = f"Check the spelling.{hint}" if hint else f"Check the spelling of {missing!r}."
        elif missing == PACKAGE:  # the user's own code, not given
            fix = MISSING_FIX
        else:
            stdlib = getattr(sys, "stdlib_module_names", ())
            hint = suggest(missing, [m for m in sys.modules if "." not in m and m[:1] != "_" and m not in stdlib])
            fix = f"Check the spelling, or install the package / run from its folder.{hint}"
        raise _unresolved("an importable class path", f"{path!r} (no module named {missing!r})", fix) from None
    except ConfigError:
        raise
    except Exception as error:  # the module itself is broken
        raise _unresolved(
            "an importable class path",
            f"{path!r}: importing {module_name} raised {type(error).__name__}: {error}",
            "Fix that module (LIGHTCLI_TRACEBACK=1 shows the traceback).",
        ) from None
    if not hasattr(module, name):
        hint = _elsewhere(module_name, name)
        if not hint:
            options = [n for n in _public_names(module) if not inspect.ismodule(getattr(module, n, None))]
            if isinstance(base, type):
                options = [n for n in options if is_subclass(getattr(module, n, None), base)] or options
            options = [n for n in options if n[:1].lower() == name[:1].lower()]  # typos keep the first letter
            hint = suggest(path, [f"{module_name}.{n}" for n in options])
        raise _unresolved(
            "an importable class path",
            f"{path!r} ({module_name} has no {name!r})",
            f"Check the spelling.{hint}"
            if hint
            else f"Check the name; see `python -c 'import {module_name}; help({module_name})'`.",
        )
    return getattr(module, name)


def _elsewhere(module_name: str, name: str) -> str:
    """`` Did you mean 'pkg.sub.Name'?`` when an imported submodule of the package defines ``Name``."""
    for loaded, module in list(sys.modules.items()):
        if loaded.startswith(module_name + ".") and inspect.isclass(getattr(module, name, None)):
            defined = getattr(module, name)
            return f" Did you mean {type_name(defined) if defined.__name__ == name else loaded + '.' + name!r}?"
    return ""


_COMMON_MODULES = (
    "lightcli",
    "torch.nn",
    "torch.optim",
    "torch.optim.lr_scheduler",
    "torchmetrics",
    "pytorch_lightning.callbacks",
    "pytorch_lightning.loggers",
)


def _common_names() -> dict[str, str]:
    """``module.Name -> Name`` for the classes of the libraries configs name most."""
    names: dict[str, str] = {}
    for module_name in _COMMON_MODULES:
        module = sys.modules.get(module_name)
        for name in _public_names(module) if module is not None else ():
            if inspect.isclass(getattr(module, name, None)):
                names.setdefault(f"{module_name}.{name}", name)
    return names


def _public_names(module: Any) -> list[str]:
    return [n for n in dir(module) if not n.startswith("_")]


def is_subclass(cls: Any, base: Any) -> bool:
    try:
        return isinstance(cls, type) and isinstance(base, type) and issubclass(cls, base)
    except TypeError:
        return False


def _subclasses(base: type) -> list[type]:
    seen: list[type] = []
    stack = [base]
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return seen


def what(obj: Any) -> str:
    if inspect.isclass(obj):
        bases = [type_name(b) for b in obj.__mro__[1:3] if b is not object]
        return f"a class deriving from {', '.join(bases)}" if bases else "a class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "a function"
    if inspect.ismodule(obj):
        return "a module"
    return type(obj).__name__


_EXAMPLES = {
    "torch.nn.modules.module.Module": "lightcli.MLP",
    "torch.optim.optimizer.Optimizer": "torch.optim.Adam",
    "torch.optim.lr_scheduler.LRScheduler": "torch.optim.lr_scheduler.StepLR",
    "torchmetrics.metric.Metric": "torchmetrics.classification.MulticlassAccuracy",
    "torch.utils.data.dataset.Dataset": "lightcli.Digits",
    "pytorch_lightning.callbacks.callback.Callback": "pytorch_lightning.callbacks.ModelCheckpoint",
    "pytorch_lightning.loggers.logger.Logger": "pytorch_lightning.loggers.CSVLogger",
}


def example_class(hint: Any) -> str:
    if not isinstance(hint, type):
        return "module.Class"
    for cls in hint.__mro__:
        found = _EXAMPLES.get(f"{cls.__module__}.{cls.__qualname__}")
        if found:
            return found
    return "module.Class"


def use_subclass(base: Any) -> str:
    example = example_class(base)
    if example == "module.Class":
        return f"Use a subclass of {type_name(base)}."
    return f"Use a subclass of {type_name(base)}, e.g. {example}."


def _takes(cls: Any, argument: str) -> bool:
    try:
        return argument in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def accepting(argument: str, near: Any) -> list[str]:
    """Up to 3 classes that take ``argument``: lightcli's public classes, then those of ``near``'s module.

    For a key that the class (or function) ``near`` does not take: which class in its neighbourhood does
    (``dim`` given to ``lightcli.Call`` -> ``lightcli.Argmax``).
    """
    found: list[str] = []
    for module_name in ("lightcli", getattr(near, "__module__", None) or ""):
        module = sys.modules.get(module_name)
        for name in _public_names(module) if module is not None else ():
            candidate = getattr(module, name, None)
            if inspect.isclass(candidate) and candidate is not near and _takes(candidate, argument):
                path = type_name(candidate)
                if path not in found:
                    found.append(path)
    return found[:3]


def loader_instead(path: str, init_args: dict[str, Any]) -> str:
    """The fix for a DataLoader class given as a loader: the exact YAML of a ``lightcli.Loader`` (or a function)."""
    others = sorted(set(map(str, init_args)) - LOADER_ARGUMENTS)
    if not others:
        shown = ", ".join(f"{k}: {_flow(v)}" for k, v in init_args.items())
        return (
            f"lightcli.Loader takes the same arguments and builds the dataset only when its mode runs: "
            f"write {{class_path: lightcli.Loader, init_args: {{{shown}}}}}."
        )
    return (
        f"lightcli.Loader does not take {', '.join(others)}: write a function that returns your {path.rsplit('.', maxsplit=1)[-1]} "
        f"and give it with its arguments, {{class_path: mymodule.make_loader, init_args: {{...}}}}."
    )


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


# -- lightning.pytorch: the name Lightning's docs use, for the pytorch_lightning package installed --------

_ALIASES = {"lightning.pytorch": "pytorch_lightning", "lightning.fabric": "lightning_fabric"}


class _LightningAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``lightning.pytorch[.x]`` as ``pytorch_lightning[.x]`` (and ``lightning.fabric`` as
    ``lightning_fabric``): the same modules, so the classes are the same objects."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name == "lightning" or any(name == a or name.startswith(a + ".") for a in _ALIASES):
            return importlib.util.spec_from_loader(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        if spec.name == "lightning":
            return None  # an empty package holding the two aliases
        alias = next(a for a in _ALIASES if spec.name == a or spec.name.startswith(a + "."))
        return import_module(_ALIASES[alias] + spec.name[len(alias) :])  # through the gate, like every import

    def exec_module(self, module: Any) -> None:
        """Nothing to run: the module is the pytorch_lightning (or lightning_fabric) one, already imported."""


def alias_lightning() -> bool:
    """Makes ``lightning.pytorch.*`` class paths and imports name the ``pytorch_lightning`` classes, when the
    ``lightning`` package is not installed (idempotent). Done only for a config that names such a class
    (:func:`lightcli.config.preflight.preflight`): libraries that find ``lightning`` installed import more.

    Returns:
        Whether ``lightning.pytorch`` names ``pytorch_lightning`` in this process.
    """
    if any(isinstance(f, _LightningAlias) for f in sys.meta_path):
        return True
    try:
        installed = importlib.util.find_spec("lightning") is not None
    except (ImportError, ValueError):
        installed = False
    if installed:
        return False
    sys.meta_path.insert(0, _LightningAlias())
    return True
