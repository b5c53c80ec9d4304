"""``lightcli compare RUN...``: several runs side by side, their differing config keys, metrics and learning curves.

A run is a run folder (``runs/digits/version_0``); a folder holding several runs (``runs/digits``) or a
glob (``'runs/digits/version_*'``) gives all of them. For each run it reads the ``config.yaml`` saved in the
folder (the resolved config) and the ``metrics.csv`` written by the CSV logger, and prints:

- the config keys whose values differ between the runs (the way ``lightcli diff`` says it for two);
- the final and the best value of each metric (best: the lowest for a loss or an error, the highest otherwise);
- with ``--plot curves.png``, a PNG of the learning curves: one panel per metric, one line per run
  (matplotlib, the ``plot`` extra: ``pip install 'lightcli[plot]'``).

``lightcli sweep`` writes the same for its trials into the sweep folder (:func:`write_sweep_report`).
"""

from __future__ import annotations

import argparse
import csv
import glob
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightcli.config.problems import ConfigError, Problem
from lightcli.tools.diff import CONFIG_FILE, cut, flatten, grid, read_config, readable, show

__all__ = ["Run", "curves_figure", "find_runs", "lower_is_better", "main", "read_run", "report", "write_sweep_report"]

METRICS_FILE = "metrics.csv"
_LOWER = ("loss", "error", "err", "mse", "mae", "rmse", "perplexity", "nll", "wer", "cer")
_MISSING = object()


@dataclass
class Run:
    """One run folder as read by ``lightcli compare``."""

    path: Path
    """The run folder."""
    label: str
    """How the run is named in the tables and the legend."""
    config: dict[str, Any]
    """The saved config, flattened to readable dotted keys (``system.optimizer.init_args.lr``)."""
    metrics: dict[str, list[tuple[int, int, float]]] = field(default_factory=dict)
    """Each metric's logged values as ``(epoch, step, value)``, in the order logged."""


def lower_is_better(metric: str) -> bool:
    """Whether a metric's best value is its lowest (a loss, an error), from its name."""
    name = metric.lower().replace("/", "_").replace("-", "_")
    return any(part in _LOWER for part in name.split("_"))


# -- reading runs ------------------------------------------------------------------------------------


def _runs_in(path: Path) -> list[Path]:
    if (path / CONFIG_FILE).is_file():
        return [path]
    return sorted(p.parent for p in path.glob(f"**/{CONFIG_FILE}"))


def find_runs(given: list[str]) -> list[Path]:
    """The run folders named by folders and globs, in the order given (each once).

    Raises:
        ConfigError: A name matches no run folder.
    """
    found: list[Path] = []
    problems = []
    for name in given:
        matches = sorted(glob.glob(name)) if glob.has_magic(name) else [name]
        runs = [run for match in matches for run in _runs_in(Path(match)) if Path(match).is_dir()]
        if not runs:
            what = "no such folder" if not matches or not Path(matches[0]).exists() else f"no {CONFIG_FILE} in it"
            problems.append(
                Problem(
                    "RUN", "a run folder (holding config.yaml), a folder of runs or a glob", f"{name!r} ({what})", ""
                )
            )
        found += [run for run in runs if run not in found]
    if problems:
        raise ConfigError(problems)
    return found


def read_metrics(path: Path) -> dict[str, list[tuple[int, int, float]]]:
    """The metrics of a CSV logger's ``metrics.csv``: name -> ``(epoch, step, value)`` rows (empty without it)."""
    metrics: dict[str, list[tuple[int, int, float]]] = {}
    if not path.is_file():
        return metrics
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            epoch, step = int(float(row.get("epoch") or 0)), int(float(row.get("step") or 0))
            for name, text in row.items():
                if name in ("epoch", "step") or not name or text in ("", None):
                    continue
                try:
                    value = float(text)
                except ValueError:
                    continue
                metrics.setdefault(name, []).append((epoch, step, value))
    return metrics


def _labels(paths: list[Path]) -> list[str]:
    """The shortest trailing parts of each path that tell the runs apart (``digits/version_0``)."""
    for depth in range(2, max((len(p.parts) for p in paths), default=2) + 1):
        labels = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(labels)) == len(labels):
            return labels
    return [str(p) for p in paths]


