"""Contender C: plain LightningCLI with the hand-written typed LightningModule.

Run by ``benchmarks/run.py``; alone: ``PYTHONPATH=. python benchmarks/c_cli.py fit --config benchmarks/c_cli.yaml``.
"""

from __future__ import annotations

from pytorch_lightning.cli import LightningCLI

from benchmarks.workload import HandWritten, SyntheticDataModule

if __name__ == "__main__":
    LightningCLI(HandWritten, SyntheticDataModule)
