"""``lightcli check``: find every problem of a config without training.

``lightcli check fit --config my.yaml`` parses the config like ``lightcli fit`` does, checks every type,
resolves every class_path and binds every argument to its signature, without building anything.
``--run`` also builds the components and pushes one real batch through each mode the subcommand uses
(batch adapter -> model or inferer -> criterion adapter -> criterion -> metrics adapter -> metrics), on
CPU, naming the adapter or component key of a mismatch. Nothing is written to disk.
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from lightcli.cli import LightCLI
from lightcli.config.commands import MODES, SUBCOMMANDS
from lightcli.config.explain import building, run_reported
from lightcli.config.problems import ConfigError, Problem, raised, suggest
from lightcli.core.rules import check_optimizers, run_folder_problems, static_problems
from lightcli.core.steps import describe, metric_failed

__all__ = ["main", "push_batches"]

_USAGE = f"usage: lightcli check {{{','.join(SUBCOMMANDS)}}} [--run] [--config FILE] [--key value ...]"


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
        problems = run_folder_problems(config) + static_problems(config, subcommand)  # as `lightcli <subcommand>`
        if problems:
            raise ConfigError(problems)
        self._report.extend(_summary(config))
        if not self._build:
            return
        with building(self.parser, self.config, subcommand):
            built = self.parser.instantiate_classes(self.config)[subcommand]
        problems, lines = push_batches(built.get("system"), built.get("data"), subcommand)
        if problems:
            raise ConfigError(problems)
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
    """Pushes one batch of each mode of ``subcommand`` through ``system.shared_step``; returns problems and a summary."""
    problems: list[Problem] = []
    lines: list[str] = []
    if subcommand == "fit":
        problems += _optimizers(system)
    if datamodule is not None:
        try:
            datamodule.setup(subcommand)
        except Exception as error:
            problems.append(Problem("data", "a datamodule that sets up", raised(error), "Check the data init_args."))
            return problems, lines
    for mode in MODES[subcommand]:
        try:
            found, line = _mode(system, datamodule, mode, subcommand)
        except ConfigError as error:
            found, line = error.problems, ""
        problems += found
        if line:
            lines.append(line)
    return problems, lines


def _optimizers(system: Any) -> list[Problem]:
    try:
        check_optimizers(system, "fit")
        system.configure_optimizers()
    except ConfigError as error:
        return error.problems
    except Exception as error:
        fix = "Check their init_args."
        return [Problem("system.optimizer", "an optimizer and scheduler that build", raised(error), fix)]
    return []


def _loader(system: Any, datamodule: Any, mode: str, subcommand: str) -> Any:
    """The loader of ``mode`` (None when fit has no val data), built as the run would build it."""
    if datamodule is None:
        loader = system.build_dataloader(mode, required=not (mode == "val" and subcommand == "fit"))
        return None if isinstance(loader, list) and not loader else loader
    try:
        return getattr(datamodule, f"{mode}_dataloader")()
    except Exception as error:
        fix = "Check its dataset's init_args (the paths first)."
        raise ConfigError(Problem("data", f"a {mode} loader that builds", raised(error), fix)) from error


def _mode(system: Any, datamodule: Any, mode: str, subcommand: str) -> tuple[list[Problem], str]:
    loader = _loader(system, datamodule, mode, subcommand)
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
        return [Problem(source, f"a {mode} batch", raised(error), "Check the dataset and its collate_fn.")], ""
    system.train(mode == "train")
    with torch.set_grad_enabled(mode == "train"), system.collecting_problems() as problems:
        out = system.shared_step(batch, mode)
    line = f"{mode}: input {describe(out['input'])} -> pred {describe(out['pred'])}"
    if mode == "predict":
        return problems, line
    loss = out["loss"]
    if loss is not None:
        problem = _scalar(loss, mode)
        if problem is not None:
            return [*problems, problem], line
        line += f" -> loss {float(loss.detach()):.4g}"
    collection = system.metrics_of(mode)
    if collection is not None and not problems:
        names = []
        for name, metric in collection.items(keep_base=True):
            try:
                metric.compute()
                names.append(name)
            except Exception as error:
                problems.append(metric_failed(error, mode, name, out["pred"], out["target"]))
            finally:
                metric.reset()
        if names:
            line += f" -> metrics {', '.join(names)}"
    return problems, line


def _scalar(loss: torch.Tensor, mode: str) -> Problem | None:
    """A loss that cannot be optimized: not one number, or (in train) without gradient or backward."""
    if loss.numel() != 1:
        return Problem(
            "system.criterion",
            "a scalar loss (one number) or a dict with a scalar 'total'",
            describe(loss),
            "Use a reducing loss (e.g. reduction: mean) or return the loss to optimize under 'total'.",
        )
    if not bool(torch.isfinite(loss.detach()).all()):
        return Problem(
            "system.criterion",
            "a finite loss",
            f"{float(loss.detach())} on the first {mode} batch",
            "Check the data (NaN inputs or targets) and the model's initialization.",
        )
    if mode != "train":
        return None
    if not loss.requires_grad:
        return Problem(
            "system.criterion",
            "a loss computed from the model's output",
            "a loss without gradient",
            f"Check system.adapters.{mode}.criterion: pred must reach the loss.",
        )
    try:
        loss.backward()
    except Exception as error:
        return Problem(
            "system.criterion", "a loss that back-propagates", raised(error), "Check the loss and the model."
        )
    return None
