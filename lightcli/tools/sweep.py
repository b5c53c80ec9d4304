"""``lightcli sweep``: hyperparameter search with Optuna over dotted keys of a lightcli config.

The search space is a YAML file mapping config keys (as given on the command line) to distributions
(see :mod:`lightcli.tools.searchspace`). Every trial is ``lightcli fit`` with the other arguments plus the
trial's values, checked by the fit parser before it starts, and gets its own run directory
``<sweep dir>/trial_<n>/version_0``. The study lives in ``<sweep dir>/study.db`` (SQLite) unless
``--storage`` names another Optuna storage (:mod:`lightcli.tools.storage`); running the same command again
resumes it. ``--trials N`` means N complete or pruned trials, counted in the storage over every worker of every
machine; a trial stopped by SIGTERM or whose worker died is run again.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from lightcli.cli import build_parser
from lightcli.config.problems import ConfigError
from lightcli.tools.compare import write_sweep_report
from lightcli.tools.searchspace import SearchSpace, check_space, read_space
from lightcli.tools.trials import counted, open_study, summary, tally, trial_line, work

__all__ = ["check", "main"]


# -- the command -------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightcli sweep",
        description=(
            "Search hyperparameters with Optuna. Every other argument goes to `lightcli fit` "
            "(e.g. --config configs/digits.yaml --trainer.max_epochs 3). Rerun the same command to resume."
        ),
        epilog=(
            "search space file (--space), e.g.:\n"
            "  metric: val/acc\n"
            "  direction: maximize\n"
            "  params:\n"
            "    system.optimizer.init_args.lr: {type: float, low: 1.0e-4, high: 1.0e-1, log: true}\n"
            "    trainer.max_epochs: {type: int, low: 1, high: 3}\n"
            "    system.model.init_args.hidden: {type: categorical, choices: [[32], [64, 32]]}\n"
            "    system.optimizer: {type: categorical, choices: [{class_path: torch.optim.Adam},\n"
            "                       {class_path: torch.optim.SGD, init_args: {momentum: 0.9}}]}"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--space", required=True, help="the YAML search space file")
    parser.add_argument(
        "--dir", help="the sweep directory: study.db and one run directory per trial (sweeps/<space name>)"
    )
    parser.add_argument(
        "--trials", type=int, default=10, help="run until the study has this many complete or pruned trials (10)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine (1)")
    parser.add_argument(
        "--storage",
        help="the study's storage, shared by several machines: postgresql://user@host:port/db or journal:<file> "
        "(SQLite in the sweep directory)",
    )
    parser.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        help="seconds between the heartbeats of a running trial: one silent for twice as long is run again (10)",
    )
    parser.add_argument("--study", help="the study name (the sweep directory's name)")
    parser.add_argument("--metric", help="the logged metric to optimize (the space's metric, else val/loss)")
    parser.add_argument("--direction", choices=["minimize", "maximize"], help="(the space's direction, else minimize)")
    parser.add_argument("--sampler", choices=["tpe", "random"], default="tpe", help="how values are chosen (tpe)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the sampler")
    parser.add_argument("--pruner", choices=["none", "median"], default="none", help="stop bad trials early (none)")
    parser.add_argument("--prune-after", type=int, default=3, help="trials that run in full before pruning starts (3)")
    parser.add_argument("--top", type=int, default=5, help="trials shown in the final table (5)")
    parser.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
    return parser


def _parse(args: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = _parser()
    options, fit_args = parser.parse_known_args(args)
    if fit_args and fit_args[0] == "fit":
        fit_args = fit_args[1:]
    if options.trials < 1 or options.workers < 1 or options.heartbeat < 1:
        parser.error("--trials, --workers and --heartbeat: expected positive ints")
    return options, fit_args


def _launch_workers(
    options: argparse.Namespace, args: list[str], study: Any, space: SearchSpace, sweep_dir: Path
) -> int:
    """Starts ``--workers`` processes of this command on the same study and prints trials as they finish."""
    rest, skip = [], False
    for arg in args:  # the same command, with one worker each
        if skip or arg == "--workers" or arg.startswith("--workers="):
            skip = arg == "--workers"
            continue
        rest.append(arg)
    project = sys.modules.get("project")
    front = ["--project", str(project.__path__[0])] if project is not None and hasattr(project, "__path__") else []
    command = [sys.executable, "-m", "lightcli", *front, "sweep", *rest, "--workers", "1", "--no-summary"]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // options.workers)))
    logs = [(sweep_dir / f"worker_{i}.log").open("a") for i in range(options.workers)]
    workers = [subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env) for log in logs]
    print(f"{options.workers} workers started; their output: {sweep_dir}/worker_<n>.log", flush=True)
    shown = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        while True:
            running = any(w.poll() is None for w in workers)
            for trial in study.get_trials(deepcopy=False):
                if trial.state.is_finished() and trial.number not in shown and "interrupted" not in trial.user_attrs:
                    shown.add(trial.number)
                    print(trial_line(trial, space), flush=True)
            if not running:
                break
            time.sleep(1.0)
    except (KeyboardInterrupt, SystemExit) as stop:  # each worker stops its trial, which a rerun runs again
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait()
        raise SystemExit(stop.code if isinstance(stop, SystemExit) else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        for log in logs:
            log.close()
    codes = [w.wait() for w in workers]
    failed = [i for i, code in enumerate(codes) if code != 0]
    if failed:
        print(
            f"worker {failed[0]} exited with {codes[failed[0]]}: see {sweep_dir}/worker_{failed[0]}.log",
            file=sys.stderr,
        )
        return 1
    return 0


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(143)


def _prepare(args: list[str]) -> Any:
    """Parses, checks the space against the fit parser and opens the study: ``(options, fit_args, space, parser,
    sweep_dir, study, lock)``, or the exit code once the problem is printed (0 after --help)."""
    try:
        options, fit_args = _parse(args)
    except SystemExit as exit:  # --help, or a usage error argparse has printed
        return exit.code if isinstance(exit.code, int) else 0
    try:
        import optuna
    except ImportError:
        print(
            "lightcli sweep: expected Optuna, got none installed. Install it: pip install 'lightcli[sweep]'.",
            file=sys.stderr,
        )
        return 2

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats, stale trials

    try:
        space = read_space(options.space, options.metric, options.direction)
        parser = build_parser("fit")
        parser.exit_on_error = False
        check_space(parser, space, fit_args)
        sweep_dir = Path(options.dir or Path("sweeps") / Path(options.space).stem)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        study, lock = open_study(options, space, sweep_dir)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    return options, fit_args, space, parser, sweep_dir, study, lock


def check(args: list[str]) -> int:
    """Checks a ``lightcli sweep`` command without running a trial (the study is created): 0, or 2 once the
    problem is printed. ``lightcli submit sweep`` runs it before submitting the workers."""
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    prepared[-1].close()
    return 0


def main(args: list[str]) -> int:
    """Runs ``lightcli sweep`` with its arguments and returns the exit code (2 on bad input)."""
    prepared = _prepare(args)
    if isinstance(prepared, int):
        return prepared
    options, fit_args, space, parser, sweep_dir, study, lock = prepared
    before = counted(study)
    if not options.no_summary:
        todo = max(options.trials - before, 0)
        resumed = f"resuming study {study.study_name!r} ({before} trials so far); " if before else ""
        print(f"{resumed}{todo} trials to run in {sweep_dir}, {space.direction} {space.metric}", flush=True)
    try:
        if options.workers > 1:
            lock.close()
            code = _launch_workers(options, args, study, space, sweep_dir)
        else:
            work(study, space, parser, fit_args, options, sweep_dir, lock)
            code = 0
    except (KeyboardInterrupt, SystemExit) as stop:
        code = stop.code if isinstance(stop, SystemExit) and isinstance(stop.code, int) else 130
        print("interrupted: rerun the same command to resume the sweep", file=sys.stderr)
        return code
    if not options.no_summary:
        print(summary(study, space, options.top))
        written = write_sweep_report(study, sweep_dir)  # the trials side by side (lightcli compare)
        if written:
            print("trials compared: " + ", ".join(str(p) for p in written))
    done, _, failed = tally(study)
    if code == 0 and done < options.trials:  # the summary says why
        print(f"{failed} trials failed: the sweep stopped with {done} of {options.trials} trials", file=sys.stderr)
        return 1
    return code
