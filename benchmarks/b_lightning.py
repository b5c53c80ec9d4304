"""Contender B: a hand-written LightningModule and a Trainer, configured in Python.

Run by ``benchmarks/run.py``; alone: ``PYTHONPATH=. python benchmarks/b_lightning.py``.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import CSVLogger

from benchmarks.workload import EPOCHS, HandWritten, SyntheticDataModule, Timing


def main() -> None:
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        logger=CSVLogger("logs"),
        callbacks=[Timing()],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(HandWritten(), datamodule=SyntheticDataModule())


if __name__ == "__main__":
    main()
