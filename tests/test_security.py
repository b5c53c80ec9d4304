"""The security corpus: every route by which a config, a value, a checkpoint or a tool could import code.

Each case puts a module in the working folder that writes a marker file when it is imported, sets
``LIGHTCLI_ALLOWED_MODULES`` to something else, and tries one route to that module. The module must never
be imported (no marker, not in ``sys.modules``), the command must exit 2, and the message must name the
key and the refused module. Most cases run ``main([...])`` in-process; a few run a real ``lightcli``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from conftest import subprocess_env, tiny_config, write_config
from lightcli.cli import main

ALLOWED = "mypkg"

MODULE = """\
import pathlib

pathlib.Path({marker!r}).write_text("imported")

import torch
from pytorch_lightning import Callback, LightningDataModule
from pytorch_lightning.loggers import CSVLogger

import lightcli


class Net(torch.nn.Linear):
    def __init__(self):
        super().__init__(64, 10)


class Cb(Callback):
    pass


class Logger(CSVLogger):
    pass


class Data(LightningDataModule):
    pass


class Sys(lightcli.System):
    pass


class Opt(torch.optim.SGD):
    pass


class Loss(torch.nn.CrossEntropyLoss):
    pass


def fn(x):
    return x
"""


class Attack:
    """A working folder with an untrusted module (a unique name per test) and the allowlist set."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.name = f"untrusted_{uuid.uuid4().hex[:8]}"
        self.marker = folder / f"{self.name}.imported"
        (folder / f"{self.name}.py").write_text(MODULE.format(marker=str(self.marker)))
        monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", ALLOWED)

    def path(self, attr: str = "Net") -> str:
        return f"{self.name}.{attr}"

    def config(self, file: str = "bad.yaml", **sections: Any) -> str:
        write_config(self.folder / file, tiny_config(**sections))
        return file

    def refused(self, code: int, err: str, key: str) -> None:
        """The command was refused naming ``key`` and the module, and nothing of the module ran."""
        assert not self.marker.exists(), "the untrusted module was imported"
        assert self.name not in sys.modules
        assert code == 2, err
        assert "LIGHTCLI_ALLOWED_MODULES" in err, err
        lines = [line for line in err.splitlines() if self.name in line]
        assert lines, err
        assert any(line.removeprefix("error: ").startswith(key) for line in lines), err


