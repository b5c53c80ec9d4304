"""``lightcli check``: find every problem of a config without training.

``lightcli check fit --config my.yaml`` parses the config like ``lightcli fit`` does, checks every type,
resolves every class_path and binds every argument to its signature, without building anything.
``--run`` also builds the components and pushes one real batch through each mode the subcommand uses
(batch adapter -> model or inferer -> criterion adapter -> criterion -> metrics adapter -> metrics), on
CPU, naming the adapter or component key of a mismatch. Nothing is written to disk.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import torch

from lightcli.cli import SUBCOMMANDS, LightCLI
from lightcli.config.explain import ConfigErrors, Problem, building, run_reported
from lightcli.core.adapters import AdapterError
from lightcli.core.rules import check_optimizers, static_problems
from lightcli.core.system import ConfigError

__all__ = ["MODES", "main", "push_batches"]

MODES: dict[str, tuple[str, ...]] = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("predict",),
}
"""The modes each subcommand runs, in order."""

_USAGE = "usage: lightcli check {fit,validate,test,predict} [--run] [--config FILE] [--key value ...]"
_SHAPED = re.compile(r"^(?P<key>[\w.\[\]]+): expected (?P<expected>.*?), got (?P<got>.*?)\. (?P<fix>.*)$", re.S)


class _CheckCLI(LightCLI):
    """A LightCLI that stops after checking: no run directory, no trainer, no training."""

    def __init__(self, args: list[str], build: bool, report: list[str]) -> None:
        self._build = build
        self._report = report
        super().__init__(args=args)

    def before_instantiate_classes(self) -> None:
        """Chooses no run directory: a check writes nothing."""

    def instantiate_classes(self) -> None:
        """Checks what a parsed config says, and with ``--run`` builds it and pushes one batch per mode."""
        subcommand = self.subcommand or "fit"
        config = self.config[subcommand]
        problems = static_problems(config, subcommand)
        if problems:
            raise ConfigErrors(problems)
        self._report.extend(_summary(config))
        if not self._build:
            return
        with building(self.parser, self.config, subcommand):
            built = self.parser.instantiate_classes(self.config)[subcommand]
        problems, lines = push_batches(built.get("system"), built.get("data"), subcommand)
        if problems:
            raise ConfigErrors(problems)
        self._report.extend(lines)

    def run_subcommand(self, subcommand: str) -> None:
        """Runs nothing."""


def main(args: list[str]) -> int:
    """Runs ``lightcli check <subcommand> [--run] <the subcommand's arguments>``; returns the exit code."""
    build = "--run" in args
    args = [a for a in args if a != "--run"]
    if not args or args[0] in ("-h", "--help"):
        print(f"{_USAGE}\n\n{(__doc__ or '').replace('``', '`')}")
        return 0
    if args[0] not in SUBCOMMANDS:
        from lightcli.config.problems import suggest

        hint = suggest(args[0], SUBCOMMANDS)
        expected = f"one of {', '.join(SUBCOMMANDS)} after check"
        fix = f"Write e.g. `lightcli check fit --config my.yaml`.{hint}"
        print(f"error: {Problem('subcommand', expected, repr(args[0]), fix)}", file=sys.stderr)
        return 2
    report: list[str] = []
    code = run_reported(lambda: _CheckCLI(args, build, report), args, list(SUBCOMMANDS))
    if code == 0 and report:
        level = "built and ran one batch per mode" if build else "parsed and type-checked, nothing built"
        print(f"lightcli check {args[0]}: ok ({level})")
        for line in report:
            print(f"  {line}")
        if not build:
            print(
                f"  add --run to build it and push one batch through each mode: lightcli check {' '.join(args)} --run"
            )
    return code


def _summary(config: Any) -> list[str]:
    system = config.get("system")
    if system is None:
        return []
    init = system.get("init_args")
    lines = [f"system: {system.get('class_path')}"]
    for name in ("model", "criterion", "optimizer", "inferer"):
        value = init.get(name) if init is not None else None
        if value is not None:
            lines.append(f"system.{name}: {value.get('class_path') if hasattr(value, 'get') else value}")
    if config.get("data") is not None:
        lines.append(f"data: {config.data.get('class_path')}")
    return lines


