"""Each subcommand imports only what it uses: counted in ``sys.modules`` of a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env, tiny_config, write_config

HEAVY = ("torch", "pytorch_lightning")

PROBE = """
import json, sys
from lightcli.commands import main
code = main({args!r})
print(json.dumps([code, sorted(sys.modules)]))
"""


def imported(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    """Runs ``lightcli <args>`` in a fresh interpreter; returns its exit code and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    return code, set(modules)


def tools_of(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("lightcli.tools.")}


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    """Two config files and two run directories holding a saved config.yaml each."""
    write_config(tmp_path / "a.yaml", tiny_config())
    write_config(tmp_path / "b.yaml", tiny_config(trainer={"max_epochs": 3}))
    for name, epochs in (("version_0", 1), ("version_1", 3)):
        (tmp_path / "runs" / "tiny" / name).mkdir(parents=True)
        write_config(tmp_path / "runs" / "tiny" / name / "config.yaml", tiny_config(trainer={"max_epochs": epochs}))
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["diff", "runs/tiny/version_0", "runs/tiny/version_1"],
        ["diff", "a.yaml", "b.yaml", "--as-written"],
    ],
)
def test_diff_of_yaml_imports_neither_torch_nor_lightning_nor_the_cli(configs: Path, args: list[str]) -> None:
    code, modules = imported(args, configs)
    assert code == 0
    assert not modules & {*HEAVY, "lightcli.cli"}
    assert not {m for m in modules if m.startswith(("lightcli.core", "lightcli.run."))} - {"lightcli.run.quiet"}
    assert tools_of(modules) == {"lightcli.tools.diff"}


def test_check_imports_only_its_own_tool_module(configs: Path) -> None:
    code, modules = imported(["check", "fit", "--config", "a.yaml"], configs)
    assert code == 0
    assert tools_of(modules) == {"lightcli.tools.check"}


def test_completion_imports_no_tool_it_does_not_read(configs: Path) -> None:
    code, modules = imported(["completion", "bash"], configs)
    assert code == 0
    # it reads the schema (the config keys and classes) and the options of the tools that have some
    assert "lightcli.tools.check" not in modules
    assert tools_of(modules) <= {
        "lightcli.tools.completion",
        "lightcli.tools.schema",
        "lightcli.tools.schematypes",
        "lightcli.tools.classes",
        "lightcli.tools.diff",
        "lightcli.tools.compare",
        "lightcli.tools.sweep",
        "lightcli.tools.searchspace",
        "lightcli.tools.storage",
        "lightcli.tools.trials",
    }


def test_the_config_layer_imports_neither_torch_nor_lightning() -> None:
    probe = (
        "import importlib, json, pkgutil, sys\n"
        "import lightcli.config\n"
        "for m in pkgutil.iter_modules(lightcli.config.__path__, 'lightcli.config.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=subprocess_env(), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stdout))
    assert "lightcli.config.typecheck" in modules
    assert not modules & set(HEAVY)
    assert not {m for m in modules if m.startswith(("lightcli.core", "lightcli.run", "lightcli.cli"))}
