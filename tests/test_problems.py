"""The one error shape and the words it is built from: type and value descriptions, did-you-mean."""

from __future__ import annotations

import ast
import enum
import pickle
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
import torch

import lightcli
from lightcli import Adapters, BatchAdapter, FileWriter, Freezer, ModeAdapters, System, TableWriter
from lightcli.config.explain import ParseFailure
from lightcli.config.problems import (
    ConfigError,
    Problem,
    describe_type,
    describe_value,
    first_line,
    suggest,
    type_name,
)
from lightcli.core.system import Scheduler


class Precision(enum.Enum):
    FULL = "32"
    HALF = "16"


def test_one_config_error_carries_every_problem_once_in_order() -> None:
    lr = Problem("system.optimizer.init_args.lr", "a number", "the string 'fast'", "Write a number.", "a.yaml")
    epochs = Problem("trainer.max_epochs", "an int or null", "the string 'ten'", "Write a whole number.")
    caught: Exception | None = None
    try:
        raise ConfigError([lr, epochs, lr])
    except Exception as error:  # an ordinary exception: no SystemExit
        caught = error
    assert isinstance(caught, ConfigError) and not isinstance(caught, SystemExit)
    assert caught.problems == [lr, epochs]
    assert str(caught) == (
        "system.optimizer.init_args.lr: expected a number, got the string 'fast' (in a.yaml). Write a number.\n"
        "trainer.max_epochs: expected an int or null, got the string 'ten'. Write a whole number."
    )
    assert ConfigError(lr).problems == [lr]
    assert pickle.loads(pickle.dumps(ConfigError([lr, epochs]))).problems == [lr, epochs]  # crosses processes


def test_a_relative_problem_is_placed_within_its_prefix_and_completed() -> None:
    error = ConfigError(Problem("batch.input", "", "key 'img' is not in the batch (keys: image)", ""))
    assert str(error) == "batch.input: key 'img' is not in the batch (keys: image)"
    placed = error.within("system.adapters.train", "an accessor that fits the batch", "Point it at a key.")
    assert placed.problems == [
        Problem(
            "system.adapters.train.batch.input",
            "an accessor that fits the batch",
            "key 'img' is not in the batch (keys: image)",
            "Point it at a key.",
        )
    ]
    unkeyed = ConfigError(Problem("", "argument positions 0..1 without gaps", "[0, 2]", ""))
    assert str(unkeyed.within("system.adapters.val.criterion")) == (
        "system.adapters.val.criterion: expected argument positions 0..1 without gaps, got [0, 2]"
    )


def _raised(call: Callable[[], Any]) -> list[Problem]:
    with pytest.raises(ConfigError) as raised:
        call()
    return raised.value.problems


