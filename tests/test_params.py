"""lightcli.core.params: choosing parameters of system.model by exact name and by module-name prefix."""

from __future__ import annotations

import pytest
from torch import nn

from lightcli.config.problems import ConfigError
from lightcli.core.params import canonical, matches_prefix, module_names, select


def network() -> nn.Module:
    """backbone (a Sequential with a parameter-free ReLU), backbone2 (a sibling whose name starts the same), head."""
    net = nn.Module()
    net.backbone = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    net.backbone2 = nn.Linear(2, 2)
    net.head = nn.Linear(2, 1)
    return net


BACKBONE = ["backbone.0.weight", "backbone.0.bias", "backbone.2.weight", "backbone.2.bias"]


def test_a_prefix_is_a_whole_module_name() -> None:
    net = network()
    assert list(select(net, "key", prefixes=["backbone"])) == BACKBONE  # not backbone2.*
    assert list(select(net, "key", prefixes=["backbone."])) == BACKBONE  # a trailing dot means the same
    assert list(select(net, "key", prefixes=["backbone.2"])) == ["backbone.2.weight", "backbone.2.bias"]
    assert matches_prefix("backbone2.weight", "backbone") is False
    assert matches_prefix("backbone.0.weight", "backbone") is True


def test_the_model_prefix_of_the_lightning_summary_is_accepted() -> None:
    net = network()
    chosen = select(net, "key", names=["model.head.bias"], prefixes=["model.backbone.2"])
    assert list(chosen) == ["backbone.2.weight", "backbone.2.bias", "head.bias"]  # the model's order, names relative
    assert chosen["head.bias"] is dict(net.named_parameters())["head.bias"]  # the parameter itself
    assert list(select(net, "key", prefixes=["model"])) == list(dict(net.named_parameters()))  # the whole network


def test_a_module_really_called_model_wins_over_the_summary_prefix() -> None:
    net = nn.Module()
    net.model = nn.Linear(2, 2)
    net.head = nn.Linear(2, 2)
    assert list(select(net, "key", prefixes=["model"])) == ["model.weight", "model.bias"]
    assert list(select(net, "key", prefixes=["model.head"])) == ["head.weight", "head.bias"]
    assert canonical("model.head", ["model.weight", "head.weight"], prefix=True) == "head"
    assert canonical("model.missing", ["model.weight", "head.weight"], prefix=True) is None


def test_a_prefix_matching_nothing_is_an_error_naming_it_and_the_modules() -> None:
    with pytest.raises(ConfigError) as error:
        select(network(), "trainer.callbacks.Freezer", prefixes=["backbone", "backbon"])
    assert str(error.value) == (
        "trainer.callbacks.Freezer.prefixes: expected module names of system.model, got 'backbon', which matches no "
        "parameter. Did you mean backbone? Modules with parameters: backbone, backbone2, head, backbone.0, backbone.2."
    )


def test_a_text_prefix_of_a_parameter_name_is_not_a_module() -> None:
    with pytest.raises(ConfigError) as error:
        select(network(), "system.param_groups[0]", prefixes=["head.w"])
    assert str(error.value) == (
        "system.param_groups[0].prefixes: expected module names of system.model, got 'head.w', which matches no "
        "parameter. Did you mean head? Modules with parameters: backbone, backbone2, head, backbone.0, backbone.2."
    )


def test_an_unknown_parameter_name_is_an_error_in_the_given_field() -> None:
    with pytest.raises(ConfigError) as error:
        select(network(), "trainer.callbacks.Freezer", names=["head.weights"], fields=("except_names", "prefixes"))
    assert str(error.value) == (
        "trainer.callbacks.Freezer.except_names: expected parameter names of system.model, got 'head.weights', which "
        "is not one. Did you mean head.weight? Parameter names are those of `model.named_parameters()`, e.g. "
        "backbone.0.weight, backbone.0.bias, backbone.2.weight."
    )


def test_module_names_lists_modules_holding_parameters_shortest_first() -> None:
    assert module_names(network()) == [
        "backbone",
        "backbone2",
        "head",
        "backbone.0",
        "backbone.2",
    ]  # not backbone.1 (ReLU)
