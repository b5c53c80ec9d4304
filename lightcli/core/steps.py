"""What a failing step says: the component that raised, keyed as in the config, and what it was given.

:meth:`lightcli.System.shared_step` builds these only when a call fails, so a step that works does no extra work.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from lightcli.config.problems import ConfigError, Problem, raised

__all__ = [
    "PASSED_ON",
    "batch_failed",
    "criterion_adapter_failed",
    "criterion_failed",
    "describe",
    "forward_failed",
    "metric_failed",
    "metrics_adapter_failed",
    "metrics_failed",
]

PASSED_ON: tuple[type[BaseException], ...] = (ConfigError, torch.OutOfMemoryError)
"""Errors a step lets through unchanged: already named by their key, or not about the config (out of memory)."""

_CALLABLES_FIX = "Check the adapter's callables."
_POSITIONS_FIX = "Give pred, target and input distinct positions 0, 1, ... (or keyword names)."


def describe(value: Any) -> str:
    """``float32[32, 64]`` for a tensor; the same inside tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).replace('torch.', '')}[{', '.join(map(str, value.shape))}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in list(value.items())[:6]) + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value[:6]) + (", ..." if len(value) > 6 else "")
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if value is None:
        return "None"
    return type(value).__name__


def _adapter(error: BaseException, key: str, expected: str, fix: str) -> ConfigError:
    if isinstance(error, ConfigError):  # the adapter's own problem, keyed relative to ``key``
        return error.within(key, expected, fix)
    return ConfigError(Problem(key, expected, raised(error), _CALLABLES_FIX))


def batch_failed(error: BaseException, mode: str, batch: Any) -> ConfigError:
    """The batch adapter of ``mode`` does not fit the batch."""
    expected = f"a batch accessor that fits the {mode} batch ({describe(batch)})"
    if isinstance(error, ConfigError):
        return error.within(f"system.adapters.{mode}", expected, "Point it at the right key or index of the batch.")
    return _adapter(error, f"system.adapters.{mode}.batch", expected, _CALLABLES_FIX)


def forward_failed(error: BaseException, mode: str, input: Any, inferer: bool) -> ConfigError:
    """The model (or the inferer) raised on the input of ``mode``."""
    key = "system.inferer" if inferer else "system.model"
    expected = f"{'an inferer' if inferer else 'a model'} that takes the {mode} input {describe(input)}"
    fix = f"Check the model's input size against the data, or system.adapters.{mode}.batch.input."
    return ConfigError(Problem(key, expected, raised(error), fix))


def criterion_adapter_failed(error: BaseException, mode: str) -> ConfigError:
    """The criterion adapter of ``mode`` cannot place pred, target and input."""
    key = f"system.adapters.{mode}.criterion"
    return _adapter(error, key, "argument positions that fit the criterion", _POSITIONS_FIX)


def criterion_failed(error: BaseException, mode: str, pred: Any, target: Any) -> ConfigError:
    """The criterion raised on the prediction and target of ``mode``."""
    expected = f"a loss that takes pred {describe(pred)} and target {describe(target)}"
    fix = f"Check system.adapters.{mode}.criterion (which argument gets pred and target) and the target's dtype."
    return ConfigError(Problem("system.criterion", expected, raised(error), fix))


def metrics_adapter_failed(error: BaseException, mode: str) -> ConfigError:
    """The metrics adapter of ``mode`` cannot place pred, target and input."""
    return _adapter(error, f"system.adapters.{mode}.metrics", "argument positions that fit the metrics", _POSITIONS_FIX)


def metric_failed(error: BaseException, mode: str, name: str, pred: Any, target: Any) -> Problem:
    """The metric ``name`` of ``mode`` raised on the prediction and target."""
    expected = f"a metric that takes pred {describe(pred)} and target {describe(target)}"
    fix = f"Check system.adapters.{mode}.metrics (e.g. pred_transforms) and the metric's init_args."
    return Problem(f"system.metrics.{mode}.{name}" if name else f"system.metrics.{mode}", expected, raised(error), fix)


def metrics_failed(
    error: BaseException,
    mode: str,
    metrics: Iterable[tuple[str, Any]],
    arguments: tuple[Any, Any],
    pred: Any,
    target: Any,
) -> ConfigError:
    """Names each metric of ``mode`` that raises on these ``(args, kwargs)`` (their collection raised ``error``)."""
    args, kwargs = arguments
    found: list[Problem] = []
    for name, metric in metrics:
        try:
            metric.update(*args, **kwargs)
        except Exception as own:
            found.append(metric_failed(own, mode, name, pred, target))
    return ConfigError(found or [metric_failed(error, mode, "", pred, target)])
