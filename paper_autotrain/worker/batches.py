"""Each data regime's training batches behind one signature, as the regime table (paper_autotrain/regimes.py)
names them: `(split, config, seed) -> DataLoader` for an epoch, `(split, config, size) -> batch` for the probe.

The values come from config.yaml: optim.batch_size, optim.negative_samples and model.loss (which decides how
many positives a batch of pairs holds, as RecBole counts it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader

from paper_autotrain.data.ctr import CTRSplit
from paper_autotrain.data.sequential import SequenceSplit
from paper_autotrain.data.split import SplitData
from paper_autotrain.runtime.autoencoder import UserRowBatches, user_row_dataloader
from paper_autotrain.runtime.ctr import ctr_batch, ctr_dataloader
from paper_autotrain.runtime.data import (
    TrainBatches,
    UserBatches,
    positives_per_batch,
    train_dataloader,
    user_batch_dataloader,
)
from paper_autotrain.runtime.sequential import sequence_dataloader, training_batches

Batch = dict[str, torch.Tensor]
BATCH_SIZE, LOSS, NEGATIVES = 2048, "bpr", 1  # when config.yaml leaves them out


def batch_size(config: Mapping[str, Any]) -> int:
    return int((config.get("optim") or {}).get("batch_size", BATCH_SIZE))


def negatives(config: Mapping[str, Any]) -> int:
    return int((config.get("optim") or {}).get("negative_samples", NEGATIVES))


def loss_name(config: Mapping[str, Any]) -> str:
    return str(config["model"].get("loss", LOSS))


# --- an epoch's batches (worker/train.py) ---------------------------------------------------------------

def pair_batches(split: SplitData, config: Mapping[str, Any], seed: int) -> DataLoader:
    """Top-k: train interactions with sampled negatives, `batch_size` counted as RecBole counts it."""
    return train_dataloader(split.train, split.n_items, batch_size(config), loss=loss_name(config),
                            negative_samples=negatives(config), seed=seed)


def user_pair_batches(split: SplitData, config: Mapping[str, Any], seed: int) -> DataLoader:
    """ENMF's user-based batches: `batch_size` users a batch, each with all its train pairs."""
    return user_batch_dataloader(split.matrix("train"), batch_size(config), seed)


def row_axis(config: Mapping[str, Any]) -> str:
    """Whose rows an autoencoder trains on: "users", or "items" (item_row_input's row_axis in config.yaml)."""
    return str((config.get("model") or {}).get("row_axis", "users"))


def user_row_batches(split: SplitData, config: Mapping[str, Any], seed: int) -> DataLoader:
    """Autoencoders: `batch_size` users' training rows a batch (items' columns for item-based models)."""
    return user_row_dataloader(split, batch_size(config), seed, row_axis(config))


def sequence_batches(split: SequenceSplit, config: Mapping[str, Any], seed: int) -> DataLoader:
    """Sequences: the positions (prefixes or windows) config.yaml's data section asks for."""
    return sequence_dataloader(split, batch_size(config), loss_name(config), negatives(config), seed,
                               config=dict(config))


def ctr_row_batches(split: CTRSplit, config: Mapping[str, Any], seed: int) -> DataLoader:
    """Context: `batch_size` labelled training rows a batch."""
    return ctr_dataloader(split, batch_size(config), seed)


# --- one small batch (worker/probe.py) ------------------------------------------------------------------

def first_pair_batch(split: SplitData, config: Mapping[str, Any], size: int) -> Batch:
    """The first batch of `size` train interactions, with negatives sampled as in training."""
    k = negatives(config)
    per_batch = positives_per_batch(int((config.get("optim") or {}).get("batch_size", size)), loss_name(config), k)
    positives = min(size, per_batch, len(split.train))
    return next(iter(TrainBatches(split.train, split.n_items, max(positives, 1), k, 0)))


def first_user_rows(split: SplitData, config: Mapping[str, Any], size: int) -> Batch:
    """The first `size` users' training rows (items' columns for item-based models)."""
    return next(iter(UserRowBatches(split, size, axis=row_axis(config))))


def first_user_pairs(split: SplitData, config: Mapping[str, Any], size: int) -> Batch:
    """The first `size` users with a train item, each with all its train pairs."""
    batches = UserBatches(split.matrix("train"), size)
    return batches.batch(batches.row_users[:max(size, 1)])


def first_sequence_positions(split: SequenceSplit, config: Mapping[str, Any], size: int) -> Batch:
    """The first `size` training positions, with negatives when the loss samples them."""
    return next(iter(training_batches(split, dict(config), size, seed=0)))


def first_ctr_rows(split: CTRSplit, config: Mapping[str, Any], size: int) -> Batch:
    """The first `size` labelled training rows."""
    return ctr_batch(split, "train", slice(0, min(size, split.n_rows("train"))))
