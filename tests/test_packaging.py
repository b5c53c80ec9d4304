"""What a wheel holds and what git ignores: every subpackage ships, the licence is an SPDX string."""

from __future__ import annotations

from pathlib import Path

import tomllib
from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_every_lightcli_package() -> None:
    """``packages.find`` matches each folder with an ``__init__.py`` (a bare ``packages = ["lightcli"]`` shipped none)."""
    setuptools_table = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(str(REPO), **setuptools_table["packages"]["find"]))
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "lightcli").rglob("__init__.py")}
    assert on_disk <= found, sorted(on_disk - found)
    assert {"lightcli.config", "lightcli.core", "lightcli.run", "lightcli.tools", "lightcli.upstream"} <= found


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    """setuptools >= 77 warns at install about a ``{text = ...}`` table; the SPDX string and licence file do not."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    for name in pyproject["project"]["license-files"]:
        assert "Apache License" in (REPO / name).read_text()
    assert any(
        r.startswith("setuptools>=") and int(r.split(">=")[1].split(".")[0]) >= 77
        for r in pyproject["build-system"]["requires"]
    )


def test_generated_folders_are_ignored_by_git() -> None:
    """Runs and sweeps written in a checkout do not make the next run's git record dirty."""
    ignored = set((REPO / ".gitignore").read_text().split())
    assert {"runs/", "sweeps/", "lightning_logs/"} <= ignored
