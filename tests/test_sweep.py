"""``lightcli sweep``: Optuna over dotted config keys, every trial checked and run as ``lightcli fit``."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from conftest import subprocess_env, tiny_config, write_config
from lightcli.config.problems import ConfigError
from lightcli.tools.searchspace import read_space

SPACE: dict[str, Any] = {
    "metric": "val/acc",
    "direction": "maximize",
    "params": {
        "system.optimizer.init_args.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
        "system.model.init_args.hidden": {"type": "categorical", "choices": [[8], [16, 8]]},
        "system.optimizer": {
            "type": "categorical",
            "choices": [
                {"class_path": "torch.optim.Adam"},
                {"class_path": "torch.optim.SGD", "init_args": {"momentum": 0.9}},
            ],
        },
    },
}


def tiny(workdir: Path) -> Path:
    config = tiny_config(trainer={"limit_train_batches": 2, "limit_val_batches": 1})
    return write_config(workdir / "tiny.yaml", config)


def load(sweep_dir: Path, name: str = "sweep") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep_dir / 'study.db'}")


def saved_config(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    return yaml.safe_load((Path(trial.user_attrs["run_dir"]) / "config.yaml").read_text())


@pytest.mark.slow
def test_two_workers_share_one_study_then_the_command_resumes_it(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny(workdir)
    write_config(workdir / "space.yaml", SPACE)
    args = ["sweep", "--space", "space.yaml", "--dir", "sweep", "--config", "tiny.yaml", "--seed", "0"]
    result = subprocess.run(
        [sys.executable, "-m", "lightcli", *args, "--trials", "4", "--workers", "2"],
        cwd=workdir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "4 trials to run in sweep, maximize val/acc"
    assert lines[1] == "2 workers started; their output: sweep/worker_<n>.log"
    assert sorted(line.split()[1] for line in lines if line.startswith("trial ")) == ["0", "1", "2", "3"]
    assert "4 trials: 4 complete, 0 pruned, 0 failed" in lines
    for worker in ("worker_0.log", "worker_1.log"):  # both processes ran trials of the one study
        assert "trial " in (workdir / "sweep" / worker).read_text()

    study = load(workdir / "sweep")
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    for trial in trials:  # each trial ran as `lightcli fit` in its own run directory, with its own values
        assert trial.user_attrs["run_dir"] == f"sweep/trial_{trial.number:04d}/version_0"
        saved = saved_config(trial)["system"]["init_args"]
        optimizer = saved["optimizer"]
        assert optimizer["init_args"]["lr"] == pytest.approx(trial.params["system.optimizer.init_args.lr"])
        assert optimizer["class_path"] == trial.params["system.optimizer"].split()[0]
        assert saved["model"]["init_args"]["hidden"] == yaml.safe_load(trial.params["system.model.init_args.hidden"])
        assert 0 <= trial.value <= 1

    assert cli(*args, "--trials", "5") == 0  # rerun: the study goes on where it stopped
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "resuming study 'sweep' (4 trials so far); 1 trials to run in sweep, maximize val/acc"
    assert out[1].startswith("trial   4  val/acc=")
    assert "5 trials: 5 complete, 0 pruned, 0 failed" in out
    best = max(load(workdir / "sweep").get_trials(), key=lambda t: t.value)
    assert f"rerun the best: lightcli fit --config sweep/trial_{best.number:04d}/version_0/config.yaml" in out
    assert cli(*args, "--trials", "5") == 0  # complete: nothing left to run
    assert capsys.readouterr().out.startswith("resuming study 'sweep' (5 trials so far); 0 trials to run in sweep")


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny(workdir)
    space = {
        "params": {
            "system.optimizer.init_args.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
            "system.model.init_args.in_features": {"type": "categorical", "choices": [64, 63]},  # 63 cannot run
        }
    }
    write_config(workdir / "space.yaml", space)
    args = ["sweep", "--space", "space.yaml", "--config", "tiny.yaml", "--sampler", "random", "--seed", "3"]
    assert cli(*args, "--trials", "2") == 0  # 2 complete trials: the failed one does not count
    out = capsys.readouterr().out
    assert "3 trials: 2 complete, 0 pruned, 1 failed" in out
    trials = load(workdir / "sweeps" / "space", "space").get_trials()
    assert [t.params["system.model.init_args.in_features"] for t in trials] == [64, 63, 64]
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[1].user_attrs["error"] == (  # the step names the part that failed and what it was given
        "system.model: expected a model that takes the val input float32[64, 64], got RuntimeError: "
        "mat1 and mat2 shapes cannot be multiplied (64x64 and 63x16). "
        "Check the model's input size against the data, or system.adapters.val.batch.input."
    )
    assert "trial   1  fail  optimizer.lr=" in out
    assert (
        "error: system.model: expected a model that takes the val input float32[64, 64], got RuntimeError: mat1" in out
    )
    assert "mat1 and mat2" in (workdir / "sweeps" / "space" / "trial_0001" / "output.log").read_text()


@pytest.mark.slow
def test_pruning_stops_a_bad_trial_early(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_config(workdir / "tiny.yaml", tiny_config(trainer={"max_epochs": 3}))
    space = {
        "metric": "val/acc",
        "direction": "maximize",
        "params": {"system.optimizer.init_args.lr": {"type": "categorical", "choices": [1.0e-6, 0.05]}},
    }
    write_config(workdir / "space.yaml", space)
    args = ["sweep", "--space", "space.yaml", "--config", "tiny.yaml", "--sampler", "random", "--seed", "0"]
    assert cli(*args, "--trials", "2", "--pruner", "median", "--prune-after", "1") == 0
    assert "2 trials: 1 complete, 1 pruned, 0 failed" in capsys.readouterr().out
    good, bad = load(workdir / "sweeps" / "space", "space").get_trials()
    assert (good.params, good.state.name) == ({"system.optimizer.init_args.lr": 0.05}, "COMPLETE")
    assert (bad.params, bad.state.name) == ({"system.optimizer.init_args.lr": 1.0e-6}, "PRUNED")
    assert sorted(good.intermediate_values) == [0, 1, 2]
    assert sorted(bad.intermediate_values) == [0, 1]  # stopped after the second epoch, below the median
    assert bad.intermediate_values[1] < good.intermediate_values[1]


@pytest.mark.parametrize(
    ("param", "message"),
    [
        (
            {"type": "float", "low": 0.1, "high": 0.01},
            "space.yaml: params.system.optimizer.init_args.lr: expected low < high, got low=0.1 and high=0.01. "
            "Swap or widen them.",
        ),
        (
            {"type": "float", "low": 0, "high": 0.1, "log": True},
            "space.yaml: params.system.optimizer.init_args.lr.low: expected a positive low on a log scale, got 0. "
            "Use e.g. 1.0e-5.",
        ),
        (
            {"type": "gaussian", "low": 0, "high": 1},
            "space.yaml: params.system.optimizer.init_args.lr.type: expected one of float, int, categorical, "
            "got 'gaussian'. Set the type.",
        ),
        (
            {"type": "float", "low": 0.001, "hi": 0.1},
            "space.yaml: params.system.optimizer.init_args.lr.hi: expected one of choices, high, log, low, step, type, "
            "got 'hi'. Remove it.",
        ),
        (
            {"type": "categorical", "choices": []},
            "space.yaml: params.system.optimizer.init_args.lr.choices: expected a non-empty list of values, got []. "
            "List the values to try.",
        ),
    ],
)
def test_an_invalid_distribution_is_an_error(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str], param: dict[str, Any], message: str
) -> None:
    write_config(workdir / "space.yaml", {"params": {"system.optimizer.init_args.lr": param}})
    assert cli("sweep", "--space", "space.yaml", "--config", "tiny.yaml") == 2
    assert capsys.readouterr().err == message + "\n"
    assert sorted(p.name for p in workdir.iterdir()) == ["space.yaml"]


@pytest.mark.parametrize(
    ("key", "param", "message"),
    [
        (
            "trainer.max_epochs",
            {"type": "categorical", "choices": [1, "two"]},
            'space.yaml: params.trainer.max_epochs: expected values that `lightcli fit` accepts, got "two". Fix the '
            "range or choices; lightcli fit says: trainer.max_epochs: expected an int or null, got the string 'two' "
            "(on the command line). Write a whole number, e.g. max_epochs: 10.",
        ),
        (
            "system.optimizer.init_args.lrr",
            {"type": "float", "low": 0.001, "high": 0.1},
            "space.yaml: params.system.optimizer.init_args.lrr: expected values that `lightcli fit` accepts, got 0.001. "
            "Fix the range or choices; lightcli fit says: system.optimizer.init_args.lrr: expected an argument of "
            "torch.optim.Adam (lr, betas, eps, weight_decay, amsgrad, foreach, maximize, capturable, differentiable, "
            "fused, decoupled_weight_decay), got the unknown key 'lrr' (on the command line). Remove it or fix its "
            "name. Did you mean 'lr'?",
        ),
    ],
)
def test_a_value_the_config_rejects_is_an_error_before_any_trial(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str], key: str, param: dict[str, Any], message: str
) -> None:
    tiny(workdir)
    write_config(workdir / "space.yaml", {"params": {key: param}})
    assert cli("sweep", "--space", "space.yaml", "--config", "tiny.yaml") == 2
    assert capsys.readouterr().err == message + "\n"
    assert not (workdir / "sweeps").exists()


@pytest.mark.slow
def test_a_different_space_does_not_resume_the_study(cli, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny(workdir)
    space = {"params": {"system.optimizer.init_args.lr": {"type": "float", "low": 0.001, "high": 0.1}}}
    write_config(workdir / "space.yaml", space)
    args = ["sweep", "--space", "space.yaml", "--config", "tiny.yaml", "--trials", "1"]
    assert cli(*args) == 0
    space["params"]["system.optimizer.init_args.lr"]["high"] = 0.5
    write_config(workdir / "space.yaml", space)
    capsys.readouterr()
    assert cli(*args) == 2
    assert capsys.readouterr().err == (
        "--space: expected the search space the study 'space' was created with, got a different one (space.yaml). "
        "Use another --dir or --study for a new search.\n"
    )


def test_read_space_reads_metric_direction_and_log_ranges(tmp_path: Path) -> None:
    write_config(tmp_path / "space.yaml", SPACE)
    space = read_space(tmp_path / "space.yaml")
    assert (space.metric, space.direction) == ("val/acc", "maximize")
    assert read_space(tmp_path / "space.yaml", metric="val/loss", direction="minimize").direction == "minimize"
    distributions = space.distributions()
    assert distributions["system.optimizer.init_args.lr"].log is True
    assert distributions["system.optimizer"].choices == ("torch.optim.Adam", 'torch.optim.SGD {"momentum": 0.9}')
    assert space.value("system.optimizer", 'torch.optim.SGD {"momentum": 0.9}') == {
        "class_path": "torch.optim.SGD",
        "init_args": {"momentum": 0.9},
    }
    with pytest.raises(
        ConfigError, match=r"^--space: expected a YAML search space file, got 'nope.yaml' \(not found\)"
    ):
        read_space("nope.yaml")


@pytest.mark.parametrize(
    ("storage", "got"),
    [
        ("nowhere", "'nowhere' (not a URL)"),
        ("journal:", "'journal:' (no file after journal:)"),
        ("oracle+nodriver://x/y", "'oracle+nodriver://x/y' (NoSuchModuleError"),
    ],
)
def test_a_storage_that_is_not_one_is_an_error_naming_storage(
    cli, workdir: Path, capsys: pytest.CaptureFixture[str], storage: str, got: str
) -> None:
    tiny(workdir)
    write_config(workdir / "space.yaml", SPACE)
    assert cli("sweep", "--space", "space.yaml", "--config", "tiny.yaml", "--storage", storage) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "--storage: expected an Optuna storage: sqlite:///<file>, postgresql://<user>@<host>:<port>/<db> or "
        f"journal:<file>, got {got}"
    ), err


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # heartbeats (lightcli sweep hides it)
def test_workers_opening_a_new_study_at_the_same_moment_share_its_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose table creation loses the race to another worker's opens the tables that one created."""
    from sqlalchemy.exc import IntegrityError

    from lightcli.tools.storage import open_storage

    real = optuna.storages.RDBStorage
    calls: list[int] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # what SQLite says when another process wrote the schema version first
            raise IntegrityError("INSERT INTO alembic_version", {}, Exception("UNIQUE constraint failed"))
        return real(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", functools.wraps(real)(racing))  # its signature kept
    storage, lock = open_storage(None, tmp_path, "sweep", heartbeat=10)
    lock.close()
    assert len(calls) == 2
    assert storage.get_all_studies() == []
    assert (tmp_path / "study.db").is_file()
