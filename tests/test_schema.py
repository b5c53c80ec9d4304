"""``lightcli schema``: the JSON Schema accepts every shipped config and rejects broken ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from jsonargparse import get_loader

from conftest import REPO, subprocess_env, tiny_config, write_config

CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))


def read(path: Path) -> Any:
    """A config as lightcli reads it (YAML 1.2 numbers such as 1e-3 are floats)."""
    return get_loader("yaml")(path.read_text())


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The fit schema, written by a real ``lightcli schema`` process in an empty directory."""
    workdir = tmp_path_factory.mktemp("schema")
    result = subprocess.run(
        [sys.executable, "-m", "lightcli", "schema", "fit", "-o", "fit.schema.json"],
        cwd=workdir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote fit.schema.json (")
    assert result.stderr == ""
    return json.loads((workdir / "fit.schema.json").read_text())


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def problems(validator: jsonschema.Draft7Validator, config: Any) -> set[tuple[str, str]]:
    """(key path, message) of the innermost errors: what an editor underlines."""

    def leaves(error: jsonschema.ValidationError) -> Any:
        if error.context:
            for child in error.context:
                yield from leaves(child)
        else:
            yield error

    found = set()
    for error in validator.iter_errors(config):
        for leaf in leaves(error):
            found.add((".".join(str(p) for p in leaf.absolute_path), leaf.message))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_config_validates(validator: jsonschema.Draft7Validator, path: Path) -> None:
    assert not list(validator.iter_errors(read(path)))


def test_the_test_suite_config_validates(validator: jsonschema.Draft7Validator) -> None:
    assert not list(validator.iter_errors(tiny_config()))


def test_a_fully_resolved_config_validates(
    validator: jsonschema.Draft7Validator, cli, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What ``--print_config`` writes (and runs save as config.yaml): every default, class_path + init_args."""
    write_config(workdir / "tiny.yaml", tiny_config())
    assert cli("fit", "--config", "tiny.yaml", "--print_config") == 0
    printed = get_loader("yaml")(capsys.readouterr().out)
    assert printed["system"]["class_path"] == "lightcli.System"
    assert not list(validator.iter_errors(printed))


def test_schema_lists_classes_with_their_init_args(schema: dict[str, Any]) -> None:
    adam = schema["definitions"]["args:torch.optim.Adam:skip1"]  # the optimizer gets the parameters
    assert "params" not in adam["properties"]
    assert adam["properties"]["lr"]["default"] == 0.001
    assert adam["additionalProperties"] is False
    accuracy = schema["definitions"]["args:torchmetrics.classification.MulticlassAccuracy"]
    assert accuracy["properties"]["average"]["anyOf"][0]["enum"] == ["micro", "macro", "weighted", "none"]
    assert "Integer specifying the number of classes" in accuracy["properties"]["num_classes"]["description"]
    assert schema["properties"]["trainer"]["properties"]["max_epochs"]["anyOf"] == [
        {"type": "integer"},
        {"type": "null"},
    ]


def test_unknown_key_is_rejected(validator: jsonschema.Draft7Validator) -> None:
    config = tiny_config(trainer={"max_epoch": 3})
    assert ("trainer", "Additional properties are not allowed ('max_epoch' was unexpected)") in problems(
        validator, config
    )


def test_unknown_init_arg_is_rejected(validator: jsonschema.Draft7Validator) -> None:
    config = tiny_config()
    config["system"]["metrics"]["val"]["acc"]["init_args"]["num_class"] = 10
    assert (
        "system.metrics.val.acc.init_args",
        "Additional properties are not allowed ('num_class' was unexpected)",
    ) in problems(validator, config)


def test_wrong_type_is_rejected(validator: jsonschema.Draft7Validator) -> None:
    config = tiny_config(trainer={"max_epochs": "three"})
    config["system"]["optimizer"]["init_args"]["lr"] = "fast"
    found = problems(validator, config)
    assert ("trainer.max_epochs", "'three' is not of type 'integer'") in found
    assert ("system.optimizer.init_args.lr", "'fast' is not of type 'number'") in found


def test_unknown_class_is_rejected(validator: jsonschema.Draft7Validator) -> None:
    config = tiny_config()
    config["system"]["model"]["class_path"] = "lightcli.MLPX"
    found = {key: message for key, message in problems(validator, config) if key == "system.model.class_path"}
    assert found["system.model.class_path"].startswith("'lightcli.MLPX' is not one of ['lightcli.MLP', ")


def test_class_of_the_wrong_kind_is_rejected(validator: jsonschema.Draft7Validator) -> None:
    config = tiny_config()
    config["system"]["optimizer"]["class_path"] = "torch.nn.Linear"
    keys = {key for key, _ in problems(validator, config)}
    assert "system.optimizer.class_path" in keys


def test_project_modules_in_the_working_directory_are_covered_with_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightcli.cli import main

    (tmp_path / "mynets.py").write_text(
        "from torch import nn\n\n\n"
        "class TinyNet(nn.Module):\n"
        '    """A tiny network.\n\n    Args:\n        width: Hidden width.\n    """\n\n'
        "    def __init__(self, width: int = 8) -> None:\n"
        "        super().__init__()\n"
        "        self.layer = nn.Linear(64, width)\n"
    )
    (tmp_path / "train.py").write_text("open('imported.txt', 'w').write('a script ran')\n")  # a script: not imported
    monkeypatch.chdir(tmp_path)
    assert main(["schema", "--here", "-o", "schema.json"]) == 0  # asked for: the working directory's modules
    assert not (tmp_path / "imported.txt").exists()
    validator = jsonschema.Draft7Validator(json.loads((tmp_path / "schema.json").read_text()))
    config = tiny_config()
    config["system"]["model"] = {"class_path": "mynets.TinyNet", "init_args": {"width": 16}}
    assert not list(validator.iter_errors(config))
    config["system"]["model"]["init_args"]["width"] = "wide"
    assert ("system.model.init_args.width", "'wide' is not of type 'integer'") in problems(validator, config)


def test_output_into_a_missing_directory_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lightcli.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["schema", "-o", "nowhere/schema.json"]) == 2
    assert capsys.readouterr().err == (
        "--output: expected a file in an existing directory, got 'nowhere/schema.json'. Create 'nowhere' first.\n"
    )
    assert list(tmp_path.iterdir()) == []
