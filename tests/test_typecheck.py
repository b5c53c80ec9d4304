"""The Checker: every problem of a user config against the type hints, named by key and origin."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import torch

from lightcli.config.sources import read_sources
from lightcli.config.typecheck import Checker
from lightcli.core.system import System

HINTS = typing.get_type_hints(System.__init__)  # the real annotations of the keys under system:


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _problems(args: list[str], section: str) -> list[str]:
    """Checks ``system.<section>`` of the sources read from ``args`` against System's type hint."""
    sources = read_sources(args)
    value = sources.tree["system"][section]
    return [str(p) for p in Checker(sources).check(value, HINTS[section], f"system.{section}")]


def test_a_wrong_type_inside_optional_names_the_inner_type(folder: Path) -> None:
    sources = read_sources(["--trainer.max_epochs", "ten"])
    problems = Checker(sources).check("ten", int | None, "trainer.max_epochs")
    assert [str(p) for p in problems] == [
        "trainer.max_epochs: expected an int or null, got the string 'ten' (on the command line). "
        "Write a whole number, e.g. max_epochs: 10."
    ]


def test_a_value_matching_no_member_of_a_union_lists_every_kind(folder: Path) -> None:
    problems = Checker(read_sources([])).check([3], int | str, "run.name")
    assert [str(p) for p in problems] == [
        "run.name: expected an int or a string, got a list of 1 item. Give a value of one of these kinds."
    ]


def test_a_union_explains_the_member_the_value_was_meant_for(folder: Path) -> None:
    """model: Module | None given a class_path: the problem is inside MLP's arguments, with its file and line."""
    (folder / "model.yaml").write_text(
        "system:\n  model:\n    class_path: lightcli.MLP\n"
        "    init_args: {in_features: 64, out_features: 10, hiden: [8], activation: relu6}\n"
    )
    assert _problems(["--config", "model.yaml"], "model") == [
        "system.model.init_args.hiden: expected an argument of lightcli.MLP (in_features, out_features, hidden, "
        "activation, dropout), got the unknown key 'hiden' (in model.yaml:4). Remove it or fix its name. "
        "Did you mean 'hidden'?",
        "system.model.init_args.activation: expected one of 'relu', 'gelu', 'tanh', 'silu', got the string 'relu6' "
        "(in model.yaml:4). Use one of the listed values. Did you mean 'relu'?",
    ]


def test_list_items_and_missing_required_arguments_are_named_by_their_key(folder: Path) -> None:
    args = ["--system.model", "lightcli.MLP", "--system.model.init_args.in_features", "64"]
    assert _problems([*args, "--system.model.init_args.hidden", "[16, wide]"], "model") == [
        "system.model.init_args.hidden[1]: expected an int, got the string 'wide' (on the command line). "
        "Write an int there.",
        "system.model.init_args.out_features: expected a value for this required argument of lightcli.MLP (an int), "
        "got nothing (on the command line). Add out_features: <value> under system.model.init_args.",
    ]


@pytest.mark.xfail(
    strict=True,
    reason="bug: for a Callable[..., Optimizer] key, any class defining __call__ (every torch.nn.Module) "
    "is accepted as a factory, so the user is asked for the Module's in_features instead of an optimizer",
)
def test_a_module_given_as_the_optimizer_is_named_as_the_wrong_kind(folder: Path) -> None:
    (folder / "opt.yaml").write_text("system:\n  optimizer: {class_path: torch.nn.Linear}\n")
    assert _problems(["--config", "opt.yaml"], "optimizer") == [
        "system.optimizer.class_path: expected a subclass of torch.optim.Optimizer, got 'torch.nn.Linear' "
        "(a class deriving from torch.nn.Module) (in opt.yaml:2). "
        "Use a subclass of torch.optim.Optimizer, e.g. torch.optim.Adam."
    ]


def test_the_scheduler_dataclass_is_checked_field_by_field(folder: Path) -> None:
    (folder / "sched.yaml").write_text(
        "system:\n  scheduler:\n    scheduler: {class_path: torch.optim.lr_scheduler.StepLR}\n    interval: epochs\n"
    )
    assert _problems(["--config", "sched.yaml"], "scheduler") == [
        "system.scheduler.scheduler.init_args.step_size: expected a value for this required argument of "
        "torch.optim.lr_scheduler.StepLR (an int), got nothing (in sched.yaml:3). "
        "Add step_size: <value> under system.scheduler.scheduler.init_args.",
        "system.scheduler.interval: expected one of 'epoch', 'step', got the string 'epochs' (in sched.yaml:4). "
        "Use one of the listed values. Did you mean 'epoch'?",
    ]


def test_a_number_where_the_optimizer_goes(folder: Path) -> None:
    assert _problems(["--system.optimizer", "0.001"], "optimizer") == [
        "system.optimizer: expected a torch.optim.Optimizer class_path or null, got the number 0.001 "
        "(on the command line). Write optimizer: {class_path: module.Class, init_args: {...}}."
    ]


def test_values_that_are_fine_or_appended_give_no_problem(folder: Path) -> None:
    sources = read_sources(["--system.model", "lightcli.MLP", "--trainer.callbacks+=whatever"])
    checker = Checker(sources)
    model = {"class_path": "lightcli.MLP", "init_args": {"in_features": 64, "out_features": 10, "hidden": [8]}}
    assert checker.check(model, torch.nn.Module | None, "system.model") == []
    assert checker.check("anything", int, "trainer.callbacks") == []  # `+=` values are left to the parser
