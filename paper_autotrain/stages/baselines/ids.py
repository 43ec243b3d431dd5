"""Our split's tokens as RecBole's internal ids (both baselines scorers map users and items this way)."""

from __future__ import annotations

import numpy as np


def token_ids(dataset, field: str, tokens: np.ndarray, strict: bool) -> np.ndarray:
    """RecBole's internal id of each of our tokens (-1 for a token RecBole does not know)."""
    mapping = dataset.field2token_id[field]
    ids = np.array([mapping.get(str(t), -1) for t in tokens], dtype=np.int64)
    if strict and (ids < 0).any():
        missing = [str(t) for t in np.asarray(tokens)[ids < 0][:3]]
        raise ValueError(f"{int((ids < 0).sum())} {field} token(s) of the split are unknown to RecBole, "
                         f"e.g. {missing}")
    return ids
