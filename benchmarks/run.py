"""Benchmark: the same training job run by four contenders, interleaved, plus CLI command timings.

(A) a raw PyTorch loop, (B) a hand-written LightningModule + Trainer, (C) plain LightningCLI with the
hand-written typed module, (D) lightcli's System from YAML, all in lightcli's environment (the Python that runs
this script: a default ``pip install lightcli`` for the README's figures), and (M) C's script
in a minimal virtualenv (``$LIGHTCLI_BENCH_MINIMAL_PYTHON``, default ``/work/venv-min/bin/python``; skipped
when absent). Each run is a fresh process started
from an empty temporary directory with ``OMP_NUM_THREADS=1``; runs go A B C D, A B C D, ...

Run from the repository root (the virtualenv active)::

    python benchmarks/run.py                 # training job x5, CLI commands x5, parse benchmark
    python benchmarks/run.py --repeats 7 --skip-parse
    python benchmarks/parse_bench.py --n 1 10 100 1000

Not part of the test suite: timings depend on the machine and its load. Ratios are paired (taken
within one round, then the median over rounds), which cancels most of the drift of a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository root is importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.table import markdown_table

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
LIGHTCLI = [sys.executable, "-m", "lightcli"]
"""``lightcli`` as the module: an editable install's console script can be older than the code it runs (one that
imports ``lightcli.cli``, hence torch, before dispatching), and would hide what the code does."""

CONTENDERS: dict[str, tuple[str, list[str]]] = {
    "A": ("raw PyTorch loop", [sys.executable, str(BENCH / "a_raw.py")]),
    "B": ("LightningModule + Trainer", [sys.executable, str(BENCH / "b_lightning.py")]),
    "C": (
        "plain LightningCLI",
        [sys.executable, str(BENCH / "c_cli.py"), "fit", "--config", str(BENCH / "c_cli.yaml")],
    ),
    "D": ("lightcli System (YAML)", [*LIGHTCLI, "fit", "--config", str(BENCH / "d_system.yaml")]),
}
MINIMAL_PYTHON = Path(os.environ.get("LIGHTCLI_BENCH_MINIMAL_PYTHON", "/work/venv-min/bin/python"))
"""A virtualenv with only what plain LightningCLI needs (torch, pytorch-lightning, jsonargparse[signatures],
torchmetrics): contender M runs C's script there, so C against M is the cost of lightcli's environment alone."""


def _add_minimal_contender() -> None:
    if MINIMAL_PYTHON.exists():
        CONTENDERS["M"] = (
            "plain LightningCLI, minimal venv",
            [str(MINIMAL_PYTHON), str(BENCH / "c_cli.py"), "fit", "--config", str(BENCH / "c_cli.yaml")],
        )


COMMANDS: dict[str, tuple[list[str], list[str]]] = {
    "--help": ([*LIGHTCLI, "--help"], [sys.executable, str(BENCH / "c_cli.py"), "--help"]),
    "fit --help": ([*LIGHTCLI, "fit", "--help"], [sys.executable, str(BENCH / "c_cli.py"), "fit", "--help"]),
    "fit --help, cached": ([*LIGHTCLI, "fit", "--help"], [sys.executable, str(BENCH / "c_cli.py"), "fit", "--help"]),
    "validate --help, indexed": (
        [*LIGHTCLI, "validate", "--help"],
        [sys.executable, str(BENCH / "c_cli.py"), "validate", "--help"],
    ),
    "fit --print_config": (
        [*LIGHTCLI, "fit", "--config", str(BENCH / "d_system.yaml"), "--print_config"],
        [sys.executable, str(BENCH / "c_cli.py"), "fit", "--config", str(BENCH / "c_cli.yaml"), "--print_config"],
    ),
}

FIGURES = [  # key, label, unit scale, format
    ("wall", "whole process wall time (s)", 1.0, "{:.2f}"),
    ("startup", "startup to first step (s)", 1.0, "{:.2f}"),
    ("step", "time per training step (ms)", 1e3, "{:.3f}"),
    ("fit_loop", "fit loop (s)", 1.0, "{:.2f}"),
    ("exit", "end of fit to exit (s)", 1.0, "{:.3f}"),
    ("rss", "peak RSS (MB)", 1.0, "{:.0f}"),
]


def beyond_default_install() -> list[str]:
    """Installed distributions that a default ``pip install lightcli`` (no extras) would not have pulled in.

    Lightning and torchmetrics import many optional packages they find installed, so an environment holding
    more than lightcli's own requirements makes every contender start slower (C against M shows by how much).
    """
    from importlib import metadata

    from packaging.requirements import Requirement

    def name(text: str) -> str:
        return text.lower().replace("_", "-")

    wanted: set[tuple[str, str]] = set()
    queue = [("lightcli", "")]  # (distribution, extra): the extras its dependants ask for count too
    while queue:
        dist, extra = queue.pop()
        if (name(dist), extra) in wanted:
            continue
        wanted.add((name(dist), extra))
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": extra}):
                queue += [(req.name, "")] + [(req.name, e) for e in req.extras]
    installed = {name(d.metadata["Name"]) for d in metadata.distributions()}
    return sorted(installed - {n for n, _ in wanted} - {"pip", "setuptools", "wheel"})


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("BENCH_OUT", None)
    return env


CACHED = {"fit --help, cached": ["fit", "--help"], "validate --help, indexed": ["fit", "--help"]}
"""Commands run in one folder (:data:`ROOT`) after an untimed first question (the same one, or one whose index
holds it, waited for): lightcli answers them from its cache. The other commands run with the cache off."""


def _wait_for_index() -> None:
    """Waits until no process renders lightcli's index (each holds its lock file): it would load the machine."""
    import fcntl

    from lightcli.config.index import index_folder

    for lock in index_folder().glob("*.lock"):
        with open(lock) as file:
            fcntl.flock(file, fcntl.LOCK_EX)