def test_training_side_errors_are_the_same_config_error_with_separate_fields(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    assert _raised(lambda: Freezer(prefixes=["head"]).check(model)) == [
        Problem(
            "trainer.callbacks.Freezer.prefixes",
            "module names of system.model",
            "'head', which matches no parameter",
            "Modules with parameters: 0, 1.",
        )
    ]
    assert _raised(lambda: FileWriter(format="gif")) == [  # type: ignore[arg-type]
        Problem(
            "trainer.callbacks.FileWriter.format",
            "pt, npy, png or a function fn(value, path)",
            "'gif'",
            "Use one of these, or the import path of a function that writes the file.",
        )
    ]
    (tmp_path / "file").write_text("")
    assert _raised(lambda: TableWriter(path=str(tmp_path / "file" / "out.csv")))[0].key == (
        "trainer.callbacks.TableWriter.path"
    )
    system = System(model, adapters=ModeAdapters(train=Adapters(batch=BatchAdapter(input="image"))))
    batch = [torch.ones(8, 4), torch.zeros(8)]
    assert _raised(lambda: system.shared_step(batch, "train")) == [
        Problem(
            "system.adapters.train.batch.input",
            "a dict batch for key 'image'",
            "list",
            "Point it at the right key or index of the batch.",
        )
    ]


def test_a_failing_step_names_the_component_and_what_it_was_given() -> None:
    model = torch.nn.Linear(4, 2)
    system = System(model, criterion=torch.nn.CrossEntropyLoss())
    batch = (torch.ones(8, 5), torch.zeros(8, dtype=torch.long))
    (problem,) = _raised(lambda: system.shared_step(batch, "val"))
    assert problem.key == "system.model"
    assert problem.expected == "a model that takes the val input float32[8, 5]"
    assert problem.got.startswith("RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    batch = (torch.ones(8, 4), torch.zeros(8, 3))
    (problem,) = _raised(lambda: system.shared_step(batch, "val"))
    assert problem.key == "system.criterion"
    assert problem.expected == "a loss that takes pred float32[8, 2] and target float32[8, 3]"
    with system.collecting_problems() as problems:  # lightcli check --run: every failing part of the step
        system.shared_step(batch, "val")
    assert [p.key for p in problems] == ["system.criterion"]


class _FailsLater(torch.nn.Module):
    """A model whose own code fails on the third call: a bug of the model, not a misfit of the parts."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.calls = 0

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 3:
            raise ValueError("a bug in my model")
        return self.linear(input)


def test_after_a_good_step_a_failure_is_the_parts_own_exception() -> None:
    batch = (torch.ones(8, 4), torch.zeros(8, dtype=torch.long))
    system = System(_FailsLater(), criterion=torch.nn.CrossEntropyLoss())
    system.shared_step(batch, "val")
    system.shared_step(batch, "val")
    with pytest.raises(ValueError, match="a bug in my model"):  # not "expected a model that takes ..."
        system.shared_step(batch, "val")
    fresh = System(_FailsLater(), criterion=lambda pred, target: pred.sum() / 0 if target is None else target.foo)
    (problem,) = _raised(lambda: fresh.shared_step(batch, "test"))  # the first step of a mode: named by its key
    assert problem.key == "system.criterion"
    assert problem.got == "AttributeError: 'Tensor' object has no attribute 'foo'"


_ALLOWED = {
    ("config/problems.py", "ConfigError"): "the one error a user sees",
    ("config/explain.py", "ParseFailure"): "internal: the parser's rejection, explained into a ConfigError",
    ("tools/trials.py", "_TrialError"): "internal: a failed trial, recorded by Optuna",
}


def test_no_other_exception_class_is_defined_for_user_errors() -> None:
    package = Path(lightcli.__file__).parent
    defined: set[tuple[str, str]] = set()
    for file in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [ast.unparse(b) for b in node.bases]
            if any(b.endswith(("Error", "Exception", "Exit", "Interrupt")) for b in bases):
                defined.add((file.relative_to(package).as_posix(), node.name))
    assert defined == set(_ALLOWED)
    assert not issubclass(ParseFailure, SystemExit)


@pytest.mark.parametrize(
    ("hint", "described"),
    [
        (Literal["epoch", "step"] | None, "one of 'epoch', 'step' or null"),
        (Literal["a"] | Literal["b"], "one of 'a', 'b'"),
        (int | str, "an int or a string"),
        (bool | None, "true or false or null"),
        (tuple[int, float], "a list of 2 items (an int, a number)"),
        (Sequence[str], "a list of strings"),
        (list[Literal["x", "y"]], "a list of items that are each one of 'x', 'y'"),
        (Precision, "one of 'FULL', 'HALF'"),
        (torch.nn.Module | None, "a torch.nn.Module class_path or null"),
        (Callable[[Iterable], torch.optim.Optimizer], "a torch.optim.Optimizer class_path"),
        (Scheduler, "a mapping of lightcli.Scheduler fields"),
        (torch.Tensor, "a number"),
        (Any, "any value"),
    ],
)
def test_describe_type(hint: Any, described: str) -> None:
    assert describe_type(hint) == described


def test_a_callable_returning_anything_is_described_as_a_callable() -> None:
    assert describe_type(Callable[..., Any] | None) == (
        "a callable: a class_path with init_args, or the import path of a function or null"
    )


@pytest.mark.parametrize(
    ("value", "described"),
    [
        (None, "null"),
        (False, "false"),
        ("fast", "the string 'fast'"),
        ("x" * 70, "the string '" + "x" * 57 + "...'"),
        (3, "the int 3"),
        (0.5, "the number 0.5"),
        ([], "an empty list"),
        ([1], "a list of 1 item"),
        ([1, 2], "a list of 2 items"),
        ({}, "an empty mapping"),
        ({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}, "a mapping with keys a, b, c, d, ..."),
    ],
)
def test_describe_value(value: Any, described: str) -> None:
    assert describe_value(value) == described


def test_suggest_never_offers_the_given_name_and_falls_back_to_case() -> None:
    assert suggest("lr", ["lr"]) == ""
    assert suggest("MaxEpochs", ["maxepochs", "min_steps"]) == " Did you mean 'maxepochs'?"
    assert suggest("Adma", ["Adam", "SGD"], prefix="", quote=False) == "Adam?"


def test_type_name_uses_the_public_module_that_reexports_the_class() -> None:
    assert type_name(torch.nn.modules.linear.Linear) == "torch.nn.Linear"
    assert torch.optim.Adam.__module__ == "torch.optim.adam"
    assert type_name(torch.optim.Adam) == "torch.optim.Adam"
    assert type_name(int) == "int"


def test_first_line_of_an_exception() -> None:
    assert first_line(ValueError("Invalid learning rate: -1.\nDetails follow")) == "Invalid learning rate: -1"
    assert first_line(KeyError()) == "(no message)"
