"""``lightcli convert``: Lighter and Hydra configs (``_target_``) in lightcli's syntax; a ``_target_`` config given
to ``fit`` is one message pointing at it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from conftest import subprocess_env
from lightcli.commands import main
from lightcli.tools.convert import convert

LIGHTER = """\
trainer:
    _target_: pytorch_lightning.Trainer
    max_epochs: 1
    accelerator: cpu
    limit_train_batches: 2
    limit_val_batches: 1
    enable_progress_bar: False

system:
    _target_: lighter.System
    model:
        _target_: lightcli.MLP
        in_features: 64
        out_features: 10
    criterion:
        _target_: torch.nn.CrossEntropyLoss
    optimizer:
        _target_: torch.optim.Adam
        params: "$@system#model.parameters()"
        lr: 0.001
    scheduler:
        _target_: torch.optim.lr_scheduler.StepLR
        optimizer: "@system::optimizer"
        step_size: 30
    metrics:
        train:
            - _target_: torchmetrics.Accuracy
              task: multiclass
              num_classes: 10
    dataloaders:
        train:
            _target_: torch.utils.data.DataLoader
            batch_size: 32
            shuffle: True
            dataset:
                _target_: lightcli.Digits
                split: train
        val:
            _target_: torch.utils.data.DataLoader
            batch_size: 64
            dataset:
                _target_: lightcli.Digits
                split: val
"""
"""A Lighter config as Lighter's documentation writes one (its own classes swapped for lightcli's digits)."""

LIGHTER_MODULE = """\
trainer:
    _target_: pytorch_lightning.Trainer
    max_epochs: 1
    limit_train_batches: 2
    limit_val_batches: 1
    enable_progress_bar: False

model:
    _target_: project.model.DigitsModel
    network:
        _target_: lightcli.MLP
        in_features: 64
        out_features: 10
    criterion:
        _target_: torch.nn.CrossEntropyLoss
    optimizer:
        _target_: torch.optim.Adam
        params: "$@model::network.parameters()"
        lr: 0.001
    train_metrics:
        _target_: torchmetrics.MetricCollection
        metrics:
            - _target_: torchmetrics.classification.MulticlassAccuracy
              num_classes: 10
    val_metrics: "%::train_metrics"

data:
    _target_: lighter.LighterDataModule
    train_dataloader:
        _target_: torch.utils.data.DataLoader
        batch_size: 32
        shuffle: True
        dataset:
            _target_: lightcli.Digits
            split: train
    val_dataloader:
        _target_: torch.utils.data.DataLoader
        batch_size: 64
        dataset:
            _target_: lightcli.Digits
            split: val
"""
"""Lighter's newer layout, as its cifar10 example writes it: a LighterModule under ``model``, a LighterDataModule."""

LIGHTER_REFERENCES = """\
vars:
    num_classes: 10
trainer:
    _target_: pytorch_lightning.Trainer
    max_epochs: 6
system:
    _target_: lighter.System
    model:
        _target_: torchvision.models.resnet18
        num_classes: "%vars::num_classes"
    scheduler:
        _target_: torch.optim.lr_scheduler.CosineAnnealingLR
        optimizer: "@system::optimizer"
        T_max: "%trainer::max_epochs"
    metrics:
        train:
            - _target_: torchmetrics.Accuracy
              task: multiclass
              num_classes: "@system#model#num_classes"
        val: "%system::metrics::train"
        test: "%::train"
    dataloaders:
        train:
            _target_: torch.utils.data.DataLoader
            sampler:
                _target_: torch.utils.data.RandomSampler
                data_source: "@system::dataloaders::train::dataset"
            dataset:
                _target_: torchvision.datasets.CIFAR10
                root: .datasets/
                transform: "$torchvision.transforms.ToTensor()"
        val: "%configs/base.yaml#system#dataloaders#val"
    _requires_: "@system::model"
"""

HYDRA = """\
defaults:
  - _self_
  - override hydra/launcher: basic
trainer:
  _target_: lightning.pytorch.trainer.Trainer
  max_epochs: 10
model:
  _target_: lightcli.MLP
  in_features: 64
  out_features: ${num_classes}
optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 0.001
scheduler:
  _target_: torch.optim.lr_scheduler.CosineAnnealingLR
  _partial_: true
  T_max: ${trainer.max_epochs}
num_classes: 10
ckpt_path: ???
"""
"""A Hydra config as Hydra's and lightning-hydra-template's documentation write them."""


def _lightcli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lightcli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
    )


