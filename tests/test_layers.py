"""The package's layers: each folder imports only from the folders below it, at module level and inside functions.

A circle between modules, or an import that runs back up a layer (even one placed inside a function to dodge a
circle), fails here with the file, the line and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "lightcli"

# layer -> the lightcli layers it may import (itself included); a layer is a folder or a top-level module
ALLOWED: dict[str, set[str]] = {
    "upstream": {"upstream"},
    "config": {"config", "upstream.jsonargparse", "upstream.versions"},
    "core": {"core", "config", "upstream"},
    "run": {"run", "config", "upstream"},
    "commands": {"commands", "config", "run.quiet"},
    "parser": {"parser", "config"},
    "cli": {"cli", "parser", "commands", "run", "core", "config", "upstream"},
    "tools": {"tools", "cli", "commands", "run", "core", "config", "upstream"},
    "__init__": {"core"},
    "__main__": {"commands"},
}


def _layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    return relative.parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``lightcli.*`` module imported by a file, wherever the import stands, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "lightcli" else [f"lightcli.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if n.startswith("lightcli.")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("lightcli.")]
    return found


def _allowed(target: str, allowed: set[str]) -> bool:
    dotted = target.removeprefix("lightcli.")
    return any(dotted == a or dotted.startswith(a + ".") for a in allowed)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_every_import_runs_down_the_layers(path: Path) -> None:
    layer = _layer(path)
    assert layer in ALLOWED, f"{path}: a new layer; add it to ALLOWED and to the README's architecture table"
    upward = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for line, name in _imports(path)
        if not _allowed(name, ALLOWED[layer])
    ]
    assert upward == []


def test_no_circle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        graph[module] = {name for _, name in _imports(path)}
    modules = set(graph)
    graph = {m: {t for t in targets if t in modules and t != m} for m, targets in graph.items()}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append([*trail[trail.index(target) :], target] if target in trail else [module, target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []
