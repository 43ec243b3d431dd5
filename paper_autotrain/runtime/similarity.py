"""Item-similarity models' view of the train matrix (FISM, NAIS): each user's train items, their count, and a fast
test of whether an item is one of them (the item being estimated is left out of its own estimate)."""

from __future__ import annotations

import numpy as np
import torch


def train_pairs(train: np.ndarray) -> torch.Tensor:
    """[n, 2] (user, item) train pairs, each pair once."""
    pairs = torch.as_tensor(np.asarray(train, dtype=np.int64).reshape(-1, 2))
    return torch.unique(pairs, dim=0) if len(pairs) else pairs


def pair_keys(users: torch.Tensor, items: torch.Tensor, n_items: int) -> torch.Tensor:
    """user * n_items + item, broadcast: one integer per (user, item) pair."""
    return users * n_items + items


def in_history(train_keys: torch.Tensor, users: torch.Tensor, items: torch.Tensor, n_items: int) -> torch.Tensor:
    """1.0 where `items` is one of `users`' train items, else 0.0 (broadcast shapes); `train_keys` sorted."""
    keys = pair_keys(users, items, n_items)
    if len(train_keys) == 0:
        return torch.zeros(keys.shape, device=keys.device)
    position = torch.searchsorted(train_keys, keys).clamp(max=len(train_keys) - 1)
    return (train_keys[position] == keys).to(torch.float32)


def history_sums(table: torch.Tensor, users: torch.Tensor, items: torch.Tensor, n_users: int) -> torch.Tensor:
    """[n_users, d]: sum of `table`'s rows of each user's train items (pairs `users`, `items`), with gradient."""
    return table.new_zeros(n_users, table.shape[1]).index_add(0, users, table.index_select(0, items))


def padded_history(pairs: torch.Tensor, n_users: int) -> tuple[torch.Tensor, torch.Tensor]:
    """([n_users, L] item ids, [n_users, L] bool mask): each user's train items, padded to the longest history."""
    pairs = pairs[torch.argsort(pairs[:, 0], stable=True)]
    counts = torch.bincount(pairs[:, 0], minlength=n_users)
    position = torch.arange(len(pairs)) - (torch.cumsum(counts, 0) - counts)[pairs[:, 0]]
    width = max(1, int(counts.max()) if len(pairs) else 1)
    history = torch.zeros(n_users, width, dtype=torch.long)
    mask = torch.zeros(n_users, width, dtype=torch.bool)
    history[pairs[:, 0], position] = pairs[:, 1]
    mask[pairs[:, 0], position] = True
    return history, mask