def run_process(
    cmd: list[str], out: Path | None = None, folder: Path | None = None, cache: bool = True
) -> tuple[float, float, int, str, float]:
    """Runs ``cmd`` in ``folder`` or a fresh temporary directory: (start, exit time, return code, stderr tail, RSS MB).

    ``cache=False``: lightcli answers afresh (``LIGHTCLI_NO_CACHE=1``), and renders no index in the background.
    """
    env = _env()
    if not cache:
        env["LIGHTCLI_NO_CACHE"] = "1"
    with tempfile.TemporaryDirectory(prefix="lightcli-bench-") as fresh:
        cwd = str(folder or fresh)
        log = Path(fresh) / "stderr.txt"
        if out is not None:
            env["BENCH_OUT"] = str(out)
        with open(log, "w") as err:
            start = time.time()
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            end = time.time()
            proc.returncode = os.waitstatus_to_exitcode(status)
        tail = log.read_text()[-2000:]
    return start, end, proc.returncode, tail, usage.ru_maxrss / 1024


def run_training(name: str, cmd: list[str]) -> dict[str, float]:
    """One training run of a contender and its figures."""
    with tempfile.TemporaryDirectory(prefix="lightcli-bench-out-") as tmp:
        out = Path(tmp) / "probe.json"
        start, end, code, tail, rss = run_process(cmd, out)
        if code != 0 or not out.exists():
            sys.exit(f"contender {name} failed (exit code {code}):\n{tail}")
        probe = json.loads(out.read_text())
    return {
        "wall": end - start,
        "startup": probe["first_step"] - start,
        "step": probe["step_mean"],
        "fit_loop": probe["fit_loop"],
        "exit": end - probe["fit_end"],
        "rss": rss,
        "val_acc": probe["metrics"].get("val/acc", float("nan")),
    }


def _summary(values: list[float], scale: float, fmt: str) -> str:
    values = [v * scale for v in values]
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def _ratio(num: list[float], den: list[float]) -> tuple[float, str]:
    ratios = [a / b for a, b in zip(num, den, strict=True) if b > 0]
    med = statistics.median(ratios)
    return med, f"{med:.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"


def bench_training(repeats: int) -> list[tuple[str, float, float, bool]]:
    results: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    for round_ in range(repeats):
        for name, (_, cmd) in CONTENDERS.items():
            results[name].append(run_training(name, cmd))
        print(
            f"  round {round_ + 1}/{repeats}: " + "  ".join(f"{n} {r[-1]['wall']:.1f}s" for n, r in results.items()),
            flush=True,
        )
    accs = {round(r["val_acc"], 4) for runs in results.values() for r in runs}
    print(
        f"\nTraining job, {repeats} interleaved rounds: median [min-max] (final val/acc of every run: {sorted(accs)})\n"
    )
    header = ["figure", *(f"{n}: {CONTENDERS[n][0]}" for n in CONTENDERS)]
    rows = [
        [label, *(_summary([r[key] for r in results[n]], scale, fmt) for n in CONTENDERS)]
        for key, label, scale, fmt in FIGURES
    ]
    print(markdown_table(header, rows))

    def col(name: str, key: str) -> list[float]:
        return [r[key] for r in results[name]]

    print("\nPaired ratios (per round, median [min-max]):\n")
    pairs = [("D", o) for o in "ABCM" if o in CONTENDERS] + ([("C", "M")] if "M" in CONTENDERS else [])
    ratio_rows = []
    for key, label, _, _ in FIGURES:
        ratio_rows.append([label, *(_ratio(col(a, key), col(b, key))[1] for a, b in pairs)])
    print(markdown_table(["figure", *(f"{a} / {b}" for a, b in pairs)], ratio_rows))
    targets = [
        ("time per step D/B", _ratio(col("D", "step"), col("B", "step"))[0], 0.9),
        ("time per step D/A", _ratio(col("D", "step"), col("A", "step"))[0], 1.2),
        ("startup to first step D/C (lightcli's venv)", _ratio(col("D", "startup"), col("C", "startup"))[0], 1.0),
        ("end of fit to exit D/B", _ratio(col("D", "exit"), col("B", "exit"))[0], 0.5),
        ("end of fit to exit D/C", _ratio(col("D", "exit"), col("C", "exit"))[0], 0.5),
        ("peak RSS D/C (lightcli's venv)", _ratio(col("D", "rss"), col("C", "rss"))[0], 1.05),
    ]
    if "M" in CONTENDERS:
        targets += [
            ("startup to first step D/M (minimal venv)", _ratio(col("D", "startup"), col("M", "startup"))[0], 1.0),
            ("peak RSS D/M (minimal venv)", _ratio(col("D", "rss"), col("M", "rss"))[0], 1.05),
        ]
    return [(label, value, limit, value <= limit) for label, value, limit in targets]


