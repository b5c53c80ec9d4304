"""lightcli.tools.searchspace: reading a search space YAML and checking every distribution before any trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import write_config
from lightcli.config.problems import ConfigError
from lightcli.tools.searchspace import overrides, read_space

LR = "system.optimizer.init_args.lr"


def test_a_valid_space_gives_optuna_distributions_and_the_defaults(workdir: Path) -> None:
    write_config(
        workdir / "space.yaml",
        {
            "params": {
                LR: {"type": "float", "low": 1.0e-4, "high": 0.1, "log": True},
                "system.optimizer.init_args.weight_decay": {"type": "float", "low": 0.0, "high": 0.1, "step": 0.05},
                "trainer.max_epochs": {"type": "int", "low": 1, "high": 5, "step": 2},
                "trainer.accumulate_grad_batches": {"type": "categorical", "choices": [1, 2]},
            }
        },
    )
    space = read_space("space.yaml")
    assert (space.metric, space.direction) == ("val/loss", "minimize")
    d = space.distributions()
    assert (d[LR].low, d[LR].high, d[LR].log, d[LR].step) == (1.0e-4, 0.1, True, None)
    decay = d["system.optimizer.init_args.weight_decay"]
    assert (decay.low, decay.high, decay.log, decay.step) == (0.0, 0.1, False, 0.05)
    epochs = d["trainer.max_epochs"]
    assert (type(epochs).__name__, epochs.low, epochs.high, epochs.step) == ("IntDistribution", 1, 5, 2)
    assert d["trainer.accumulate_grad_batches"].choices == (1, 2)


def test_list_and_class_choices_get_labels_that_map_back_to_the_values(workdir: Path) -> None:
    sgd = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05, "momentum": 0.9}}
    write_config(
        workdir / "space.yaml",
        {
            "params": {
                "system.model.init_args.hidden": {"type": "categorical", "choices": [[32], [64, 32]]},
                "system.optimizer": {"type": "categorical", "choices": [{"class_path": "torch.optim.Adam"}, sgd]},
            }
        },
    )
    space = read_space("space.yaml")
    labels = space.distributions()["system.optimizer"].choices
    assert labels == ("torch.optim.Adam", 'torch.optim.SGD {"lr": 0.05, "momentum": 0.9}')
    assert space.value("system.optimizer", labels[1]) == sgd
    assert space.distributions()["system.model.init_args.hidden"].choices == ("[32]", "[64, 32]")
    assert space.value("system.model.init_args.hidden", "[64, 32]") == [64, 32]
    assert space.corners() == [
        ("system.model.init_args.hidden", [32]),
        ("system.model.init_args.hidden", [64, 32]),
        ("system.optimizer", {"class_path": "torch.optim.Adam"}),
        ("system.optimizer", sgd),
    ]


def test_overrides_set_a_class_before_its_init_args_as_json(workdir: Path) -> None:
    choices = [{"class_path": "torch.optim.SGD"}, {"class_path": "torch.optim.Adam"}]
    params = {
        LR: {"type": "float", "low": 0.001, "high": 0.1},
        "system.optimizer": {"type": "categorical", "choices": choices},
    }
    write_config(workdir / "space.yaml", {"params": params})
    space = read_space("space.yaml")
    values = {LR: 0.01, "system.optimizer": space.value("system.optimizer", "torch.optim.SGD")}
    assert overrides(space, values) == [
        '--system.optimizer={"class_path": "torch.optim.SGD"}',
        "--system.optimizer.init_args.lr=0.01",
    ]


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (
            {"type": "int", "low": 3, "high": 3},
            "params.trainer.max_epochs: expected low < high, got low=3 and high=3. Swap or widen them.",
        ),
        (
            {"type": "float", "low": -0.5, "high": 0.1, "log": True},
            "params.trainer.max_epochs.low: expected a positive low on a log scale, got -0.5. Use e.g. 1.0e-5.",
        ),
        (
            {"low": 1, "high": 3},
            "params.trainer.max_epochs.type: expected one of float, int, categorical, got None. Set the type.",
        ),
        (
            {"type": "categorical", "choices": "adam"},
            "params.trainer.max_epochs.choices: expected a non-empty list of values, got 'adam'. List the values to try.",
        ),
        (
            {"type": "int", "low": 1, "high": 2.5},
            "params.trainer.max_epochs.high: expected an int, got 2.5. Write e.g. 1.",
        ),
        (
            {"type": "float", "low": 0.1},
            "params.trainer.max_epochs.high: expected a number, got nothing. Set high.",
        ),
        (
            {"type": "float", "low": 0.001, "high": 0.1, "log": True, "step": 0.01},
            "params.trainer.max_epochs.step: expected either step or log, got both. Remove one.",
        ),
        (
            {"type": "float", "choices": [1, 2]},
            "params.trainer.max_epochs.choices: expected low and high for a float, got choices. Use type: categorical.",
        ),
        (
            {"type": "categorical", "choices": [1, 2], "low": 1},
            "params.trainer.max_epochs.low: expected only choices for a categorical, got 'low'. Remove it.",
        ),
        (
            0.01,
            "params.trainer.max_epochs: expected a mapping with a type, got 0.01. "
            "Write e.g. {type: float, low: 0.0001, high: 0.1, log: true}.",
        ),
    ],
)
def test_an_invalid_distribution_is_an_error_naming_the_key(workdir: Path, param: Any, message: str) -> None:
    write_config(workdir / "space.yaml", {"params": {"trainer.max_epochs": param}})
    with pytest.raises(ConfigError) as error:
        read_space("space.yaml")
    assert str(error.value) == f"space.yaml: {message}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- params\n", "space.yaml: expected a mapping with params, got a list. See `lightcli sweep --help`."),
        ("params: {}\n", "space.yaml: params: expected a mapping of config keys to distributions, got {}. Add params."),
        (
            "param: {trainer.max_epochs: {type: int, low: 1, high: 3}}\n",
            "space.yaml: param: expected one of params, metric, direction, got 'param'. Remove it.",
        ),
        (
            "direction: max\nparams: {trainer.max_epochs: {type: int, low: 1, high: 3}}\n",
            "space.yaml: direction: expected minimize or maximize, got 'max'. Fix the direction.",
        ),
    ],
)
def test_an_invalid_file_is_an_error_naming_the_key(workdir: Path, content: str, message: str) -> None:
    (workdir / "space.yaml").write_text(content)
    with pytest.raises(ConfigError) as error:
        read_space("space.yaml")
    assert str(error.value) == message
