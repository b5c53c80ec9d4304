"""What each launch of a run was made of: the entry ``run.yaml`` keeps for it.

When and where it started (time, host, working folder, command), its seed and processes, the versions of the
packages that decide a run's numbers, the git commit, branch and dirty flag of the repository it was started
in (with the uncommitted diff, which the run folder keeps as ``git.diff``), and the batch job it runs in
(``lightcli submit``).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from pytorch_lightning import Trainer

__all__ = ["JOB_ENV_VAR", "git_state", "launch_record", "package_versions"]

JOB_ENV_VAR = "LIGHTCLI_JOB"
"""Set by ``lightcli submit`` for the job's process: the job's record (JSON), and where to say which run it is."""
_PACKAGES = ("torch", "pytorch-lightning", "lightning", "jsonargparse", "torchmetrics", "lightcli")


def launch_record(trainer: Trainer, command: str, seed: Any, run_dir: Path) -> tuple[dict[str, Any], str]:
    """The record of this launch, and the uncommitted diff of its git repository ("" when clean or outside one).

    Args:
        trainer: The trainer of the launch (its processes, nodes and strategy).
        command: The command line that started it.
        seed: The seed it runs with.
        run_dir: The run folder (told to the batch job it runs in, if any).
    """
    launch: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "seed": seed,
        "processes": trainer.world_size,
        "nodes": trainer.num_nodes,
        "strategy": type(trainer.strategy).__name__,
        "versions": package_versions(),
    }
    _record_job(launch, run_dir)
    git, diff = git_state(os.getcwd())
    if git is not None:
        launch["git"] = git
    return launch, diff


def package_versions() -> dict[str, str]:
    """Versions of python and of the packages that decide a run's numbers."""
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _may_be_a_repository(cwd: Path) -> bool:
    """Whether git could find a repository from ``cwd``: a ``.git`` entry there or in a folder above, or one named
    by git's environment. Outside one, no git process is started."""
    if os.environ.get("GIT_DIR"):
        return True
    folder = cwd.resolve()
    return any((parent / ".git").exists() for parent in (folder, *folder.parents))


def git_state(cwd: str | Path = ".") -> tuple[dict[str, Any] | None, str]:
    """The git commit, branch and dirty flag of the repository containing ``cwd``, and its uncommitted diff.

    Returns ``(None, "")`` outside a repository, in one without a commit, or without git.
    """
    cwd = Path(cwd)
    if not _may_be_a_repository(cwd):
        return None, ""
    head = _git(["rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD"], cwd)  # one line each, in order
    if head is None or len(head.splitlines()) != 3:
        return None, ""
    root, commit, branch = head.splitlines()
    status = _git(["status", "--porcelain"], cwd) or ""
    diff = _git(["diff", "HEAD"], cwd) or ""
    untracked = [line[3:] for line in status.splitlines() if line.startswith("??")]
    info: dict[str, Any] = {"commit": commit, "branch": branch, "dirty": bool(status.strip()), "root": root}
    if untracked:
        info["untracked"] = untracked
    return info, diff


def _record_job(launch: dict[str, Any], run_dir: Path) -> None:
    """Adds the batch job this launch runs in (``lightcli submit``) and tells the job where its run is."""
    try:
        job = json.loads(os.environ.get(JOB_ENV_VAR) or "null")
    except ValueError:
        return
    if not isinstance(job, dict):
        return
    run_file = job.pop("run_file", None)
    launch["job"] = job
    if isinstance(run_file, str) and run_file:
        Path(run_file).write_text(f"{run_dir.resolve()}\n")
