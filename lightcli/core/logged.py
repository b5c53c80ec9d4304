"""The names a run logs, known from the config: every ``monitor`` is checked against them before the run.

A :class:`~lightcli.System` logs ``<mode>/loss`` (and ``<mode>/loss/<part>`` for a criterion returning a dict),
``<mode>/<metric>`` (``<mode>/<metric>/<i>`` for a vector metric, ``<mode>/<metric>/<key>`` for a metric
returning a dict), ``train/step/...`` on logging steps, ``train/lr`` and ``train/momentum``; ``epoch`` and
``step`` are always known. :func:`monitor_problems` names each ``monitor`` (of a callback of any class, or of
the scheduler) and each ``{name}`` of a ModelCheckpoint ``filename`` the run would never log, with a did-you-mean
(``val_loss`` -> ``val/loss``). Names that can only be known at run time (a dict loss's parts, a dict metric's
keys) are accepted under their prefix; a config whose logging cannot be known (a System subclass with its own
steps, a callback of the user's own) is not checked.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from lightcli.config.classpaths import resolve_class
from lightcli.config.problems import Problem, suggest
from lightcli.core.system import System

__all__ = ["logged_names", "monitor_problems"]

_ALWAYS = ("epoch", "step")
_LOGGING_STEPS = (  # a System subclass defining one of these may log names of its own
    "training_step",
    "validation_step",
    "shared_step",
    "on_train_epoch_end",
    "on_validation_epoch_end",
    "on_train_batch_end",
    "on_validation_batch_end",
)
_OWN_NAMESPACES = ("pytorch_lightning.", "lightning.pytorch.", "lightcli.")
_LOGGING_CALLBACKS = ("DeviceStatsMonitor",)  # Lightning callbacks that log names of their own
_DICT_METRICS = ("MultitaskWrapper", "MetricCollection", "ClasswiseWrapper")
_FIELD = re.compile(r"\{([^{}:!]+)(?:[:!][^{}]*)?\}")


def _get(node: Any, key: str) -> Any:
    return node.get(key) if hasattr(node, "get") else None


def _metric_names(metrics: Any) -> list[str]:
    """The names a mode's metrics are logged under (a single metric or a list: by class name, as MetricCollection)."""
    if metrics is None:
        return []
    if hasattr(metrics, "items") and _get(metrics, "class_path") is None:
        return [str(name) for name in metrics]
    items = metrics if isinstance(metrics, list) else [metrics]
    return [str(_get(m, "class_path") or "").rpartition(".")[2] for m in items]


def _returns_dicts(metrics: Any) -> bool:
    """Whether a mode's metrics hold a wrapper returning a dict (MultitaskWrapper, MetricCollection)."""
    if metrics is None:
        return False
    items = list(metrics.values()) if hasattr(metrics, "values") and _get(metrics, "class_path") is None else None
    for metric in items if items is not None else metrics if isinstance(metrics, list) else [metrics]:
        with contextlib.suppress(Exception):
            cls = resolve_class(str(_get(metric, "class_path")))
            if cls.__name__ in _DICT_METRICS:
                return True
    return False


def logged_names(config: Any, subcommand: str) -> tuple[list[str], list[str]] | None:
    """The names a ``subcommand`` run of a parsed config logs, and the prefixes under which names come at run
    time; None when they cannot be known from the config."""
    system = _get(config, "system")
    init = _get(system, "init_args")
    if init is None:
        return None
    cls: Any = System
    with contextlib.suppress(Exception):
        cls = resolve_class(str(_get(system, "class_path") or "lightcli.System"))
    if not isinstance(cls, type) or any(getattr(cls, n, None) is not getattr(System, n) for n in _LOGGING_STEPS):
        return None
    modes = ["train", "val"] if subcommand == "fit" else ["val"] if subcommand == "validate" else ["test"]
    has_data = _get(config, "data") is not None
    loaders = _get(init, "dataloaders")
    names: list[str] = list(_ALWAYS)
    prefixes: list[str] = []
    for mode in modes:
        if not has_data and _get(loaders, mode) is None:
            continue
        if _get(init, "criterion") is not None:
            names.append(f"{mode}/loss")
            prefixes.append(f"{mode}/loss/")  # a criterion returning a dict logs its parts (known at run time)
        metric_names = _metric_names(_get(_get(init, "metrics"), mode))
        names += [f"{mode}/{n}" for n in metric_names]
        if _returns_dicts(_get(_get(init, "metrics"), mode)):
            prefixes.append(f"{mode}/")  # the keys of a metric returning a dict are known at run time
        prefixes += [f"{mode}/{n}/" for n in metric_names]  # per class, or the keys of a dict (at run time)
        if mode == "train":
            names += ["train/step/loss", *(f"train/step/{n}" for n in metric_names), "train/lr", "train/momentum"]
            prefixes += ["train/step/", "train/lr/", "train/momentum/"]
    return names, prefixes


def _callbacks(config: Any) -> list[Any]:
    callbacks = _get(_get(config, "trainer"), "callbacks")
    return list(callbacks) if isinstance(callbacks, list) else [callbacks] if callbacks is not None else []


def monitor_problems(config: Any, subcommand: str | None) -> list[Problem]:
    """Each ``monitor`` and checkpoint ``filename`` field of a ``fit`` config that names something never logged."""
    if subcommand != "fit":
        return []
    callbacks = _callbacks(config)
    prefixes_extra: list[str] = []
    for callback in callbacks:
        path = str(_get(callback, "class_path") or "")
        if not path.startswith(_OWN_NAMESPACES) or path.rpartition(".")[2] in _LOGGING_CALLBACKS:
            return []  # a callback of the user's own may log anything
        if path.endswith("LearningRateMonitor"):
            prefixes_extra.append("lr-")
    known = logged_names(config, subcommand)
    if known is None:
        return []
    names, prefixes = known
    prefixes = [*prefixes, *prefixes_extra]
    wanted: list[tuple[str, str]] = []
    for i, callback in enumerate(callbacks):
        init = _get(callback, "init_args")
        monitor = _get(init, "monitor")
        if isinstance(monitor, str) and monitor:
            wanted.append((f"trainer.callbacks[{i}].init_args.monitor", monitor))
        filename = _get(init, "filename")
        if isinstance(filename, str):
            wanted += [(f"trainer.callbacks[{i}].init_args.filename", f) for f in _FIELD.findall(filename)]
    monitor = _get(_get(_get(config, "system"), "init_args"), "scheduler")
    if isinstance(_get(monitor, "monitor"), str) and _get(monitor, "monitor") not in ("", "None", "null"):
        wanted.append(("system.scheduler.monitor", str(_get(monitor, "monitor"))))
    problems = []
    for key, name in wanted:
        if name in names or any(name.startswith(p) for p in prefixes):
            continue
        mode = name.partition("/")[0]
        hint = (
            f" The run logs no {mode}/ names: it has no {mode} data (system.dataloaders.{mode})."
            if mode in ("val", "test") and "/" in name and not any(n.startswith(f"{mode}/") for n in names)
            else suggest(name, names) or suggest(name.replace("_", "/"), names)
        )
        shown = ", ".join(n for n in names if n not in _ALWAYS and not n.startswith("train/step/"))
        problems.append(
            Problem(
                key,
                f"a name the run logs ({shown or 'epoch, step'})",
                repr(name),
                f"Use one of those names.{hint}" if hint else "Use one of those names.",
            )
        )
    return problems
