"""SequentialModule: batches of every training position, both losses, next-item evaluation after training."""

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from paper_autotrain.data.sequential import compute_sequences
from paper_autotrain.runtime.sequential import (
    SequenceBatches,
    SequentialModule,
    WindowBatches,
    sequence_dataloader,
    training_batches,
)


def cyclic_split(n_users=60, n_items=12, length=10, max_seq_length=4):
    """Each user walks the items in a cycle from a random start: the next item is always predictable."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(n_users):
        start = int(rng.integers(n_items))
        rows += [(f"u{user}", f"i{(start + t) % n_items:02d}", float(t)) for t in range(length)]
    return compute_sequences(pd.DataFrame(rows, columns=["user", "item", "timestamp"]), max_seq_length)


class TinyGRU(SequentialModule):
    def __init__(self, split, dim=16, **kwargs):
        super().__init__(split, **kwargs)
        self.items = nn.Embedding(self.n_items + 1, dim, padding_idx=0)
        self.gru = nn.GRU(dim, dim, batch_first=True)

    def encode_sequence(self, histories, lengths, users):
        out, _ = self.gru(self.items(histories))
        return out[torch.arange(len(lengths)), (lengths - 1).clamp(min=0)]

    def item_table(self):
        return self.items.weight


def test_batches_cover_every_training_position_and_negatives_avoid_the_target():
    split = cyclic_split()
    batches = SequenceBatches(split, batch_size=64, negative_samples=3, seed=1)
    seen = list(batches)
    assert sum(len(b["targets"]) for b in seen) == len(split.examples("train")[0]) == 60 * 7
    for batch in seen:
        assert batch["histories"].shape[1] == 4 and (batch["lengths"] >= 1).all()
        assert (batch["neg_items"] != batch["targets"].unsqueeze(1)).all()
        assert batch["neg_items"].min() >= 1 and batch["neg_items"].max() <= split.n_items


class BatchRecorder(L.LightningModule):
    """Records each training step's (user, target, length) rows, one list per epoch; learns nothing."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.epochs = []

    def on_train_epoch_start(self):
        self.epochs.append([])

    def training_step(self, batch, index):
        self.epochs[-1].append(torch.stack([batch["users"], batch["targets"], batch["lengths"]], 1))
        return (self.weight * 0).sum()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters())


def test_the_trainer_takes_every_row_once_an_epoch_partial_last_batch_new_order_each_epoch():
    """As RecBole's TrainDataLoader (shuffle, no drop_last): ceil(rows / batch) steps an epoch, the last one
    partial, every training row once, a new order each epoch (the worker's loader under Lightning's loop)."""
    from paper_autotrain.worker.batches import sequence_batches

    split = cyclic_split()  # 60 users x 7 training positions = 420 rows: 6 batches of 64 and one of 36
    config = {"model": {"loss": "ce"}, "optim": {"batch_size": 64}, "data": {"train_positions": "prefixes"}}
    recorder = BatchRecorder()
    trainer = L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0)
    trainer.fit(recorder, train_dataloaders=sequence_batches(split, config, seed=3))
    users, positions = split.examples("train")
    _, lengths, targets = split.batch(users, positions)
    every_row = np.stack([users, targets.numpy(), lengths.numpy()], 1)
    orders = []
    for batches in recorder.epochs:
        assert [len(batch) for batch in batches] == [64] * 6 + [36]
        rows = torch.cat(batches).numpy()
        assert sorted(map(tuple, rows)) == sorted(map(tuple, every_row))
        orders.append(rows)
    assert len(orders) == 2 and not np.array_equal(*orders)


@pytest.mark.parametrize("loss", ["ce", "bce", "top1"])
def test_a_gru_learns_the_cycle_and_is_scored_on_the_test_targets(loss):
    split = cyclic_split()
    L.seed_everything(0)
    model = TinyGRU(split, loss=loss, learning_rate=0.02, batch_size=64, ks=(1, 10))
    before = model.evaluate("test").mean["hit@1"]
    trainer = L.Trainer(max_epochs=15, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=sequence_dataloader(split, 64, loss, negative_samples=1))
    after = model.evaluate("test")
    assert after.mean["hit@1"] > 0.9 > before, (before, after.mean)
    assert len(after.users) == split.n_users


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="sequential loss"):
        TinyGRU(cyclic_split(), loss="focal")


