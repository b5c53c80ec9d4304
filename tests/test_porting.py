"""The messages someone porting a config meets first give the fix: an unknown key names the class that takes it,
a DataLoader class is refused with the exact Loader YAML, and a function returning a DataLoader works."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import only_run_dir, tiny_config, write_config
from lightcli.commands import main


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def _with(folder: Path, **system: object) -> str:
    write_config(folder / "ported.yaml", tiny_config(system=system))
    return "ported.yaml"


def test_an_unknown_key_names_the_class_that_takes_it(tiny_folder: Path, capsys) -> None:
    """``dim`` on a metric adapter transform: lightcli.Call takes only ``fn``; lightcli.Argmax takes ``dim``."""
    transform = {"class_path": "lightcli.Call", "init_args": {"fn": "torch.argmax", "dim": 1}}
    adapters = {"val": {"metrics": {"pred_transforms": [transform]}}}
    assert main(["check", "fit", "--config", _with(tiny_folder, adapters=adapters)]) == 2
    assert _errors(capsys) == [
        "error: system.adapters.val.metrics.pred_transforms[0].init_args.dim: expected an argument of lightcli.Call "
        "(fn), got the unknown key 'dim' (in ported.yaml:85). Remove it or fix its name. lightcli.Argmax takes 'dim'."
    ]


def test_a_function_given_init_args_as_a_transform_points_at_a_class(tiny_folder: Path, capsys) -> None:
    """Lighter's ``{_target_: torch.argmax, dim: 1}`` written as a class_path: a function takes no init_args here."""
    transform = {"class_path": "torch.argmax", "init_args": {"dim": 1}}
    adapters = {"val": {"metrics": {"pred_transforms": [transform]}}}
    assert main(["check", "fit", "--config", _with(tiny_folder, adapters=adapters)]) == 2
    (error,) = _errors(capsys)
    assert error.startswith("error: system.adapters.val.metrics.pred_transforms[0].init_args: expected no init_args")
    assert error.endswith("e.g. {class_path: lightcli.Argmax, init_args: {dim: ...}}.")


def test_a_dataloader_class_is_refused_with_the_loader_yaml_that_works(tiny_folder: Path, capsys) -> None:
    dataset = {"class_path": "lightcli.Digits", "init_args": {"split": "train"}}
    train = {"class_path": "torch.utils.data.DataLoader", "init_args": {"dataset": dataset, "batch_size": 32}}
    config = tiny_config()
    config["system"]["dataloaders"]["train"] = train
    write_config(tiny_folder / "ported.yaml", config)
    assert main(["check", "fit", "--config", "ported.yaml"]) == 2
    (error,) = _errors(capsys)
    written = (
        "write {class_path: lightcli.Loader, init_args: {dataset: {class_path: lightcli.Digits, "
        "init_args: {split: train}}, batch_size: 32}}."
    )
    assert error.startswith(
        "error: system.dataloaders.train.class_path: expected a lightcli.Loader or a function that returns a "
        "DataLoader, got 'torch.utils.data.DataLoader' (a DataLoader class) (in ported.yaml:28)."
    )
    assert error.endswith(written)
    # the YAML the message gives works
    fixed = {"class_path": "lightcli.Loader", "init_args": {"dataset": dataset, "batch_size": 32}}
    config["system"]["dataloaders"]["train"] = fixed
    write_config(tiny_folder / "ported.yaml", config)
    assert main(["check", "fit", "--config", "ported.yaml"]) == 0


def test_a_dataloader_with_a_sampler_is_pointed_at_a_loader_function(tiny_folder: Path, capsys) -> None:
    init_args = {"dataset": {"class_path": "lightcli.Digits"}, "sampler": {"class_path": "torch.utils.data.Sampler"}}
    config = tiny_config()
    config["system"]["dataloaders"]["train"] = {"class_path": "torch.utils.data.DataLoader", "init_args": init_args}
    write_config(tiny_folder / "ported.yaml", config)
    assert main(["check", "fit", "--config", "ported.yaml"]) == 2
    (error,) = _errors(capsys)
    assert "lightcli.Loader does not take sampler: write a function that returns your DataLoader" in error


LOADERS = '''\
from torch.utils.data import DataLoader

from lightcli import Digits


def digits_loader(split: str = "train", batch_size: int = 32) -> DataLoader:
    """Digits in a DataLoader built by hand."""
    return DataLoader(Digits(split=split), batch_size=batch_size, shuffle=split == "train")
'''


def test_a_function_returning_a_dataloader_given_with_its_arguments_trains(tiny_folder: Path) -> None:
    (tiny_folder / "myloaders.py").write_text(LOADERS)
    config = tiny_config()
    for mode, split in (("train", "train"), ("val", "val")):
        config["system"]["dataloaders"][mode] = {
            "class_path": "myloaders.digits_loader",
            "init_args": {"split": split, "batch_size": 16},
        }
    write_config(tiny_folder / "ported.yaml", config)
    assert main(["fit", "--config", "ported.yaml"]) == 0
    assert (only_run_dir(tiny_folder) / "checkpoints" / "last.ckpt").is_file()
