"""Run directories: one folder per run with everything needed to find, rerun and resume it.

Layout (``<root>`` is ``runs`` unless ``--run.root`` says otherwise)::

    runs/<name>/version_<n>/
        config.yaml       the fully resolved config: `lightcli fit --config <this file>` reruns the run
        command.txt       the command line of every launch of this run (one line each, resumes included)
        run.yaml          when, where and with what: host, seed, git commit and dirty flag, package versions
                          (one entry per launch: :mod:`lightcli.run.record`)
        git.diff          uncommitted changes of the git repository the run was started in (only when dirty)
        checkpoints/      last.ckpt and the checkpoints kept by ModelCheckpoint
        metrics.csv       per-step and per-epoch metrics (CSVLogger)
        events.out.tfevents.*  the same for TensorBoard
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import Namespace
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.utilities import rank_zero_only

from lightcli.config.allowlist import import_object
from lightcli.config.problems import ConfigError, Problem
from lightcli.run.record import launch_record
from lightcli.run.stored import RUN_CONFIG_KEY, read_checkpoint
from lightcli.run.trackers import publish

__all__ = [
    "RunDirectory",
    "RunOptions",
    "check_run_name",
    "claim_run_dir",
    "created_by_claim",
    "find_run_of_config",
    "last_checkpoint",
    "latest_run",
    "new_run_dir",
    "release_run_dir",
]

RUN_FILE = "run.yaml"
CONFIG_FILE = "config.yaml"
COMMAND_FILE = "command.txt"
DIFF_FILE = "git.diff"
CHECKPOINTS = "checkpoints"
_ENV_RUN_DIR = "LIGHTCLI_RUN_DIR"  # tells processes started by Lightning's DDP launcher which run they belong to
"""Set by the batch job of ``lightcli submit``: JSON with the job's id, executor and options (recorded in
``run.yaml``) and ``run_file``, where the run writes its folder so that a requeued job resumes it."""
_VERSION = re.compile(r"^version_(\d+)$")
_LOCAL_LOGGERS = (TensorBoardLogger, CSVLogger)


@dataclass
class RunOptions:
    """Where the run directory goes: ``<root>/<name>/version_<n>``.

    Attributes:
        name: Name of the run; defaults to the first config file's name (``configs/digits.yaml`` -> ``digits``).
        root: Directory that holds all runs.
    """

    name: str | None = None
    """Name of the run; defaults to the first config file's name (``configs/digits.yaml`` -> ``digits``)."""
    root: str = "runs"
    """Directory that holds all runs."""


def global_rank() -> int:
    """This process's rank, known from the environment before any process group exists (0 when alone)."""
    return int(getattr(rank_zero_only, "rank", 0))


# -- finding runs -------------------------------------------------------------------------------------


def _versions(parent: Path) -> list[tuple[int, Path]]:
    if not parent.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in parent.iterdir() if p.is_dir() and (m := _VERSION.match(p.name))]
    return sorted(found)


def latest_run(root: str | Path, name: str) -> Path | None:
    """The run directory with the highest version under ``<root>/<name>``, or None."""
    versions = _versions(Path(root) / name)
    return versions[-1][1] if versions else None


def new_run_dir(root: str | Path, name: str) -> Path:
    """The next free ``<root>/<name>/version_<n>`` (not created: :func:`claim_run_dir` takes one for a run)."""
    parent = Path(root) / name
    versions = _versions(parent)
    return parent / f"version_{versions[-1][0] + 1 if versions else 0}"


_claimed: dict[Path, list[Path]] = {}  # a claimed run directory -> the directories created to claim it


def claim_run_dir(root: str | Path, name: str) -> Path:
    """Creates the next free ``<root>/<name>/version_<n>`` for this process alone and returns it.

    The version directory is created exclusively: when another run took it first (two runs started at the
    same moment), the next version is tried, so concurrent starts never share a directory.
    """
    check_run_name(name)
    parent = Path(root) / name
    created = [p for p in (*reversed(parent.parents), parent) if not p.exists()]
    parent.mkdir(parents=True, exist_ok=True)
    version = new_run_dir(root, name)
    number = int(version.name.removeprefix("version_"))
    while True:
        try:
            version.mkdir()
        except FileExistsError:
            number += 1
            version = parent / f"version_{number}"
            continue
        _claimed[version] = [version, *reversed(created)]
        return version


