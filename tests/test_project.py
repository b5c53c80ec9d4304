"""Project modules: ``--project <folder>`` makes a folder of user code importable as ``project.*`` from anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import subprocess_env, tiny_config, write_config
from lightcli import System
from lightcli.config.problems import ConfigError

MODELS = '''
from torch import nn


class TinyNet(nn.Module):
    """A user's model.

    Args:
        hidden: Hidden units.
    """

    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.body(x)
'''

CALLBACKS = '''
from pytorch_lightning.callbacks import Callback

from project.models import TinyNet  # a sibling module, through the project package


class Announce(Callback):
    """Says when training starts."""

    def on_train_start(self, trainer, pl_module):
        assert isinstance(pl_module.model, TinyNet)
        print("project callback: training starts")
'''


def make_project(root: Path) -> Path:
    folder = root / "code" / "my_project"
    folder.mkdir(parents=True)
    (folder / "models.py").write_text(MODELS)
    (folder / "callbacks.py").write_text(CALLBACKS)
    return folder


def project_config(path: Path) -> Path:
    config = tiny_config(
        trainer={"callbacks": [{"class_path": "project.callbacks.Announce"}], "limit_val_batches": 1},
        system={"model": {"class_path": "project.models.TinyNet", "init_args": {"hidden": 4}}},
    )
    return write_config(path, config)


def test_project_classes_by_class_path_from_another_directory(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_project(workdir)
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    config = project_config(elsewhere / "run.yaml")
    assert cli("fit", "--project", folder, "--config", config) == 0
    assert "project callback: training starts" in capsys.readouterr().out
    assert (
        cli(
            "fit",
            f"--project={folder.relative_to(workdir)}",
            "--config",
            config,
            "--system.model.init_args.hidden",
            "6",
        )
        == 0
    )


def test_without_project_the_class_path_is_unknown(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_project(workdir)
    for name in [m for m in sys.modules if m == "project" or m.startswith("project.")]:
        del sys.modules[name]  # a project loaded by an earlier test in this process
    assert cli("fit", "--config", project_config(workdir / "run.yaml")) == 2
    err = capsys.readouterr().err
    assert "'project.models.TinyNet' (no module named 'project')" in err
    assert "Give the folder of your code: --project path/to/folder, or `project: path/to/folder` in the config" in err


def test_missing_folder_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("fit", "--project", "nowhere", "--config", project_config(workdir / "run.yaml")) == 2
    assert capsys.readouterr().err == (
        "error: --project: expected a folder of Python code, got 'nowhere' (no such folder). "
        "Give the folder holding your models, datasets and callbacks.\n"
    )
    assert not (workdir / "runs").exists()


def test_project_without_a_folder_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("fit", "--config", project_config(workdir / "run.yaml"), "--project") == 2
    assert capsys.readouterr().err == (
        "error: --project: expected a folder of Python code, got nothing. Use --project path/to/folder.\n"
    )


def test_broken_import_names_the_folder_and_the_file(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_project(workdir)
    (folder / "datasets.py").write_text("import numpy\nimport not_installed_anywhere\n")
    assert cli("fit", "--project", "code/my_project", "--config", project_config(workdir / "run.yaml")) == 2
    assert capsys.readouterr().err == (
        "error: --project: expected a folder whose modules import, got 'code/my_project', where datasets.py, line 2 "
        "fails with ModuleNotFoundError: No module named 'not_installed_anywhere'. Fix that module (or install what "
        "it imports).\n"
    )
    assert not (workdir / "runs").exists()


@pytest.mark.slow
def test_project_in_a_real_subprocess(workdir: Path) -> None:
    folder = make_project(workdir)
    config = project_config(workdir / "run.yaml")
    result = subprocess.run(
        [sys.executable, "-m", "lightcli", "fit", "--project", str(folder), "--config", str(config)],
        check=False,
        cwd=workdir / "code",
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "project callback: training starts" in result.stdout


def forget_project() -> None:
    """As a new process would be: no project imported."""
    for name in [m for m in sys.modules if m == "project" or m.startswith("project.")]:
        del sys.modules[name]


def test_a_project_key_travels_with_the_run_to_rerun_resume_test_and_load(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_project(workdir)
    (workdir / "configs").mkdir()
    config = tiny_config(
        trainer={"limit_val_batches": 1, "limit_train_batches": 2},
        system={"model": {"class_path": "project.models.TinyNet", "init_args": {"hidden": 4}}},
    )
    config = {"project": "../code/my_project", **config}  # relative to the config file
    write_config(workdir / "configs" / "run.yaml", config)
    forget_project()
    assert cli("fit", "--config", "configs/run.yaml") == 0
    run = workdir / "runs" / "run" / "version_0"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["project"] == str(folder)
    assert (run / "command.txt").read_text() == f"lightcli --project {folder} fit --config configs/run.yaml\n"

    other = workdir / "other"
    other.mkdir()
    os.chdir(other)  # the run's own files, from another folder, in a fresh state
    forget_project()
    resume = ["fit", "--config", str(run / "config.yaml"), "--trainer.max_epochs", "2", "--ckpt_path", "last"]
    assert cli(*resume) == 0
    assert "epoch=1" in capsys.readouterr().out
    forget_project()
    assert cli("test", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--run.root", str(other / "runs")) == 0
    assert "test/loss" in capsys.readouterr().out

    forget_project()
    assert type(System.load_from_checkpoint(run / "checkpoints" / "last.ckpt").model).__name__ == "TinyNet"
    lone = other / "lone.ckpt"  # a checkpoint without its run folder
    shutil.copy(run / "checkpoints" / "last.ckpt", lone)
    forget_project()
    with pytest.raises(ConfigError, match=r"project: .*System.load_from_checkpoint\(path, project='path/to/folder'\)"):
        System.load_from_checkpoint(lone)
    assert type(System.load_from_checkpoint(lone, project=str(folder)).model).__name__ == "TinyNet"


def test_a_project_key_that_is_not_a_path_is_an_error(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_config(workdir / "bad.yaml", {"project": 3, **tiny_config()})
    assert cli("fit", "--config", "bad.yaml") == 2
    assert "error: project: expected a folder of Python code (a path), got 3 (in bad.yaml)" in capsys.readouterr().err
