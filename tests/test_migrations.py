"""Declared migrations: a config and a checkpoint written before a class moved and an argument was renamed
load, train and validate, each change reported once; ``lightcli migrate`` writes the upgraded file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env, tiny_config, write_config
from lightcli.commands import main
from lightcli.config import safeyaml
from lightcli.config.migrations import forget, read_migrated
from lightcli.config.problems import ConfigError
from lightcli.config.safeyaml import load_file

OLD_NET = """\
from torch import nn


class Net(nn.Sequential):
    def __init__(self, width: int = 8) -> None:
        super().__init__(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))
"""
NEW_NET = OLD_NET.replace("width", "hidden")
DECLARATIONS = """\
from lightcli.config.migrations import moved, renamed

moved("migtest_v1.Net", "migtest_lib.models.Net")
renamed("migtest_lib.models.Net", "width", "hidden")
"""
CKPT = "runs/old/version_0/checkpoints/last.ckpt"


def _old_config(folder: Path) -> None:
    config = tiny_config()
    config["system"]["model"] = {"class_path": "migtest_v1.Net", "init_args": {"width": 16}}
    write_config(folder / "old.yaml", config)


def _refactor(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``migtest_v1.Net`` moves to ``migtest_lib.models``, ``width`` becomes ``hidden``: declared in ``lightcli_migrations.py``."""
    (folder / "migtest_lib").mkdir()
    (folder / "migtest_lib" / "__init__.py").write_text("")
    (folder / "migtest_lib" / "models.py").write_text(NEW_NET)
    (folder / "lightcli_migrations.py").write_text(DECLARATIONS)
    for name in ("migtest_lib", "migtest_lib.models"):
        monkeypatch.delitem(sys.modules, name, raising=False)


@pytest.fixture
def refactored(tiny_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``old.yaml`` names ``migtest_v1.Net(width=16)``, which moved and whose argument was renamed."""
    _old_config(tiny_folder)
    _refactor(tiny_folder, monkeypatch)
    return tiny_folder


@pytest.fixture
def old_run(tiny_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run trained with ``migtest_v1.Net(width=16)``; then the class moved and its argument was renamed."""
    _old_config(tiny_folder)
    (tiny_folder / "migtest_v1.py").write_text(OLD_NET)
    assert main(["fit", "--config", "old.yaml"]) == 0
    (tiny_folder / "migtest_v1.py").unlink()
    monkeypatch.delitem(sys.modules, "migtest_v1")
    _refactor(tiny_folder, monkeypatch)
    return tiny_folder


def test_an_old_config_and_an_old_checkpoint_load_train_and_validate(
    old_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["fit", "--config", "old.yaml", "--run.name", "new"]) == 0
    assert capsys.readouterr().err == (
        "migrated: system.model.class_path migtest_v1.Net -> migtest_lib.models.Net "
        "(old.yaml:14, declared in lightcli_migrations.py:3)\n"
        "migrated: system.model.init_args.width -> system.model.init_args.hidden "
        "(old.yaml:16, declared in lightcli_migrations.py:4)\n"
    )
    # the new run's config is written with the new names
    saved = (old_run / "runs" / "new" / "version_0" / "config.yaml").read_text()
    assert "migtest_lib.models.Net" in saved and "hidden: 16" in saved and "width" not in saved

    # the checkpoint's stored config names the old class and argument
    assert main(["validate", "--ckpt_path", CKPT]) == 0
    assert capsys.readouterr().err == (
        f"migrated: system.model.class_path migtest_v1.Net -> migtest_lib.models.Net (checkpoint {CKPT}, "
        "declared in lightcli_migrations.py:3)\n"
        f"migrated: system.model.init_args.width -> system.model.init_args.hidden (checkpoint {CKPT}, "
        "declared in lightcli_migrations.py:4)\n"
    )


@pytest.mark.slow
def test_an_old_run_validates_and_resumes_in_a_lightcli_process(old_run: Path) -> None:
    def lightcli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lightcli", *args],
            cwd=old_run,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            check=False,
        )

    # a real lightcli process: the checkpoint's stored config names the old class and argument
    done = lightcli("validate", "--ckpt_path", CKPT)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"migrated: system.model.class_path migtest_v1.Net -> migtest_lib.models.Net (checkpoint {CKPT}, "
        "declared in lightcli_migrations.py:3)\n"
        f"migrated: system.model.init_args.width -> system.model.init_args.hidden (checkpoint {CKPT}, "
        "declared in lightcli_migrations.py:4)\n"
    )
    assert "val/acc" in done.stdout

    # the old run folder resumes: its config.yaml and its checkpoint, each change said once
    written = (old_run / "runs/old/version_0/config.yaml").read_text().splitlines()
    at_class = next(i for i, line in enumerate(written, 1) if "migtest_v1.Net" in line)
    at_width = next(i for i, line in enumerate(written, 1) if line.strip().startswith("width:"))
    done = lightcli(
        "fit", "--config", "runs/old/version_0/config.yaml", "--ckpt_path", "last", "--trainer.max_epochs", "2"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "migrated: system.model.class_path migtest_v1.Net -> migtest_lib.models.Net "
        f"(runs/old/version_0/config.yaml:{at_class}, declared in lightcli_migrations.py:3)\n"
        "migrated: system.model.init_args.width -> system.model.init_args.hidden "
        f"(runs/old/version_0/config.yaml:{at_width}, declared in lightcli_migrations.py:4)\n"
        "resuming with values that differ from the checkpoint (those in force now are used):\n"
        "  trainer.max_epochs: checkpoint 1 -> now 2\n"
    )


