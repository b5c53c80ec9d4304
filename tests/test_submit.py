"""``lightcli submit``: the job's options and the command are checked before anything is submitted; with
submitit's local executor a job runs end to end, is requeued into the same run, and sweep workers share a study."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest
import yaml
from submitit.local.local import LocalJob

from conftest import tiny_config, write_config

DEADLINE = 600  # seconds: only a guard against a hung CI job


def _tiny(workdir: Path, **trainer: object) -> None:
    write_config(
        workdir / "tiny.yaml", tiny_config(trainer={"limit_train_batches": 2, "limit_val_batches": 1, **trainer})
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--nodes", "0"], "error: --nodes: expected a positive int, got '0'."),
        (["--timeout", "abc"], "error: --timeout: expected a positive int, got 'abc'."),
        (["--executor", "pbs"], "error: --executor: expected slurm or local, got 'pbs'."),
        (["--mem", "lots"], "error: --mem: expected an amount of memory like 32G, 500M or 1T, got 'lots'."),
        (
            ["--executor", "local", "--partition", "gpu"],
            "error: --partition: expected an option of --executor slurm, got it with --executor local.",
        ),
        (
            ["--executor", "local", "--nodes", "2"],
            "error: --nodes: expected 1 with --executor local (one machine), got 2.",
        ),
        (
            ["--executor", "local", "--workers", "2"],
            "error: --workers: expected lightcli submit sweep, got lightcli submit fit.",
        ),
        (
            ["--executor", "slurm"],
            "error: --executor: expected a machine with SLURM (sbatch on PATH), got slurm, but no sbatch.",
        ),
    ],
)
def test_a_bad_job_option_is_refused_before_anything_is_submitted(
    cli,
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    message: str,
) -> None:
    _tiny(workdir)
    monkeypatch.setenv("PATH", str(workdir))  # no sbatch here
    assert cli("submit", "fit", "--config", "tiny.yaml", *options) == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert not (workdir / "jobs").exists()  # nothing submitted


def test_a_bad_config_is_refused_before_anything_is_submitted(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tiny(workdir)
    assert cli("submit", "fit", "--config", "tiny.yaml", "--executor", "local", "--trainer.max_epochs", "many") == 2
    assert "trainer.max_epochs" in capsys.readouterr().err
    assert not (workdir / "jobs").exists()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _job(workdir: Path) -> str:
    (out,) = (workdir / "jobs").glob("*_0_log.out")
    return out.name.split("_")[0]


@pytest.mark.slow
def test_a_local_job_runs_records_itself_in_the_run_and_its_exit_code_is_read_back(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tiny(workdir)
    assert cli("submit", "fit", "--config", "tiny.yaml", "--executor", "local", "--timeout", "30", "--wait") == 0
    out = capsys.readouterr().out.splitlines()
    job = _job(workdir)
    assert out[0] == "submitted job (local): lightcli fit --config tiny.yaml"
    assert out[1] == (
        f"  job {job}: logs {workdir}/jobs/{job}_0_log.out and {workdir}/jobs/{job}_0_log.err; "
        f"run folder in {workdir}/jobs/{job}_run.txt"
    )
    assert out[2] == "  run folder: runs/tiny/version_0 (the next free version when it starts)"
    assert out[3] == f"job {job} ended with exit code 0; run folder: {workdir}/runs/tiny/version_0"
    record = yaml.safe_load((workdir / "runs/tiny/version_0/run.yaml").read_text())
    assert record["job"] == {
        "id": job,
        "executor": "local",
        "options": {
            "nodes": 1,
            "tasks-per-node": 1,
            "gpus-per-node": 0,
            "timeout": 30,
            "signal-delay": 120,
            "requeues": 3,
        },
    }
    assert (workdir / "runs/tiny/version_0/checkpoints/last.ckpt").is_file()
    assert "final metrics" in (workdir / "jobs" / f"{job}_0_log.out").read_text()


@pytest.mark.slow
def test_a_signalled_job_is_requeued_and_goes_on_in_the_same_run_from_last(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tiny(workdir, max_epochs=100000, max_time="00:00:00:15")  # 15 seconds of training, over both launches
    assert cli("submit", "fit", "--config", "tiny.yaml", "--executor", "local", "--timeout", "30") == 0
    job = capsys.readouterr().out.splitlines()[1].split()[1].rstrip(":")
    run = workdir / "runs/tiny/version_0"
    deadline = time.monotonic() + DEADLINE
    while not (run / "checkpoints/last.ckpt").is_file():  # training: the first epoch is saved
        assert time.monotonic() < deadline
        time.sleep(0.2)
    (task,) = _children(int(job))  # the job's process under submitit's controller
    os.kill(task, signal.SIGUSR2)  # what SLURM sends --signal-delay seconds before the time limit
    while not (workdir / "jobs" / f"{job}_0_result.pkl").is_file():
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert LocalJob(workdir / "jobs", job).result() == 0  # the exit code of the requeued, resumed run
    assert sorted(p.name for p in (workdir / "runs/tiny").iterdir()) == ["version_0"]  # one run folder
    assert (run / "command.txt").read_text().splitlines() == [
        "lightcli fit --config tiny.yaml",
        f"lightcli fit --config {run}/config.yaml --ckpt_path last",
    ]
    record = yaml.safe_load((run / "run.yaml").read_text())
    assert record["job"]["id"] == job
    (resume,) = record["resumes"]  # the requeued job: same id, from last.ckpt
    assert resume["job"]["id"] == job
    assert resume["resumed_from"] == f"{run}/checkpoints/last.ckpt"
    log = (workdir / "jobs" / f"{job}_0_log.err").read_text()
    assert "stopped by SIGTERM at epoch" in log


@pytest.mark.slow
def test_sweep_workers_as_a_job_array_finish_exactly_the_asked_trials(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tiny(workdir)
    space = {"params": {"system.optimizer.init_args.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}}
    write_config(workdir / "space.yaml", space)
    args = ["sweep", "--space", "space.yaml", "--dir", "sweep", "--config", "tiny.yaml", "--trials", "3"]
    assert cli("submit", *args, "--workers", "2", "--executor", "local", "--timeout", "30", "--wait") == 0
    out = capsys.readouterr().out
    assert out.startswith("submitted 2 sweep workers (local): lightcli sweep --space space.yaml")
    assert out.count("ended with exit code 0") == 2
    trials = optuna.load_study(study_name="sweep", storage=f"sqlite:///{workdir}/sweep/study.db").get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    jobs = {yaml.safe_load((Path(t.user_attrs["run_dir"]) / "run.yaml").read_text())["job"]["id"] for t in trials}
    assert jobs <= {p.name.split("_")[0] for p in (workdir / "jobs").glob("*_0_log.out")}


def test_slurm_gets_the_sbatch_options_the_readme_shows(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _tiny(workdir)
    bin_dir = workdir / "bin"  # a stand-in for SLURM: sbatch keeps the script and answers with a job id
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {workdir}/sbatch.sh\necho "Submitted batch job 4242"\n')
    (bin_dir / "srun").write_text("#!/bin/sh\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    options = ["--nodes", "2", "--tasks-per-node", "4", "--gpus-per-node", "4", "--timeout", "240"]
    options += ["--partition", "gpu", "--account", "myproject"]
    assert cli("submit", "fit", "--config", "tiny.yaml", "--executor", "slurm", *options) == 0
    assert f"  job 4242: logs {workdir}/jobs/4242_0_log.out" in capsys.readouterr().out
    script = (workdir / "sbatch.sh").read_text()
    assert [line for line in script.splitlines() if line.startswith("#SBATCH")] == [
        "#SBATCH --account=myproject",
        f"#SBATCH --error={workdir}/jobs/%j_0_log.err",
        "#SBATCH --gpus-per-node=4",
        "#SBATCH --job-name=lightcli",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=4",
        "#SBATCH --open-mode=append",
        f"#SBATCH --output={workdir}/jobs/%j_0_log.out",
        "#SBATCH --partition=gpu",
        "#SBATCH --signal=USR2@120",
        "#SBATCH --time=240",
        "#SBATCH --wckey=submitit",
    ]
    assert f"srun --unbuffered --output {workdir}/jobs/%j_%t_log.out" in script
