"""The System: steps, losses, metrics, logging, optimizers, schedulers, subclassing, checkpoints."""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import MulticlassAccuracy

from conftest import tiny_config, write_config
from lightcli import DataLoaders, Metrics, Scheduler, System
from lightcli.config.problems import ConfigError


def data(n: int = 64, features: int = 8, classes: int = 3) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(
        torch.randn(n, features, generator=generator), torch.randint(classes, (n,), generator=generator)
    )


def loaders(**modes: bool) -> DataLoaders:
    return DataLoaders(**{mode: functools.partial(DataLoader, data(), batch_size=16) for mode in modes})


def trainer(tmp_path: Path, **kwargs: Any) -> pl.Trainer:
    options: dict[str, Any] = {
        "max_epochs": 1,
        "accelerator": "cpu",
        "logger": CSVLogger(tmp_path, name="", version=""),
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
    }
    options.update(kwargs)
    return pl.Trainer(**options)


def logged(tmp_path: Path) -> list[dict[str, str]]:
    with open(tmp_path / "metrics.csv") as f:
        return list(csv.DictReader(f))


def column(rows: list[dict[str, str]], name: str) -> list[float]:
    return [float(r[name]) for r in rows if r.get(name)]


def system(**kwargs: Any) -> System:
    options: dict[str, Any] = {
        "model": nn.Linear(8, 3),
        "criterion": nn.CrossEntropyLoss(),
        "optimizer": functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9),
        "dataloaders": loaders(train=True, val=True, test=True, predict=True),
    }
    options.update(kwargs)
    return System(**options)


class Recorder(pl.Callback):
    """Keeps what each step returned."""

    def __init__(self) -> None:
        self.outputs: dict[str, list[Any]] = {"train": [], "val": [], "test": [], "predict": []}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.outputs["train"].append(outputs)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.outputs["val"].append(outputs)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.outputs["test"].append(outputs)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.outputs["predict"].append(outputs)


def test_every_step_returns_what_callbacks_read(tmp_path: Path) -> None:
    recorder = Recorder()
    run = system()
    t = trainer(tmp_path, callbacks=[recorder], num_sanity_val_steps=0)
    t.fit(run)
    t.test(run)
    t.predict(run)
    for mode in ("train", "val", "test", "predict"):
        out = recorder.outputs[mode][0]
        assert set(out) == {"identifier", "input", "target", "pred", "loss", "metrics"}
        assert out["pred"].shape == (16, 3)
    assert recorder.outputs["train"][0]["loss"].ndim == 0
    assert recorder.outputs["predict"][0]["target"] is None
    assert recorder.outputs["predict"][0]["loss"] is None


def test_dict_losses_are_all_logged_and_total_is_optimized(tmp_path: Path) -> None:
    def criterion(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        ce = nn.functional.cross_entropy(pred, target)
        l2 = pred.pow(2).mean()
        return {"total": ce + 0.1 * l2, "ce": ce, "l2": l2}

    trainer(tmp_path).fit(system(criterion=criterion))
    rows = logged(tmp_path)
    for name in ("train/loss", "train/loss/ce", "train/loss/l2", "val/loss/ce", "train/step/loss/l2"):
        assert column(rows, name), name


def test_criterion_dict_without_total_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        trainer(tmp_path).fit(system(criterion=lambda pred, target: {"ce": pred.sum()}))
    assert str(error.value) == (
        "system.criterion: expected a tensor or a dict with a 'total' key, got a dict with keys ['ce']. "
        "Return the loss to optimize under 'total'."
    )


def test_learning_rate_and_momentum_are_logged(tmp_path: Path) -> None:
    trainer(tmp_path).fit(system())
    rows = logged(tmp_path)
    assert column(rows, "train/lr")[0] == pytest.approx(0.1)
    assert column(rows, "train/momentum")[0] == pytest.approx(0.9)


def test_each_mode_has_its_own_metric_state(tmp_path: Path) -> None:
    shared = MulticlassAccuracy(num_classes=3, average="micro")
    run = system(metrics=Metrics(train=shared, val=shared))
    assert run.train_metrics is not run.val_metrics
    assert run.metrics_of("train")["MulticlassAccuracy"] is not run.metrics_of("val")["MulticlassAccuracy"]
    trainer(tmp_path, limit_val_batches=1, num_sanity_val_steps=0).fit(run)
    rows = logged(tmp_path)
    assert column(rows, "train/MulticlassAccuracy") and column(rows, "val/MulticlassAccuracy")
    assert len(column(rows, "train/step/MulticlassAccuracy")) == 4  # one per logged step


def test_epoch_and_step_reach_a_forward_that_accepts_them(tmp_path: Path) -> None:
    class Scheduled(nn.Linear):
        def __init__(self) -> None:
            super().__init__(8, 3)
            self.seen: list[tuple[int, int]] = []

        def forward(self, input: torch.Tensor, epoch: int = -1, step: int = -1) -> torch.Tensor:
            self.seen.append((epoch, step))
            return super().forward(input)

    model = Scheduled()
    trainer(tmp_path, max_epochs=2, limit_val_batches=0).fit(system(model=model))
    assert model.seen[0] == (0, 0)
    assert model.seen[-1] == (1, 7)


def test_inferer_replaces_forward_outside_training(tmp_path: Path) -> None:
    calls: list[int] = []

    def inferer(input: torch.Tensor, module: nn.Module) -> torch.Tensor:
        calls.append(len(input))
        return module(input) * 2

    recorder = Recorder()
    run = system(inferer=inferer)
    t = trainer(tmp_path, callbacks=[recorder], num_sanity_val_steps=0, limit_train_batches=1, limit_val_batches=1)
    t.fit(run)
    assert calls == [16]  # validation only
    t.predict(run)
    assert calls == [16, 16, 16, 16, 16]


def test_reduce_on_plateau_follows_its_monitor(tmp_path: Path) -> None:
    scheduler = Scheduler(
        scheduler=functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, mode="max", patience=0, factor=0.5),
        monitor="val/loss",
    )
    run = system(scheduler=scheduler)
    trainer(tmp_path, max_epochs=3).fit(run)
    lrs = column(logged(tmp_path), "train/lr")
    assert min(lrs) < 0.1  # val/loss falls, which mode=max reads as no improvement


