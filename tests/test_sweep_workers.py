"""``lightcli sweep`` counts what completed: stopped and killed workers, SQLite and a real PostgreSQL server.

Each test starts a worker whose trial trains (almost) forever, stops or kills it mid-trial, and lets other
workers (or a rerun) finish the sweep with short trials: the study must end with exactly the asked number of
complete trials, the interrupted trial's values tried again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from conftest import subprocess_env, tiny_config, write_config
from postgres import postgres_url

pytestmark = pytest.mark.slow  # real worker processes, signals and a database server

__all__ = ["postgres_url"]  # the fixture, used by name

SPACE = {"params": {"system.optimizer.init_args.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}}
DEADLINE = 300  # seconds: only a guard against a hung CI job


def _setup(workdir: Path) -> list[str]:
    write_config(workdir / "tiny.yaml", tiny_config(trainer={"limit_train_batches": 2, "limit_val_batches": 1}))
    write_config(workdir / "space.yaml", SPACE)
    return ["sweep", "--space", "space.yaml", "--dir", "sweep", "--config", "tiny.yaml", "--sampler", "random"]


def _start(workdir: Path, args: list[str], log: str) -> subprocess.Popen[bytes]:
    with (workdir / log).open("wb") as out:
        command = [sys.executable, "-m", "lightcli", *args]
        return subprocess.Popen(command, cwd=workdir, env=subprocess_env(), stdout=out, stderr=subprocess.STDOUT)


def _running_trial(storage: str, study: str, worker: subprocess.Popen[bytes]) -> optuna.trial.FrozenTrial:
    """Waits until ``worker`` trains a trial (its first checkpoint is written) and returns that trial."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker ended before its trial started"
        try:
            trials = _load(storage, study).get_trials()
        except (KeyError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):  # not created yet (or now)
            trials = []
        for trial in trials:
            mine = trial.user_attrs.get("worker", "").split(":")[1:2] == [str(worker.pid)]
            saved = Path("sweep").glob(f"trial_{trial.number:04d}/version_0/checkpoints/last.ckpt")
            if mine and trial.state.name == "RUNNING" and any(saved):
                return trial
        time.sleep(0.5)
    raise AssertionError("no trial started in time")


def _load(storage: str, study: str) -> optuna.Study:
    # this test process talks to PostgreSQL through psycopg2, as lightcli does (SQLAlchemy 2.1 means psycopg 3)
    return optuna.load_study(study_name=study, storage=storage.replace("postgresql://", "postgresql+psycopg2://"))


def _states(storage: str, study: str) -> list[str]:
    return [t.state.name for t in _load(storage, study).get_trials()]


def _retry_of(storage: str, study: str, number: int) -> list[optuna.trial.FrozenTrial]:
    trials = _load(storage, study).get_trials()
    return [t for t in trials if t.system_attrs.get("failed_trial") == number]


def test_sigterm_stops_the_sweep_with_143_and_a_rerun_runs_the_interrupted_trial_again(workdir: Path) -> None:
    args = _setup(workdir)
    storage = f"sqlite:///{workdir / 'sweep' / 'study.db'}"
    worker = _start(workdir, [*args, "--trials", "2", "--trainer.max_epochs", "100000"], "first.log")
    trial = _running_trial(storage, "sweep", worker)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=DEADLINE) == 143, (workdir / "first.log").read_text()
    log = (workdir / "first.log").read_text()
    assert "interrupted: rerun the same command to resume the sweep" in log
    assert _states(storage, "sweep") == ["FAIL", "WAITING"]  # not counted, and waiting to be run again
    (retry,) = _retry_of(storage, "sweep", trial.number)
    assert retry.params == trial.params
    assert any((workdir / "sweep" / "trial_0000").glob("version_0/checkpoints/last.ckpt"))  # saved on the stop

    rerun = _start(workdir, [*args, "--trials", "2", "--trainer.max_epochs", "1"], "rerun.log")
    assert rerun.wait(timeout=DEADLINE) == 0, (workdir / "rerun.log").read_text()
    assert _states(storage, "sweep") == ["FAIL", "COMPLETE", "COMPLETE"]  # exactly 2 complete
    (retry,) = _retry_of(storage, "sweep", trial.number)
    assert (retry.number, retry.state.name, retry.params) == (1, "COMPLETE", trial.params)
    assert "2 trials to run in sweep" in (workdir / "rerun.log").read_text()  # the stopped trial did not count


def test_after_a_sigkill_a_rerun_finds_the_dead_trial_by_its_heartbeat_and_runs_it_again(workdir: Path) -> None:
    args = [*_setup(workdir), "--heartbeat", "1"]
    storage = f"sqlite:///{workdir / 'sweep' / 'study.db'}"
    worker = _start(workdir, [*args, "--trials", "2", "--trainer.max_epochs", "100000"], "first.log")
    trial = _running_trial(storage, "sweep", worker)
    worker.kill()
    worker.wait(timeout=DEADLINE)
    assert _states(storage, "sweep") == ["RUNNING"]  # nobody told the study

    rerun = _start(workdir, [*args, "--trials", "2", "--trainer.max_epochs", "1"], "rerun.log")
    assert rerun.wait(timeout=DEADLINE) == 0, (workdir / "rerun.log").read_text()
    states = _states(storage, "sweep")
    assert (states[0], states.count("COMPLETE"), len(states)) == ("FAIL", 2, 3)
    (retry,) = _retry_of(storage, "sweep", trial.number)
    assert (retry.state.name, retry.params) == ("COMPLETE", trial.params)


def test_three_workers_on_postgresql_one_killed_mid_trial_end_with_exactly_the_asked_trials(
    workdir: Path, postgres_url: str
) -> None:
    args = [*_setup(workdir), "--storage", postgres_url, "--study", "three", "--heartbeat", "1", "--trials", "4"]
    doomed = _start(workdir, [*args, "--trainer.max_epochs", "100000"], "worker_0.log")
    trial = _running_trial(postgres_url, "three", doomed)
    others = [_start(workdir, [*args, "--trainer.max_epochs", "1"], f"worker_{i}.log") for i in (1, 2)]
    os.kill(doomed.pid, signal.SIGKILL)  # mid-trial: it trains for 100000 epochs
    doomed.wait(timeout=DEADLINE)
    for i, worker in enumerate(others, start=1):
        assert worker.wait(timeout=DEADLINE) == 0, (workdir / f"worker_{i}.log").read_text()
    states = _states(postgres_url, "three")
    assert states.count("COMPLETE") == 4  # exactly --trials, counted in the database over the three workers
    assert states.count("FAIL") == 1 and len(states) == 5, states  # the killed trial, run again once
    (retry,) = _retry_of(postgres_url, "three", trial.number)
    assert (retry.state.name, retry.params) == ("COMPLETE", trial.params)
    for i in (1, 2):  # both remaining workers ran trials
        assert "trial " in (workdir / f"worker_{i}.log").read_text()


def test_a_journal_file_holds_the_study_and_two_workers_finish_exactly_the_asked_trials(workdir: Path) -> None:
    args = [*_setup(workdir), "--storage", "journal:shared/digits.log", "--study", "digits", "--trials", "3"]
    worker = _start(workdir, [*args, "--workers", "2"], "sweep.log")
    assert worker.wait(timeout=DEADLINE) == 0, (workdir / "sweep.log").read_text()
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(workdir / "shared/digits.log"))
    )
    trials = optuna.load_study(study_name="digits", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert "3 trials: 3 complete, 0 pruned, 0 failed" in (workdir / "sweep.log").read_text()