def test_lightcli_migrate_writes_the_upgraded_file_with_its_comments(
    refactored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (refactored / "old.yaml").read_text()
    text = text.replace("system:\n", "# the system\nsystem:\n").replace(
        "class_path: migtest_v1.Net", "class_path: 'migtest_v1.Net'  # our net"
    )
    (refactored / "commented.yaml").write_text(text)
    capsys.readouterr()
    assert main(["migrate", "commented.yaml"]) == 0
    out, err = capsys.readouterr()
    assert out == text.replace("'migtest_v1.Net'", "'migtest_lib.models.Net'").replace("width: 16", "hidden: 16")
    assert err == (
        "migrated: system.model.class_path migtest_v1.Net -> migtest_lib.models.Net "
        "(commented.yaml:15, declared in lightcli_migrations.py:3)\n"
        "migrated: system.model.init_args.width -> system.model.init_args.hidden "
        "(commented.yaml:17, declared in lightcli_migrations.py:4)\n"
    )
    (refactored / "new.yaml").write_text(out)
    assert main(["migrate", "new.yaml"]) == 0  # nothing left to migrate
    assert capsys.readouterr() == (out, "")


def test_lightcli_s_own_moved_modules_are_migrated(tiny_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config()
    config["system"]["model"]["class_path"] = "lightcli.models.MLP"  # before lightcli.core (the layered package)
    write_config(tiny_folder / "before.yaml", config)
    assert main(["fit", "--config", "before.yaml", "--print_config"]) == 0
    out, err = capsys.readouterr()
    assert err == (
        "migrated: system.model.class_path lightcli.models.MLP -> lightcli.core.models.MLP "
        "(before.yaml:14, declared in lightcli)\n"
    )
    assert "lightcli.models.MLP" not in out


def test_callbacks_the_schema_once_listed_under_lightcli_cli_are_migrated(
    tiny_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tiny_config()
    config["trainer"]["callbacks"] = [
        {"class_path": "lightcli.cli.ModelCheckpoint", "init_args": {"save_top_k": 0}},
        {"class_path": "lightcli.cli.GracefulStop"},
    ]
    write_config(tiny_folder / "before.yaml", config)
    assert main(["fit", "--config", "before.yaml", "--print_config"]) == 0
    out, err = capsys.readouterr()
    assert "lightcli.cli.ModelCheckpoint -> pytorch_lightning.callbacks.ModelCheckpoint" in err
    assert "lightcli.cli.GracefulStop -> lightcli.run.checkpoints.GracefulStop" in err
    assert "lightcli.cli." not in out


def test_declarations_refused_by_the_allowlist_are_not_imported(
    tiny_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_folder / "lightcli_migrations.py").write_text("open('imported', 'w').close()\n")
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", "mypkg")
    assert main(["migrate", "tiny.yaml"]) == 2
    assert capsys.readouterr().err == (
        "error: lightcli_migrations.py: expected a module allowed by LIGHTCLI_ALLOWED_MODULES (mypkg and lightcli's "
        "own libraries), got 'lightcli_migrations.py'. Add its package to LIGHTCLI_ALLOWED_MODULES if you trust it, "
        "e.g. LIGHTCLI_ALLOWED_MODULES=mypkg,lightcli_migrations.\n"
    )
    assert not (tiny_folder / "imported").exists()


def test_a_broken_declarations_file_is_named_with_its_line(
    tiny_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_folder / "lightcli_migrations.py").write_text(
        "from lightcli.config.migrations import moved\n\nmoved('a.B')\n"
    )
    assert main(["fit", "--config", "tiny.yaml"]) == 2
    assert capsys.readouterr().err == (
        "error: lightcli_migrations.py:3: expected a file that declares migrations, got TypeError: moved() missing "
        "1 required positional argument: 'new'. Fix that line of the file.\n"
    )
    assert not (tiny_folder / "runs").exists()


def test_every_file_jsonargparse_reads_is_refused_as_strictly_as_a_config_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = workdir  # declares no migrations
    forget()
    laughs = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcde", "bcdef", strict=True)
    )
    (tmp_path / "laughs.yaml").write_text(laughs)
    with pytest.raises(ConfigError, match="aliases that expand to more than 100,000 values"):
        read_migrated(tmp_path / "laughs.yaml")
    # a file lightcli already read strictly is not read strictly again when jsonargparse reads it
    path = write_config(tmp_path / "tiny.yaml", tiny_config())
    assert load_file(str(path))[1] is None
    strict_reads: list[str] = []
    monkeypatch.setattr(safeyaml, "safe_yaml", lambda text, lines=None: strict_reads.append(text))
    assert read_migrated(path) == path.read_text()
    assert strict_reads == []
