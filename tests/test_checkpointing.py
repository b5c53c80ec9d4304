"""Checkpoints: no torn files when killed mid-write, and a graceful stop on SIGTERM / Ctrl-C that resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning import Trainer

import lightcli.run.checkpoints
from conftest import subprocess_env, tiny_config, write_config
from lightcli.run.checkpoints import AtomicCheckpointIO, atomic_save, use_atomic_checkpoints

DEADLINE = 600  # seconds: only a guard against a hung CI job

# Kills its own process with SIGKILL in the middle of writing a checkpoint: half the bytes are on disk.
KILL_MID_WRITE = """
import io, os, signal, sys
import torch
import lightcli.run.checkpoints

calls = 0
_save = torch.save

def save_then_die(obj, file, *args, **kwargs):
    global calls
    calls += 1
    if calls < int(os.environ["KILL_AT_WRITE"]):
        return _save(obj, file, *args, **kwargs)
    buffer = io.BytesIO()
    _save(obj, buffer)
    data = buffer.getvalue()
    file.write(data[: len(data) // 2])
    file.flush()
    os.fsync(file.fileno())
    os.kill(os.getpid(), signal.SIGKILL)

lightcli.run.checkpoints.torch.save = save_then_die
from lightcli.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Sends a signal to its own process during training batch 1 (after step 2), as a scheduler or a Ctrl-C would.
SIGNAL_AT_BATCH = """
import os, signal, sys
from lightcli.core.system import System
from lightcli.cli import main

_original = System.on_train_batch_end

def on_train_batch_end(self, outputs, batch, batch_idx):
    _original(self, outputs, batch, batch_idx)
    if (self.current_epoch, batch_idx) == (0, 1) and not self.trainer.sanity_checking:
        os.kill(os.getpid(), getattr(signal, os.environ["STOP_SIGNAL"]))

System.on_train_batch_end = on_train_batch_end
sys.exit(main(sys.argv[1:]))
"""


def python(workdir: Path, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=workdir,
        env={**subprocess_env(), **env},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def test_failed_write_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.ckpt"
    atomic_save({"step": 1}, path)

    def broken_save(obj: object, file: object) -> None:
        file.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(lightcli.run.checkpoints.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_trainer_writes_checkpoints_atomically_unless_a_checkpoint_io_is_configured() -> None:
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    use_atomic_checkpoints(trainer)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)

    class Custom(TorchCheckpointIO):
        pass

    trainer = Trainer(accelerator="cpu", logger=False, plugins=[Custom()], enable_model_summary=False)
    use_atomic_checkpoints(trainer)
    assert type(trainer.strategy.checkpoint_io) is Custom


@pytest.mark.slow
def test_sigkill_while_writing_last_checkpoint_leaves_the_previous_one(workdir: Path) -> None:
    write_config(workdir / "tiny.yaml", tiny_config(trainer={"max_epochs": 2}))
    (workdir / "kill_mid_write.py").write_text(KILL_MID_WRITE)
    # each epoch writes epoch=..ckpt then last.ckpt: the 4th write is epoch 1's last.ckpt
    done = python(workdir, "kill_mid_write.py", "fit", "--config", "tiny.yaml", KILL_AT_WRITE="4")
    assert done.returncode == -signal.SIGKILL
    checkpoints = workdir / "runs" / "tiny" / "version_0" / "checkpoints"
    assert len(list(checkpoints.glob(".last.ckpt.partial-*"))) == 1  # the torn bytes went to a side file
    ckpt = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert (ckpt["epoch"], ckpt["global_step"]) == (0, 4)  # epoch 0's checkpoint, whole

    done = python(
        workdir, "-m", "lightcli", "fit", "--config", "runs/tiny/version_0/config.yaml", "--ckpt_path", "last"
    )
    assert done.returncode == 0, done.stderr
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["global_step"] == 8
    assert not list(checkpoints.glob(".last.ckpt.partial-*"))  # cleaned up by the next write


@pytest.mark.slow
@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGINT", 130)])
def test_stop_signal_saves_a_checkpoint_exits_cleanly_and_resumes(workdir: Path, name: str, code: int) -> None:
    write_config(workdir / "tiny.yaml", tiny_config(trainer={"max_epochs": 2}))
    (workdir / "signal_at_batch.py").write_text(SIGNAL_AT_BATCH)

    done = python(workdir, "signal_at_batch.py", "fit", "--config", "tiny.yaml", STOP_SIGNAL=name)

    run = workdir / "runs" / "tiny" / "version_0"
    last = run / "checkpoints" / "last.ckpt"
    assert done.returncode == code, done.stderr
    assert done.stderr == (  # and nothing else: no traceback
        f"stopped by {name} at epoch 0, step 3: checkpoint saved to runs/tiny/version_0/checkpoints/last.ckpt\n"
        "resume with: lightcli fit --config runs/tiny/version_0/config.yaml --ckpt_path last\n"
    )
    assert torch.load(last, weights_only=True)["global_step"] == 3  # the batch under way when the signal came

    done = python(workdir, "-m", "lightcli", "fit", "--config", run / "config.yaml", "--ckpt_path", "last")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "resuming after batch 3 of an unfinished epoch: the rest of the epoch is drawn from a new pass over the "
        "training data (resuming from the end of an epoch is exact).\n"
    )
    assert torch.load(last, weights_only=True)["global_step"] == 8  # 2 epochs of 4 batches, none repeated