def bench_commands(repeats: int) -> list[tuple[str, float, float, bool]]:
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in COMMANDS}
    for first in CACHED.values():
        run_process([*LIGHTCLI, *first], folder=ROOT)  # the first answer, kept in the cache (not timed)
        _wait_for_index()
    for _ in range(repeats):
        for key, (ours, plain) in COMMANDS.items():
            for cmd, into in ((ours, times[key][0]), (plain, times[key][1])):
                cached = key in CACHED
                start, end, code, tail, _ = run_process(cmd, folder=ROOT if cached else None, cache=cached)
                if code != 0:
                    sys.exit(f"`{' '.join(cmd)}` failed (exit code {code}):\n{tail}")
                into.append(end - start)
    print(f"\nCLI commands, wall time (s), {repeats} interleaved rounds: median [min-max]\n")
    rows = []
    targets = []
    for key, (ours, plain) in times.items():
        ratio, text = _ratio(ours, plain)
        rows.append([key, _summary(ours, 1, "{:.2f}"), _summary(plain, 1, "{:.2f}"), text])
        if key == "--help":
            targets.append(("`lightcli --help` / LightningCLI", ratio, 1.0, ratio <= 1.0))
        if key in CACHED:
            median = statistics.median(ours)
            targets.append((f"2. `lightcli {key}` (s)", median, 0.5, median <= 0.5))
    print(markdown_table(["command", "lightcli", "plain LightningCLI", "ratio"], rows))
    return targets


def torch_free_help() -> list[tuple[str, float, float, bool]]:
    """Whether ``lightcli --help`` and ``lightcli fit --help`` answered again import torch (``-X importtime``)."""
    out = []
    for args in (["--help"], ["fit", "--help"]):
        run_process([*LIGHTCLI, *args], folder=ROOT)  # the first answer, kept
        _wait_for_index()
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *LIGHTCLI[1:], *args],
            check=False,
            capture_output=True,
            text=True,
            env=_env(),
            cwd=ROOT,
        )
        imported = any(line.rsplit("|", 1)[-1].strip() == "torch" for line in proc.stderr.splitlines())
        label = f"2. `lightcli {' '.join(args)}` answered again imports torch"
        out.append((label, float(imported), 0.0, not imported))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (at least 5 for the README)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-commands", action="store_true")
    parser.add_argument("--skip-parse", action="store_true")
    parser.add_argument("--parse-n", type=int, nargs="+", default=[0, 10, 100, 1000, 2000])
    parser.add_argument("--parse-repeats", type=int, default=3, help="fresh processes per parse point (N <= 100)")
    parser.add_argument("--no-minimal", action="store_true", help="skip contender M (plain LightningCLI, minimal venv)")
    args = parser.parse_args()
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="lightcli-bench-cache-")  # lightcli's answers: fresh
    os.environ.pop("LIGHTCLI_NO_CACHE", None)
    if not args.no_minimal:
        _add_minimal_contender()
    import torch

    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
        f"python {platform.python_version()}, torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    extra = beyond_default_install()
    print(
        f"lightcli's environment: {sys.prefix}: "
        + (f"{len(extra)} packages beyond a default install: {', '.join(extra)}" if extra else "a default install")
    )
    targets = []
    if not args.skip_training:
        targets += bench_training(args.repeats)
    if not args.skip_commands:
        targets += bench_commands(args.repeats)
        targets += torch_free_help()
    if not args.skip_parse:
        from benchmarks.parse_bench import bench_parse

        targets += bench_parse(args.parse_n, repeats=args.parse_repeats)
    print("\nTargets:\n")
    rows = [[label, f"{value:.3g}", f"<= {limit:g}", "met" if ok else "MISSED"] for label, value, limit, ok in targets]
    print(markdown_table(["target", "measured", "limit", ""], rows))
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
