"""``lightcli sweep``: hyperparameter search with Optuna over dotted keys of a lightcli config.

The search space is a YAML file mapping config keys (as given on the command line) to distributions
(see :mod:`lightcli.tools.searchspace`). Every trial is ``lightcli fit`` with the other arguments plus the
trial's values, checked by the fit parser before it starts, and gets its own run directory
``<sweep dir>/trial_<n>/version_0``. The study lives in ``<sweep dir>/study.db`` (SQLite) unless
``--storage`` names another Optuna storage; running the same command again resumes it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import math
import os
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

from lightcli.cli import LightCLI, build_parser
from lightcli.tools.searchspace import SearchSpace, SpaceError, check, check_space, overrides, read_space

__all__ = ["SearchSpace", "SpaceError", "main", "read_space", "summary", "trial_line", "work"]


_QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]


class _TrialCLI(LightCLI):
    """``lightcli fit`` for one trial, with the pruning callback added to the trainer."""

    def __init__(self, args: list[str], extra_callbacks: list[Any]) -> None:
        self._extra_callbacks = extra_callbacks
        super().__init__(args=args)

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """Builds the trainer and adds the sweep's callbacks."""
        trainer = super().instantiate_trainer(**kwargs)
        trainer.callbacks.extend(self._extra_callbacks)
        return trainer


def _pruning_callback(trial: Any, metric: str) -> Any:
    from pytorch_lightning import Callback

    class Pruning(Callback):
        """Reports the metric after each validation and stops the run when Optuna prunes the trial."""

        pruned = False

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            value = trainer.callback_metrics.get(metric)
            if trainer.sanity_checking or value is None:
                return
            trial.report(float(value), step=trainer.current_epoch)
            if trial.should_prune():
                self.pruned = True
                trainer.should_stop = True

    return Pruning()


# -- the study ---------------------------------------------------------------------------------------


