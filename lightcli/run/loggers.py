"""lightcli's default TensorBoard logger: Lightning's, with a signature that needs no TensorBoard to read."""

from __future__ import annotations

from pathlib import Path

from pytorch_lightning.loggers import TensorBoardLogger as _LightningTensorBoardLogger

__all__ = ["TensorBoardLogger"]


class TensorBoardLogger(_LightningTensorBoardLogger):
    """Logs to TensorBoard event files in the run directory (Lightning's ``TensorBoardLogger``).

    The same logger, minus the ``**kwargs`` Lightning passes on to TensorBoard's ``SummaryWriter``:
    reading those means importing TensorBoard (about a second) whenever a config is checked, even
    one that replaces this default logger. TensorBoard is imported when the logger first writes.
    For ``SummaryWriter`` options, use ``pytorch_lightning.loggers.TensorBoardLogger``.

    Args:
        save_dir: Directory of the logs (lightcli puts them in the run directory).
        name: Experiment name (lightcli: the run's name).
        version: Experiment version (lightcli: the run's ``version_<n>``).
        log_graph: Add the model's computational graph to TensorBoard.
        default_hp_metric: Log a placeholder ``hp_metric`` with the hyperparameters.
        prefix: A string put at the beginning of every metric key.
        sub_dir: A sub-directory of the log directory for the event files.
    """

    def __init__(
        self,
        save_dir: str | Path,
        name: str | None = "lightning_logs",
        version: int | str | None = None,
        log_graph: bool = False,
        default_hp_metric: bool = True,
        prefix: str = "",
        sub_dir: str | Path | None = None,
    ) -> None:
        super().__init__(save_dir, name, version, log_graph, default_hp_metric, prefix, sub_dir)
