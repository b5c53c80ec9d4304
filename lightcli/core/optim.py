"""Differential learning rates: optimizer parameter groups chosen by module name, from YAML."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import nn
from torch.optim import Optimizer

from lightcli.config.problems import ConfigError, Problem
from lightcli.core.params import canonical, matches_prefix, module_names

__all__ = ["ParamGroup", "build_optimizer", "build_param_groups", "check_options"]

_KEY = "system.param_groups"


@dataclass
class ParamGroup:
    """Parameters of ``system.model`` that get their own optimizer options (e.g. a lower learning rate).

    The parameters not chosen by any group form the last group, with the optimizer's own options.
    """

    prefixes: list[str | int]
    """Module names of ``system.model`` (as in ``model.named_modules()``, e.g. ``backbone``); every parameter
    inside belongs to this group (numbers for ``nn.Sequential`` layers; a full parameter name chooses that
    parameter). A parameter matched by several groups goes to the longest prefix."""
    lr: float | None = None
    """Learning rate of this group; null uses the optimizer's ``lr``."""
    weight_decay: float | None = None
    """Weight decay of this group; null uses the optimizer's ``weight_decay``."""
    options: dict[str, Any] = field(default_factory=dict)
    """Other options of the optimizer for this group, e.g. ``{momentum: 0.8}`` or ``{betas: [0.9, 0.99]}``."""

    def group_options(self) -> dict[str, Any]:
        """The optimizer options of this group (only those given)."""
        given = {"lr": self.lr, "weight_decay": self.weight_decay}
        options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        for key, value in self.options.items():
            options[key] = tuple(value) if isinstance(value, list) else value
        return options


def build_param_groups(
    model: nn.Module, groups: list[ParamGroup], rest: Iterable[nn.Parameter] = ()
) -> list[dict[str, Any]]:
    """Splits the parameters of ``model`` into torch optimizer parameter groups.

    Args:
        model: The network (``system.model``).
        groups: The configured groups, in order.
        rest: Parameters outside the model that are trained too (e.g. a learnable loss); they go to the
            default group.

    Returns:
        One dict per configured group (``params`` and its options), then the default group of all other
        parameters (when there are any).

    Raises:
        ConfigError: A prefix matches no parameter of the model.
    """
    params = dict(model.named_parameters())
    owner: dict[str, tuple[int, int]] = {}  # parameter name -> (prefix length, group index)
    for g, group in enumerate(groups):
        if not group.prefixes:
            fix = "List the modules of this group, e.g. [backbone]."
            raise ConfigError(Problem(f"{_KEY}[{g}].prefixes", "at least one module name", "an empty list", fix))
        for given in map(str, group.prefixes):
            prefix = canonical(given, params, prefix=True)
            if prefix is None:
                modules = module_names(model)
                raise ConfigError(
                    Problem(
                        f"{_KEY}[{g}].prefixes",
                        "module names of system.model",
                        f"{given!r}, which matches no parameter",
                        f"Modules with parameters: {', '.join(modules[:12])}.",
                    )
                )
            for name in params:
                if matches_prefix(name, prefix) and (name not in owner or len(prefix) > owner[name][0]):
                    owner[name] = (len(prefix), g)
    result: list[dict[str, Any]] = []
    for g, group in enumerate(groups):
        chosen = [p for name, p in params.items() if name in owner and owner[name][1] == g]
        result.append({"params": chosen, **group.group_options()})
    chosen_ids = {id(p) for name, p in params.items() if name in owner}
    default = [p for p in params.values() if id(p) not in chosen_ids]
    seen = {id(p) for p in params.values()}
    default += [p for p in rest if id(p) not in seen]
    if default:
        result.append({"params": default})
    return result


def check_options(optimizer: Optimizer, groups: list[ParamGroup]) -> None:
    """Raises a config error for a group option the optimizer does not have (a typo would be ignored by torch)."""
    known = set(optimizer.defaults)
    for g, group in enumerate(groups):
        for key in group.group_options():
            if key not in known:
                where = f"options.{key}" if key in group.options else key
                raise ConfigError(
                    Problem(
                        f"{_KEY}[{g}].{where}",
                        f"an option of {type(optimizer).__name__} ({', '.join(sorted(known))})",
                        repr(key),
                        "Remove it or fix its name.",
                    )
                )


def build_optimizer(
    factory: Callable[[Iterable[Any]], Optimizer],
    model: nn.Module,
    groups: list[ParamGroup],
    params: Iterable[nn.Parameter],
) -> Optimizer:
    """Builds the optimizer of ``params``, the parameters of ``model`` split into ``groups`` when there are any.

    Args:
        factory: The optimizer class_path and its init_args (``system.optimizer``); the parameters are passed in.
        model: The network (``system.model``).
        groups: The configured parameter groups (``system.param_groups``), possibly empty.
        params: Every trained parameter (the model's and e.g. a learnable loss's).

    Raises:
        ConfigError: A prefix matches no parameter, or a group option the optimizer does not have.
    """
    if not groups:
        return factory(params)
    optimizer = factory(build_param_groups(model, groups, rest=params))
    check_options(optimizer, groups)
    return optimizer