def created_by_claim(run_dir: Path) -> list[Path] | None:
    """The directories :func:`claim_run_dir` created for ``run_dir`` (the run directory first), None when not claimed."""
    return list(_claimed[run_dir]) if run_dir in _claimed else None


def release_run_dir(run_dir: Path) -> None:
    """Removes a claimed run directory that is still empty (the run did not start), with the parents it created."""
    for path in _claimed.pop(run_dir, []):
        try:
            path.rmdir()  # only when empty: never a file of a run
        except OSError:
            return


def check_run_name(name: Any) -> None:
    """Raises when ``run.name`` is not a plain name: it must stay inside ``run.root``.

    Raises:
        ConfigError: ``run.name`` is empty, ``.``/``..``, absolute or holds a path separator.
    """
    text = str(name)
    separators = {"/", "\\", os.sep, *([os.altsep] if os.altsep else [])}
    if text not in ("", ".", "..") and not any(sep in text for sep in separators) and not Path(text).is_absolute():
        return
    fix = "Use a plain name such as my_run; set run.root to choose the folder that holds the runs."
    raise ConfigError(Problem("run.name", "a plain name (no '/', '\\' or '..')", repr(text), fix))


def find_run_of_config(config_file: str | Path) -> Path | None:
    """The run directory a config file belongs to (``runs/x/version_0/config.yaml`` -> ``runs/x/version_0``)."""
    parent = Path(str(config_file)).parent
    return parent if (parent / RUN_FILE).is_file() else None


def last_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint to resume a run from.

    The newest of ``checkpoints/last.ckpt`` and the ``hpc_ckpt_<n>.ckpt`` files Lightning writes into
    the run directory before a SLURM requeue; without any, the newest ``.ckpt`` in ``checkpoints/``.
    """
    run_dir = Path(run_dir)
    folder = run_dir / CHECKPOINTS
    candidates = [p for p in [folder / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt")] if p.is_file()]
    if not candidates and folder.is_dir():
        candidates = list(folder.glob("*.ckpt"))
    return max(candidates, key=lambda p: p.stat().st_mtime_ns) if candidates else None


def run_dir_from_launcher() -> Path | None:
    """In a process started by Lightning's DDP launcher: the run directory chosen by rank 0."""
    value = os.environ.get(_ENV_RUN_DIR)
    return Path(value) if value and global_rank() != 0 else None


def share_with_launched_processes(run_dir: Path) -> None:
    """Lets processes started by Lightning's DDP launcher (which copy the environment) use the same directory."""
    if global_rank() == 0:
        os.environ[_ENV_RUN_DIR] = str(run_dir)


def stop_sharing() -> None:
    """Forgets the shared run directory (so a later run in this process picks its own)."""
    if global_rank() == 0:
        os.environ.pop(_ENV_RUN_DIR, None)


# -- loggers ------------------------------------------------------------------------------------------


def _is_local_logger(entry: Any) -> bool:
    if not isinstance(entry, Namespace) or not isinstance(entry.get("class_path"), str):
        return False
    try:
        cls = import_object(entry.class_path, "trainer.logger")  # parsed already: the allowlist let it in
    except (ImportError, AttributeError, ConfigError):
        return False
    return isinstance(cls, type) and issubclass(cls, _LOCAL_LOGGERS)


def place_loggers(trainer_config: Namespace, run_dir: Path) -> None:
    """Points every TensorBoard and CSV logger of a trainer config at the run directory.

    Other loggers (W&B, MLflow, a logger without a local directory) are left as configured.
    """
    loggers = trainer_config.get("logger")
    entries = loggers if isinstance(loggers, list) else [loggers]
    for entry in entries:
        if _is_local_logger(entry):
            if entry.get("init_args") is None:
                entry.init_args = Namespace()
            entry.init_args.save_dir = str(run_dir.parent.parent)
            entry.init_args.name = run_dir.parent.name
            entry.init_args.version = run_dir.name
            if "sub_dir" in entry.init_args:
                entry.init_args.sub_dir = None


