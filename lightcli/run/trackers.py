"""The run's config and record published to every configured logger, each in its own idiom.

Called once per launch on rank 0 by :class:`lightcli.run.folders.RunDirectory`, after it wrote the run folder:

- TensorBoard: the config and the run record as text (the TEXT tab), the config's values as hyperparameters
  (the HPARAMS tab), one per dotted key.
- CSV: ``config.yaml`` and ``run.yaml`` next to ``metrics.csv`` (already there when the logger writes into the
  run folder, as it does unless configured otherwise).
- MLflow: the config's values as params (dotted keys), ``config.yaml`` and ``run.yaml`` as artifacts under
  ``lightcli/``.
- Any other logger (Weights & Biases, Comet, Neptune, ...): the config's values through its
  ``log_hyperparams``.

A logger that cannot take them (no local folder, a tracking server that refuses) gets a one-line warning on
stderr; the run goes on. Tracker packages are imported by their loggers only: nothing here imports mlflow.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pytorch_lightning import Trainer
from pytorch_lightning.loggers import CSVLogger, Logger, MLFlowLogger, TensorBoardLogger

from lightcli.config.fastyaml import load_dumped

__all__ = ["flat_config", "publish"]

_FOLDER = "lightcli"
"""Where the files go among a tracker's artifacts, and the tag of TensorBoard's text."""


def flat_config(config: Any, prefix: str = "") -> dict[str, Any]:
    """The values of a config by dotted key (``system.init_args.optimizer.init_args.lr``), list items by index.

    Values are numbers, strings, true/false, or ``None``; an empty mapping or list is kept as its YAML text.
    """
    items = config.items() if isinstance(config, dict) else enumerate(config) if isinstance(config, list) else None
    if items is None or not config:
        return {prefix.rstrip("."): config if items is None else ("{}" if isinstance(config, dict) else "[]")}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flat_config(value, f"{prefix}{key}."))
    return flat


def _indented(text: str) -> str:
    """Text shown as is by TensorBoard's Markdown (a code block)."""
    return "\n".join("    " + line for line in text.splitlines())


def _tensorboard(logger: TensorBoardLogger, config: str, record: str, flat: dict[str, Any]) -> None:
    from torch.utils.tensorboard.summary import hparams

    writer = logger.experiment
    writer.add_text(f"{_FOLDER}/config", _indented(config))
    writer.add_text(f"{_FOLDER}/run", _indented(record))
    values = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flat.items()}
    for summary in hparams(values, {}):  # as SummaryWriter.add_hparams writes them, but into this run's events
        writer.file_writer.add_summary(summary)  # created by add_text
    writer.flush()


def _csv(logger: CSVLogger, run_dir: Path) -> None:
    folder = Path(logger.log_dir)
    if folder.resolve() == run_dir.resolve():
        return  # the run folder already holds them
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "run.yaml"):
        (folder / name).write_bytes((run_dir / name).read_bytes())


def _mlflow(logger: MLFlowLogger, run_dir: Path, flat: dict[str, Any]) -> None:
    logger.log_hyperparams(flat)
    for name in ("config.yaml", "run.yaml"):
        logger.experiment.log_artifact(logger.run_id, str(run_dir / name), _FOLDER)


def publish(trainer: Trainer, run_dir: Path, config: str, record: dict[str, Any]) -> list[str]:
    """Publishes the config and the run record to every logger of ``trainer``.

    Args:
        trainer: The trainer whose loggers receive them.
        run_dir: The run folder, which already holds ``config.yaml`` and ``run.yaml``.
        config: The resolved config (YAML).
        record: The run record (what ``run.yaml`` holds).

    Returns:
        The loggers that could not take them, each with why (also printed as a warning).
    """
    loggers: list[Logger] = list(trainer.loggers)
    if not loggers:
        return []
    # the config's values by key: only for the loggers that take them (CSV copies the files)
    wanted = any(not isinstance(logger, CSVLogger) for logger in loggers)
    flat = flat_config(load_dumped(config) or {}) if wanted else {}
    record_text = yaml.safe_dump(record, sort_keys=False)
    failed = []
    for logger in loggers:
        try:
            if isinstance(logger, TensorBoardLogger):
                _tensorboard(logger, config, record_text, flat)
            elif isinstance(logger, CSVLogger):
                _csv(logger, run_dir)
            elif isinstance(logger, MLFlowLogger):
                _mlflow(logger, run_dir, flat)
            else:
                logger.log_hyperparams(flat)
        except Exception as error:  # a tracker that cannot take them must not stop the run
            failed.append(f"{type(logger).__name__}: {type(error).__name__}: {error}")
            print(f"warning: the config was not published to {failed[-1]}", file=sys.stderr)
    return failed
