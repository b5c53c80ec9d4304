"""Run folders claimed atomically, run names that stay inside run.root, signal handlers put back after a run."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from conftest import subprocess_env, tiny_config, write_config
from lightcli.cli import main
from lightcli.config.problems import ConfigError
from lightcli.run.folders import check_run_name, claim_run_dir, release_run_dir

# -- claims --------------------------------------------------------------------------------------------------


def test_twenty_concurrent_claims_get_twenty_folders(tmp_path: Path) -> None:
    claimed: list[Path] = []
    start = threading.Barrier(20)

    def claim() -> None:
        start.wait()  # all at the same moment
        claimed.append(claim_run_dir(tmp_path / "runs", "same"))

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(claimed)) == 20
    assert sorted(p.name for p in (tmp_path / "runs" / "same").iterdir()) == sorted(f"version_{i}" for i in range(20))


def test_a_taken_version_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "runs" / "x" / "version_0").mkdir(parents=True)
    assert claim_run_dir(tmp_path / "runs", "x").name == "version_1"
    assert claim_run_dir(tmp_path / "runs", "x").name == "version_2"


def test_a_released_claim_leaves_nothing(tmp_path: Path) -> None:
    run_dir = claim_run_dir(tmp_path / "runs", "x")
    release_run_dir(run_dir)
    assert list(tmp_path.iterdir()) == []
    kept = claim_run_dir(tmp_path / "runs", "x")
    (kept / "config.yaml").write_text("a run wrote here\n")
    release_run_dir(kept)  # not empty: a run's folder is never removed
    assert (kept / "config.yaml").is_file()


def test_a_run_that_fails_to_build_leaves_no_folder(tiny_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--config", "tiny.yaml", "--system.model.init_args.hidden", "[-5]"]) == 2
    assert "system.model" in capsys.readouterr().err
    assert not (tiny_folder / "runs").exists()


@pytest.mark.slow  # two real trainings
def test_two_lightcli_fit_started_together_get_their_own_folders(tiny_folder: Path) -> None:
    command = [sys.executable, "-m", "lightcli", "fit", "--config", "tiny.yaml", "--trainer.limit_train_batches", "1"]
    command += ["--trainer.limit_val_batches", "1"]
    env = subprocess_env()
    processes = [
        subprocess.Popen(command, cwd=tiny_folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    runs = sorted((tiny_folder / "runs" / "tiny").iterdir())
    assert [r.name for r in runs] == ["version_0", "version_1"]
    for run in runs:
        assert len((run / "command.txt").read_text().splitlines()) == 1  # one launch each
        assert (run / "checkpoints" / "last.ckpt").is_file()


# -- run names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["..", ".", "../../x", "/tmp/elsewhere", "a/b", "a\\b", ""])
def test_a_run_name_is_a_plain_name(name: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_run_name(name)
    assert str(refused.value).startswith(f"run.name: expected a plain name (no '/', '\\' or '..'), got {name!r}")


@pytest.mark.parametrize("name", ["digits", "my-run.v2", "..x", "x.."])
def test_plain_run_names(name: str) -> None:
    check_run_name(name)


@pytest.mark.parametrize(("where", "name"), [("command line", "../../escaped"), ("config", "/tmp/escaped_lightcli")])
def test_a_run_name_outside_the_root_is_a_config_error(
    tiny_folder: Path, capsys: pytest.CaptureFixture[str], where: str, name: str
) -> None:
    args = ["fit", "--config", "tiny.yaml", "--run.name", name]
    if where == "config":
        config = tiny_config()
        config["run"] = {"name": name}
        args = ["fit", "--config", write_config(tiny_folder / "named.yaml", config).name]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: run.name: expected a plain name (no '/', '\\' or '..'), got {name!r}"), err
    assert not (tiny_folder / "runs").exists()
    assert not (tiny_folder.parent.parent / "escaped").exists()
    assert not Path("/tmp/escaped_lightcli").exists()


# -- signal handlers -------------------------------------------------------------------------------------------


def test_signal_handlers_are_restored_after_an_in_process_fit(tiny_folder: Path) -> None:
    watched = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
    before = {signum: signal.getsignal(signum) for signum in watched}
    config = yaml.safe_load((tiny_folder / "tiny.yaml").read_text())
    assert config["trainer"]["max_epochs"] == 1
    assert (
        main(["fit", "--config", "tiny.yaml", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"])
        == 0
    )
    assert {signum: signal.getsignal(signum) for signum in watched} == before