@pytest.fixture
def attack(tiny_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Attack:
    return Attack(tiny_folder, monkeypatch)


def run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


# -- command-line values and config files -------------------------------------------------------------------


def test_class_on_the_command_line(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--system.model", attack.path()])
    attack.refused(code, err, "system.model")


def test_class_path_key_on_the_command_line(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--system.model.class_path", attack.path()])
    attack.refused(code, err, "system.model")


def test_json_spec_on_the_command_line(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    spec = json.dumps({"class_path": attack.path(), "init_args": {}})
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", f"--system.model={spec}"])
    attack.refused(code, err, "system.model")


def test_class_in_a_config_file(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    bad = attack.config(system={"model": {"class_path": attack.path()}})
    code, err = run(capsys, ["fit", "--config", bad])
    attack.refused(code, err, "system.model.class_path")
    assert "(in bad.yaml:" in err


@pytest.mark.parametrize("form", ["-c={}", "-c{}", "--config={}"], ids=["c-equals", "c-joined", "config-equals"])
def test_config_file_option_forms(attack: Attack, capsys: pytest.CaptureFixture[str], form: str) -> None:
    bad = attack.config(system={"model": {"class_path": attack.path()}})
    code, err = run(capsys, ["fit", form.format(bad)])
    attack.refused(code, err, "system.model.class_path")


def test_short_config_option(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    bad = attack.config(system={"model": {"class_path": attack.path()}})
    code, err = run(capsys, ["fit", "-c", bad])
    attack.refused(code, err, "system.model.class_path")


@pytest.mark.parametrize("value", ["{}", '{{"class_path": "{}"}}'], ids=["name", "spec"])
def test_appended_callback(attack: Attack, capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", f"--trainer.callbacks+={value.format(attack.path('Cb'))}"])
    attack.refused(code, err, "trainer.callbacks")


def test_appended_callback_as_a_separate_value(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--trainer.callbacks+", attack.path("Cb")])
    attack.refused(code, err, "trainer.callbacks")


def test_callbacks_list_on_the_command_line(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    value = json.dumps([{"class_path": attack.path("Cb")}])
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", f"--trainer.callbacks={value}"])
    attack.refused(code, err, "trainer.callbacks")


def test_logger(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--trainer.logger", attack.path("Logger")])
    attack.refused(code, err, "trainer.logger")


def test_datamodule(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--data", attack.path("Data")])
    attack.refused(code, err, "data")


def test_system_subclass(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--system", attack.path("Sys")])
    attack.refused(code, err, "system")


def test_optimizer_in_a_config(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    bad = attack.config(system={"optimizer": {"class_path": attack.path("Opt")}})
    code, err = run(capsys, ["fit", "--config", bad])
    attack.refused(code, err, "system.optimizer.class_path")


def test_class_nested_in_init_args(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config()
    config["system"]["dataloaders"]["train"]["init_args"]["dataset"] = {"class_path": attack.path("Net")}
    write_config(attack.folder / "bad.yaml", config)
    code, err = run(capsys, ["fit", "--config", "bad.yaml"])
    attack.refused(code, err, "system.dataloaders.train.init_args.dataset.class_path")


def test_class_in_a_dict_typed_argument(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config()
    config["system"]["metrics"]["val"]["bad"] = {"class_path": attack.path("Loss")}
    write_config(attack.folder / "bad.yaml", config)
    code, err = run(capsys, ["fit", "--config", "bad.yaml"])
    attack.refused(code, err, "system.metrics.val.bad.class_path")


def test_function_by_dotted_path(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config()
    config["system"]["adapters"] = {"train": {"criterion": {"pred_transforms": [attack.path("fn")]}}}
    write_config(attack.folder / "bad.yaml", config)
    code, err = run(capsys, ["fit", "--config", "bad.yaml"])
    attack.refused(code, err, "system.adapters.train.criterion.pred_transforms")


def test_print_config_with_a_refused_class(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--system.model", attack.path(), "--print_config"])
    attack.refused(code, err, "system.model")


def test_help_of_a_refused_class(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["fit", "--system.model.help", attack.path()])
    attack.refused(code, err, "system")


# -- files named by values ----------------------------------------------------------------------------------


def test_class_given_as_a_file_on_the_command_line(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    (attack.folder / "model.cfg").write_text(yaml.safe_dump({"class_path": attack.path()}))
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--system.model", "model.cfg"])
    attack.refused(code, err, "system.model")


def test_a_file_named_like_an_allowed_module(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    (attack.folder / "torch.cfg").write_text(yaml.safe_dump({"class_path": attack.path()}))
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--system.model", "torch.cfg"])
    attack.refused(code, err, "system.model")


def test_class_given_as_a_file_in_a_config(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    (attack.folder / "configs").mkdir()
    (attack.folder / "configs" / "model.cfg").write_text(yaml.safe_dump({"class_path": attack.path()}))
    config = tiny_config()
    config["system"]["model"] = "model.cfg"  # relative to the config file, as jsonargparse reads it
    write_config(attack.folder / "configs" / "bad.yaml", config)
    code, err = run(capsys, ["fit", "--config", "configs/bad.yaml"])
    attack.refused(code, err, "system.model")


def test_a_file_outside_the_folder(attack: Attack, capsys: pytest.CaptureFixture[str], tmp_path_factory: Any) -> None:
    outside = tmp_path_factory.mktemp("elsewhere") / "model.yaml"
    outside.write_text(yaml.safe_dump({"class_path": attack.path()}))
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--system.model", str(outside)])
    attack.refused(code, err, "system.model")


def test_nested_config_files(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    system = tiny_config()["system"]
    system["model"] = "model.yaml"
    (attack.folder / "model.yaml").write_text(yaml.safe_dump({"class_path": attack.path()}))
    (attack.folder / "system.yaml").write_text(yaml.safe_dump(system))
    config = tiny_config()
    config["system"] = "system.yaml"
    write_config(attack.folder / "bad.yaml", config)
    code, err = run(capsys, ["fit", "--config", "bad.yaml"])
    attack.refused(code, err, "system")


def test_a_rerun_of_a_tampered_run_folder(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = attack.folder / "runs" / "tiny" / "version_0"
    run_dir.mkdir(parents=True)
    write_config(run_dir / "config.yaml", tiny_config(system={"model": {"class_path": attack.path()}}))
    code, err = run(capsys, ["fit", "--config", str(run_dir / "config.yaml")])
    attack.refused(code, err, "system.model.class_path")


# -- checkpoints ----------------------------------------------------------------------------------------------


def _checkpoint(path: Path, class_path: str) -> Path:
    import pytorch_lightning

    stored = {
        "_class_path": "lightcli.System",
        "_instantiator": "pytorch_lightning.cli.instantiate_module",
        "model": {"class_path": class_path},
    }
    checkpoint = {"hyper_parameters": stored, "state_dict": {}, "epoch": 0, "global_step": 0}
    torch.save({**checkpoint, "pytorch-lightning_version": pytorch_lightning.__version__}, path)
    return path


def test_checkpoint_by_path(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    _checkpoint(attack.folder / "old.ckpt", attack.path())
    code, err = run(capsys, ["test", "--config", "tiny.yaml", "--ckpt_path", "old.ckpt"])
    attack.refused(code, err, "system.init_args.model.class_path")


def test_checkpoint_by_last(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoints = attack.folder / "runs" / "tiny" / "version_0" / "checkpoints"
    checkpoints.mkdir(parents=True)
    _checkpoint(checkpoints / "last.ckpt", attack.path())
    code, err = run(capsys, ["fit", "--config", "tiny.yaml", "--ckpt_path", "last"])
    attack.refused(code, err, "system.init_args.model.class_path")


def test_checkpoint_given_in_a_config(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    _checkpoint(attack.folder / "old.ckpt", attack.path())
    config = tiny_config()
    config["ckpt_path"] = "old.ckpt"
    write_config(attack.folder / "bad.yaml", config)
    code, err = run(capsys, ["test", "--config", "bad.yaml"])
    attack.refused(code, err, "system.init_args.model.class_path")


def test_load_from_checkpoint(attack: Attack) -> None:
    from lightcli import System
    from lightcli.config.problems import ConfigError

    path = _checkpoint(attack.folder / "old.ckpt", attack.path())
    with pytest.raises(ConfigError) as refused:
        System.load_from_checkpoint(path)
    assert not attack.marker.exists()
    assert attack.name not in sys.modules
    assert str(refused.value).startswith("system")
    assert attack.name in str(refused.value)


def test_load_from_checkpoint_never_unpickles(attack: Attack) -> None:
    from lightcli import System
    from lightcli.config.problems import ConfigError

    path = _checkpoint(attack.folder / "old.ckpt", "lightcli.MLP")
    with pytest.raises(ConfigError, match="weights_only"):
        System.load_from_checkpoint(path, weights_only=False)


@pytest.mark.slow  # three tiny trainings
def test_every_checkpoint_load_is_weights_only(tiny_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lightning's restore of ``--ckpt_path`` included, even when the environment asks torch for pickle."""
    short = ["--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    assert main(["fit", "--config", "tiny.yaml", *short]) == 0
    calls: list[Any] = []
    real = torch.load

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recorded)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch's default would then unpickle
    assert main(["fit", "--config", "tiny.yaml", "--ckpt_path", "last", "--trainer.max_epochs", "2", *short]) == 0
    assert main(["test", "--config", "tiny.yaml", "--ckpt_path", "last", "--trainer.limit_test_batches", "1"]) == 0
    assert len(calls) >= 4  # lightcli's read and Lightning's restore, for each command
    assert set(calls) == {True}


@pytest.mark.parametrize("where", ["command line", "config"])
def test_weights_only_false_is_refused(attack: Attack, capsys: pytest.CaptureFixture[str], where: str) -> None:
    args = ["fit", "--config", "tiny.yaml", "--weights_only", "false"]
    if where == "config":
        config = tiny_config()
        config["weights_only"] = False
        args = ["fit", "--config", write_config(attack.folder / "bad.yaml", config).name]
    code, err = run(capsys, args)
    assert code == 2
    refused = (  # Lightning before 2.6 has no weights_only option: an unknown key, refused as well
        "error: weights_only: expected true or null (no pickle), got false",
        "error: weights_only: expected a known top-level key, got the unknown key 'weights_only'",
    )
    assert err.startswith(refused), err
    assert not (attack.folder / "runs").exists()


# -- the tools ------------------------------------------------------------------------------------------------


def test_check(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["check", "fit", "--config", "tiny.yaml", "--system.model", attack.path()])
    attack.refused(code, err, "system.model")


def test_check_appended_callback(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["check", "fit", "--config", "tiny.yaml", f"--trainer.callbacks+={attack.path('Cb')}"])
    attack.refused(code, err, "trainer.callbacks")


def test_diff_of_config_files(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    bad = attack.config(system={"model": {"class_path": attack.path()}})
    code, err = run(capsys, ["diff", "tiny.yaml", bad])
    attack.refused(code, err, "system.model")


def test_diff_of_run_folders_imports_nothing(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    for version, model in (("version_0", "lightcli.MLP"), ("version_1", attack.path())):
        run_dir = attack.folder / "runs" / "tiny" / version
        run_dir.mkdir(parents=True)
        write_config(run_dir / "config.yaml", tiny_config(system={"model": {"class_path": model}}))
    main(["diff", "runs/tiny/version_0", "runs/tiny/version_1"])
    assert attack.name in capsys.readouterr().out  # shown as text, never imported
    assert not attack.marker.exists()
    assert attack.name not in sys.modules


def test_schema_module_option(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, ["schema", "--module", attack.name, "-o", "schema.json"])
    attack.refused(code, err, "--module")
    assert not (attack.folder / "schema.json").exists()


def test_schema_here_under_the_allowlist(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    # module-level assignments pass the "defines only" filter, so only the allowlist stops this one
    (attack.folder / f"{attack.name}.py").write_text(
        f"import pathlib\n_X = pathlib.Path({str(attack.marker)!r}).write_text('imported')\n"
    )
    code, err = run(capsys, ["schema", "--here", "-o", "schema.json"])
    attack.refused(code, err, "--module")


@pytest.mark.slow  # builds the whole schema
def test_schema_imports_nothing_of_the_working_folder_unless_asked(
    attack: Attack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LIGHTCLI_ALLOWED_MODULES")
    (attack.folder / f"{attack.name}.py").write_text(
        f"import pathlib\n_X = pathlib.Path({str(attack.marker)!r}).write_text('imported')\n"
    )
    assert main(["schema", "-o", "schema.json"]) == 0
    assert not attack.marker.exists()
    assert attack.name not in sys.modules


def test_sweep_space_choice(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    space = {"params": {"system.model": {"type": "categorical", "choices": [{"class_path": attack.path()}]}}}
    (attack.folder / "space.yaml").write_text(yaml.safe_dump(space))
    code, err = run(capsys, ["sweep", "--space", "space.yaml", "--trials", "1", "--config", "tiny.yaml"])
    attack.refused(code, err, "space.yaml: params.system.model.choices[0].class_path")


def test_sweep_space_choice_by_name(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    space = {"params": {"system.model": {"type": "categorical", "choices": ["lightcli.MLP", attack.path()]}}}
    (attack.folder / "space.yaml").write_text(yaml.safe_dump(space))
    code, err = run(capsys, ["sweep", "--space", "space.yaml", "--trials", "1", "--config", "tiny.yaml"])
    attack.refused(code, err, "space.yaml: params.system.model.choices[1]")


def test_sweep_fit_arguments(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    space = {"params": {"system.optimizer.init_args.lr": {"type": "float", "low": 0.001, "high": 0.1}}}
    (attack.folder / "space.yaml").write_text(yaml.safe_dump(space))
    bad = attack.config(system={"model": {"class_path": attack.path()}})
    code, err = run(capsys, ["sweep", "--space", "space.yaml", "--trials", "1", f"-c={bad}"])
    attack.refused(code, err, "system.model.class_path")


# -- the environment -----------------------------------------------------------------------------------------


def test_jsonargparse_environment_values(
    attack: Attack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JSONARGPARSE_DEFAULT_ENV", "true")
    monkeypatch.setenv("PL_FIT__DATA", attack.path("Data"))
    code, err = run(capsys, ["fit", "--config", "tiny.yaml"])
    assert not attack.marker.exists()
    assert attack.name not in sys.modules
    assert code == 2, err
    assert attack.name in err and "LIGHTCLI_ALLOWED_MODULES" in err, err


def test_a_config_cannot_widen_the_allowlist(attack: Attack, capsys: pytest.CaptureFixture[str]) -> None:
    config = tiny_config(system={"model": {"class_path": attack.path()}})
    config["LIGHTCLI_ALLOWED_MODULES"] = attack.name
    write_config(attack.folder / "bad.yaml", config)
    code, err = run(capsys, ["fit", "--config", "bad.yaml"])
    attack.refused(code, err, "system.model.class_path")


# -- real lightcli processes ---------------------------------------------------------------------------------


def lightcli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**subprocess_env(), "LIGHTCLI_ALLOWED_MODULES": ALLOWED}
    command = [sys.executable, "-m", "lightcli", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False, timeout=300)


@pytest.mark.parametrize(
    "args, key",
    [
        (lambda a: ["fit", "--config", "tiny.yaml", f"--trainer.callbacks+={a.path('Cb')}"], "trainer.callbacks"),
        (lambda a: ["fit", f"-c{a.config(system={'model': {'class_path': a.path()}})}"], "system.model.class_path"),
        (lambda a: ["check", "fit", "--config", "tiny.yaml", "--system.model", a.path()], "system.model"),
    ],
    ids=["appended-callback", "c-joined", "check"],
)
@pytest.mark.slow  # a process each
def test_a_real_lightcli_process(attack: Attack, args: Callable[[Attack], list[str]], key: str) -> None:
    result = lightcli(attack.folder, *args(attack))
    assert "Traceback" not in result.stderr
    attack.refused(result.returncode, result.stderr, key)


def test_an_allowed_module_is_imported(attack: Attack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the same module, allowed, is imported and writes its marker (so the cases above can fail)."""
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", attack.name)
    assert main(["fit", "--config", "tiny.yaml", "--system.model", attack.path(), "--print_config"]) == 0
    assert attack.marker.exists()


# -- one chokepoint -------------------------------------------------------------------------------------------

LOGGING_MODULE = """\
import builtins

builtins._lightcli_import_log.append(("import", __name__))

import torch
from pytorch_lightning import Callback


class Net(torch.nn.Linear):
    def __init__(self):
        super().__init__(64, 10)


class Loss(torch.nn.CrossEntropyLoss):
    pass


class Opt(torch.optim.SGD):
    pass


class Cb(Callback):
    pass


def fn(x):
    return x
"""


def test_every_import_a_config_names_passes_the_gate_first(
    tiny_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Allowed modules, one per route, each logging its import; the gate logs every path it checks."""
    import builtins

    from lightcli.config import allowlist

    log: list[tuple[str, str]] = []
    monkeypatch.setattr(builtins, "_lightcli_import_log", log, raising=False)
    original = allowlist.refused

    def logged(path: str, module: bool = False) -> Any:
        log.append(("check", path))
        return original(path, module)

    monkeypatch.setattr(allowlist, "refused", logged)  # what check_import calls; preflight holds its own name
    routes = ("cli", "file", "appended", "valuefile", "function")
    names = {route: f"allowed_{route}_{uuid.uuid4().hex[:6]}" for route in routes}
    for name in names.values():
        (tiny_folder / f"{name}.py").write_text(LOGGING_MODULE)
    monkeypatch.setenv("LIGHTCLI_ALLOWED_MODULES", ",".join(names.values()))
    config = tiny_config()
    config["system"]["criterion"] = {"class_path": f"{names['file']}.Loss"}
    config["system"]["adapters"] = {"train": {"criterion": {"pred_transforms": [f"{names['function']}.fn"]}}}
    write_config(tiny_folder / "config.yaml", config)
    (tiny_folder / "opt.yaml").write_text(yaml.safe_dump({"class_path": f"{names['valuefile']}.Opt"}))
    args = ["fit", "--config", "config.yaml", "--system.model", f"{names['cli']}.Net", "--system.optimizer=opt.yaml"]
    args += [f"--trainer.callbacks+={names['appended']}.Cb", "--print_config"]
    assert main(args) == 0, capsys.readouterr().err
    for route, name in names.items():
        imported = log.index(("import", name))  # every route imported its module ...
        checked = [i for i, (what, path) in enumerate(log) if what == "check" and path.startswith(name + ".")]
        assert checked and checked[0] < imported, f"{route}: imported before the gate saw it"  # ... after the gate


GATE_EXEMPT = {
    "lightcli/config/allowlist.py": "the gate itself",
    "lightcli/config/project.py": "the --project folder, named on the command line",
    "lightcli/commands.py": "the targets of the COMMANDS table (lightcli's own modules)",
    "lightcli/__init__.py": "the lazy public API (lightcli's own modules)",
    "lightcli/tools/completion.py": "a tool's own parser (a target of the COMMANDS table)",
    "lightcli/upstream/import_gate.py": "jsonargparse's own modules, to put the gate into them",
    "lightcli/config/migrations.py": "lightcli_migrations.py of the working folder, once the allowlist allows its name",
}


def test_nothing_imports_a_path_but_the_gate() -> None:
    """No module of lightcli imports by name (importlib, __import__) except the gate and the exempt ones."""
    import ast

    from conftest import REPO

    found = set()
    for path in sorted((REPO / "lightcli").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called in ("importlib.import_module", "__import__", "importlib.util.spec_from_file_location"):
                    found.add(str(path.relative_to(REPO)))
    assert found <= set(GATE_EXEMPT), sorted(found - set(GATE_EXEMPT))
