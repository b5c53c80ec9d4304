"""Shared helpers: tiny configs written to tmp_path and the CLI run in-process."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from lightcli.cli import main

REPO = Path(__file__).resolve().parents[1]

# answers kept per environment (lightcli.config.answers) are off in the suite, which writes nothing to ~/.cache;
# tests/test_answers.py turns them on with a temporary cache folder
os.environ.setdefault("LIGHTCLI_NO_CACHE", "1")

# the tests train tiny models, fastest on one thread; the fast tier runs two workers on two cores (pytest -n 2)
torch.set_num_threads(1)


def loader(dataset: str, batch_size: int = 64, shuffle: bool = False, **dataset_args: Any) -> dict[str, Any]:
    """A ``lightcli.Loader`` config over a lightcli dataset."""
    return {
        "class_path": "lightcli.Loader",
        "init_args": {
            "dataset": {"class_path": dataset, "init_args": dataset_args},
            "batch_size": batch_size,
            "shuffle": shuffle,
        },
    }


def accuracy(num_classes: int = 10) -> dict[str, Any]:
    return {
        "class_path": "torchmetrics.classification.MulticlassAccuracy",
        "init_args": {"num_classes": num_classes, "average": "micro"},
    }


TINY: dict[str, Any] = {
    "seed_everything": 0,
    "trainer": {
        "max_epochs": 1,
        "accelerator": "cpu",
        "limit_train_batches": 4,
        "limit_val_batches": 2,
        "limit_test_batches": 2,
        "limit_predict_batches": 2,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
    },
    "system": {
        "model": {
            "class_path": "lightcli.MLP",
            "init_args": {"in_features": 64, "out_features": 10, "hidden": [16]},
        },
        "criterion": {"class_path": "torch.nn.CrossEntropyLoss"},
        "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}},
        "dataloaders": {
            "train": loader("lightcli.Digits", shuffle=True, split="train"),
            "val": loader("lightcli.Digits", split="val"),
            "test": loader("lightcli.Digits", split="val"),
            "predict": loader("lightcli.Digits", split="val"),
        },
        "metrics": {"train": {"acc": accuracy()}, "val": {"acc": accuracy()}, "test": {"acc": accuracy()}},
    },
}


def tiny_config(**sections: Any) -> dict[str, Any]:
    """A deep copy of the tiny digits config with top-level sections updated (``system=...`` merges)."""
    config = copy.deepcopy(TINY)
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory; runs/ lands here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(workdir: Path):
    """Runs ``lightcli`` in-process in the working directory and returns the exit code."""

    def run(*args: str) -> int:
        return main([str(a) for a in args])

    return run


@pytest.fixture
def tiny_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding tiny.yaml, with sys.path restored and no import allowlist set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("LIGHTCLI_ALLOWED_MODULES", raising=False)
    write_config(tmp_path / "tiny.yaml", tiny_config())
    return tmp_path


def stage_of(config: Path) -> str:
    """The subcommand a config's header runs it with (``# Run: lightcli <stage> --config configs/<name>``)."""
    name = re.escape(str(config.relative_to(REPO)))
    for line in config.read_text().splitlines():
        found = re.search(rf"lightcli (\w+) --config {name}", line)
        if line.startswith("#") and found:
            return found.group(1)
    return "fit"


def only_run_dir(root: Path) -> Path:
    """The single run directory (the one holding config.yaml) under root/runs."""
    found = [p.parent for p in root.glob("runs/**/config.yaml")]
    assert len(found) == 1, found
    return found[0]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


_PROBE = (
    "import sys\n"
    "modules, background, args = sys.argv[1], sys.argv[2] == '1', sys.argv[3:]\n"
    "from lightcli.commands import main\n"
    "code = main(args, background=background)\n"
    "open(modules, 'w').write(' '.join(sorted(sys.modules)))\n"
    "raise SystemExit(code)\n"
)
_HEAVY = ("torch", "pytorch_lightning", "lightning", "lightning_fabric", "torchmetrics")


@dataclass
class Answer:
    """What ``lightcli`` printed in a fresh process, its exit code, and the heavy modules it imported."""

    stdout: bytes
    stderr: bytes
    code: int
    heavy: set[str]


def lightcli_answer(
    cwd: Path, cache: Path, *args: str, cached: bool = True, background: bool = False, env: dict[str, str] | None = None
) -> Answer:
    """``lightcli <args>`` in a fresh process, in ``cwd``, with its answer cache in ``cache`` (or off).

    ``background``: as the ``lightcli`` command (the rest of the index rendered by a forked copy), else as
    :func:`lightcli.commands.main` (the answer alone kept).
    """
    modules = cwd.parent / "modules.txt"
    env = {**subprocess_env(), "XDG_CACHE_HOME": str(cache), **(env or {})}
    if cached:
        env.pop("LIGHTCLI_NO_CACHE")
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(modules), str(int(background)), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
    )
    imported = set(modules.read_text().split())
    return Answer(proc.stdout, proc.stderr, proc.returncode, {m for m in imported if m.split(".")[0] in _HEAVY})


@pytest.fixture
def cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The answer cache turned on, in a temporary folder; the working directory is an empty folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LIGHTCLI_NO_CACHE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work