def test_a_converted_lighter_config_trains(workdir: Path, capsys) -> None:
    (workdir / "old.yaml").write_text(LIGHTER)
    code = (
        "import sys; from lightcli.commands import main; main(['convert', 'old.yaml']); print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, env=subprocess_env(), check=True
    )
    text, imported_torch = done.stdout.rsplit("\n", 2)[0], done.stdout.splitlines()[-1]
    assert imported_torch == "False" and done.stderr == ""
    new = yaml.safe_load(text)
    assert new["trainer"]["max_epochs"] == 1 and "_target_" not in new["trainer"]
    system = new["system"]
    assert system["model"] == {"class_path": "lightcli.MLP", "init_args": {"in_features": 64, "out_features": 10}}
    assert system["optimizer"] == {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.001}}  # params: passed in
    assert system["scheduler"] == {
        "scheduler": {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 30}}
    }
    assert system["dataloaders"]["train"]["class_path"] == "lightcli.Loader"
    assert system["dataloaders"]["train"]["init_args"]["dataset"] == {
        "class_path": "lightcli.Digits",
        "init_args": {"split": "train"},
    }
    (workdir / "new.yaml").write_text(text)
    assert main(["fit", "--config", "new.yaml"]) == 0
    assert "val/acc" not in capsys.readouterr().err


def test_lighters_model_and_data_layout_moves_under_system_and_trains(workdir: Path) -> None:
    text = convert(yaml.safe_load(LIGHTER_MODULE))
    assert "# model: {_target_: project.model.DigitsModel}  # lightcli convert: its parts moved under system" in text
    system = yaml.safe_load(text)["system"]
    assert system["model"]["class_path"] == "lightcli.MLP"
    assert system["metrics"]["train"] == [
        {"class_path": "torchmetrics.classification.MulticlassAccuracy", "init_args": {"num_classes": 10}}
    ]
    assert system["metrics"]["val"] == "${system.metrics.train}"
    assert system["dataloaders"]["val"]["class_path"] == "lightcli.Loader"
    system["metrics"]["val"] = system["metrics"]["train"]  # shared values are resolved by the parser (not here)
    config = yaml.safe_load(text)
    config["system"] = system
    (workdir / "new.yaml").write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", "new.yaml"]) == 0


def test_lighter_references_become_shared_values_and_expressions_comments() -> None:
    text = convert(yaml.safe_load(LIGHTER_REFERENCES))
    lines = [line.strip() for line in text.splitlines()]
    assert "num_classes: ${vars.num_classes}" in lines
    assert "T_max: ${trainer.max_epochs}" in lines
    assert "num_classes: ${system.model.init_args.num_classes}" in lines  # @ and the old # separator
    assert "val: ${system.metrics.train}" in lines
    assert "test: ${system.metrics.train}" in lines  # %::train: relative to where it stands
    assert "data_source: ${system.dataloaders.train.init_args.dataset}" in lines
    assert any(
        line.startswith("# transform: $torchvision.transforms.ToTensor()  # lightcli convert: a Python expression")
        for line in lines
    )
    assert any(line.startswith("# val: '%configs/base.yaml#system#dataloaders#val'") for line in lines)
    assert any(line.startswith("# _requires_: '@system::model'  # lightcli convert:") for line in lines)
    assert "optimizer: '@system::optimizer'" not in text  # the System passes the optimizer to the scheduler
    parsed = yaml.safe_load(text)  # the comments leave valid YAML
    assert parsed["system"]["dataloaders"]["train"]["class_path"] == "torch.utils.data.DataLoader"  # a sampler
    assert parsed["system"]["scheduler"]["scheduler"]["init_args"] == {"T_max": "${trainer.max_epochs}"}


def test_hydra_configs_keep_their_interpolations_with_the_new_keys() -> None:
    text = convert(yaml.safe_load(HYDRA))
    parsed = yaml.safe_load(text)
    assert parsed["trainer"] == {"max_epochs": 10}
    assert parsed["model"]["init_args"]["out_features"] == "${num_classes}"
    assert parsed["optimizer"] == {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.001}}  # _partial_ dropped
    assert parsed["scheduler"]["init_args"]["T_max"] == "${trainer.max_epochs}"
    assert "defaults" not in parsed and "ckpt_path" not in parsed
    assert (
        "# defaults: [_self_, {override hydra/launcher: basic}]  # lightcli convert: Hydra's config composition" in text
    )
    assert "# ckpt_path: ???  # lightcli convert: Hydra's mandatory value" in text


def test_a_target_config_is_one_message_naming_convert(workdir: Path, capsys) -> None:
    (workdir / "old.yaml").write_text(LIGHTER)
    assert main(["fit", "--config", "old.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: trainer: expected class_path + init_args (lightcli's syntax), got _target_")
    assert "(in old.yaml:" in err[0] and "`lightcli convert old.yaml > new.yaml`" in err[0]


def test_convert_of_a_missing_file_is_an_error_naming_it(workdir: Path) -> None:
    done = _lightcli("convert", "nope.yaml", cwd=workdir)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("CONFIG: expected an existing YAML file, got 'nope.yaml'")
