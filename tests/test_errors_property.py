"""Property: any one mistake in a shipped config is caught before anything runs, and named by its key.

Each example takes a config under configs/, breaks it in one way (drop a required argument, misspell
a key, swap a number for a word, break a class_path, corrupt the YAML, give a wrong override on the
command line) and runs the CLI in an empty folder. Every mutation must give exit code 2, an error line
starting with the offending key, no traceback, and no file written.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
import sys
import tempfile
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, stage_of
from lightcli.cli import main

CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))
Path_ = tuple[str, ...]


def walk(tree: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) below mappings; lists are not entered."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield (*path, str(key)), value
            yield from walk(value, (*path, str(key)))


def get(tree: dict[str, Any], path: Path_) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def resolve(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def signature(cls: Any) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return {}


def annotation(path: Path_, tree: dict[str, Any]) -> Any:
    """The annotation of the argument a leaf sets: from the class of its init_args, or the Trainer."""
    if path[0] == "trainer" and len(path) == 2:
        from pytorch_lightning import Trainer

        return typing.get_type_hints(Trainer.__init__).get(path[1])
    if len(path) >= 3 and path[-2] == "init_args":
        cls = resolve(str(get(tree, path[:-2]).get("class_path", "")))
        if cls is not None:
            with contextlib.suppress(Exception):
                return typing.get_type_hints(cls.__init__).get(path[-1])
    return None


def only_numbers(hint: Any) -> bool:
    """Whether an argument typed ``hint`` accepts numbers (or null) and nothing else."""
    if hint is None:
        return False
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return all(m in (int, float, type(None)) or getattr(m, "__name__", "") == "Tensor" for m in members)


def numeric_leaves(tree: dict[str, Any]) -> list[Path_]:
    """Leaves holding a number whose argument accepts only numbers (so a word is always wrong)."""
    return [
        path
        for path, value in walk(tree)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and only_numbers(annotation(path, tree))
    ]


def class_nodes(tree: dict[str, Any]) -> list[Path_]:
    return [p for p, v in walk(tree) if isinstance(v, dict) and isinstance(v.get("class_path"), str)]


def dotted(path: Path_) -> str:
    return ".".join(path)


@st.composite
def mutations(draw: st.DrawFn) -> tuple[Path, str, dict[str, Any] | str, list[str], str]:
    """(config, stage, new content (tree or YAML text), extra args, the key the error must name)."""
    config = draw(st.sampled_from(CONFIGS))
    tree = yaml.safe_load(config.read_text())
    stage = stage_of(config)
    kind = draw(st.sampled_from(["drop", "misspell", "swap", "class_path", "yaml", "override"]))
    if kind == "drop":
        options = []
        for node in class_nodes(tree):
            params = signature(resolve(get(tree, node)["class_path"]))
            given_args = get(tree, node).get("init_args") or {}
            options += [
                (node, name)
                for name in given_args
                if name in params and params[name].default is inspect.Parameter.empty
            ]
        if options:
            node, name = draw(st.sampled_from(options))
            del get(tree, node)["init_args"][name]
            return config, stage, tree, [], dotted((*node, "init_args", name))
        kind = "misspell"
    if kind == "misspell":
        options = [
            p for p, _ in walk(tree) if (p[0] == "trainer" and len(p) == 2) or (len(p) >= 3 and p[-2] == "init_args")
        ]
        path = draw(st.sampled_from(options))
        name = path[-1]
        at = draw(st.integers(0, len(name) - 1))
        typo = name[: at + 1] + name[at] + name[at + 1 :]
        parent = get(tree, path[:-1])
        parent[typo] = parent.pop(name)
        return config, stage, tree, [], dotted((*path[:-1], typo))
    if kind in ("swap", "override"):
        path = draw(st.sampled_from(numeric_leaves(tree)))
        if kind == "override":
            return config, stage, tree, [f"--{dotted(path)}", "oops"], dotted(path)
        get(tree, path[:-1])[path[-1]] = "oops"
        return config, stage, tree, [], dotted(path)
    if kind == "class_path":
        node = draw(st.sampled_from(class_nodes(tree)))
        module, _, name = get(tree, node)["class_path"].rpartition(".")
        at = draw(st.integers(0, len(name) - 1))
        get(tree, node)["class_path"] = f"{module}.{name[:at]}{name[at + 1 :] or 'X'}"
        return config, stage, tree, [], dotted((*node, "class_path"))
    lines = config.read_text().splitlines()
    at = draw(st.integers(0, len(lines)))
    return config, stage, "\n".join([*lines[:at], "oops: [unclosed", *lines[at:]]) + "\n", [], "--config"


@pytest.mark.slow
@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_any_single_mistake_is_caught_and_named(mutation: tuple[Path, str, Any, list[str], str]) -> None:
    config, stage, content, extra, key = mutation
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    old_cwd, old_path = os.getcwd(), list(sys.path)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / config.name).write_text(text)
        os.chdir(folder)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main([stage, "--config", config.name, "--trainer.fast_dev_run", "true", *extra])
        finally:
            os.chdir(old_cwd)
            sys.path[:] = old_path
        written = sorted(p.name for p in Path(folder).iterdir() if p.name != "__pycache__")
    message = err.getvalue()
    assert code == 2, message
    assert any(line.startswith(f"error: {key}: expected ") for line in message.splitlines()), (key, message)
    assert "Traceback" not in message
    assert written == [config.name]
