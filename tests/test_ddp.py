"""Scale-out: the same config under Lightning's DDP (2 CPU processes, gloo) and under torchrun with 2 local "nodes"."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import loader, subprocess_env, tiny_config, write_config

pytestmark = pytest.mark.slow  # real multi-process trainings

DEADLINE = 600  # seconds: only a guard against a hung CI job
DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]


def ddp_config() -> dict:
    config = tiny_config(trainer={"max_epochs": 3, "deterministic": True, "limit_train_batches": 1.0})
    config["trainer"]["limit_val_batches"] = 1.0
    config["system"]["model"]["init_args"]["hidden"] = [32]
    # 180 validation samples: split evenly over 2 processes, so no sample is padded in
    config["system"]["dataloaders"] = {
        "train": loader("lightcli.Digits", batch_size=32, shuffle=True, split="train", val_fraction=0.1),
        "val": loader("lightcli.Digits", batch_size=64, split="val", val_fraction=0.1),
    }
    return config


def run(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def last_row(run_dir: Path, key: str) -> float:
    with (run_dir / "metrics.csv").open(newline="") as file:
        return [float(row[key]) for row in csv.DictReader(file) if row.get(key)][-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DDP fit on 2 CPU processes, shared by the tests of this module."""
    cwd = tmp_path_factory.mktemp("ddp")
    write_config(cwd / "d.yaml", ddp_config())
    done = run(cwd, "-m", "lightcli", "fit", "--config", "d.yaml", *DDP)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # a clean console, from every process
    return cwd


def test_ddp_one_run_directory_config_saved_once(ddp_run: Path) -> None:
    runs = sorted(p.relative_to(ddp_run).as_posix() for p in ddp_run.glob("runs/*/*"))
    assert runs == ["runs/d/version_0"]  # not one directory per process
    run_dir = ddp_run / "runs" / "d" / "version_0"
    assert (run_dir / "command.txt").read_text() == "lightcli fit --config d.yaml " + " ".join(DDP) + "\n"
    record = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert (record["processes"], record["nodes"], record["strategy"]) == (2, 1, "DDPStrategy")
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["strategy"] == "ddp"


def test_ddp_metrics_are_reduced_across_processes_and_accuracy_matches_one_process(
    ddp_run: Path, cli, workdir: Path
) -> None:
    write_config(workdir / "d.yaml", ddp_config())
    assert cli("fit", "--config", "d.yaml") == 0
    single = last_row(workdir / "runs" / "d" / "version_0", "val/acc")
    ddp = last_row(ddp_run / "runs" / "d" / "version_0", "val/acc")
    assert single > 0.8
    assert abs(ddp - single) < 0.05  # half the steps per epoch with twice the batch: close, not equal

    # the same checkpoint validated by 1 and by 2 processes (each seeing half the data) gives the same numbers
    ckpt = ddp_run / "runs" / "d" / "version_0" / "checkpoints" / "last.ckpt"
    assert cli("validate", "--config", "d.yaml", "--ckpt_path", ckpt, "--run.name", "one") == 0
    done = run(
        workdir, "-m", "lightcli", "validate", "--config", "d.yaml", "--ckpt_path", ckpt, "--run.name", "two", *DDP
    )
    assert done.returncode == 0, done.stderr
    one, two = workdir / "runs" / "one" / "version_0", workdir / "runs" / "two" / "version_0"
    assert last_row(two, "val/acc") == last_row(one, "val/acc")
    assert last_row(two, "val/loss") == pytest.approx(last_row(one, "val/loss"), rel=1e-5)


# Sends SIGTERM to rank 0 only, during training batch 1, as a scheduler preempting the job would.
SIGTERM_RANK_0 = """
import os, signal, sys
from lightcli.core.system import System
from lightcli.cli import main

_original = System.on_train_batch_end

def on_train_batch_end(self, outputs, batch, batch_idx):
    _original(self, outputs, batch, batch_idx)
    if (self.current_epoch, batch_idx, self.global_rank) == (0, 1, 0):
        os.kill(os.getpid(), signal.SIGTERM)

System.on_train_batch_end = on_train_batch_end
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_to_one_process_stops_all_at_the_same_step_and_resumes(tmp_path: Path) -> None:
    write_config(tmp_path / "s.yaml", tiny_config(trainer={"max_epochs": 2}))
    (tmp_path / "sigterm_rank_0.py").write_text(SIGTERM_RANK_0)
    done = run(tmp_path, "sigterm_rank_0.py", "fit", "--config", "s.yaml", *DDP)
    assert done.returncode == 143, done.stderr
    assert done.stderr == (
        "stopped by SIGTERM at epoch 0, step 3: checkpoint saved to runs/s/version_0/checkpoints/last.ckpt\n"
        "resume with: lightcli fit --config runs/s/version_0/config.yaml --ckpt_path last\n"
    )
    last = tmp_path / "runs" / "s" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 3

    done = run(tmp_path, "-m", "lightcli", "fit", "--config", "runs/s/version_0/config.yaml", "--ckpt_path", "last")
    assert done.returncode == 0, done.stderr  # on 2 processes again: the saved config holds the strategy
    assert torch.load(last, weights_only=True)["global_step"] == 8


def test_torchrun_two_local_nodes_train_like_ddp(ddp_run: Path, tmp_path: Path) -> None:
    write_config(tmp_path / "d.yaml", ddp_config())
    endpoint = f"127.0.0.1:{free_port()}"
    command = [
        sys.executable,
        *("-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1"),
        *("--rdzv_backend", "c10d", "--rdzv_endpoint", endpoint, "--rdzv_id", "lightcli-test"),
        *("-m", "lightcli", "fit", "--config", "d.yaml"),
        *("--trainer.strategy", "ddp", "--trainer.num_nodes", "2", "--trainer.devices", "1"),
        *("--trainer.accelerator", "cpu"),
    ]
    nodes = [
        subprocess.Popen(command, cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=DEADLINE) for node in nodes]
    for node, (_, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, err.decode()
    runs = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("runs/*/*"))
    assert runs == ["runs/d/version_0"]
    run_dir = tmp_path / "runs" / "d" / "version_0"
    record = yaml.safe_load((run_dir / "run.yaml").read_text())
    assert (record["processes"], record["nodes"]) == (2, 2)
    # 2 nodes x 1 process trains exactly like 1 node x 2 processes
    assert (run_dir / "metrics.csv").read_text() == (ddp_run / "runs" / "d" / "version_0" / "metrics.csv").read_text()
