"""Config files and --key value overrides merged into one tree, each key remembering where it was set."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightcli.config.safeyaml import load_file
from lightcli.config.sources import COMMAND_LINE, read_sources

MODEL = "system:\n  model:\n    class_path: lightcli.MLP\n    init_args: {in_features: 64, out_features: 10}\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("trainer:\n  max_epochs: 3\n" + MODEL)
    (tmp_path / "b.yaml").write_text("system:\n  model:\n    init_args: {hidden: [8]}\n")
    return tmp_path


def test_later_sources_win_and_every_key_keeps_its_origin(folder: Path) -> None:
    sources = read_sources(
        ["--config", "a.yaml", "-c", "b.yaml", "--trainer.max_epochs", "5", "--system.optimizer.init_args.lr", "0.1"]
    )
    assert sources.problems == []
    assert sources.files == ["a.yaml", "b.yaml"]
    assert sources.tree == {
        "trainer": {"max_epochs": 5},
        "system": {
            "model": {
                "class_path": "lightcli.MLP",
                "init_args": {"in_features": 64, "out_features": 10, "hidden": [8]},
            },
            "optimizer": {"init_args": {"lr": 0.1}},
        },
    }
    assert sources.origin("system.model.class_path") == "a.yaml:5"  # file and line
    assert sources.origin("system.model.init_args.in_features") == "a.yaml:6"
    assert sources.origin("system.model.init_args.hidden[0]") == "b.yaml:3"  # a list item: the list's origin
    assert sources.origin("trainer.max_epochs") == COMMAND_LINE
    assert sources.origin("system.optimizer.init_args.lr") == COMMAND_LINE
    assert sources.origin("data") is None


def test_another_class_drops_the_init_args_of_the_old_one(folder: Path) -> None:
    (folder / "linear.yaml").write_text("system:\n  model:\n    class_path: torch.nn.Linear\n")
    from_file = read_sources(["--config", "a.yaml", "--config", "linear.yaml"])
    assert from_file.tree["system"]["model"] == {"class_path": "torch.nn.Linear"}
    from_command_line = read_sources(["--config", "a.yaml", "--system.model", "torch.nn.Linear"])
    assert from_command_line.tree["system"]["model"] == {"class_path": "torch.nn.Linear"}
    assert from_command_line.origin("system.model.class_path") == COMMAND_LINE
    same_class = read_sources(["--config", "a.yaml", "--system.model", "lightcli.MLP"])
    assert same_class.tree["system"]["model"]["init_args"] == {"in_features": 64, "out_features": 10}


def test_a_yaml_file_as_a_value_is_read_and_named_as_the_origin(folder: Path) -> None:
    (folder / "adam.yaml").write_text("class_path: torch.optim.Adam\ninit_args: {lr: 0.01}\n")
    sources = read_sources(["--config", "a.yaml", "--system.optimizer=adam.yaml"])
    assert sources.tree["system"]["optimizer"] == {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}}
    assert sources.origin("system.optimizer.init_args.lr") == "adam.yaml:2"
    assert sources.origin("system.optimizer.class_path") == "adam.yaml:1"


def test_a_class_in_a_file_named_inside_a_config_is_read_and_a_string_naming_a_file_is_kept(folder: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "adam.yaml").write_text("class_path: torch.optim.Adam\ninit_args: {lr: 0.01}\n")
    (folder / "sub" / "labels.yaml").write_text("cat: 0\ndog: 1\n")
    (folder / "sub" / "c.yaml").write_text(
        "system:\n  optimizer: adam.yaml\n"  # relative to sub/, as jsonargparse reads it
        "trainer:\n  logger:\n    class_path: pytorch_lightning.loggers.CSVLogger\n"
        "    init_args: {save_dir: runs, name: labels.yaml}\n"  # a string argument that names a file
    )
    sources = read_sources(["--config", "a.yaml", "--config", "sub/c.yaml"])
    assert sources.problems == []
    assert sources.tree["system"]["optimizer"] == {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}}
    assert sources.origin("system.optimizer.init_args.lr") == "sub/adam.yaml:2"
    assert sources.tree["trainer"]["logger"]["init_args"]["name"] == "labels.yaml"
    assert sources.origin("trainer.logger.init_args.name") == "sub/c.yaml:6"


def test_a_broken_yaml_value_file_is_named_by_its_key(folder: Path) -> None:
    (folder / "adam.yaml").write_text("init_args: {lr: 0.01\n")
    sources = read_sources(["--system.optimizer", "adam.yaml"])
    assert [str(p) for p in sources.problems] == [
        "system.optimizer: expected valid YAML, got a syntax error in adam.yaml at line 2, column 1: "
        "expected ',' or '}', but got '<stream end>'. Fix the YAML there (check indentation, brackets and quotes)."
    ]


def test_command_line_mistakes_are_all_collected(folder: Path) -> None:
    sources = read_sources(["a.yaml", "--trainer.max_epochs", "--trainer.callbacks+=lightcli.Freezer", "7"])
    assert [str(p) for p in sources.problems] == [
        "'a.yaml': expected an option such as --config FILE or --key value, got a bare argument "
        "(on the command line). Write --config a.yaml to read a config file.",
        "trainer.max_epochs: expected a value after --trainer.max_epochs, got nothing (on the command line). "
        "Write --trainer.max_epochs VALUE.",
        "'7': expected an option such as --config FILE or --key value, got a bare argument (on the command line). "
        "Start every key with --, e.g. --trainer.max_epochs 5.",
    ]
    assert sources.skipped == {"trainer.callbacks"}  # appended values are left to the parser


def test_a_missing_file_gets_the_closest_config_in_its_folder(folder: Path) -> None:
    (folder / "configs").mkdir()
    (folder / "configs" / "digits.yaml").write_text(MODEL)
    content, problem = load_file("configs/digit.yaml")
    assert content is None
    assert str(problem) == (
        f"--config: expected an existing YAML file, got 'configs/digit.yaml' (no such file, looked in "
        f"{folder.resolve() / 'configs'}). Check the path. Did you mean configs/digits.yaml?"
    )
