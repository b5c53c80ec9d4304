"""The one error shape and the words it is built from: type and value descriptions, did-you-mean."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import pytest
import torch

from lightcli.config.problems import (
    ConfigErrors,
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


def test_config_errors_report_each_problem_once_in_order_and_pass_through_except_exception() -> None:
    lr = Problem("system.optimizer.init_args.lr", "a number", "the string 'fast'", "Write a number.", "a.yaml")
    epochs = Problem("trainer.max_epochs", "an int or null", "the string 'ten'", "Write a whole number.")
    caught: BaseException | None = None
    try:
        raise ConfigErrors([lr, epochs, lr])
    except Exception:  # the argument parser's own handler must not swallow it
        pytest.fail("ConfigErrors was caught by `except Exception`")
    except SystemExit as error:
        caught = error
    assert isinstance(caught, ConfigErrors)
    assert caught.code == 2
    assert caught.problems == [lr, epochs]
    assert str(caught) == (
        "system.optimizer.init_args.lr: expected a number, got the string 'fast' (in a.yaml). Write a number.\n"
        "trainer.max_epochs: expected an int or null, got the string 'ten'. Write a whole number."
    )


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
