"""Benchmark: parse + validate time of a config with N nested class_path entries.

Two shapes, each for plain LightningCLI and for lightcli: N callbacks in ``trainer.callbacks``, and a
model made of N layers (``layers: list[nn.Module]``). Each point is a fresh process; the figures are
the time of ``parse_args`` (parse + validate every value against the signatures) and of
``instantiate_classes`` (build every object), measured inside it, without imports.

Run from the repository root::

    python benchmarks/parse_bench.py --n 1 10 100 1000
    python benchmarks/parse_bench.py --n 1000 --plain-max-n 1000   # plain LightningCLI at 1000 takes minutes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

if __package__ in (None, ""):  # run as a script: the repository root is importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.table import markdown_table

ROOT = Path(__file__).resolve().parent.parent

_CALLBACK = {"class_path": "pytorch_lightning.callbacks.LearningRateMonitor", "init_args": {"logging_interval": "step"}}
_LAYER = {"class_path": "torch.nn.Linear", "init_args": {"in_features": 4, "out_features": 4}}


def config(shape: str, n: int, plain: bool) -> dict[str, Any]:
    """The config of a point: the benchmark job's full config (``c_cli.yaml`` or ``d_system.yaml``) with ``n``
    callbacks added to ``trainer.callbacks``, or its model replaced by one of ``n`` layers."""
    job = yaml.safe_load((ROOT / "benchmarks" / ("c_cli.yaml" if plain else "d_system.yaml")).read_text())
    layers = [_LAYER] * n
    if shape == "callbacks":
        job["trainer"]["callbacks"] = [*job["trainer"]["callbacks"], *([_CALLBACK] * n)]
    elif plain:
        job["model"] = {"layers": layers}
    else:
        job["system"]["model"] = {"class_path": "benchmarks.parse_bench.Layers", "init_args": {"layers": layers}}
    return job


def _child(path: str, plain: bool, shape: str) -> None:
    """Runs in the measured process: builds the CLI with timed parse, dump and instantiate steps."""
    sys.path.insert(0, str(ROOT))
    from pytorch_lightning.cli import LightningCLI

    from benchmarks.workload import HandWritten, SyntheticDataModule
    from lightcli.cli import LightCLI
    from lightcli.config.fastyaml import load_dumped
    from lightcli.run.console import quiet

    times: dict[str, float] = {}

    def timed(base: type) -> type:
        class Timed(base):  # type: ignore[misc, valid-type]
            def parse_arguments(self, parser: Any, args: Any) -> None:
                start = time.perf_counter()
                super().parse_arguments(parser, args)
                times["parse"] = time.perf_counter() - start
                start = time.perf_counter()
                text = parser.dump(self.config, skip_none=False)  # the run record's config.yaml (a checked dump)
                # the hyperparameters of the build come from this dump, read back as each CLI reads it in a fit:
                # LightningCLI's _dump_config with PyYAML's safe_load, lightcli with libyaml (load_dumped)
                self.config_dump = yaml.safe_load(text) if base is LightningCLI else load_dumped(text)
                times["dump"] = time.perf_counter() - start

            def instantiate_classes(self) -> None:
                start = time.perf_counter()
                super().instantiate_classes()
                times["instantiate"] = time.perf_counter() - start

        return Timed

    with quiet():
        if plain:
            model = PlainLayers if shape == "layers" else HandWritten
            timed(LightningCLI)(model, SyntheticDataModule, args=["--config", path], run=False)
        else:
            timed(LightCLI)(args=["--config", path], run=False)
    print(json.dumps(times))


def measure(shape: str, n: int, plain: bool) -> dict[str, float]:
    """Runs one point in a fresh process and returns its parse and instantiate times."""
    with tempfile.TemporaryDirectory(prefix="lightcli-parse-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(config(shape, n, plain)))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, __file__, "--child", str(path), "--shape", shape, *(["--plain"] if plain else [])]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, cwd=tmp)
        if proc.returncode != 0:
            sys.exit(f"parse benchmark {shape} N={n} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_of(shape: str, n: int, plain: bool, repeats: int) -> dict[str, float]:
    runs = [measure(shape, n, plain) for _ in range(repeats)]
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def bench_parse(ns: list[int], plain_max_n: int = 100, repeats: int = 3) -> list[tuple[str, float, float, bool]]:
    """Prints the parse table and returns the targets of the issue.

    N = 0 is the benchmark job's config itself (lightcli's parse + dump + build <= 1.5x LightningCLI's);
    1000 callbacks <= 1.5 s in all; 1000 layers <= 2 s to parse and dump and <= 1 s to build; the cost of an
    entry at N = 1000..2000 near its cost at N = 100..1000 (linear). Each point is the median of ``repeats``
    fresh processes, lightcli and plain LightningCLI interleaved.
    """
    print(
        f"\nParse + validate, dump and build of the benchmark job's config with N class_path entries added, seconds, "
        f"median of {repeats} fresh processes:\n"
    )
    parts = ("parse", "dump", "instantiate")
    header = ["shape", "N", *(f"lightcli {p}" for p in parts), *(f"LightningCLI {p}" for p in parts)]
    rows = []
    targets = []

    def fmt(t: float | None) -> str:
        return "-" if t is None else f"{t:.3f}"

    for shape in ("callbacks", "layers"):
        totals: dict[int, float] = {}
        for n in ns if shape == "callbacks" else [m for m in ns if m > 0]:
            times = repeats
            ours = _median_of(shape, n, False, times)
            plain = _median_of(shape, n, True, times) if n <= plain_max_n else None
            totals[n] = sum(ours[p] for p in parts)
            rows.append([shape, n, *(fmt(ours[p]) for p in parts), *(fmt(plain and plain[p]) for p in parts)])
            print("  " + " | ".join(map(str, rows[-1])), flush=True)
            if n == 0 and plain:
                ratio = totals[0] / sum(plain[p] for p in parts)
                targets.append(("job config: parse+dump+build lightcli / LightningCLI", ratio, 1.5, ratio <= 1.5))
            if n == 1000 and shape == "callbacks":
                targets.append(("1000 callbacks: parse+dump+build (s)", totals[n], 1.5, totals[n] <= 1.5))
            if n == 1000 and shape == "layers":
                parse_dump = ours["parse"] + ours["dump"]
                targets.append(("1000 layers: parse+dump (s)", parse_dump, 2.0, parse_dump <= 2.0))
                build = ours["instantiate"]
                targets.append(("1000 layers: build (s)", build, 1.0, build <= 1.0))
        if {100, 1000, 2000} <= set(totals):
            # the cost of one more entry at N = 1000..2000 over its cost at N = 100..1000 (linear: 1); below 100
            # entries, their cost is within the job's own run-to-run spread (each callback costs well under 1 ms)
            late = (totals[2000] - totals[1000]) / 1000
            early = (totals[1000] - totals[100]) / 900
            growth = late / max(early, 1e-9)
            name = f"cost per entry, N=1000..2000 / N=100..1000, {shape} (linear = 1)"
            targets.append((name, growth, 1.2, growth <= 1.2))
    print()
    print(markdown_table(header, [[str(c) for c in r] for r in rows]))
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description="parse + validate time with N nested class_path entries")
    parser.add_argument("--n", type=int, nargs="+", default=[0, 10, 100, 1000, 2000])
    parser.add_argument("--plain-max-n", type=int, default=100, help="largest N run with plain LightningCLI")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per point")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--shape", default="callbacks", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.plain, args.shape)
        return
    sys.path.insert(0, str(ROOT))
    targets = bench_parse(args.n, args.plain_max_n, args.repeats)
    for label, value, limit, ok in targets:
        print(f"{label}: {value:.3g} (limit {limit:g}) {'met' if ok else 'MISSED'}")


try:
    import pytorch_lightning as _pl
    from torch import nn

    class Layers(nn.Module):
        """A model made of layers given in the config (lightcli side).

        Args:
            layers: The layers, applied in order.
        """

        def __init__(self, layers: list[nn.Module]) -> None:
            super().__init__()
            self.layers = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            return self.layers(x)

    class PlainLayers(_pl.LightningModule):
        """A LightningModule made of layers given in the config (plain LightningCLI side).

        Args:
            layers: The layers, applied in order.
        """

        def __init__(self, layers: list[nn.Module]) -> None:
            super().__init__()
            self.layers = nn.Sequential(*layers)

except ImportError:  # pragma: no cover
    pass


if __name__ == "__main__":
    main()
