"""LIGHTCLI_ALLOWED_MODULES: class_path imports refused outside the allowed prefixes, before any import."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import tiny_config, write_config
from lightcli.cli import main
from lightcli.config.allowlist import ALWAYS_ALLOWED, allowed_prefixes, import_paths, refused

NET = "import torch\n\n\nclass Net(torch.nn.Linear):\n    def __init__(self):\n        super().__init__(64, 10)\n"


@pytest.fixture
def folder(tiny_folder: Path) -> Path:
    return tiny_folder


def test_everything_is_allowed_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIGHTCLI_ALLOWED_MODULES", raising=False)
    assert allowed_prefixes() is None
    assert refused("anything.At.all") is None


def test_prefixes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mypkg, other.models")
    assert allowed_prefixes() == (*ALWAYS_ALLOWED, "mypkg", "other.models")
    assert refused("mypkg.nets.Net") is None
    assert refused("other.models.Big") is None
    assert refused("torch.nn.Linear") is None
    assert refused("lightcli.MLP") is None
    assert refused("mypkgevil.Net") is not None  # a prefix is a whole module name
    assert refused("other.data.Set") == (
        "a module allowed by LIGHTCLI_ALLOWED_MODULES (mypkg, other.models and lightcli's own libraries)",
        "'other.data.Set'",
        "Add its package to LIGHTCLI_ALLOWED_MODULES if you trust it, e.g. "
        "LIGHTCLI_ALLOWED_MODULES=mypkg,other.models,other.",
    )


def test_import_paths_finds_class_paths_and_function_paths() -> None:
    tree = {
        "system": {
            "model": {"class_path": "pkg.Net", "init_args": {"width": 3}},
            "adapters": {"train": {"criterion": {"pred_transforms": ["torch.sigmoid"]}}},
            "scheduler": {"monitor": "val/loss"},
            "data": "data.csv",
        }
    }
    assert list(import_paths(tree)) == [
        ("system.model.class_path", "pkg.Net"),
        ("system.adapters.train.criterion.pred_transforms[0]", "torch.sigmoid"),
    ]


def test_a_refused_module_is_never_imported(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "untrusted_net.py").write_text("raise SystemExit('imported!')\n")
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mypkg")
    assert main(["fit", "--config", "tiny.yaml", "--system.model", "untrusted_net.Net"]) == 2
    assert "untrusted_net" not in sys.modules
    assert capsys.readouterr().err == (
        "error: system.model.class_path: expected a module allowed by LIGHTCLI_ALLOWED_MODULES "
        "(mypkg and lightcli's own libraries), got 'untrusted_net.Net' (on the command line). "
        "Add its package to LIGHTCLI_ALLOWED_MODULES if you trust it, e.g. LIGHTCLI_ALLOWED_MODULES=mypkg,untrusted_net.\n"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["tiny.yaml", "untrusted_net.py"]


def test_a_refused_module_in_a_config_file_names_the_file(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config()
    config["system"]["model"] = {"class_path": "elsewhere.Net"}
    write_config(folder / "bad.yaml", config)
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mypkg")
    assert main(["check", "fit", "--config", "bad.yaml"]) == 2
    assert "got 'elsewhere.Net' (in bad.yaml:14)" in capsys.readouterr().err


def test_an_allowed_module_is_used(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "trusted_net.py").write_text(NET)
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "trusted_net")
    assert main(["check", "fit", "--config", "tiny.yaml", "--system.model", "trusted_net.Net"]) == 0
    assert "system.model: trusted_net.Net" in capsys.readouterr().out


def test_class_paths_stored_in_a_checkpoint_are_checked(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    stored = {"_class_path": "lightcli.System", "model": {"class_path": "stored_net.Net"}}
    torch.save({"hyper_parameters": stored, "state_dict": {}}, folder / "old.ckpt")
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mypkg")
    assert main(["test", "--config", "tiny.yaml", "--ckpt_path", "old.ckpt"]) == 2
    assert "stored_net" not in sys.modules
    assert capsys.readouterr().err == (
        "error: system.init_args.model.class_path: expected a module allowed by LIGHTCLI_ALLOWED_MODULES "
        "(mypkg and lightcli's own libraries), got 'stored_net.Net' (in the checkpoint old.ckpt). "
        "Add its package to LIGHTCLI_ALLOWED_MODULES if you trust it, e.g. LIGHTCLI_ALLOWED_MODULES=mypkg,stored_net.\n"
    )
