"""What a run that goes wrong says and leaves, beside the corpus (tests/test_runtime_corpus.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import only_run_dir, tiny_config, write_config
from lightcli.cli import main
from lightcli.config.safeyaml import load_file
from lightcli.core.logged import monitor_problems
from lightcli.run.failures import TRACEBACK_FILE

_NAN_LOSS = """
import torch


class NanAfter(torch.nn.Module):
    def __init__(self, after: int = 0):
        super().__init__()
        self.after = after
        self.calls = 0

    def forward(self, pred, target):
        self.calls += 1
        loss = torch.nn.functional.cross_entropy(pred, target)
        return loss * float("nan") if self.calls > self.after and self.training else loss
"""


def test_stop_on_nan_false_trains_on(tiny_folder: Path) -> None:
    (tiny_folder / "nanloss.py").write_text(_NAN_LOSS)
    code = main(
        ["fit", "--config", "tiny.yaml", "--system.criterion", "nanloss.NanAfter", "--system.stop_on_nan", "false"]
    )
    assert code == 0
    assert list(only_run_dir(tiny_folder).glob("checkpoints/*.ckpt"))


def test_the_traceback_is_printed_with_the_variable(
    tiny_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_folder / "nanloss.py").write_text(_NAN_LOSS)
    monkeypatch.setenv("LIGHTCLI_TRACEBACK", "1")
    args = ["fit", "--config", "tiny.yaml", "--trainer.max_epochs", "2", "--system.criterion", "nanloss.NanAfter"]
    code = main([*args, "--system.criterion.init_args.after", "8"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("error: system.criterion: FloatingPointError: the loss is nan")
    saved = (only_run_dir(tiny_folder) / TRACEBACK_FILE).read_text()
    assert "FloatingPointError" in saved


def test_a_callback_written_for_lightning_pytorch_works(
    tiny_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    (tiny_folder / "lcb.py").write_text(
        "from lightning.pytorch.callbacks import Callback\n\n\n"
        "class Hello(Callback):\n    def on_fit_start(self, trainer, pl_module):\n        print('hello')\n"
    )
    monkeypatch.delitem(sys.modules, "lcb", raising=False)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # the alias is undone after the test
    request.addfinalizer(
        lambda: [sys.modules.pop(m) for m in list(sys.modules) if m == "lightning" or m.startswith("lightning.")]
    )
    callbacks = [
        {"class_path": "lcb.Hello"},
        {"class_path": "lightning.pytorch.callbacks.EarlyStopping", "init_args": {"monitor": "val/loss"}},
    ]
    write_config(tiny_folder / "tiny.yaml", tiny_config(trainer={**tiny_config()["trainer"], "callbacks": callbacks}))
    assert main(["fit", "--config", "tiny.yaml"]) == 0
    assert "hello" in capsys.readouterr().out
    import lightning.pytorch
    import pytorch_lightning

    assert lightning.pytorch.callbacks.EarlyStopping is pytorch_lightning.callbacks.EarlyStopping


def test_a_multitask_metric_is_logged_per_key() -> None:
    import torch
    from torchmetrics import MetricCollection
    from torchmetrics.classification import MulticlassAccuracy
    from torchmetrics.wrappers import MultitaskWrapper

    from lightcli.core.steplog import _flatten, _updated

    tasks = MultitaskWrapper({"a": MulticlassAccuracy(num_classes=3), "b": MulticlassAccuracy(num_classes=3)})
    collection = MetricCollection({"tasks": tasks}, compute_groups=False)
    assert not _updated(collection)
    pred, target = torch.eye(3)[[0, 1, 2, 0]], torch.tensor([0, 1, 2, 1])
    collection.update({"a": pred, "b": pred}, {"a": target, "b": target})
    assert _updated(collection)  # MultitaskWrapper itself never sets update_called: its tasks do
    logged = [(k, float(v)) for k, v in _flatten("val/tasks", {"a": torch.tensor(0.5), "b": torch.tensor([1.0, 0.0])})]
    assert logged == [("val/tasks/a", 0.5), ("val/tasks/b/0", 1.0), ("val/tasks/b/1", 0.0)]


def test_freezers_with_one_schedule_may_share_parameters(tiny_folder: Path) -> None:
    freezers = [
        {"class_path": "lightcli.Freezer", "init_args": {"prefixes": ["1"], "until_epoch": 1}},
        {"class_path": "lightcli.Freezer", "init_args": {"names": ["1.weight"], "until_epoch": 1}},
    ]
    write_config(tiny_folder / "tiny.yaml", tiny_config(trainer={**tiny_config()["trainer"], "callbacks": freezers}))
    assert main(["fit", "--config", "tiny.yaml"]) == 0


def test_yaml_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("base: &b {lr: 1, wd: 2}\nother:\n  <<: *b\n  lr: 3\n")
    content, problem = load_file(str(tmp_path / "m.yaml"))
    assert problem is None
    assert content["other"] == {"lr": 3, "wd": 2}


def test_names_known_only_at_run_time_are_accepted() -> None:
    from jsonargparse import Namespace

    config = Namespace(
        trainer=Namespace(
            callbacks=[
                Namespace(
                    class_path="pytorch_lightning.callbacks.ModelCheckpoint",
                    init_args=Namespace(monitor="val/loss/dice", filename="{epoch}-{val/acc/3:.2f}"),
                )
            ]
        ),
        system=Namespace(
            class_path="lightcli.System",
            init_args=Namespace(
                criterion=Namespace(class_path="torch.nn.CrossEntropyLoss"),
                dataloaders=Namespace(train=Namespace(), val=Namespace()),
                metrics=Namespace(val={"acc": Namespace(class_path="x.Acc")}),
                scheduler=None,
            ),
        ),
    )
    assert monitor_problems(config, "fit") == []
    config.trainer.callbacks[0].class_path = "mypkg.LogsItsOwn"  # a callback of the user's own may log anything
    config.trainer.callbacks[0].init_args.monitor = "anything"
    assert monitor_problems(config, "fit") == []


def test_a_module_importing_lightning_pytorch_is_refused_with_the_fix(
    tiny_folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tiny_folder / "lcb2.py").write_text(
        "from lightning.pytorch.callbacks import Callback\n\n\nclass Hello(Callback):\n    pass\n"
    )
    monkeypatch.delitem(sys.modules, "lcb2", raising=False)
    if any(type(f).__name__ == "_LightningAlias" for f in sys.meta_path):
        pytest.skip("lightning.pytorch is aliased in this process")
    callbacks = [{"class_path": "lcb2.Hello"}]
    write_config(tiny_folder / "tiny.yaml", tiny_config(trainer={**tiny_config()["trainer"], "callbacks": callbacks}))
    assert main(["fit", "--config", "tiny.yaml"]) == 2
    assert capsys.readouterr().err == (
        "error: trainer.callbacks[0].class_path: expected an importable class path, got 'lcb2.Hello': importing lcb2"
        " failed: no module named 'lightning' (in tiny.yaml:12). lightcli runs on pytorch_lightning: write"
        " `from pytorch_lightning...` for `from lightning.pytorch...` there, or name a lightning.pytorch class in the"
        " config (then lightning.pytorch is pytorch_lightning).\n"
    )
    assert not (tiny_folder / "runs").exists()
