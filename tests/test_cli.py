"""The lightcli command: subcommands, configs, overrides, checkpoints, the DataModule path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import loader, only_run_dir, subprocess_env, tiny_config, write_config


def checkpoints(root: Path) -> list[Path]:
    return sorted(root.glob("runs/**/*.ckpt"))


def test_fit_trains_logs_and_checkpoints(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config) == 0
    run = only_run_dir(workdir)
    assert run.parent.name == "tiny"  # named after the config file
    assert checkpoints(workdir)
    out = capsys.readouterr().out
    assert "final metrics" in out
    for name in ("train/loss", "train/acc", "val/loss", "val/acc"):
        assert name in out


def test_configs_merge_left_to_right_and_overrides_win(cli, workdir: Path) -> None:
    base = write_config(workdir / "base.yaml", tiny_config())
    write_config(workdir / "lr.yaml", {"system": {"optimizer": {"init_args": {"lr": 0.5}}}})
    assert cli("fit", "--config", base, "--config", "lr.yaml", "--system.optimizer.init_args.lr", "0.25") == 0
    saved = yaml.safe_load((only_run_dir(workdir) / "config.yaml").read_text())
    assert saved["system"]["init_args"]["optimizer"]["init_args"]["lr"] == 0.25
    assert saved["system"]["init_args"]["optimizer"]["class_path"] == "torch.optim.Adam"


def test_abbreviated_option_is_rejected(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config, "--trainer.max_epoch", "3") == 2
    assert capsys.readouterr().err == (
        "error: trainer.max_epoch: expected a known key of trainer, got the unknown key 'max_epoch' "
        "(on the command line). Remove it or fix its name. Did you mean 'max_epochs'?\n"
    )
    assert not (workdir / "runs").exists()


def test_wrong_type_override_names_the_key(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config, "--trainer.max_epochs", "three") == 2
    assert capsys.readouterr().err == (
        "error: trainer.max_epochs: expected an int or null, got the string 'three' (on the command line). "
        "Write a whole number, e.g. max_epochs: 10.\n"
    )
    assert not (workdir / "runs").exists()


def test_print_config_round_trip_trains(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config, "--print_config") == 0
    printed = capsys.readouterr().out
    (workdir / "my.yaml").write_text(printed)
    assert not (workdir / "runs").exists()
    assert cli("fit", "--config", "my.yaml") == 0
    assert only_run_dir(workdir).parent.name == "my"


def test_validate_test_predict_from_checkpoint(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config) == 0
    ckpt = checkpoints(workdir)[0]
    capsys.readouterr()
    for subcommand in ("validate", "test", "predict"):
        assert cli(subcommand, "--config", config, "--ckpt_path", ckpt) == 0
    out = capsys.readouterr().out
    assert "val/acc" in out
    assert "test/acc" in out


def test_checkpoint_alone_rebuilds_the_system(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``lightcli validate --ckpt_path X`` needs no config: the checkpoint holds the system's config."""
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config) == 0
    ckpt = checkpoints(workdir)[0]
    capsys.readouterr()
    assert cli("validate", "--ckpt_path", ckpt, "--trainer.enable_progress_bar", "false") == 0
    assert "val/acc" in capsys.readouterr().out


def test_command_line_wins_over_checkpoint_hyperparameters(cli, workdir: Path) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config) == 0
    ckpt = checkpoints(workdir)[0]
    # the checkpoint was trained with lr 0.01; the user's value must be the one used
    args = [
        "--config",
        config,
        "--ckpt_path",
        ckpt,
        "--trainer.max_epochs",
        "2",
        "--system.optimizer.init_args.lr",
        "0.5",
    ]
    assert cli("fit", *args) == 0
    saved = [yaml.safe_load(p.read_text()) for p in sorted(workdir.glob("runs/**/config.yaml"))]
    assert saved[-1]["system"]["init_args"]["optimizer"]["init_args"]["lr"] == 0.5


def test_predict_with_only_predict_data(cli, workdir: Path) -> None:
    config = tiny_config()
    config["system"]["dataloaders"] = {"predict": loader("lightcli.Digits", split="val")}
    config["system"]["criterion"] = None
    assert cli("predict", "--config", write_config(workdir / "p.yaml", config)) == 0


def test_test_never_builds_the_training_data(cli, workdir: Path) -> None:
    """The train loader points at a dataset whose construction fails: test must not build it."""
    (workdir / "exploding.py").write_text(
        "from torch.utils.data import Dataset\n\n"
        "class Exploding(Dataset):\n"
        "    def __init__(self, size: int = 1):\n"
        "        raise RuntimeError('the training set was built')\n"
    )
    config = tiny_config()
    config["system"]["dataloaders"]["train"] = loader("exploding.Exploding", size=3)
    assert cli("test", "--config", write_config(workdir / "t.yaml", config)) == 0


