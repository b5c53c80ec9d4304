"""Resolving a ``class_path`` (or a function's import path) with a "did you mean" when it cannot be found."""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

from lightcli.config.allowlist import refused
from lightcli.config.problems import ConfigError, Problem, suggest, type_name
from lightcli.config.project import MISSING_FIX, PACKAGE

__all__ = ["example_class", "is_subclass", "resolve_class", "use_subclass", "what"]


def _unresolved(expected: str, got: str, fix: str) -> ConfigError:
    """A class path that cannot be imported: its problem has no key (the caller knows where the path was)."""
    return ConfigError(Problem("", expected, got, fix))


def resolve_class(path: str, base: Any = None) -> Any:
    """Imports ``module.Name`` (or finds a loaded subclass of ``base`` by its short name).

    Raises:
        ConfigError: with a did-you-mean when it cannot be found.
    """
    blocked = refused(path)
    if blocked is not None:
        raise _unresolved(*blocked)
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
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or module_name
        if not module_name.startswith(missing) and not missing.startswith(module_name.split(".")[0]):
            raise _unresolved(
                "an importable class", f"{path!r}: importing it failed: {error}", "Install the missing package."
            ) from None
        parent, _, _last = missing.rpartition(".")
        if parent:
            options = _public_names(importlib.import_module(parent))
            hint = suggest(missing, [f"{parent}.{n}" for n in options])
            fix = f"Check the spelling.{hint}" if hint else f"Check the spelling of {missing!r}."
        elif missing == PACKAGE:  # the user's own code, not given
            fix = MISSING_FIX
        else:
            stdlib = getattr(sys, "stdlib_module_names", ())
            hint = suggest(missing, [m for m in sys.modules if "." not in m and m[:1] != "_" and m not in stdlib])
            fix = f"Check the spelling, or install the package / run from its folder.{hint}"
        raise _unresolved("an importable class path", f"{path!r} (no module named {missing!r})", fix) from None
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
