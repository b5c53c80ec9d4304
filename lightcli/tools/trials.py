"""The trials of ``lightcli sweep``: the Optuna study, the objective that runs one ``lightcli fit`` per trial,
a worker's loop over trials, and the lines and table that report them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from lightcli.cli import LightCLI
from lightcli.config.problems import ConfigError, Problem
from lightcli.tools.searchspace import SearchSpace, check, overrides
from lightcli.tools.storage import Lock, open_storage, retry_callback

__all__ = ["counted", "open_study", "summary", "tally", "trial_line", "work"]

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


def open_study(options: argparse.Namespace, space: SearchSpace, sweep_dir: Path) -> tuple[Any, Lock]:
    """The study of the sweep (created when new, checked against the space when resumed) and the workers' lock."""
    import optuna

    storage, lock = open_storage(options.storage, sweep_dir, options.study or sweep_dir.name, options.heartbeat)
    if options.sampler == "random":
        sampler: Any = optuna.samplers.RandomSampler(seed=options.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=options.seed, constant_liar=True)
    pruner: Any = optuna.pruners.NopPruner()
    if options.pruner == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=options.prune_after, n_warmup_steps=1)
    try:
        study = _create(storage, options, space, sweep_dir, sampler, pruner)
    except BaseException:
        lock.close()
        raise
    return study, lock


def _create(
    storage: Any, options: argparse.Namespace, space: SearchSpace, sweep_dir: Path, sampler: Any, pruner: Any
) -> Any:
    import optuna

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
        raise ConfigError(
            Problem(
                "--space",
                f"the search space the study {study.study_name!r} was created with",
                f"a different one ({space.source})",
                "Use another --dir or --study for a new search.",
            )
        )
    return study


def tally(study: Any) -> tuple[int, int, int]:
    """The trials of the study, counted in its storage: (complete or pruned, running, failed by their own error).

    ``--trials N`` asks for N complete or pruned trials. A trial that was interrupted or whose worker died is
    failed without an error of its own and tried again; a trial that failed by its own error (a config that
    does not run, a nan metric) does not count either, but N of them end the sweep.
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    done = sum(1 for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED))
    running = sum(1 for t in trials if t.state == TrialState.RUNNING)
    failed = sum(1 for t in trials if t.state == TrialState.FAIL and "error" in t.user_attrs)
    return done, running, failed


def counted(study: Any) -> int:
    """Trials that count towards ``--trials``: complete or pruned."""
    return tally(study)[0]


def _suggest(trial: Any, key: str, spec: dict[str, Any], space: SearchSpace) -> Any:
    if spec["type"] == "categorical":
        return space.value(key, trial.suggest_categorical(key, list(space.labels[key])))
    if spec["type"] == "int":
        return trial.suggest_int(key, spec["low"], spec["high"], step=spec.get("step", 1), log=spec.get("log", False))
    return trial.suggest_float(key, spec["low"], spec["high"], step=spec.get("step"), log=spec.get("log", False))


_STOPPED = {143: "SIGTERM", 130: "SIGINT"}  # the exit codes of a run stopped by a signal (GracefulStop)


class _TrialError(Exception):
    """The trial could not run or produced no metric; recorded as a failed trial."""


def _objective(
    space: SearchSpace, parser: Any, fit_args: list[str], sweep_dir: Path, pruning: bool, lock: Lock, started: list[int]
) -> Any:
    def objective(trial: Any) -> float:
        lock.release()  # the trial exists in the study: other workers may start theirs
        started.append(trial.number)
        trial.set_user_attr("worker", _worker())
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
            trial.set_user_attr("interrupted", "SIGINT")
            raise
        except SystemExit as error:
            if error.code in _STOPPED:  # a stop signal: Optuna fails the trial on KeyboardInterrupt, then retry it
                trial.set_user_attr("interrupted", _STOPPED[error.code])
                raise KeyboardInterrupt from None
            said = f"SystemExit: {error.code}"
            trial.set_user_attr("error", said)
            raise _TrialError(said) from None
        except Exception as error:
            said = str(error) if isinstance(error, ConfigError) else f"{type(error).__name__}: {error}"
            trial.set_user_attr("error", said.strip().splitlines()[0][:300])
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


def _worker() -> str:
    """This worker: host, process id and the process's start time (so a reused process id is not taken for it)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}"