def test_user_module_in_working_directory_and_nested_dataset_args(cli, workdir: Path) -> None:
    """A dataset class from the working directory, with its own arguments, nested in a loader in YAML."""
    (workdir / "mydata.py").write_text(
        "import torch\n"
        "from torch.utils.data import Dataset\n\n"
        "BUILT = []\n\n"
        "class Ramp(Dataset):\n"
        '    """A ramp.\n\n    Args:\n        length: samples\n        offset: added to inputs\n    """\n\n'
        "    def __init__(self, length: int, offset: float = 0.0):\n"
        "        BUILT.append((length, offset))\n"
        "        self.length, self.offset = length, offset\n\n"
        "    def __len__(self):\n"
        "        return self.length\n\n"
        "    def __getitem__(self, i):\n"
        "        return torch.full((64,), i + self.offset), i % 10\n"
    )
    config = tiny_config()
    config["system"]["dataloaders"] = {"train": loader("mydata.Ramp", batch_size=4, length=12, offset=0.5)}
    config["system"]["metrics"] = None
    assert cli("fit", "--config", write_config(workdir / "ramp.yaml", config)) == 0
    import mydata  # type: ignore[import-not-found]

    assert mydata.BUILT == [(12, 0.5)]
    assert type(mydata).__name__ == "module"


def test_nested_dataset_unknown_argument_is_rejected(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config()
    config["system"]["dataloaders"]["train"] = loader("lightcli.Digits", split="train", splitt="val")
    write_config(workdir / "bad.yaml", config)
    assert cli("fit", "--config", "bad.yaml") == 2
    assert capsys.readouterr().err == (
        "error: system.dataloaders.train.init_args.dataset.init_args.splitt: expected an argument of lightcli.Digits "
        "(split, val_fraction, test_fraction, seed, flatten), got the unknown key 'splitt' (in bad.yaml:34). "
        "Remove it or fix its name. Did you mean 'split'?\n"
    )
    assert not (workdir / "runs").exists()


def test_datamodule_replaces_system_dataloaders(cli, workdir: Path) -> None:
    (workdir / "dm.py").write_text(
        "import pytorch_lightning as pl\n"
        "from torch.utils.data import DataLoader\n"
        "from lightcli import Digits\n\n"
        "class DigitsData(pl.LightningDataModule):\n"
        '    """Digits as a DataModule.\n\n    Args:\n        batch_size: samples per batch\n    """\n\n'
        "    def __init__(self, batch_size: int = 32):\n"
        "        super().__init__()\n"
        "        self.batch_size = batch_size\n\n"
        "    def train_dataloader(self):\n"
        "        return DataLoader(Digits('train'), batch_size=self.batch_size, shuffle=True)\n\n"
        "    def val_dataloader(self):\n"
        "        return DataLoader(Digits('val'), batch_size=self.batch_size)\n"
    )
    config = tiny_config()
    del config["system"]["dataloaders"]
    config["data"] = {"class_path": "dm.DigitsData", "init_args": {"batch_size": 16}}
    assert cli("fit", "--config", write_config(workdir / "dm.yaml", config)) == 0
    saved = yaml.safe_load((only_run_dir(workdir) / "config.yaml").read_text())
    assert saved["data"]["init_args"]["batch_size"] == 16


def test_help_lists_every_subcommand(cli, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("--help") == 0
    out = capsys.readouterr().out
    for name in ("fit", "validate", "test", "predict"):
        assert name in out


@pytest.mark.slow
def test_subprocess_fit_has_a_clean_console(workdir: Path) -> None:
    config = tiny_config(trainer={"enable_progress_bar": True, "enable_model_summary": True})
    write_config(workdir / "tiny.yaml", config)
    done = subprocess.run(
        [sys.executable, "-m", "lightcli", "fit", "--config", "tiny.yaml"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for noise in ("Warning", "warn", "💡", "Tip", "litlogger", "GPU available", "Traceback"):
        assert noise not in done.stderr + done.stdout, noise
    assert "val/acc" in done.stdout


def test_dataset_that_fails_to_build_is_named_by_its_key(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "rows.py").write_text(
        "from torch.utils.data import Dataset\n\n"
        "class Rows(Dataset):\n"
        "    def __init__(self, file: str = 'rows.csv'):\n"
        "        open(file)\n"
    )
    config = tiny_config()
    config["system"]["dataloaders"]["train"] = loader("rows.Rows", file="missing.csv")
    write_config(workdir / "rows.yaml", config)
    assert cli("fit", "--config", "rows.yaml") == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: system.dataloaders.train: expected a train loader that builds, got FileNotFoundError: "
        "[Errno 2] No such file or directory: 'missing.csv'. Check its dataset's init_args (paths first)."
    )
