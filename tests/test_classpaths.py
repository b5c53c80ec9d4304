"""Resolving a class_path: the class itself, or what was expected, what was given and a "did you mean"."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import lightcli
from lightcli.config.classpaths import resolve_class, use_subclass, what
from lightcli.config.problems import ConfigError


def _error(path: str, base: object = None) -> tuple[str, str, str]:
    with pytest.raises(ConfigError) as raised:
        resolve_class(path, base)
    problem = raised.value.problems[0]
    return problem.expected, problem.got, problem.fix


@pytest.fixture
def importable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path on sys.path (restored afterwards), with no allowlist set."""
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delenv("LIGHTCLI_ALLOWED_MODULES", raising=False)
    return tmp_path


def test_a_full_path_resolves_to_the_class() -> None:
    assert resolve_class("torch.nn.Linear") is torch.nn.Linear
    assert resolve_class("MLP", torch.nn.Module) is lightcli.MLP  # a short name among the base's subclasses


def test_a_misspelled_class_or_submodule_gets_the_closest_one() -> None:
    assert _error("torch.nn.Linea", torch.nn.Module) == (
        "an importable class path",
        "'torch.nn.Linea' (torch.nn has no 'Linea')",
        "Check the spelling. Did you mean 'torch.nn.Linear'?",
    )
    assert _error("torch.optim.lr_schedulr.StepLR") == (
        "an importable class path",
        "'torch.optim.lr_schedulr.StepLR' (no module named 'torch.optim.lr_schedulr')",
        "Check the spelling. Did you mean 'torch.optim.lr_scheduler'?",
    )


def test_a_class_in_the_wrong_module_gets_the_module_that_defines_it() -> None:
    assert _error("torch.optim.StepLR") == (
        "an importable class path",
        "'torch.optim.StepLR' (torch.optim has no 'StepLR')",
        "Check the spelling. Did you mean 'torch.optim.lr_scheduler.StepLR'?",
    )


def test_a_bare_name_asks_for_the_full_import_path() -> None:
    assert _error("CrossEntropyLos") == (
        "a full import path such as torch.nn.Linear",
        "the name 'CrossEntropyLos'",
        "Write module.Class. Did you mean 'torch.nn.CrossEntropyLoss'?",
    )
    assert _error("MLPP", torch.nn.Module)[2] == "Write module.Class. Did you mean 'lightcli.MLP'?"


def test_an_ambiguous_short_name_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_class("Linear", torch.nn.Module)
    problem = raised.value.problems[0]
    expected, given, fix = problem.expected, problem.got, problem.fix
    assert expected == "a class name that names one class"
    assert given.startswith("the name 'Linear', shared by torch.nn.Linear, ")
    assert fix == "Write the full import path, e.g. torch.nn.Linear."


def test_a_module_that_fails_to_import_is_named_with_its_error(importable: Path) -> None:
    (importable / "lightcli_test_broken.py").write_text("raise RuntimeError('no GPU here')\n")
    try:
        assert _error("lightcli_test_broken.Net") == (
            "an importable class path",
            "'lightcli_test_broken.Net': importing lightcli_test_broken raised RuntimeError: no GPU here",
            "Fix that module (LIGHTCLI_TRACEBACK=1 shows the traceback).",
        )
    finally:
        sys.modules.pop("lightcli_test_broken", None)


def test_a_module_outside_the_allowlist_is_refused_before_it_is_imported(
    importable: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (importable / "lightcli_test_evil.py").write_text(
        f"open({str(importable / 'imported')!r}, 'w').close()\nclass Net: pass\n"
    )
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mypkg")
    try:
        assert _error("lightcli_test_evil.Net") == (
            "a module allowed by LIGHTCLI_ALLOWED_MODULES (mypkg and lightcli's own libraries)",
            "'lightcli_test_evil.Net'",
            "Add its package to LIGHTCLI_ALLOWED_MODULES if you trust it, "
            "e.g. LIGHTCLI_ALLOWED_MODULES=mypkg,lightcli_test_evil.",
        )
        assert not (importable / "imported").exists()
    finally:
        sys.modules.pop("lightcli_test_evil", None)


def test_what_a_wrong_object_is_and_which_subclass_to_use() -> None:
    assert what(torch.optim.Adam) == "a class deriving from torch.optim.Optimizer"
    assert what(len) == "a function"
    assert what(torch) == "a module"
    assert use_subclass(torch.nn.Module) == "Use a subclass of torch.nn.Module, e.g. lightcli.MLP."
    assert use_subclass(torch.optim.Optimizer) == "Use a subclass of torch.optim.Optimizer, e.g. torch.optim.Adam."
