"""The Freezer callback through the CLI: what it freezes, for how long, what it reports, bad settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import subprocess_env, tiny_config, write_config

FREEZER = "lightcli.core.freezer.Freezer"


def initial_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict for the tiny MLP (64 -> 16 -> 10), saved to path and loaded by system.weights."""
    state = {
        "1.weight": torch.full((16, 64), 0.01),
        "1.bias": torch.full((16,), 0.02),
        "3.weight": torch.full((10, 16), 0.03),
        "3.bias": torch.full((10,), 0.04),
    }
    torch.save(state, path)
    return state


def config_with(workdir: Path, freezer: dict[str, Any], checkpoint: dict[str, Any], **trainer: Any) -> Path:
    start = initial_weights(workdir / "start.pt")
    assert start
    callbacks = [
        {"class_path": FREEZER, "init_args": freezer},
        {
            "class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
            "init_args": {"dirpath": str(workdir / "ckpts"), "save_top_k": -1, **checkpoint},
        },
    ]
    config = tiny_config(
        trainer={"callbacks": callbacks, "limit_train_batches": 4, "limit_val_batches": 1, **trainer},
        system={
            "weights": {"path": "start.pt"},
            # weight decay would shrink a frozen parameter if the optimizer touched it
            "optimizer": {"class_path": "torch.optim.AdamW", "init_args": {"lr": 0.01, "weight_decay": 0.5}},
        },
    )
    return write_config(workdir / "freeze.yaml", config)


def model_state(ckpt: Path) -> dict[str, torch.Tensor]:
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    return {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}


def test_frozen_until_epoch_then_trained(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # names as printed in the model summary (model.1) and as in the model (3.bias), numbers for Sequential layers
    freezer = {"prefixes": ["model.1", 3], "except_names": ["3.bias"], "until_epoch": 1}
    config = config_with(workdir, freezer, {"every_n_epochs": 1}, max_epochs=2)
    assert cli("fit", "--config", config) == 0
    start = torch.load(workdir / "start.pt", weights_only=True)
    first, second = (model_state(workdir / "ckpts" / f"epoch={e}-step={4 * (e + 1)}.ckpt") for e in (0, 1))
    for name in ("1.weight", "1.bias", "3.weight"):
        assert torch.equal(first[name], start[name]), f"{name} changed while frozen"
        assert not torch.equal(second[name], start[name]), f"{name} did not train once unfrozen"
    assert not torch.equal(first["3.bias"], start["3.bias"])  # the exception trains from the start
    out = capsys.readouterr().out
    assert "Freezer: froze 3 parameter tensors (1,200 values) until epoch 1: 1.weight, 1.bias, 3.weight\n" in out
    assert "Freezer: unfroze 3 parameter tensors (1,200 values) at epoch 1: 1.weight, 1.bias, 3.weight\n" in out


def test_frozen_until_step(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_with(workdir, {"names": ["1.weight"], "until_step": 2}, {"every_n_train_steps": 2}, max_epochs=1)
    assert cli("fit", "--config", config) == 0
    start = torch.load(workdir / "start.pt", weights_only=True)
    at_2, at_4 = (model_state(workdir / "ckpts" / f"epoch=0-step={s}.ckpt") for s in (2, 4))
    assert torch.equal(at_2["1.weight"], start["1.weight"])
    assert not torch.equal(at_4["1.weight"], start["1.weight"])
    assert not torch.equal(at_2["1.bias"], start["1.bias"])  # not chosen: trains all along
    out = capsys.readouterr().out
    assert "Freezer: froze 1 parameter tensor (1,024 values) until step 2: 1.weight\n" in out
    assert "Freezer: unfroze 1 parameter tensor (1,024 values) at step 2: 1.weight\n" in out


def test_frozen_for_the_whole_run_without_until(cli, workdir: Path) -> None:
    config = config_with(workdir, {"prefixes": ["1"]}, {"every_n_epochs": 1}, max_epochs=1)
    assert cli("fit", "--config", config) == 0
    start = torch.load(workdir / "start.pt", weights_only=True)
    end = model_state(workdir / "ckpts" / "epoch=0-step=4.ckpt")
    assert torch.equal(end["1.weight"], start["1.weight"])
    assert not torch.equal(end["3.weight"], start["3.weight"])


def run_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str], freezer: dict[str, Any]) -> str:
    config = config_with(workdir, freezer, {"every_n_epochs": 1}, max_epochs=1)
    assert cli("fit", "--config", config) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (workdir / "ckpts").exists()
    assert not (workdir / "runs").exists()  # no run directory, no logs: nothing half-written
    return err


