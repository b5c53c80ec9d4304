"""The resolved config and the run record reach every configured logger, each in its own idiom (real runs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from conftest import only_run_dir, tiny_config, write_config
from lightcli.run.trackers import flat_config

RECORDING_LOGGERS = '''
from pytorch_lightning.loggers.logger import Logger

PARAMS = []


class Recording(Logger):
    """Keeps what it is given: no local directory, like a remote experiment tracker."""

    name = "recording"
    version = 0
    save_dir = None

    def log_hyperparams(self, params, *args, **kwargs):
        PARAMS.append(dict(params))

    def log_metrics(self, metrics, step=None):
        pass


class Refusing(Recording):
    """A tracker whose server refuses the params."""

    def log_hyperparams(self, params, *args, **kwargs):
        if "trainer.max_epochs" in params:
            raise ConnectionError("the tracking server is down")
'''


def test_flat_config_uses_dotted_keys_and_list_indexes() -> None:
    config = {"trainer": {"max_epochs": 2, "logger": []}, "system": {"hidden": [8, 4], "opt": {}}}
    assert flat_config(config) == {
        "trainer.max_epochs": 2,
        "trainer.logger": "[]",
        "system.hidden.0": 8,
        "system.hidden.1": 4,
        "system.opt": "{}",
    }


def test_tensorboard_gets_the_config_as_text_and_hyperparameters(tiny_folder: Path, cli) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    assert cli("fit", "--config", "tiny.yaml", "--system.optimizer.init_args.lr", "0.02") == 0
    run = only_run_dir(tiny_folder)
    events = EventAccumulator(str(run))
    events.Reload()
    texts = {tag: events.Tensors(tag)[0].tensor_proto.string_val[0].decode() for tag in events.Tags()["tensors"]}
    config = texts["lightcli/config/text_summary"]
    assert "    lr: 0.02" in config  # the resolved config, shown as a code block
    assert "    command: lightcli fit --config tiny.yaml" in texts["lightcli/run/text_summary"]
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["system.init_args.optimizer.init_args.lr"].number_value == 0.02
    assert hparams["trainer.max_epochs"].number_value == 1
    assert (run / "config.yaml").is_file() and (run / "metrics.csv").is_file()  # CSV: next to its metrics


def test_a_logger_without_a_folder_gets_the_params_and_a_refusing_one_does_not_stop_the_run(
    tiny_folder: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_folder / "trackers.py").write_text(RECORDING_LOGGERS)
    loggers = [{"class_path": "trackers.Recording"}, {"class_path": "trackers.Refusing"}]
    write_config(tiny_folder / "two.yaml", tiny_config(trainer={"logger": loggers}))
    assert cli("fit", "--config", "two.yaml") == 0
    published = sys.modules["trackers"].PARAMS[0]
    assert published["trainer.max_epochs"] == 1
    assert published["system.init_args.model.class_path"] == "lightcli.MLP"
    err = capsys.readouterr().err
    assert "warning: the config was not published to Refusing: ConnectionError: the tracking server is down" in err
    assert (only_run_dir(tiny_folder) / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_mlflow_gets_params_and_the_config_and_record_as_artifacts(
    tiny_folder: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the embedded file store, no server
    uri = (tiny_folder / "mlruns").as_uri()
    logger = {"class_path": "pytorch_lightning.loggers.MLFlowLogger", "init_args": {"tracking_uri": uri}}
    write_config(tiny_folder / "ml.yaml", tiny_config(trainer={"logger": logger}))
    assert cli("fit", "--config", "ml.yaml", "--trainer.max_epochs", "2") == 0
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("lightning_logs")
    (found,) = client.search_runs([experiment.experiment_id])
    params = found.data.params
    assert params["trainer.max_epochs"] == "2"
    assert params["system.init_args.optimizer.init_args.lr"] == "0.01"
    assert sorted(a.path for a in client.list_artifacts(found.info.run_id, "lightcli")) == [
        "lightcli/config.yaml",
        "lightcli/run.yaml",
    ]
    folder = Path(client.download_artifacts(found.info.run_id, "lightcli", str(tiny_folder / "downloaded")))
    run = only_run_dir(tiny_folder)
    assert (folder / "config.yaml").read_text() == (run / "config.yaml").read_text()
    assert (
        yaml.safe_load((folder / "run.yaml").read_text())["command"]
        == "lightcli fit --config ml.yaml --trainer.max_epochs 2"
    )
