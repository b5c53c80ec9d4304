"""Differential learning rates from YAML: parameter groups by module name, their options, errors, the freezer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import tiny_config, write_config

_RANDOM = torch.Generator().manual_seed(0)
START = {
    name: torch.randn(shape, generator=_RANDOM) * 0.1
    for name, shape in (("1.weight", (16, 64)), ("1.bias", (16,)), ("3.weight", (10, 16)), ("3.bias", (10,)))
}
"""Initial weights of the tiny MLP (64 -> 16 -> 10), loaded with system.weights."""


def fit(
    cli, workdir: Path, groups: list[dict[str, Any]], optimizer: dict[str, Any] | None = None, **trainer: Any
) -> int:
    torch.save(START, workdir / "start.pt")
    system: dict[str, Any] = {"param_groups": groups, "weights": {"path": "start.pt"}}
    if optimizer is not None:
        system["optimizer"] = optimizer
    checkpoint = {"class_path": "pytorch_lightning.callbacks.ModelCheckpoint", "init_args": {"dirpath": "ckpts"}}
    config = tiny_config(trainer={"callbacks": [checkpoint], **trainer}, system=system)
    return cli("fit", "--config", write_config(workdir / "groups.yaml", config))


def saved(workdir: Path) -> dict[str, Any]:
    (ckpt,) = (workdir / "ckpts").glob("*.ckpt")
    return torch.load(ckpt, weights_only=True)


def test_groups_get_their_options_and_the_rest_the_optimizer_defaults(cli, workdir: Path) -> None:
    groups = [
        {"prefixes": ["1"], "lr": 0.001, "weight_decay": 0.1},
        {"prefixes": ["model.3"], "options": {"betas": [0.5, 0.6]}},  # the summary's name works too
    ]
    adam = {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.0}}
    assert fit(cli, workdir, groups, adam) == 0
    param_groups = saved(workdir)["optimizer_states"][0]["param_groups"]
    # the tiny MLP: 1 = Linear(64, 16), 3 = Linear(16, 10); nothing is left for a default group
    assert [len(g["params"]) for g in param_groups] == [2, 2]
    assert [(g["lr"], g["weight_decay"], tuple(g["betas"])) for g in param_groups] == [
        (0.001, 0.1, (0.9, 0.999)),
        (0.01, 0.0, (0.5, 0.6)),
    ]


def test_a_group_with_zero_lr_does_not_move_and_the_default_group_trains(cli, workdir: Path) -> None:
    sgd = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}
    assert fit(cli, workdir, [{"prefixes": ["3.weight"], "lr": 0.0}], sgd, limit_train_batches=2) == 0
    state = saved(workdir)
    assert [len(g["params"]) for g in state["optimizer_states"][0]["param_groups"]] == [1, 3]  # the group, the rest
    assert torch.equal(state["state_dict"]["model.3.weight"], START["3.weight"])
    for name in ("1.weight", "1.bias", "3.bias"):
        assert not torch.equal(state["state_dict"][f"model.{name}"], START[name])


def test_the_longest_prefix_wins(cli, workdir: Path) -> None:
    groups = [{"prefixes": [""], "lr": 0.5}, {"prefixes": ["1"], "lr": 0.25}]  # "" is the whole model
    assert fit(cli, workdir, groups) == 0
    param_groups = saved(workdir)["optimizer_states"][0]["param_groups"]
    assert [(len(g["params"]), g["lr"]) for g in param_groups] == [(2, 0.5), (2, 0.25)]


def error(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str], groups: list[dict[str, Any]], **optimizer: Any
) -> str:
    assert fit(cli, workdir, groups, optimizer or None) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (workdir / "ckpts").exists()
    return err


def test_prefix_that_matches_nothing_names_it(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error(cli, workdir, capsys, [{"prefixes": ["1"], "lr": 0.1}, {"prefixes": ["backbone"], "lr": 0.1}])
    assert (
        "system.param_groups[1].prefixes: expected module names of system.model, got 'backbone', which matches "
        "no parameter. Modules with parameters: 1, 3."
    ) in err


def test_empty_prefixes_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error(cli, workdir, capsys, [{"prefixes": [], "lr": 0.1}])
    assert (
        "system.param_groups[0].prefixes: expected at least one module name, got an empty list. "
        "List the modules of this group, e.g. [backbone]."
    ) in err


def test_option_the_optimizer_does_not_have_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sgd = {"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}
    err = error(cli, workdir, capsys, [{"prefixes": ["1"], "options": {"momentm": 0.9}}], **sgd)
    assert "system.param_groups[0].options.momentm: expected an option of SGD (dampening, " in err
    assert "got 'momentm'. Remove it or fix its name." in err


def test_string_expressions_are_not_evaluated(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = error(cli, workdir, capsys, [{"prefixes": ["1"], "lr": "0.01 * 10"}])
    assert "system.param_groups" in err
    assert "lr" in err


def test_frozen_group_waits_then_trains_with_its_own_lr(cli, workdir: Path) -> None:
    freezer = {"class_path": "lightcli.core.freezer.Freezer", "init_args": {"prefixes": ["1"], "until_epoch": 1}}
    checkpoint = {
        "class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
        "init_args": {"dirpath": "ckpts", "save_top_k": -1, "every_n_epochs": 1},
    }
    config = tiny_config(
        trainer={"callbacks": [freezer, checkpoint], "max_epochs": 2, "limit_train_batches": 2, "limit_val_batches": 1},
        system={"param_groups": [{"prefixes": ["1"], "lr": 0.001}], "weights": {"path": "start.pt"}},
    )
    torch.save(START, workdir / "start.pt")
    assert cli("fit", "--config", write_config(workdir / "frozen.yaml", config)) == 0
    first, second = (
        torch.load(workdir / "ckpts" / f"epoch={e}-step={2 * (e + 1)}.ckpt", weights_only=True) for e in (0, 1)
    )
    assert torch.equal(first["state_dict"]["model.1.weight"], START["1.weight"])
    assert not torch.equal(second["state_dict"]["model.1.weight"], first["state_dict"]["model.1.weight"])
    # Adam's state of the frozen group starts when it starts training: one epoch of 2 steps
    states = second["optimizer_states"][0]
    group_ids = states["param_groups"][0]["params"]
    assert [states["state"][i]["step"].item() for i in group_ids] == [2.0, 2.0]
    assert [g["lr"] for g in states["param_groups"]] == [0.001, 0.01]
