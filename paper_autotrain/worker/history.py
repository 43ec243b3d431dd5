"""Per-epoch history (train loss, valid NDCG@10, timings) collected during fit."""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from paper_autotrain.progress import epoch_line
from paper_autotrain.runtime.module import MONITOR


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite: the run stops instead of training on garbage."""


class EpochHistory(L.Callback):
    """One row per epoch: mean train loss, the monitored valid metric, train and eval seconds."""

    def __init__(self, monitor: str = MONITOR) -> None:
        self.monitor = monitor
        self.key = monitor.replace("/", "_")
        self.rows: list[dict[str, float]] = []
        self._loss_sum = 0.0
        self._loss_count = 0
        self._epoch_start = 0.0
        self._eval_start: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._loss_sum, self._loss_count = 0.0, 0
        self._epoch_start = time.perf_counter()
        self._eval_start = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            value = float(loss.detach())
            if not math.isfinite(value):  # every later step and metric would be garbage: stop, and say why
                raise NonFiniteLoss(f"the training loss became {value} at epoch {trainer.current_epoch + 1}, step "
                                    f"{batch_idx + 1}: lower the learning rate (e.g. +hparams.learning_rate=0.0001)")
            self._loss_sum += value
            self._loss_count += 1

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._eval_start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = time.perf_counter()
        train_end = self._eval_start if self._eval_start is not None else now
        metric = trainer.callback_metrics.get(self.monitor)
        self.rows.append({
            "epoch": trainer.current_epoch + 1,
            "train_loss": self._loss_sum / max(self._loss_count, 1),
            self.key: float(metric) if metric is not None else float("nan"),
            "train_s": train_end - self._epoch_start,
            "eval_s": now - train_end,
        })
        row = self.rows[-1]
        pl_module.log("train/loss", row["train_loss"], on_epoch=True)  # for the CSV logger; mean over batches
        mean_epoch_s = sum(r["train_s"] + r["eval_s"] for r in self.rows) / len(self.rows)
        # one line per epoch: in train.stderr.log, and relayed live to the terminal by the train stage
        print(epoch_line(int(row["epoch"]), trainer.max_epochs, row["train_loss"], self.monitor, row[self.key],
                         row["train_s"], row["eval_s"], mean_epoch_s), file=sys.stderr, flush=True)

    def best_epoch(self) -> int | None:
        """First epoch with the highest monitored value (ModelCheckpoint keeps the first best)."""
        key = self.key
        scored = [row for row in self.rows if row[key] == row[key]]  # drop NaN
        if not scored:
            return None
        return int(max(scored, key=lambda row: (row[key], -row["epoch"]))["epoch"])

    def write_csv(self, path: Path) -> None:
        fields = ["epoch", "train_loss", self.key, "train_s", "eval_s"]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)