def test_until_step_and_until_epoch_together_is_an_error(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run_error(cli, workdir, capsys, {"prefixes": ["1"], "until_step": 3, "until_epoch": 1})
    assert (
        "trainer.callbacks.Freezer.until_step, until_epoch: expected one of them, got both "
        "(until_step=3, until_epoch=1). Remove one."
    ) in err


def test_prefix_that_matches_nothing_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run_error(cli, workdir, capsys, {"prefixes": ["backbone"]})
    assert (
        "error: trainer.callbacks.Freezer.prefixes: expected module names of system.model, got 'backbone', "
        "which matches no parameter. Modules with parameters: 1, 3.\n"
    ) in err


def test_prefix_is_a_module_name_not_a_text_prefix(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # "1.w" is the start of "1.weight" as text, but no module is called that
    err = run_error(cli, workdir, capsys, {"prefixes": ["1.w"]})
    assert "trainer.callbacks.Freezer.prefixes: expected module names of system.model, got '1.w'" in err


def test_unknown_exception_name_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run_error(cli, workdir, capsys, {"prefixes": ["1"], "except_names": ["1.weights"]})
    assert (
        "error: trainer.callbacks.Freezer.except_names: expected parameter names of system.model, got '1.weights', "
        "which is not one. Did you mean 1.weight? Parameter names are those of `model.named_parameters()`, "
        "e.g. 1.weight, 1.bias, 3.weight.\n"
    ) in err


def test_nothing_to_freeze_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run_error(cli, workdir, capsys, {"until_epoch": 1})
    assert (
        "trainer.callbacks.Freezer.names, prefixes: expected what to freeze, got neither. "
        "Set prefixes (module names, e.g. [backbone]) or names (parameter names)."
    ) in err


SAVE_PER_RANK = """
import torch
from pytorch_lightning.callbacks import Callback


class SavePerRank(Callback):
    \"\"\"Saves each process's copy of the model at the end of training.\"\"\"

    def on_train_end(self, trainer, pl_module):
        torch.save(pl_module.model.state_dict(), f"rank{trainer.global_rank}.pt")
"""


@pytest.mark.slow
def test_ddp_freezes_then_trains_in_sync(workdir: Path) -> None:
    """Under DDP the frozen parameters stay registered with DDP: once unfrozen, they train in sync."""
    (workdir / "code").mkdir()
    (workdir / "code" / "ranks.py").write_text(SAVE_PER_RANK)
    config = config_with(workdir, {"prefixes": ["1"], "until_epoch": 1}, {"every_n_epochs": 1}, max_epochs=2)
    ddp = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
    ranks = ["--trainer.callbacks+=project.ranks.SavePerRank"]
    result = subprocess.run(
        [sys.executable, "-m", "lightcli", "fit", "--project", "code", "--config", str(config), *ddp, *ranks],
        check=False,
        cwd=workdir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.count("Freezer: froze 2 parameter tensors (1,040 values) until epoch 1: 1.weight, 1.bias\n") == 1
    )
    start = torch.load(workdir / "start.pt", weights_only=True)
    # limit_train_batches 4 counts per process: 4 optimizer steps per epoch
    first, second = (model_state(workdir / "ckpts" / f"epoch={e}-step={4 * (e + 1)}.ckpt") for e in (0, 1))
    assert torch.equal(first["1.weight"], start["1.weight"])
    assert not torch.equal(first["3.weight"], start["3.weight"])
    assert not torch.equal(second["1.weight"], start["1.weight"])
    rank0, rank1 = (torch.load(workdir / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for name in rank0:  # each process saw different batches: equal weights mean the gradients were averaged
        assert torch.allclose(rank0[name], rank1[name], atol=1e-6), name
