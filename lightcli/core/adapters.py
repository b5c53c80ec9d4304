"""Adapters: typed glue between a batch, the model, the criterion, the metrics and the logs.

An adapter answers "where is the input in this batch?" or "which argument of the loss gets the
prediction?" so that a dataset, a model and a loss written independently fit together from YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from lightcli.config.problems import ConfigError, Problem

__all__ = [
    "Accessor",
    "Adapters",
    "ArgumentsAdapter",
    "BatchAdapter",
    "Call",
    "LoggingAdapter",
    "ModeAdapters",
]

Accessor = int | str | Callable[[Any], Any]
"""Where a value is in a batch: an index (tuple/list batch), a key (dict batch) or a callable taking the batch."""

Transforms = list[Callable[[Any], Any]]


class Call:
    """Wraps a plain function so it can be given where a callable accessor is expected.

    Args:
        fn: The function, as an import path (e.g. ``mypackage.batches.get_image``).
    """

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, value: Any) -> Any:
        return self.fn(value)


def _access(batch: Any, accessor: Accessor, what: str) -> Any:
    if callable(accessor):
        return accessor(batch)
    if isinstance(accessor, int):
        if isinstance(batch, torch.Tensor) and accessor == 0:
            return batch  # a bare tensor batch is the input itself
        # a tuple or list (the usual batch) without the slower Sequence check
        if type(batch) in (tuple, list) or (isinstance(batch, Sequence) and not isinstance(batch, str)):
            if -len(batch) <= accessor < len(batch):
                return batch[accessor]
            raise _error(what, "", f"index {accessor} is out of range for a batch of {len(batch)} items")
        raise _error(what, f"a tuple or list batch for index {accessor}", type(batch).__name__)
    if isinstance(batch, Mapping):
        if accessor in batch:
            return batch[accessor]
        raise _error(what, "", f"key {accessor!r} is not in the batch (keys: {', '.join(map(str, batch))})")
    raise _error(what, f"a dict batch for key {accessor!r}", type(batch).__name__)


def _error(what: str, expected: str, got: str) -> ConfigError:
    """An accessor that does not fit the batch, keyed relative to the mode's adapters (``batch.input``)."""
    return ConfigError(Problem(f"batch.{what}", expected, got, ""))


def _apply(value: Any, transforms: Transforms) -> Any:
    for transform in transforms:
        value = transform(value)
    return value


@dataclass
class BatchAdapter:
    """Where the input, target and identifier are in a batch."""

    input: Accessor = 0
    """The model's input: an index (tuple/list batch), a key (dict batch) or a callable class (class_path)."""
    target: Accessor | None = 1
    """The target, given to the criterion and the metrics; null when the batch has none (prediction)."""
    identifier: Accessor | None = None
    """An identifier per sample (e.g. a file name), handed to callbacks and prediction writers."""

    def __call__(self, batch: Any) -> tuple[Any, Any, Any]:
        """Returns ``(input, target, identifier)`` from a batch."""
        input = _access(batch, self.input, "input")
        target = None if self.target is None else _access(batch, self.target, "target")
        identifier = None if self.identifier is None else _access(batch, self.identifier, "identifier")
        return input, target, identifier


@dataclass
class ArgumentsAdapter:
    """How the prediction, target and input are passed to a criterion or to the metrics.

    An argument is an int (its position) or a str (its keyword); null leaves that value out.
    """

    pred: int | str | None = 0
    """Where the prediction goes."""
    target: int | str | None = 1
    """Where the target goes."""
    input: int | str | None = None
    """Where the input goes (most losses do not take it)."""
    pred_transforms: Transforms = field(default_factory=list)
    """Callables applied to the prediction first, in order (e.g. ``torch.sigmoid``)."""
    target_transforms: Transforms = field(default_factory=list)
    """Callables applied to the target first, in order."""
    input_transforms: Transforms = field(default_factory=list)
    """Callables applied to the input first, in order."""

    def arguments(self, input: Any, target: Any, pred: Any) -> tuple[list[Any], dict[str, Any]]:
        """Returns the positional and keyword arguments for the call."""
        if self.pred == 0 and self.target == 1 and self.input is None and not self._transforms():
            return [pred, target], {}  # the default, called every step: nothing to place
        placed: list[tuple[int | str, Any]] = []
        if self.pred is not None:
            placed.append((self.pred, _apply(pred, self.pred_transforms)))
        if self.target is not None:
            placed.append((self.target, _apply(target, self.target_transforms)))
        if self.input is not None:
            placed.append((self.input, _apply(input, self.input_transforms)))
        positions = sorted((where, value) for where, value in placed if isinstance(where, int))
        if [where for where, _ in positions] != list(range(len(positions))):
            expected = f"argument positions 0..{len(positions) - 1} without gaps"
            raise ConfigError(Problem("", expected, str([where for where, _ in positions]), ""))
        kwargs = {where: value for where, value in placed if isinstance(where, str)}
        return [value for _, value in positions], kwargs

    def __call__(self, fn: Callable[..., Any], input: Any, target: Any, pred: Any) -> Any:
        """Calls ``fn`` with the prediction, target and input placed as configured."""
        args, kwargs = self.arguments(input, target, pred)
        return fn(*args, **kwargs)

    def _transforms(self) -> bool:
        return bool(self.pred_transforms or self.target_transforms or self.input_transforms)


@dataclass
class LoggingAdapter:
    """Transforms applied to what is handed to callbacks and loggers (not to the loss or metrics)."""

    input_transforms: Transforms = field(default_factory=list)
    """Callables applied to the input."""
    target_transforms: Transforms = field(default_factory=list)
    """Callables applied to the target."""
    pred_transforms: Transforms = field(default_factory=list)
    """Callables applied to the prediction (e.g. ``torch.sigmoid``)."""

    def __call__(self, input: Any, target: Any, pred: Any) -> tuple[Any, Any, Any]:
        """Returns the transformed ``(input, target, pred)``."""
        if not (self.input_transforms or self.target_transforms or self.pred_transforms):
            return input, target, pred
        return (
            _apply(input, self.input_transforms),
            _apply(target, self.target_transforms),
            _apply(pred, self.pred_transforms),
        )


@dataclass
class Adapters:
    """The adapters of one mode (train, val, test or predict)."""

    batch: BatchAdapter = field(default_factory=BatchAdapter)
    """Where input, target and identifier are in a batch."""
    criterion: ArgumentsAdapter = field(default_factory=ArgumentsAdapter)
    """How the criterion is called."""
    metrics: ArgumentsAdapter = field(default_factory=ArgumentsAdapter)
    """How the metrics are updated."""
    logging: LoggingAdapter = field(default_factory=LoggingAdapter)
    """What is handed to callbacks and loggers."""


def _predict_adapters() -> Adapters:
    return Adapters(batch=BatchAdapter(target=None))


@dataclass
class ModeAdapters:
    """Adapters for each mode. Predict batches have no target by default."""

    train: Adapters = field(default_factory=Adapters)
    """Adapters of the training steps."""
    val: Adapters = field(default_factory=Adapters)
    """Adapters of the validation steps."""
    test: Adapters = field(default_factory=Adapters)
    """Adapters of the test steps."""
    predict: Adapters = field(default_factory=_predict_adapters)
    """Adapters of the prediction steps."""