class TinyCausalGRU(TinyGRU):
    """The same GRU, also read at every position: trains on windows with a loss at each one."""

    def encode_positions(self, histories, lengths, users):
        out, _ = self.gru(self.items(histories))
        return out


def varied_split(max_seq_length=6):
    """Users with 1 to 30 distinct items (some too short to evaluate), in random orders."""
    rng = np.random.default_rng(3)
    rows = [(f"u{u}", f"i{item:02d}", float(t)) for u in range(40)
            for t, item in enumerate(rng.permutation(60)[:1 + u % 30])]
    return compute_sequences(pd.DataFrame(rows, columns=["user", "item", "timestamp"]), max_seq_length)


@pytest.mark.parametrize("stride", [1, 3, 6])
def test_windows_train_every_target_once_with_a_suffix_of_its_prefix_history(stride):
    split = varied_split()
    users, inputs, lengths, targets = split.train_windows(stride)
    wanted = set(zip(*split.examples("train"), strict=True))
    seen = []
    for user, row, length, row_targets in zip(users.tolist(), inputs.numpy(), lengths.tolist(), targets.numpy(),
                                              strict=True):
        seq = split.sequence(user)
        assert (row[length:] == 0).all() and (row[:length] > 0).all()
        for j in np.flatnonzero(row_targets):
            window_history = row[:j + 1]
            # find the target's position: the window's inputs are a contiguous run of the sequence
            start = next(s for s in range(len(seq)) if (seq[s:s + length] == row[:length]).all())
            position = start + j + 1
            assert row_targets[j] == seq[position]
            prefix = seq[max(0, position - split.max_seq_length):position]
            assert (prefix[len(prefix) - len(window_history):] == window_history).all()
            assert len(window_history) >= min(position, split.max_seq_length - stride)
            seen.append((user, position))
    assert len(seen) == len(set(seen)) and set(seen) == wanted  # each training target exactly once


def test_window_inputs_and_targets_never_hold_a_validation_or_test_item():
    split = varied_split()  # each user's items are distinct, so an item names its position
    users, inputs, _, targets = split.train_windows(3)
    held_out = {int(u): set(split.sequence(u)[-2:].tolist()) for u in split.eval_users()}
    assert held_out
    for user, row, row_targets in zip(users.tolist(), inputs.numpy(), targets.numpy(), strict=True):
        fed = set(row[row > 0].tolist()) | set(row_targets[row_targets > 0].tolist())
        assert not fed & held_out.get(user, set())


def test_window_batches_hold_about_batch_size_targets_and_negatives_avoid_them():
    split = varied_split()
    batches = list(WindowBatches(split, batch_size=32, stride=3, negative_samples=2, seed=0))
    n_targets = [int((b["targets"] > 0).sum()) for b in batches]
    assert sum(n_targets) == len(split.examples("train")[0])
    assert 16 <= np.median(n_targets) <= 64
    for batch in batches:
        assert batch["neg_items"].shape == (*batch["targets"].shape, 2)
        assert (batch["neg_items"] != batch["targets"].unsqueeze(-1)).all() and batch["neg_items"].min() >= 1


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_a_gru_trained_on_windows_learns_the_cycle(loss):
    split = cyclic_split()
    L.seed_everything(0)
    model = TinyCausalGRU(split, loss=loss, learning_rate=0.02, batch_size=64, ks=(1, 10))
    config = {"model": {"loss": loss}, "optim": {"negative_samples": 1}, "data": {"train_positions": "windows"}}
    loader = sequence_dataloader(split, 64, loss, negative_samples=1, config=config)
    assert isinstance(loader.dataset.batches, WindowBatches)
    trainer = L.Trainer(max_epochs=15, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=loader)
    assert model.evaluate("test").mean["hit@1"] > 0.9


def test_windows_need_a_per_position_encoder_and_a_known_setting():
    split = cyclic_split()
    batch = next(iter(WindowBatches(split, batch_size=64, stride=2)))
    with pytest.raises(NotImplementedError, match="train_positions=prefixes"):
        TinyGRU(split).loss(batch)
    with pytest.raises(ValueError, match="train_positions"):
        training_batches(split, {"model": {"loss": "ce"}, "data": {"train_positions": "sessions"}})
