"""``lightcli submit``: run a lightcli command as a batch job, on SLURM or on this machine, with submitit.

``lightcli submit fit --config x.yaml --executor slurm --nodes 2 --tasks-per-node 4 --gpus-per-node 4
--timeout 240 --partition p`` submits the same ``lightcli fit --config x.yaml`` that would run here. The
options of the job are checked, and so is the command (like ``lightcli check``, or a sweep's space and
storage), before anything is submitted. In the job, lightcli runs as a child process; the run records the
job (id, executor, options) in its ``run.yaml``.

Before the time limit (or on preemption) the scheduler signals the job (SIGUSR2, ``--signal-delay`` seconds
before the end): the job stops the run as SIGTERM does (``last.ckpt`` saved), and is requeued with
``lightcli fit --config <run>/config.yaml --ckpt_path last``: the same run goes on in the same run folder.

``lightcli submit sweep ... --workers 8`` submits 8 workers of one sweep as a job array.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightcli.config.commands import SUBCOMMANDS
from lightcli.config.problems import ConfigError, Problem

__all__ = ["LightcliJob", "main"]

_USAGE = (
    "usage: lightcli submit {fit,validate,test,predict,sweep} [--executor slurm|local] [--nodes N] "
    "[--tasks-per-node N] [--gpus-per-node N] [--cpus-per-task N] [--mem 32G] [--timeout MINUTES] "
    "[--partition P] [--account A] [--qos Q] [--constraint C] [--signal-delay SECONDS] [--requeues N] "
    "[--workers N] [--logs FOLDER] [--wait] <the command's arguments> [-- <more arguments>]"
)

# option -> (what it takes, default, help, executors it applies to)
_OPTIONS: dict[str, tuple[str, Any, str, tuple[str, ...]]] = {
    "--executor": (
        "executor",
        "slurm",
        "where the job runs: slurm (sbatch) or local (this machine)",
        ("local", "slurm"),
    ),
    "--nodes": ("count", 1, "machines (local: 1)", ("local", "slurm")),
    "--tasks-per-node": ("count", 1, "processes per machine, one per GPU for DDP", ("local", "slurm")),
    "--gpus-per-node": ("number", 0, "GPUs per machine", ("local", "slurm")),
    "--cpus-per-task": ("count", None, "CPUs per process", ("slurm",)),
    "--mem": ("memory", None, "memory per machine, e.g. 32G or 500M", ("slurm",)),
    "--timeout": ("count", 60, "the time limit in minutes", ("local", "slurm")),
    "--partition": ("name", None, "the SLURM partition", ("slurm",)),
    "--account": ("name", None, "the SLURM account", ("slurm",)),
    "--qos": ("name", None, "the SLURM quality of service", ("slurm",)),
    "--constraint": ("name", None, "the SLURM node constraint", ("slurm",)),
    "--signal-delay": (
        "count",
        120,
        "seconds before the time limit when the job checkpoints and requeues",
        ("local", "slurm"),
    ),
    "--requeues": ("number", 3, "how many times a timed-out job is requeued", ("local", "slurm")),
    "--workers": ("count", 1, "sweep workers: a job array of this many jobs on one study", ("local", "slurm")),
    "--logs": ("path", "jobs", "the folder of the jobs' logs (jobs)", ("local", "slurm")),
}
_EXPECTED = {
    "executor": "slurm or local",
    "count": "a positive int",
    "number": "an int >= 0",
    "memory": "an amount of memory like 32G, 500M or 1T",
    "name": "a name",
    "path": "a folder",
}
_COMMANDS = (*SUBCOMMANDS, "sweep")


def _converted(kind: str, text: str) -> Any:
    if kind in ("count", "number"):
        value = int(text) if re.fullmatch(r"\d+", text) else -1
        return value if value >= (1 if kind == "count" else 0) else None
    if kind == "executor":
        return text if text in ("slurm", "local") else None
    if kind == "memory":
        return text.upper() if re.fullmatch(r"\d+[KMGTkmgt]?", text) else None
    return text or None


def parse(args: list[str]) -> tuple[str, dict[str, Any], list[str], bool]:
    """Splits ``lightcli submit`` arguments into the command, the job options (checked), its arguments and --wait.

    Raises:
        ConfigError: An unknown command, or job options that are wrong (every problem at once).
    """
    if not args or args[0] not in _COMMANDS:
        got = repr(args[0]) if args else "nothing"
        raise ConfigError(
            Problem(
                "command",
                f"one of {', '.join(_COMMANDS)} after submit",
                got,
                "e.g. lightcli submit fit --config my.yaml --executor local",
            )
        )
    command, rest = args[0], args[1:]
    extra: list[str] = []
    if "--" in rest:
        rest, extra = rest[: rest.index("--")], rest[rest.index("--") + 1 :]
    options = {flag: spec[1] for flag, spec in _OPTIONS.items()}
    given: set[str] = set()
    forwarded, problems, wait, i = [], [], False, 0
    while i < len(rest):
        flag, _, value = rest[i].partition("=")
        if rest[i] == "--wait":
            wait = True
        elif flag in _OPTIONS:
            if not value and "=" not in rest[i]:
                i += 1
                value = rest[i] if i < len(rest) else ""
            kind = _OPTIONS[flag][0]
            converted = _converted(kind, value)
            if converted is None:
                problems.append(
                    Problem(flag, _EXPECTED[kind], repr(value) if value else "nothing", f"{flag}: {_OPTIONS[flag][2]}.")
                )
            options[flag] = converted
            given.add(flag)
        else:
            forwarded.append(rest[i])
        i += 1
    executor = options["--executor"]
    for flag in sorted(given):
        if executor in ("slurm", "local") and executor not in _OPTIONS[flag][3]:
            problems.append(
                Problem(
                    flag,
                    "an option of --executor slurm",
                    f"it with --executor {executor}",
                    f"Drop {flag}, or use --executor slurm.",
                )
            )
    if executor == "local" and options["--nodes"] not in (None, 1):
        problems.append(
            Problem(
                "--nodes",
                "1 with --executor local (one machine)",
                repr(options["--nodes"]),
                "Use --executor slurm for several machines.",
            )
        )
    if "--workers" in given and command != "sweep":
        problems.append(
            Problem(
                "--workers",
                "lightcli submit sweep",
                f"lightcli submit {command}",
                "Drop --workers: it submits sweep workers.",
            )
        )
    if executor == "slurm" and not problems and shutil.which("sbatch") is None:
        problems.append(
            Problem(
                "--executor",
                "a machine with SLURM (sbatch on PATH)",
                "slurm, but no sbatch",
                "Submit from a SLURM login node, or use --executor local.",
            )
        )
    if problems:
        raise ConfigError(problems)
    return command, options, [*forwarded, *extra], wait


def _checked(command: str, args: list[str]) -> int:
    """Checks the command as it would run (its problems printed); returns 0 when it is good, else 2."""
    from lightcli.tools import check, sweep  # torch and Lightning: not for --help

    if command == "sweep":
        return sweep.check([*args])
    with contextlib.redirect_stdout(io.StringIO()):  # its `ok` report: only problems matter here
        return check.main([command, *args])


# -- the job ------------------------------------------------------------------------------------------


@dataclass
class LightcliJob:
    """A lightcli command run by submitit in a batch job, requeued into the same run when time runs out.

    Args:
        args: The lightcli command line (``fit --config x.yaml ...``).
        cwd: The folder it runs in.
        job: What the run records about its job besides the id: executor and options.
    """

    args: list[str]
    cwd: str
    job: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._run_file: Path | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"args": self.args, "cwd": self.cwd, "job": self.job}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__post_init__()

    def __call__(self) -> int:
        """Runs the command in a child process and returns its exit code (also read back by ``--wait``)."""
        import submitit

        from lightcli.run.record import JOB_ENV_VAR

        environment = submitit.JobEnvironment()
        self._run_file = environment.paths.folder / f"{environment.job_id}_run.txt"
        record = {"id": environment.job_id, **self.job, "run_file": str(self._run_file)}
        env = {**os.environ, JOB_ENV_VAR: json.dumps(record)}
        self._child = subprocess.Popen(  # the scheduler's USR2 is for this process: the child ignores it
            [sys.executable, "-m", "lightcli", *self.args],
            cwd=self.cwd,
            env=env,
            preexec_fn=_ignore_usr2,  # noqa: PLW1509 (no threads yet)
        )
        while (code := self._child.poll()) is None:  # not wait(): the signal handler must be able to stop it
            time.sleep(0.2)
        return code

    def checkpoint(self) -> Any:
        """Called by submitit on the timeout or preemption signal: stops the run (``last.ckpt`` saved) and
        returns the command that resumes it in the same run folder, which submitit requeues."""
        import submitit

        if self._child is not None and self._child.poll() is None:
            self._child.send_signal(signal.SIGTERM)  # lightcli's GracefulStop: finish the batch, save last.ckpt
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._child.pid, 0)
        return submitit.helpers.DelayedSubmission(LightcliJob(self.resumed(), self.cwd, self.job))

    def resumed(self) -> list[str]:
        """The command that goes on with this job's run: ``fit --config <run>/config.yaml --ckpt_path last``
        once the run folder exists; any other command (a sweep reruns its interrupted trial) as it is."""
        run_dir = self._run_file.read_text().strip() if self._run_file and self._run_file.is_file() else ""
        if not run_dir or "fit" not in self.args:
            return list(self.args)
        front = self.args[: self.args.index("fit")]  # e.g. --project <folder>
        return [*front, "fit", "--config", str(Path(run_dir) / "config.yaml"), "--ckpt_path", "last"]


def _ignore_usr2() -> None:
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


# -- submitting ---------------------------------------------------------------------------------------


def _executor(options: dict[str, Any], jobs: int) -> Any:
    import submitit

    folder = Path(options["--logs"])
    common = {
        "timeout_min": options["--timeout"],
        "tasks_per_node": options["--tasks-per-node"],
        "gpus_per_node": options["--gpus-per-node"],
        "nodes": options["--nodes"],
    }
    if options["--executor"] == "local":
        executor: Any = submitit.LocalExecutor(folder, max_num_timeout=options["--requeues"])
        executor.update_parameters(**common, signal_delay_s=options["--signal-delay"])
        return executor
    executor = submitit.SlurmExecutor(folder, max_num_timeout=options["--requeues"])
    slurm = {
        "partition": options["--partition"],
        "account": options["--account"],
        "qos": options["--qos"],
        "constraint": options["--constraint"],
        "mem": options["--mem"],
        "cpus_per_task": options["--cpus-per-task"],
    }
    executor.update_parameters(
        time=common["timeout_min"],
        nodes=common["nodes"],
        ntasks_per_node=common["tasks_per_node"],
        gpus_per_node=common["gpus_per_node"] or None,
        signal_delay_s=options["--signal-delay"],
        array_parallelism=jobs,
        job_name="lightcli",
        **{k: v for k, v in slurm.items() if v is not None},
    )
    return executor


def _where_the_run_goes(command: str, args: list[str]) -> str:
    if command == "sweep":
        return "the sweep folder (see the workers' logs)"
    values = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if "=" in a and a.startswith("--")}
    values.update({a: b for a, b in itertools.pairwise(args) if a.startswith("--") and not b.startswith("--")})
    from lightcli.run.folders import new_run_dir

    config = values.get("--config")
    name = values.get("--run.name") or (Path(config).stem if config else "default")
    return f"{new_run_dir(values.get('--run.root', 'runs'), name)} (the next free version when it starts)"


def _run_file(job: Any) -> Path:
    """Where the run of a job writes its folder (the job's ``run_file``)."""
    return Path(job.paths.folder) / f"{job.job_id}_run.txt"


def main(args: list[str]) -> int:
    """Runs ``lightcli submit``; returns the exit code (2 on bad options or a bad command, nothing submitted)."""
    if not args or args[0] in ("-h", "--help"):
        listed = "\n".join(
            f"  {flag:<17} {spec[2]}" + (f" ({spec[1]})" if spec[1] is not None else "")
            for flag, spec in _OPTIONS.items()
        )
        print(
            f"{_USAGE}\n\n{(__doc__ or '').replace('``', '`')}\noptions:\n{listed}\n  --wait            wait for the job and exit with its exit code"
        )
        return 0
    try:
        command, options, command_args, wait = parse(args)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        import submitit  # noqa: F401
    except ImportError:
        print(
            "error: lightcli submit: expected submitit, got none installed. Install it: pip install 'lightcli[submit]'.",
            file=sys.stderr,
        )
        return 2
    if _checked(command, command_args) != 0:
        return 2  # the command's problems are printed: nothing submitted
    workers = options["--workers"] if command == "sweep" else 1
    argv = [command, *command_args, *(["--no-summary"] if command == "sweep" and workers > 1 else [])]
    record = {
        "executor": options["--executor"],
        "options": {
            k.lstrip("-"): v
            for k, v in options.items()
            if v is not None and k not in ("--executor", "--logs", "--workers")
        },
    }
    executor = _executor(options, workers)
    job_function = LightcliJob(argv, os.getcwd(), record)
    if workers > 1:
        with executor.batch():
            jobs = [executor.submit(job_function) for _ in range(workers)]
    else:
        jobs = [executor.submit(job_function)]
    what = f"{workers} sweep workers" if workers > 1 else "job"
    print(f"submitted {what} ({options['--executor']}): {shlex.join(['lightcli', *argv])}")
    for job in jobs:
        print(f"  job {job.job_id}: logs {job.paths.stdout} and {job.paths.stderr}; run folder in {_run_file(job)}")
    print(f"  run folder: {_where_the_run_goes(command, command_args)}")
    if not wait:
        return 0
    codes = []
    for job in jobs:
        try:
            code = int(job.result())
        except Exception as error:  # the job itself failed (submitit's error names the log)
            print(f"job {job.job_id} failed: {str(error).strip().splitlines()[0]}", file=sys.stderr)
            code = 1
        run_file = _run_file(job)
        run_dir = run_file.read_text().strip() if run_file.is_file() else "none"
        print(f"job {job.job_id} ended with exit code {code}; run folder: {run_dir}")
        codes.append(code)
    return max(codes)
