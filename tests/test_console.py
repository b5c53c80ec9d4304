"""The console: quiet library output, the progress bar's loss, the metrics table."""

from __future__ import annotations

import logging
import warnings

import torch

from lightcli.run.console import metrics_table, quiet


def test_quiet_hides_library_noise_and_restores_everything() -> None:
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    before = logger.level
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with quiet():
            assert logger.level == logging.WARNING
            warnings.warn("The 'train_dataloader' does not have many workers which may be a bottleneck.", stacklevel=1)
            warnings.warn("your data has NaNs", UserWarning, stacklevel=1)
        assert logger.level == before
    assert [str(w.message) for w in seen] == ["your data has NaNs"]


def test_metrics_table_is_sorted_and_aligned() -> None:
    table = metrics_table({"val/acc": torch.tensor(0.91234), "epoch": 3, "train/loss": 0.5}, title="final metrics")
    assert table.splitlines() == [
        "------------------------",
        "  final metrics |  value",
        "------------------------",
        "  train/loss    | 0.5000",
        "  val/acc       | 0.9123",
        "------------------------",
    ]
    assert metrics_table({}) == ""