def read_run(path: Path, label: str) -> Run:
    """Reads a run folder's saved config and its metrics."""
    config = read_config(path / CONFIG_FILE)
    flat = {readable(k): v for k, v in flatten(config if isinstance(config, dict) else {}).items()}
    return Run(path, label, flat, read_metrics(path / METRICS_FILE))


# -- what differs, what was reached --------------------------------------------------------------------


def differing_keys(runs: list[Run], ignore: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The config keys whose values are not the same in every run (in the order they first appear)."""
    keys = list(dict.fromkeys(k for run in runs for k in run.config))
    differ = []
    for key in keys:
        if any(key == i or key.startswith((i + ".", i + "[")) for i in ignore):
            continue
        values = [run.config.get(key, _MISSING) for run in runs]
        first = values[0]
        if any(v is _MISSING for v in values) or any(type(v) is not type(first) or v != first for v in values):
            differ.append(key)
    return differ


def _per_epoch(rows: list[tuple[int, int, float]]) -> bool:
    epochs = [epoch for epoch, _, _ in rows]
    return len(epochs) == len(set(epochs))


def default_metrics(runs: list[Run]) -> list[str]:
    """The metrics logged once per epoch by any run (else every metric), sorted by name."""
    names = sorted({name for run in runs for name in run.metrics})
    per_epoch = [n for n in names if all(_per_epoch(run.metrics[n]) for run in runs if n in run.metrics)]
    return per_epoch or names


def _number(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.4g}"


def metrics_rows(runs: list[Run], metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the metrics table: one row per run, ``final / best`` for each metric."""
    header = ["run", *(f"{m} final/best ({'min' if lower_is_better(m) else 'max'})" for m in metrics)]
    rows = []
    for run in runs:
        cells = [run.label]
        for metric in metrics:
            values = [v for _, _, v in run.metrics.get(metric, []) if not math.isnan(v)]
            if not values:
                cells.append("-")
                continue
            best = min(values) if lower_is_better(metric) else max(values)
            cells.append(f"{_number(values[-1])} / {_number(best)}")
        rows.append(cells)
    return header, rows


def report(runs: list[Run], metrics: list[str] | None = None, ignore: list[str] | tuple[str, ...] = ()) -> str:
    """The text ``lightcli compare`` prints: the differing config keys, then the metrics table."""
    out = []
    keys = differing_keys(runs, ignore)
    if keys:
        rows = [
            [key, *(cut(show(r.config[key]) if key in r.config else "(not set)", 30) for r in runs)] for key in keys
        ]
        count = "1 config key differs" if len(keys) == 1 else f"{len(keys)} config keys differ"
        out += [f"{count}:", grid(["key", *(r.label for r in runs)], rows)]
    else:
        out.append("the configs are the same")
    metrics = metrics if metrics is not None else default_metrics(runs)
    if metrics:
        out += ["metrics (from metrics.csv):", grid(*metrics_rows(runs, metrics))]
    else:
        out.append(f"no metrics: none of these runs has a {METRICS_FILE} (written by the CSV logger)")
    return "\n".join(out)


# -- the picture ---------------------------------------------------------------------------------------


def curves_figure(runs: list[Run], metrics: list[str]) -> Any:
    """A matplotlib figure of the learning curves: one panel per metric, one line per run, the runs in the legend.

    A metric logged once per epoch is drawn against the epoch, others against the step.

    Raises:
        ImportError: matplotlib is not installed (the ``plot`` extra).
    """
    from matplotlib.figure import Figure  # the plot extra: only for the picture; no pyplot, no GUI backend
    from matplotlib.ticker import MaxNLocator

    columns = 1 if len(metrics) <= 1 else 2 if len(metrics) <= 4 else 3
    rows = math.ceil(len(metrics) / columns) if metrics else 1
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colors = [f"C{i % 10}" for i in range(len(runs))]
    for ax, metric in zip(axes, metrics, strict=False):
        per_epoch = all(_per_epoch(r.metrics[metric]) for r in runs if metric in r.metrics)
        for run, color in zip(runs, colors, strict=True):
            rows_ = run.metrics.get(metric, [])
            xs = [epoch if per_epoch else step for epoch, step, _ in rows_]
            ax.plot(xs, [v for _, _, v in rows_], color=color, marker="o" if per_epoch else None, ms=3, label=run.label)
        ax.set_title(f"{metric} ({'lower' if lower_is_better(metric) else 'higher'} is better)", fontsize=10)
        ax.set_xlabel("epoch" if per_epoch else "step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(runs), 4), fontsize=9)
    return figure


def write_plot(runs: list[Run], metrics: list[str], path: str | Path) -> None:
    """Saves :func:`curves_figure` as a PNG.

    Raises:
        ConfigError: matplotlib is not installed.
    """
    try:
        figure = curves_figure(runs, metrics)
    except ImportError:
        raise ConfigError(
            Problem("--plot", "matplotlib installed", "none", "Install it: pip install 'lightcli[plot]'.")
        ) from None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


# -- the sweep's report --------------------------------------------------------------------------------


def write_sweep_report(study: Any, sweep_dir: Path) -> list[Path]:
    """Writes ``compare.txt`` (and ``curves.png`` with matplotlib) for a sweep's trials into its folder.

    ``compare.txt`` also holds Optuna's parameter importance when it can be computed (two complete trials
    or more). Returns the files written.
    """
    paths = sorted(p.parent for p in sweep_dir.glob(f"trial_*/version_*/{CONFIG_FILE}"))
    if not paths:
        return []
    runs = [read_run(path, label) for path, label in zip(paths, _labels(paths), strict=True)]
    text = report(runs, ignore=("run.name",))
    try:
        import optuna

        with warnings.catch_warnings():  # too few trials: Optuna warns and reports equal importances
            warnings.simplefilter("error", UserWarning)
            importances = optuna.importance.get_param_importances(study)
        lines = [f"  {key}: {value:.3f}" for key, value in importances.items()]
        text += "\nparameter importance (Optuna):\n" + "\n".join(lines)
    except Exception:  # too few complete trials, or one value only: no importance to tell
        pass
    written = [sweep_dir / "compare.txt"]
    written[0].write_text(text + "\n")
    metrics = default_metrics(runs)
    if metrics:
        try:
            curves_figure(runs, metrics).savefig(sweep_dir / "curves.png", dpi=100)
            written.append(sweep_dir / "curves.png")
        except ImportError:
            pass
    return written


# -- the command ---------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lightcli compare",
        description="Show several runs side by side: the config keys that differ, final and best metrics, "
        "and (--plot) their learning curves.",
        allow_abbrev=False,
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="a run folder, a folder of runs, or a glob (quoted)")
    parser.add_argument("--plot", metavar="PNG", help="write the learning curves to this PNG (needs matplotlib)")
    parser.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help="the metrics to show (repeatable; default: those logged once per epoch), e.g. --metric val/acc",
    )
    parser.add_argument(
        "--ignore", action="append", default=[], metavar="KEY", help="leave out this config key and all under it"
    )
    return parser


def main(args: list[str]) -> int:
    """Runs ``lightcli compare`` with its arguments and returns the exit code (2 on bad input)."""
    try:
        options = _parser().parse_args(args)
    except SystemExit as exit:  # --help, or a usage error argparse has printed
        return exit.code if isinstance(exit.code, int) else 0
    try:
        paths = find_runs(options.runs)
        runs = [read_run(path, label) for path, label in zip(paths, _labels(paths), strict=True)]
        metrics = options.metric or default_metrics(runs)
        unknown = [m for m in metrics if not any(m in r.metrics for r in runs)]
        if unknown:
            logged = sorted({n for r in runs for n in r.metrics})
            raise ConfigError(
                Problem("--metric", f"a logged metric ({', '.join(logged) or 'none'})", repr(unknown[0]), "")
            )
        print(report(runs, metrics, options.ignore))
        if options.plot:
            if not metrics:
                raise ConfigError(Problem("--plot", "runs with metrics", "none logged", "Log with the CSV logger."))
            write_plot(runs, metrics, options.plot)
            print(f"learning curves: {options.plot}")
    except ConfigError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0