def test_reduce_on_plateau_without_monitor_is_a_config_error(tmp_path: Path) -> None:
    scheduler = Scheduler(scheduler=functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau))
    with pytest.raises(ConfigError) as error:
        trainer(tmp_path).fit(system(scheduler=scheduler))
    assert str(error.value) == (
        "system.scheduler.monitor: expected the name of a logged metric for ReduceLROnPlateau, got null. "
        "Set it, e.g. monitor: val/loss."
    )


def test_step_scheduler_steps_every_optimizer_step(tmp_path: Path) -> None:
    scheduler = Scheduler(
        scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5), interval="step"
    )
    run = system(scheduler=scheduler)
    trainer(tmp_path, limit_train_batches=3, limit_val_batches=0).fit(run)
    assert run.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)


def test_missing_criterion_or_optimizer_or_data_is_a_config_error(tmp_path: Path) -> None:
    expected = {
        "criterion": "system.criterion: expected a loss for training, got null. "
        "Set it, e.g. criterion: {class_path: torch.nn.CrossEntropyLoss}.",
        "optimizer": "system.optimizer: expected an optimizer for training, got null. "
        "Set it, e.g. optimizer: {class_path: torch.optim.Adam, init_args: {lr: 0.001}}.",
        "dataloaders": "system.dataloaders.train: expected a loader for the train data, got null. "
        "Set system.dataloaders.train (e.g. class_path: lightcli.Loader) or pass --data.",
    }
    for key, message in expected.items():
        with pytest.raises(ConfigError) as error:
            trainer(tmp_path).fit(system(**{key: None}))
        assert str(error.value) == message


def test_fit_without_val_data_skips_validation(tmp_path: Path) -> None:
    run = system(dataloaders=loaders(train=True))
    trainer(tmp_path).fit(run)
    assert column(logged(tmp_path), "train/loss")
    assert not any("val/loss" in row and row["val/loss"] for row in logged(tmp_path))


def test_subclass_with_manual_optimization_keeps_everything_else(tmp_path: Path) -> None:
    class TwoSteps(System):
        """Takes two optimizer steps per batch with a custom backward."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.automatic_optimization = False
            self.steps = 0

        def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
            optimizer = self.optimizers()
            for _ in range(2):
                out = self.shared_step(batch, "train")
                optimizer.zero_grad()
                self.manual_backward(out["loss"] * 0.5)
                optimizer.step()
                self.steps += 1
            return out

    run = TwoSteps(
        model=nn.Linear(8, 3),
        criterion=nn.CrossEntropyLoss(),
        optimizer=functools.partial(torch.optim.SGD, lr=0.1),
        dataloaders=loaders(train=True, val=True),
        metrics=Metrics(val=MulticlassAccuracy(num_classes=3, average="micro")),
    )
    trainer(tmp_path).fit(run)
    assert run.steps == 8
    assert column(logged(tmp_path), "val/MulticlassAccuracy")


def test_load_from_checkpoint_rebuilds_the_trained_model_without_yaml(cli, workdir: Path) -> None:
    assert cli("fit", "--config", write_config(workdir / "tiny.yaml", tiny_config())) == 0
    ckpt = next(workdir.glob("runs/**/*.ckpt"))
    trained = torch.load(ckpt, weights_only=True)["state_dict"]
    loaded = System.load_from_checkpoint(ckpt)
    assert type(loaded.model).__name__ == "MLP"
    for name, value in loaded.state_dict().items():
        assert torch.equal(value, trained[name]), name
    x = torch.rand(2, 64)
    assert loaded.eval()(x).shape == (2, 10)
