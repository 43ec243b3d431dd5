"""The items' categorical features in the sequential regime (SASRecF, FDSA): per field an embedding of each item's
feature ids, a multi-valued field (a movie's genres) pooled over its values, looked up for the items of a history."""

from __future__ import annotations

import torch
from torch import nn

from paper_autotrain.data.sequential import SequenceSplit

POOLING = ("sum", "mean", "max")


class ItemFeatureEmbedding(nn.Module):
    """[B, L] item ids -> [B, L, F, d]: for each of the split's F item feature fields, the embedding of the item's
    value (a token field) or of its values pooled by sum, mean or max (a multi-valued field, padding left out);
    padding items and missing values are zero vectors."""

    def __init__(self, split: SequenceSplit, dim: int, pooling: str = "sum") -> None:
        super().__init__()
        if not split.item_features:
            raise ValueError("this model reads the items' features, and the split has none: the dataset needs a "
                             ".item file holding the fields of dataset.item_features (ML-100K: class, release_year)")
        if pooling not in POOLING:
            raise ValueError(f"feature pooling must be one of {POOLING}, got {pooling!r}")
        self.fields = tuple(sorted(split.item_features))
        self.pooling = pooling
        for index, name in enumerate(self.fields):
            table = torch.as_tensor(split.item_features[name], dtype=torch.long)
            self.register_buffer(f"ids_{index}", table, persistent=False)
        self.embeddings = nn.ModuleList(
            nn.Embedding(int(split.item_features[name].max()) + 1, dim, padding_idx=0) for name in self.fields)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        pooled = []
        for index, embedding in enumerate(self.embeddings):
            ids = getattr(self, f"ids_{index}")[items]  # [B, L, values]
            vectors = embedding(ids) * (ids > 0).unsqueeze(-1)  # padding values left out (whatever its row holds)
            if self.pooling == "max":
                vectors = vectors.masked_fill((ids == 0).unsqueeze(-1), float("-inf")).amax(dim=-2)
                pooled.append(torch.nan_to_num(vectors, neginf=0.0))
                continue
            total = vectors.sum(dim=-2)
            if self.pooling == "mean":
                total = total / (ids > 0).sum(dim=-1, keepdim=True).clamp(min=1)
            pooled.append(total)
        return torch.stack(pooled, dim=-2)
