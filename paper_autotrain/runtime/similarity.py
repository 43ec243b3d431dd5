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


def history_members(history: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(items [m], members [B, m] float64): the sorted union of the rows' history items and each row's 0/1 indicator
    over it, from a padded history (`history`, `mask` [B, L])."""
    items, position = torch.unique(history[mask], return_inverse=True)
    members = torch.zeros(len(history), len(items), dtype=torch.float64, device=history.device)
    members[mask.nonzero(as_tuple=True)[0], position] = 1.0
    return items, members


def smoothed_attention_sums(logits: torch.Tensor, similarity: torch.Tensor, targets: torch.Tensor,
                            items: torch.Tensor, members: torch.Tensor, beta: float, alpha: float) -> torch.Tensor:
    """[B, c] (n_u^+ - [i in R_u])^-alpha * sum_j exp(f_ij) s_ij / (sum_j exp(f_ij))^beta over each row's history
    items j != i, for c target items i against the union of histories `items` [m] (sorted): `logits` f and
    `similarity` s [c, m] of every (target, history item) pair, `members` [B, m] the rows' 0/1 indicators.

    The sums over j are the rows' indicators against exp(f_ij - m_i) and exp(f_ij - m_i) s_ij, one matrix product,
    m_i the largest f_ij of target i (j != i) over the union; exp(m_i) comes back as exp((1 - beta) m_i). In float64.
    A row whose denominator underflows although it has items (f_ij more than ~700 below m_i) is NaN: the caller
    scores it otherwise. A row with no item besides i scores 0, as an empty sum."""
    self_pair = items.unsqueeze(0) == targets.unsqueeze(1)  # j == i: left out of its own estimate
    logits = logits.to(torch.float64).masked_fill(self_pair, float("-inf"))
    top = logits.max(1, keepdim=True).values if logits.shape[1] else logits.new_zeros(len(logits), 1)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    weights = torch.exp(logits - top)  # 0 at the self pair
    both = members @ torch.cat([weights, weights * similarity.to(torch.float64)]).T  # [B, 2c]
    total, weighted = both.split(len(targets), 1)
    position = torch.searchsorted(items, targets).clamp(max=max(len(items) - 1, 0))
    own = (members[:, position] * (items[position] == targets)) if len(items) else torch.zeros_like(total)
    count = members.sum(1, keepdim=True) - own  # n_u^+ - [i in R_u]
    tiny = torch.finfo(torch.float64).tiny / torch.finfo(torch.float64).eps  # below it, subnormal: underflow
    scale = count.clamp(min=1).pow(-alpha) * torch.exp((1.0 - beta) * top.T)
    scores = weighted * total.clamp(min=tiny).pow(-beta) * scale
    scores = torch.where(count > 0, scores, torch.zeros_like(scores))
    return torch.where((count > 0) & (total < tiny), torch.full_like(scores, float("nan")), scores)