class _Lock:
    """An exclusive lock on a file of the sweep directory: workers on this machine take turns to start trials."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a+")
        self.held = False

    def acquire(self) -> None:
        fcntl.flock(self.file, fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        if self.held:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.held = False

    def close(self) -> None:
        self.release()
        self.file.close()


def _open_study(options: argparse.Namespace, space: SearchSpace, sweep_dir: Path) -> Any:
    import optuna

    url = options.storage or f"sqlite:///{(sweep_dir / 'study.db').resolve()}"
    engine = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else None
    storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=10, grace_period=60)
    if options.sampler == "random":
        sampler: Any = optuna.samplers.RandomSampler(seed=options.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=options.seed, constant_liar=True)
    pruner: Any = optuna.pruners.NopPruner()
    if options.pruner == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=options.prune_after, n_warmup_steps=1)
    study = optuna.create_study(
        storage=storage,
        study_name=options.study or sweep_dir.name,
        direction="maximize" if space.direction == "maximize" else "minimize",
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    described = {"params": space.params, "metric": space.metric, "direction": space.direction}
    stored = study.user_attrs.get("space")
    if stored is None:
        study.set_user_attr("space", described)
    elif stored != json.loads(json.dumps(described)):
        raise SpaceError(
            f"--space: expected the search space the study {study.study_name!r} was created with, got a different "
            f"one ({space.source}). Use another --dir or --study for a new search."
        )
    return study


def _counted(study: Any) -> int:
    """Trials that count towards --trials: running, complete, pruned, or failed by their own error."""
    from optuna.trial import TrialState

    done = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    trials = study.get_trials(deepcopy=False)
    return sum(1 for t in trials if t.state in done or (t.state == TrialState.FAIL and "error" in t.user_attrs))


def _suggest(trial: Any, key: str, spec: dict[str, Any], space: SearchSpace) -> Any:
    if spec["type"] == "categorical":
        return space.value(key, trial.suggest_categorical(key, list(space.labels[key])))
    if spec["type"] == "int":
        return trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False))
    return trial.suggest_float(key, spec["low"], spec["high"], step=spec.get("step"), log=spec.get("log", False))


class _TrialError(Exception):
    """The trial could not run or produced no metric; recorded as a failed trial."""


def _objective(
    space: SearchSpace, parser: Any, fit_args: list[str], sweep_dir: Path, pruning: bool, lock: _Lock
) -> Any:
    def objective(trial: Any) -> float:
        lock.release()  # the trial exists in the study: other workers may start theirs
        start = time.monotonic()
        values = {key: _suggest(trial, key, spec, space) for key, spec in space.params.items()}
        name = f"trial_{trial.number:04d}"
        args = [*_QUIET, *fit_args, *overrides(space, values), f"--run.root={sweep_dir}", f"--run.name={name}"]
        trial.set_user_attr("args", args[len(_QUIET) :])
        problem = check(parser, args)
        if problem:
            trial.set_user_attr("error", f"the config does not parse: {problem}")
            raise _TrialError(problem)
        (sweep_dir / name).mkdir(parents=True, exist_ok=True)
        callbacks = [_pruning_callback(trial, space.metric)] if pruning else []
        try:
            with (
                (sweep_dir / name / "output.log").open("w") as log,
                contextlib.redirect_stdout(log),
                contextlib.redirect_stderr(log),
            ):
                try:
                    cli = _TrialCLI(["fit", *args], callbacks)
                except (Exception, SystemExit):
                    traceback.print_exc()  # into output.log
                    raise
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            raise
        except (Exception, SystemExit) as error:
            trial.set_user_attr("error", f"{type(error).__name__}: {error}".strip().splitlines()[0][:300])
            raise _TrialError(str(error)) from None
        finally:
            runs = sorted((sweep_dir / name).glob("version_*"), key=lambda p: p.stat().st_mtime)
            trial.set_user_attr("run_dir", str(runs[-1] if runs else sweep_dir / name))
            trial.set_user_attr("seconds", round(time.monotonic() - start, 1))
        value = cli.trainer.callback_metrics.get(space.metric)
        if value is None:
            logged = ", ".join(sorted(cli.trainer.callback_metrics)) or "nothing"
            trial.set_user_attr("error", f"metric {space.metric!r} was not logged (logged: {logged})")
            raise _TrialError(trial.user_attrs["error"])
        if callbacks and callbacks[0].pruned:
            import optuna

            raise optuna.TrialPruned()
        number = float(value)
        if math.isnan(number):
            trial.set_user_attr("error", f"metric {space.metric!r} is nan")
            raise _TrialError("nan")
        return number

    return objective


def work(
    study: Any, space: SearchSpace, parser: Any, fit_args: list[str], options: argparse.Namespace, sweep_dir: Path
) -> None:
    """Runs trials one after the other until the study has ``options.trials`` of them, printing a line each."""
    import optuna

    lock = _Lock(sweep_dir / ".lock")
    objective = _objective(space, parser, fit_args, sweep_dir, options.pruner != "none", lock)
    try:
        while True:
            lock.acquire()
            try:
                optuna.storages.fail_stale_trials(study)  # trials of a worker that was killed: run them again
                if _counted(study) >= options.trials:
                    return
                before = {t.number for t in study.get_trials(deepcopy=False)}
                study.optimize(objective, n_trials=1, catch=(_TrialError, Exception))
            finally:
                lock.release()
            mine = [t for t in study.get_trials(deepcopy=False) if t.number not in before]
            for trial in mine:
                if trial.state.is_finished():
                    print(trial_line(trial, space), flush=True)
    finally:
        lock.close()


# -- output ------------------------------------------------------------------------------------------


def _short(key: str) -> str:
    parts = [p for p in key.split(".") if p != "init_args"]
    return ".".join(parts[1:] if parts[0] == "system" and len(parts) > 1 else parts)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def trial_line(trial: Any, space: SearchSpace) -> str:
    """One line about a finished trial: number, state, metric, values, duration and run directory."""
    state = trial.state.name.lower()
    result = f"{space.metric}={_format(trial.value)}" if trial.value is not None else state
    params = ", ".join(f"{_short(k)}={_format(v)}" for k, v in trial.params.items())
    error = f"  error: {trial.user_attrs['error']}" if "error" in trial.user_attrs else ""
    seconds = trial.user_attrs.get("seconds")
    took = f"  {seconds}s" if seconds is not None else ""
    return f"trial {trial.number:>3}  {result}  {params}{took}  {trial.user_attrs.get('run_dir', '')}{error}"


def summary(study: Any, space: SearchSpace, top: int) -> str:
    """The best complete trials as a table, with the count of trials by state."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = {
        s: sum(1 for t in trials if t.state == s) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    }
    head = f"{len(trials)} trials: " + ", ".join(
        f"{n} {s.name.lower().replace('fail', 'failed')}" for s, n in counts.items()
    )
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    done.sort(key=lambda t: t.value, reverse=space.direction == "maximize")
    if not done:
        return head + "\nno trial completed"
    columns = ["trial", space.metric, *(_short(k) for k in space.params), "run"]
    rows = [
        [
            str(t.number),
            _format(t.value),
            *(_format(t.params.get(k)) for k in space.params),
            t.user_attrs.get("run_dir", ""),
        ]
        for t in done[:top]
    ]
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    line = "-" * (sum(widths) + 3 * len(widths) + 1)
    out = [head, f"best {len(rows)} of {len(done)} complete ({space.direction} {space.metric}):", line]
    out += [
        "  " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [columns, *rows]
    ]
    out.insert(4, line)
    out += [
        line,
        f"rerun the best: lightcli fit --config {Path(done[0].user_attrs.get('run_dir', '.')) / 'config.yaml'}",
    ]
    return "\n".join(out)


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
    parser.add_argument("--trials", type=int, default=10, help="run until the study has this many trials (10)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine (1)")
    parser.add_argument("--storage", help="an Optuna storage URL shared by several machines, e.g. postgresql://host/db")
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
    if options.trials < 1 or options.workers < 1:
        parser.error("--trials and --workers: expected positive ints")
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
    try:
        while True:
            running = any(w.poll() is None for w in workers)
            for trial in study.get_trials(deepcopy=False):
                if trial.state.is_finished() and trial.number not in shown:
                    shown.add(trial.number)
                    print(trial_line(trial, space), flush=True)
            if not running:
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        for worker in workers:
            worker.terminate()
        raise
    finally:
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


def main(args: list[str]) -> int:
    """Runs ``lightcli sweep`` with its arguments and returns the exit code (2 on bad input)."""
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
        study = _open_study(options, space, sweep_dir)
    except SpaceError as error:
        print(error, file=sys.stderr)
        return 2
    before = _counted(study)
    if not options.no_summary:
        todo = max(options.trials - before, 0)
        resumed = f"resuming study {study.study_name!r} ({before} trials so far); " if before else ""
        print(f"{resumed}{todo} trials to run in {sweep_dir}, {space.direction} {space.metric}", flush=True)
    try:
        if options.workers > 1:
            code = _launch_workers(options, args, study, space, sweep_dir)
        else:
            work(study, space, parser, fit_args, options, sweep_dir)
            code = 0
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume the sweep", file=sys.stderr)
        return 130
    if not options.no_summary:
        print(summary(study, space, options.top))
    if code == 0 and not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        return 1  # every trial failed: the summary says why
    return code