# -- one batch per mode -------------------------------------------------------------------------------------


def push_batches(system: Any, datamodule: Any, subcommand: str) -> tuple[list[Problem], list[str]]:
    """Pushes one batch of each mode of ``subcommand`` through the system; returns problems and a summary."""
    problems: list[Problem] = []
    lines: list[str] = []
    if subcommand == "fit":
        problems += _optimizers(system)
    if datamodule is not None:
        try:
            datamodule.setup(subcommand)
        except Exception as error:
            problems.append(_raised("data", "a datamodule that sets up", error, "Check the data init_args."))
            return problems, lines
    for mode in MODES[subcommand]:
        found, line = _mode(system, datamodule, mode, subcommand)
        problems += found
        if line:
            lines.append(line)
    return problems, lines


def _optimizers(system: Any) -> list[Problem]:
    try:
        check_optimizers(system, "fit")
        system.configure_optimizers()
    except ConfigErrors as errors:
        return errors.problems
    except ConfigError as error:
        return [_from_message(str(error))]
    except Exception as error:
        return [_raised("system.optimizer", "an optimizer and scheduler that build", error, "Check their init_args.")]
    return []


def _loader(system: Any, datamodule: Any, mode: str, subcommand: str) -> tuple[Any, Problem | None]:
    key = "data" if datamodule is not None else f"system.dataloaders.{mode}"
    try:
        if datamodule is not None:
            return getattr(datamodule, f"{mode}_dataloader")(), None
        factory = getattr(system.dataloaders, mode)
        if factory is None:
            if mode == "val" and subcommand == "fit":
                return None, None
            return None, Problem(key, f"a loader for the {mode} data", "null", f"Set {key}.")
        return factory(), None
    except Exception as error:
        return None, _raised(
            key, f"a {mode} loader that builds", error, "Check its dataset's init_args (the paths first)."
        )


def _mode(system: Any, datamodule: Any, mode: str, subcommand: str) -> tuple[list[Problem], str]:
    loader, problem = _loader(system, datamodule, mode, subcommand)
    if problem is not None:
        return [problem], ""
    if loader is None:
        return [], ""
    source = "data" if datamodule is not None else f"system.dataloaders.{mode}"
    try:
        batch = next(iter(loader))
    except StopIteration:
        return [
            Problem(source, f"at least one {mode} batch", "an empty loader", "Check the dataset and drop_last.")
        ], ""
    except Exception as error:
        return [_raised(source, f"a {mode} batch", error, "Check the dataset and its collate_fn.")], ""
    adapters = getattr(system.adapters, mode)
    try:
        input, target, _ = adapters.batch(batch)
    except Exception as error:
        return [
            _adapter(
                f"system.adapters.{mode}", error, f"a batch accessor that fits the {mode} batch ({describe(batch)})"
            )
        ], ""
    use_inferer = mode != "train" and system.inferer is not None
    system.train(mode == "train")
    with torch.set_grad_enabled(mode == "train"):
        try:
            pred = system.inferer(input, system) if use_inferer else system(input)
        except Exception as error:
            key = "system.inferer" if use_inferer else "system.model"
            fix = f"Check the model's input size against the data, or system.adapters.{mode}.batch.input."
            return [
                _raised(
                    key,
                    f"a {key.rsplit('.', maxsplit=1)[-1]} that takes the {mode} input {describe(input)}",
                    error,
                    fix,
                )
            ], ""
        line = f"{mode}: input {describe(input)} -> pred {describe(pred)}"
        if mode == "predict":
            return [], line
        problems, loss = _loss(system, adapters, mode, input, target, pred)
        if loss is not None:
            line += f" -> loss {float(loss.detach()):.4g}"
    found, names = _metrics(system, adapters, mode, input, target, pred)
    problems += found
    if names:
        line += f" -> metrics {', '.join(names)}"
    return problems, line


