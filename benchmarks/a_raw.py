"""Contender A: a raw PyTorch loop doing the same work as the others (no Lightning).

Run by ``benchmarks/run.py``; alone: ``PYTHONPATH=. python benchmarks/a_raw.py``.
"""

from __future__ import annotations

import csv
import os

import torch
from torchmetrics.classification import MulticlassAccuracy

from benchmarks.workload import EPOCHS, LOG_EVERY_N_STEPS, LR, NUM_CLASSES, Probe, loader, mlp


def main() -> None:
    torch.manual_seed(0)
    probe = Probe()
    model = mlp()
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    train_acc = MulticlassAccuracy(num_classes=NUM_CLASSES, average="micro")
    val_acc = MulticlassAccuracy(num_classes=NUM_CLASSES, average="micro")
    train_data, val_data = loader("train"), loader("val")
    os.makedirs("logs", exist_ok=True)
    with open("logs/metrics.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["epoch", "step", "train/loss_step", "train/acc_step", "train/loss", "train/acc", "val/loss", "val/acc"]
        )
        step = 0
        probe.on_fit_start()
        for epoch in range(EPOCHS):
            probe.on_epoch_start()
            model.train()
            loss_sum, count = torch.zeros(()), 0
            for x, y in train_data:
                probe.on_step_start()
                logits = model(x)
                loss = criterion(logits, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * len(y)
                count += len(y)
                if (step + 1) % LOG_EVERY_N_STEPS == 0:
                    batch_acc = train_acc(logits.detach(), y)
                    writer.writerow([epoch, step, loss.item(), batch_acc.item(), "", "", "", ""])
                else:
                    train_acc.update(logits.detach(), y)
                step += 1
            train_loss, train_value = (loss_sum / count).item(), train_acc.compute().item()
            train_acc.reset()
            model.eval()
            val_sum, val_count = torch.zeros(()), 0
            with torch.no_grad():
                for x, y in val_data:
                    logits = model(x)
                    val_sum += criterion(logits, y) * len(y)
                    val_count += len(y)
                    val_acc.update(logits, y)
            val_loss, val_value = (val_sum / val_count).item(), val_acc.compute().item()
            val_acc.reset()
            writer.writerow([epoch, step - 1, "", "", train_loss, train_value, val_loss, val_value])
        file.flush()
    probe.on_fit_end(metrics={"train/acc": train_value, "val/acc": val_value, "val/loss": val_loss})


if __name__ == "__main__":
    main()