def _read_metrics(path: Path, epoch: int, step: int) -> list[dict[str, float]]:
    """Rows of a CSVLogger ``metrics.csv`` logged up to a checkpoint at ``epoch`` and ``step``.

    These are the rows a run resumed from that checkpoint does not log again.
    """
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            values = {k: float(v) for k, v in row.items() if k and v not in ("", None)}
            if "epoch" in values:
                values["epoch"] = int(values["epoch"])
            row_epoch, row_step = values.get("epoch", epoch), values.get("step", step)
            if row_epoch < epoch or (row_epoch == epoch and row_step <= step):
                rows.append(values)
    return rows


# -- the callback -------------------------------------------------------------------------------------


class RunDirectory(Callback):
    """Writes the run directory's records once, on rank 0, and keeps CSV metrics across resumes.

    Replaces LightningCLI's SaveConfigCallback: it works with any number of loggers, with loggers
    that have no local directory, and with no logger at all.

    Args:
        run_dir: The run directory (on rank 0; other ranks receive rank 0's value).
        config: The resolved config to save as ``config.yaml``.
        command: The command line of this launch.
        seed: The seed used.
        resumed_from: The checkpoint this launch resumes from, if any.
    """

    def __init__(
        self,
        run_dir: str | Path,
        config: str,
        command: str,
        seed: int | None = None,
        resumed_from: str | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.command = command
        self.seed = seed
        self.resumed_from = resumed_from
        self._written = False
        self._earlier_metrics: list[dict[str, float]] = []
        self._mid_epoch = 0
        if resumed_from and global_rank() == 0:
            epoch, step, self._mid_epoch = read_checkpoint(resumed_from).position  # read once per command
            self._earlier_metrics = _read_metrics(self.run_dir / "metrics.csv", epoch, step)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Agrees on rank 0's directory, then writes ``config.yaml``, ``command.txt`` and ``run.yaml`` once."""
        self.run_dir = Path(trainer.strategy.broadcast(str(self.run_dir)))
        if self._written:
            return
        self._written = True
        if trainer.is_global_zero:
            self._restore_csv_metrics(trainer)
            self.write(trainer)
            if self._mid_epoch:
                # said here in one line, instead of Lightning's warning (the filter ends with main()'s quiet())
                warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before")
                print(
                    f"resuming after batch {self._mid_epoch} of an unfinished epoch: the rest of the epoch is drawn "
                    "from a new pass over the training data (resuming from the end of an epoch is exact).",
                    file=sys.stderr,
                )
        trainer.strategy.barrier("lightcli.RunDirectory")

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        """Stores the run's config (YAML text) in the checkpoint, so a resume can list what changed since."""
        checkpoint[RUN_CONFIG_KEY] = self.config

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Stops sharing the run directory with processes started later."""
        stop_sharing()

    def _restore_csv_metrics(self, trainer: Trainer) -> None:
        # CSVLogger deletes an existing metrics.csv: give it back the rows logged before the checkpoint
        for logger in trainer.loggers:
            if isinstance(logger, CSVLogger) and Path(logger.log_dir) == self.run_dir:
                for row in self._earlier_metrics:
                    values = dict(row)
                    step = int(values.pop("step"))
                    logger.experiment.log_metrics(values, step)
        self._earlier_metrics = []

    def write(self, trainer: Trainer) -> None:
        """Writes the records of this launch into the run directory."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / CONFIG_FILE).write_text(self.config)
        with (self.run_dir / COMMAND_FILE).open("a") as file:
            file.write(self.command + "\n")
        launch, diff = launch_record(trainer, self.command, self.seed, self.run_dir)
        if diff:
            (self.run_dir / DIFF_FILE).write_text(diff)
        record_path = self.run_dir / RUN_FILE
        if self.resumed_from and record_path.is_file():
            record = yaml.safe_load(record_path.read_text()) or {}
            launch["resumed_from"] = self.resumed_from
            record.setdefault("resumes", []).append(launch)
        else:
            record = {"name": self.run_dir.parent.name, "version": self.run_dir.name, "dir": str(self.run_dir)}
            record.update(launch)
        record_path.write_text(yaml.safe_dump(record, sort_keys=False))
        publish(trainer, self.run_dir, self.config, record)  # the config reaches every tracker (lightcli.run.trackers)


def command_line(args: list[str]) -> str:
    """The shell command that repeats a ``lightcli`` invocation."""
    return shlex.join(["lightcli", *args])
