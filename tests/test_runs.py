"""Run directories: what a run leaves behind, with any loggers, and exact reruns from its config.yaml."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from conftest import only_run_dir, tiny_config, write_config
from lightcli.run import record
from lightcli.run.folders import find_run_of_config, last_checkpoint, latest_run, new_run_dir

NO_LOCAL_DIR_LOGGER = '''
from pytorch_lightning.loggers.logger import Logger


class MemoryLogger(Logger):
    """Keeps metrics in memory: no local directory, like a remote experiment tracker."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = []

    @property
    def name(self):
        return "memory"

    @property
    def version(self):
        return 0

    @property
    def save_dir(self):
        return None

    def log_hyperparams(self, params, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.rows.append(dict(metrics))
'''


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def epoch_rows(run: Path) -> list[dict[str, str]]:
    """The per-epoch rows of a run's metrics.csv (those with an epoch-level train/loss or val/loss)."""
    with (run / "metrics.csv").open(newline="") as file:
        return [row for row in csv.DictReader(file) if row.get("train/loss") or row.get("val/loss")]


def _counted_git(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The git commands lightcli starts from now on."""
    started: list[list[str]] = []
    run_git = record._git

    def counting(args: list[str], cwd: Path) -> str | None:
        started.append(args)
        return run_git(args, cwd)

    monkeypatch.setattr(record, "_git", counting)
    return started


def test_run_directory_holds_config_command_git_versions_checkpoints_and_logs(
    cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(workdir, "init", "-q")
    (workdir / "notes.txt").write_text("first\n")
    git(workdir, "add", "notes.txt")
    git(workdir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    (workdir / "notes.txt").write_text("first\nchanged\n")  # uncommitted change: the tree is dirty
    config = write_config(workdir / "tiny.yaml", tiny_config())
    started = _counted_git(monkeypatch)

    assert cli("fit", "--config", config, "--trainer.max_epochs", "1") == 0
    assert len(started) == 3  # head (root, commit, branch), status, diff

    run = only_run_dir(workdir)
    assert run == workdir / "runs" / "tiny" / "version_0"
    assert (run / "command.txt").read_text() == f"lightcli fit --config {config} --trainer.max_epochs 1\n"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["run"] == {"name": "tiny", "root": "runs"}
    assert saved["ckpt_path"] is None
    assert saved["seed_everything"] == 0
    record = yaml.safe_load((run / "run.yaml").read_text())
    assert record["seed"] == 0
    assert record["host"] == socket.gethostname()
    assert record["processes"] == 1
    assert set(record["versions"]) >= {"python", "torch", "pytorch-lightning", "jsonargparse", "lightcli"}
    assert record["git"]["commit"] == git(workdir, "rev-parse", "HEAD")
    assert record["git"]["branch"] == git(workdir, "rev-parse", "--abbrev-ref", "HEAD")
    assert record["git"]["root"] == git(workdir, "rev-parse", "--show-toplevel")
    assert record["git"]["dirty"] is True
    assert "+changed" in (run / "git.diff").read_text()
    # checkpoints and both default loggers' files live in the run directory, and nowhere else
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "metrics.csv").is_file()
    assert list(run.glob("events.out.tfevents.*"))
    assert sorted(p.name for p in (workdir / "runs" / "tiny").iterdir()) == ["version_0"]


def test_outside_a_repository_no_git_record(cli, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if subprocess.run(["git", "rev-parse"], cwd=workdir, capture_output=True, check=False).returncode == 0:
        pytest.fail(f"{workdir} is inside a git repository; the test needs a directory outside one")
    started = _counted_git(monkeypatch)
    assert cli("fit", "--config", write_config(workdir / "tiny.yaml", tiny_config())) == 0
    assert started == []  # no git process started outside a repository
    run = only_run_dir(workdir)
    assert "git" not in yaml.safe_load((run / "run.yaml").read_text())
    assert not (run / "git.diff").exists()


def test_each_run_gets_the_next_version_and_run_name_root_options(cli, workdir: Path) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config) == 0
    assert cli("fit", "--config", config) == 0
    assert cli("fit", "--config", config, "--run.name", "exp", "--run.root", "out") == 0
    assert sorted(p.name for p in (workdir / "runs" / "tiny").iterdir()) == ["version_0", "version_1"]
    assert (workdir / "out" / "exp" / "version_0" / "config.yaml").is_file()
    assert latest_run(workdir / "runs", "tiny") == workdir / "runs" / "tiny" / "version_1"
    assert new_run_dir(workdir / "runs", "tiny") == workdir / "runs" / "tiny" / "version_2"
    assert find_run_of_config(workdir / "runs" / "tiny" / "version_0" / "config.yaml") == (
        workdir / "runs" / "tiny" / "version_0"
    )
    assert find_run_of_config(config) is None
    assert last_checkpoint(workdir / "runs" / "tiny" / "version_0") == (
        workdir / "runs" / "tiny" / "version_0" / "checkpoints" / "last.ckpt"
    )


@pytest.mark.parametrize("first", [True, False], ids=["first", "second"])
def test_logger_without_local_directory(cli, workdir: Path, first: bool) -> None:
    """LightningCLI's SaveConfigCallback fails or writes elsewhere here; the run directory gets everything."""
    (workdir / "memlog.py").write_text(NO_LOCAL_DIR_LOGGER)
    loggers = [{"class_path": "memlog.MemoryLogger"}, {"class_path": "pytorch_lightning.loggers.CSVLogger"}]
    config = tiny_config(trainer={"logger": loggers if first else loggers[::-1]})
    assert cli("fit", "--config", write_config(workdir / "mem.yaml", config)) == 0
    run = only_run_dir(workdir)
    assert run == workdir / "runs" / "mem" / "version_0"
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "metrics.csv").is_file()
    assert (run / "command.txt").read_text().count("\n") == 1


def test_no_logger_still_saves_config_and_checkpoints(cli, workdir: Path) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config, "--trainer.logger", "false") == 0
    run = only_run_dir(workdir)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not (run / "metrics.csv").exists()


def test_fast_dev_run_writes_nothing(cli, workdir: Path) -> None:
    config = write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", config, "--trainer.fast_dev_run", "true") == 0
    assert not (workdir / "runs").exists()


def test_config_error_leaves_no_run_directory(cli, workdir: Path) -> None:
    config = tiny_config()
    config["system"]["model"]["init_args"]["in_features"] = -3  # torch refuses it when the model is built
    assert cli("fit", "--config", write_config(workdir / "bad.yaml", config)) != 0
    assert not (workdir / "runs").exists()


def test_rerun_from_saved_config_reproduces_metrics_bit_for_bit(cli, workdir: Path) -> None:
    config = tiny_config(trainer={"max_epochs": 2, "deterministic": True})
    config["system"]["model"]["init_args"]["dropout"] = 0.2  # random masks too
    assert cli("fit", "--config", write_config(workdir / "exact.yaml", config)) == 0
    first = workdir / "runs" / "exact" / "version_0"

    assert cli("fit", "--config", first / "config.yaml") == 0

    second = workdir / "runs" / "exact" / "version_1"  # same name, next version: the first run is untouched
    assert (first / "metrics.csv").read_text() == (second / "metrics.csv").read_text()
    rows = epoch_rows(second)
    assert [row["epoch"] for row in rows] == ["0", "0", "1", "1"]
    a = torch.load(first / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(second / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (second / "command.txt").read_text() == f"lightcli fit --config {first / 'config.yaml'}\n"


def test_last_checkpoint_prefers_the_newest_of_last_and_slurm_requeue_checkpoints(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "x" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    assert last_checkpoint(run) is None
    epoch = run / "checkpoints" / "epoch=0-step=4.ckpt"
    epoch.write_bytes(b"")
    assert last_checkpoint(run) == epoch  # no last.ckpt: the newest checkpoint
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(b"")
    assert last_checkpoint(run) == last
    hpc = run / "hpc_ckpt_1.ckpt"  # written by Lightning on SLURM's requeue signal, into the run directory
    hpc.write_bytes(b"")
    os.utime(hpc, ns=(last.stat().st_mtime_ns + 10**9,) * 2)
    assert last_checkpoint(run) == hpc
