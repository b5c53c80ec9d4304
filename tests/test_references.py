"""Shared values: ``${dotted.key}`` references resolved on the merged config, before validation, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import accuracy, only_run_dir, tiny_config, write_config
from lightcli.config.references import resolve_references

COSINE = {
    "scheduler": {
        "class_path": "torch.optim.lr_scheduler.CosineAnnealingLR",
        "init_args": {"T_max": "${trainer.max_epochs}"},
    }
}


def _shared(tmp_path: Path) -> Path:
    """The tiny config with T_max following max_epochs and num_classes shared by the model and the metrics."""
    config = tiny_config(system={"scheduler": COSINE})
    config["system"]["model"]["init_args"]["out_features"] = "${system.metrics.val.acc.init_args.num_classes}"
    for mode in ("train", "test"):
        config["system"]["metrics"][mode]["acc"]["init_args"]["num_classes"] = "${system.model.init_args.out_features}"
    config["system"]["metrics"]["val"]["acc"] = accuracy(10)
    return write_config(tmp_path / "shared.yaml", config)


def _printed(cli, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert cli("fit", *args, "--print_config") == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_t_max_follows_max_epochs_given_on_the_command_line(tiny_folder: Path, cli, capsys) -> None:
    config = _shared(tiny_folder)
    printed = _printed(cli, capsys, "--config", str(config), "--trainer.max_epochs", "6")
    assert printed["trainer"]["max_epochs"] == 6
    assert printed["system"]["init_args"]["scheduler"]["scheduler"]["init_args"]["T_max"] == 6  # an int, not "6"
    printed = _printed(cli, capsys, "--config", str(config))
    assert printed["system"]["init_args"]["scheduler"]["scheduler"]["init_args"]["T_max"] == 1


def test_num_classes_shared_by_the_model_and_the_metrics(tiny_folder: Path, cli, capsys) -> None:
    config = _shared(tiny_folder)
    given = "--system.metrics.val.acc.init_args.num_classes"
    printed = _printed(cli, capsys, "--config", str(config), given, "12")
    system = printed["system"]["init_args"]
    assert system["model"]["init_args"]["out_features"] == 12
    assert system["metrics"]["train"]["acc"]["init_args"]["num_classes"] == 12  # a reference to a reference
    assert system["metrics"]["test"]["acc"]["init_args"]["num_classes"] == 12


def test_the_run_folder_keeps_the_resolved_values(tiny_folder: Path, cli) -> None:
    config = _shared(tiny_folder)
    args = ["--trainer.max_epochs", "2", "--trainer.limit_train_batches", "1", "--run.name", "e${trainer.max_epochs}"]
    assert cli("fit", "--config", str(config), *args) == 0
    run = only_run_dir(tiny_folder)
    assert run == tiny_folder / "runs" / "e2" / "version_0"
    assert (run / "command.txt").read_text().endswith("--run.name 'e${trainer.max_epochs}'\n")  # as typed
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["system"]["init_args"]["scheduler"]["scheduler"]["init_args"]["T_max"] == 2
    assert saved["system"]["init_args"]["model"]["init_args"]["out_features"] == 10


def test_a_reference_on_the_command_line_and_inside_a_string(tiny_folder: Path, cli, capsys) -> None:
    args = ["--config", "tiny.yaml", "--system.optimizer.init_args.lr", "${trainer.max_epochs}"]
    printed = _printed(cli, capsys, *args, "--run.name", "lr_${system.optimizer.init_args.lr}_e${trainer.max_epochs}")
    assert printed["system"]["init_args"]["optimizer"]["init_args"]["lr"] == 1.0
    assert printed["run"]["name"] == "lr_1_e1"


def test_resolved_values_are_type_checked(tiny_folder: Path, cli, capsys) -> None:
    args = ["--system.model.init_args.out_features", "${system.criterion.class_path}"]
    assert cli("fit", "--config", "tiny.yaml", *args) == 2
    err = capsys.readouterr().err
    assert "system.model.init_args.out_features" in err
    assert "Traceback" not in err


def test_an_unknown_reference_names_the_key_and_the_closest_one(tiny_folder: Path, cli, capsys) -> None:
    args = ["--system.optimizer.init_args.lr", "${trainer.max_epoch}"]
    assert cli("fit", "--config", "tiny.yaml", *args) == 2
    err = capsys.readouterr().err
    assert "error: system.optimizer.init_args.lr: expected a reference to a key given" in err
    assert "Did you mean ${trainer.max_epochs}?" in err
    assert not (tiny_folder / "runs").exists()


def test_a_cycle_is_refused_naming_its_keys(tiny_folder: Path, cli, capsys) -> None:
    config = tiny_config()
    config["trainer"]["max_epochs"] = "${trainer.min_epochs}"
    config["trainer"]["min_epochs"] = "${trainer.max_epochs}"
    write_config(tiny_folder / "cycle.yaml", config)
    assert cli("fit", "--config", "cycle.yaml") == 2
    err = capsys.readouterr().err
    assert "a cycle: trainer.min_epochs -> trainer.max_epochs -> trainer.min_epochs" in err
    assert "(in cycle.yaml:" in err


def test_a_mapping_inside_a_string_is_refused() -> None:
    tree = {"trainer": {"max_epochs": 3}, "run": {"name": "run_${trainer}"}}
    _, problems = resolve_references(tree)
    assert [p.key for p in problems] == ["run.name"]
    assert "a reference to a single value" in problems[0].expected
    assert "Make the whole value the reference" in problems[0].fix


def test_a_whole_value_reference_copies_a_mapping_and_a_list_item() -> None:
    tree = {"a": {"b": [1, {"c": 2}]}, "x": "${a.b.1}", "y": "${a.b.0}"}
    resolved, problems = resolve_references(tree)
    assert problems == []
    assert resolved["x"] == {"c": 2} and resolved["x"] is not tree["a"]["b"][1]
    assert resolved["y"] == 1
    plain = {"a": 1}
    assert resolve_references(plain)[0] is plain  # no reference: the same tree


@pytest.mark.slow
def test_a_sweep_moves_the_values_that_follow_its_params(tiny_folder: Path, cli) -> None:
    config = tiny_config(system={"scheduler": COSINE}, trainer={"limit_train_batches": 1, "limit_val_batches": 1})
    write_config(tiny_folder / "tiny.yaml", config)
    space = {"metric": "val/acc", "params": {"trainer.max_epochs": {"type": "int", "low": 1, "high": 3}}}
    write_config(tiny_folder / "space.yaml", space)
    args = ["sweep", "--space", "space.yaml", "--config", "tiny.yaml", "--sampler", "random", "--seed", "0"]
    assert cli(*args, "--trials", "2") == 0
    saved = [
        yaml.safe_load(p.read_text()) for p in sorted(tiny_folder.glob("sweeps/space/trial_*/version_0/config.yaml"))
    ]
    assert len(saved) == 2
    for trial in saved:
        scheduler = trial["system"]["init_args"]["scheduler"]["scheduler"]
        assert scheduler["init_args"]["T_max"] == trial["trainer"]["max_epochs"]
