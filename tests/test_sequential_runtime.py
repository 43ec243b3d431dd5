"""SequentialModule: batches of every training position, both losses, next-item evaluation after training."""

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from paper_autotrain.data.sequential import compute_sequences
from paper_autotrain.runtime.sequential import SequenceBatches, SequentialModule, sequence_dataloader


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


@pytest.mark.parametrize("loss", ["ce", "bce"])
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
        TinyGRU(cyclic_split(), loss="bpr")