def _started(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _dead(worker: str) -> bool:
    """Whether a worker of this machine has ended (a worker of another machine is never taken for dead)."""
    host, pid, started = [*worker.split(":"), "", "", ""][:3]
    if host != socket.gethostname() or not pid.isdigit() or not Path("/proc/self/stat").exists():
        return False
    return _started(int(pid)) != started


def _fail_dead(study: Any, heartbeats: bool) -> None:
    """Fails the running trials of dead workers and tries their values again.

    On a database, Optuna's heartbeats find them (on every machine); in a journal, which has no heartbeats,
    the trials of workers of this machine whose process has ended.
    """
    import optuna
    from optuna.trial import TrialState

    if heartbeats:
        optuna.storages.fail_stale_trials(study)
        return
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _dead(trial.user_attrs.get("worker", "")):
            study.tell(trial.number, state=TrialState.FAIL)
            retry_callback()[0](study, study.get_trials()[trial.number])


def _retry_interrupted(study: Any, numbers: set[int]) -> list[str]:
    """Adds a waiting copy of each interrupted trial among ``numbers`` (the next run of the sweep runs it again);
    returns the signals that interrupted them."""
    from optuna.trial import TrialState

    signals = []
    for trial in study.get_trials(deepcopy=False):
        if trial.number in numbers and trial.state == TrialState.FAIL and "interrupted" in trial.user_attrs:
            retry_callback()[0](study, trial)
            signals.append(trial.user_attrs["interrupted"])
    return signals


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(143)  # as lightcli's GracefulStop does during training: the trial is retried


def work(
    study: Any,
    space: SearchSpace,
    parser: Any,
    fit_args: list[str],
    options: argparse.Namespace,
    sweep_dir: Path,
    lock: Lock,
) -> None:
    """Runs trials one after the other, printing a line each, until the study holds ``options.trials`` complete or
    pruned trials (counted in the storage, over every worker), or as many that failed by their own error.

    A worker starts a trial only while the complete, pruned and running trials are fewer than asked; otherwise it
    waits for the running ones, so the study ends with exactly the trials asked for. SIGTERM or Ctrl-C stop the
    running trial (its checkpoint is saved), mark it failed and add a copy that the next run tries again, and
    exit with SystemExit(143) after SIGTERM, SystemExit(130) after Ctrl-C.
    """
    started: list[int] = []
    objective = _objective(space, parser, fit_args, sweep_dir, options.pruner != "none", lock, started)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    before: set[int] = set()
    try:
        while True:
            lock.acquire()
            try:
                _fail_dead(
                    study, not str(options.storage).startswith("journal:")
                )  # trials of a worker that was killed: run them again
                done, running, failed = tally(study)
                if done >= options.trials or failed >= options.trials:
                    return
                wait = done + running >= options.trials
                if not wait:
                    before = {t.number for t in study.get_trials(deepcopy=False)}
                    study.optimize(objective, n_trials=1, catch=(_TrialError, Exception))
            finally:
                lock.release()
            if wait:  # the other workers' trials will make the count, unless they fail
                time.sleep(min(options.heartbeat, 2))
                continue
            for trial in study.get_trials(deepcopy=False):
                if trial.number not in before and trial.state.is_finished():
                    print(trial_line(trial, space), flush=True)
    except (KeyboardInterrupt, SystemExit) as stop:
        lock.release()
        signals = _retry_interrupted(study, set(started[-1:]))
        code = stop.code if isinstance(stop, SystemExit) else 143 if "SIGTERM" in signals else 130
        raise SystemExit(code) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
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