def _loss(system: Any, adapters: Any, mode: str, input: Any, target: Any, pred: Any) -> tuple[list[Problem], Any]:
    if system.criterion is None:
        return [], None
    try:
        args, kwargs = adapters.criterion.arguments(input, target, pred)
    except Exception as error:
        return [_adapter(f"system.adapters.{mode}.criterion", error, "argument positions that fit the criterion")], None
    try:
        value = system.criterion(*args, **kwargs)
    except Exception as error:
        fix = f"Check system.adapters.{mode}.criterion (which argument gets pred and target) and the target's dtype."
        return [
            _raised(
                "system.criterion", f"a loss that takes pred {describe(pred)} and target {describe(target)}", error, fix
            )
        ], None
    total = value.get("total") if isinstance(value, dict) else value
    if not isinstance(total, torch.Tensor) or total.numel() != 1:
        got = f"a dict with keys {sorted(value)}" if isinstance(value, dict) and total is None else describe(total)
        return [
            Problem(
                "system.criterion",
                "a scalar loss (one number) or a dict with a scalar 'total'",
                got,
                "Use a reducing loss (e.g. reduction: mean) or return the loss to optimize under 'total'.",
            )
        ], None
    if mode == "train":
        if not total.requires_grad:
            return [
                Problem(
                    "system.criterion",
                    "a loss computed from the model's output",
                    "a loss without gradient",
                    f"Check system.adapters.{mode}.criterion: pred must reach the loss.",
                )
            ], total
        try:
            total.backward()
        except Exception as error:
            return [
                _raised("system.criterion", "a loss that back-propagates", error, "Check the loss and the model.")
            ], total
    return [], total


def _metrics(
    system: Any, adapters: Any, mode: str, input: Any, target: Any, pred: Any
) -> tuple[list[Problem], list[str]]:
    collection = system.metrics_of(mode)
    if collection is None:
        return [], []
    detach = lambda v: v.detach() if isinstance(v, torch.Tensor) else v  # noqa: E731
    try:
        args, kwargs = adapters.metrics.arguments(input, detach(target), detach(pred))
    except Exception as error:
        return [_adapter(f"system.adapters.{mode}.metrics", error, "argument positions that fit the metrics")], []
    problems: list[Problem] = []
    names: list[str] = []
    for name, metric in collection.items(keep_base=True):
        try:
            metric.update(*args, **kwargs)
            metric.compute()
            names.append(name)
        except Exception as error:
            fix = f"Check system.adapters.{mode}.metrics (e.g. pred_transforms) and the metric's init_args."
            expected = f"a metric that takes pred {describe(pred)} and target {describe(target)}"
            problems.append(_raised(f"system.metrics.{mode}.{name}", expected, error, fix))
        finally:
            metric.reset()
    return problems, names


# -- messages -----------------------------------------------------------------------------------------------


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


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0].rstrip(".!") if text else "(no message)"


def _raised(key: str, expected: str, error: BaseException, fix: str) -> Problem:
    return Problem(key, expected, f"{type(error).__name__}: {_first_line(error).rstrip('.')}", fix)


def _adapter(prefix: str, error: BaseException, expected: str) -> Problem:
    if not isinstance(error, AdapterError):
        return _raised(prefix, expected, error, "Check the adapter's callables.")
    text = str(error).rstrip(".")
    where, separator, rest = text.partition(": ")
    key = prefix
    if separator and re.fullmatch(r"[\w.]+", where):
        key, text = f"{prefix}.{where}", rest
    if prefix.endswith(".batch") or ".batch." in key:
        fix = "Point it at the right key or index of the batch."
    else:
        fix = "Give pred, target and input distinct positions 0, 1, ... (or keyword names)."
    shaped = re.fullmatch(r"expected (.*), got (.*)", text)
    if shaped:
        return Problem(key, shaped.group(1), shaped.group(2), fix)
    return Problem(key, expected, text, fix)


def _from_message(message: str) -> Problem:
    match = _SHAPED.match(message.strip())
    if match:
        return Problem(**match.groupdict())
    return Problem("system", "a config that runs", message, "See the message.")
