"""Losses and optimisers the generated models name."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad}
FUSED_OPTIMIZERS = ("adam", "sgd", "adagrad")  # torch has fused CPU and CUDA kernels for these


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(s_pos - s_neg), mean over every (positive, negative) pair.

    `pos_scores` is [B], `neg_scores` [B, k]; logsigmoid keeps it stable for large margins.
    """
    return -F.logsigmoid(pos_scores.unsqueeze(-1) - neg_scores).mean()


def bce_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> torch.Tensor:
    """Pointwise log loss: positives labelled 1, sampled negatives 0, mean over all of them."""
    logits = torch.cat([pos_logits.reshape(-1), neg_logits.reshape(-1)])
    labels = torch.cat([torch.ones_like(pos_logits.reshape(-1)), torch.zeros_like(neg_logits.reshape(-1))])
    return F.binary_cross_entropy_with_logits(logits, labels)


def ccl_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, margin: float,
             negative_weight: float) -> torch.Tensor:
    """SimpleX's cosine contrastive loss: (1 - s_pos) + negative_weight * mean_j max(0, s_neg_j - margin), mean over
    the batch. `pos_scores` is [B] and `neg_scores` [B, k], both cosine similarities."""
    return ((1.0 - pos_scores) + negative_weight * torch.relu(neg_scores - margin).mean(-1)).mean()


def squared_norm_penalty(rows: Iterable[torch.Tensor], batch_size: int) -> torch.Tensor:
    """(sum of ||e||^2 over the given embedding rows) / 2 / batch_size (LightGCN's L2 term)."""
    total = sum(row.pow(2).sum() for row in rows)
    return torch.as_tensor(total) / 2.0 / max(batch_size, 1)


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float,
                   weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The optimiser the paper names (adam, sgd or adagrad); weight decay where the paper's L2 lives there."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    params = list(params)
    # the fused kernel runs the same update as one pass over each tensor (not one op per term): several
    # times faster on small models, where the optimiser step is a large share of a training step
    fused = {"fused": True} if key in FUSED_OPTIMIZERS and all(p.dtype.is_floating_point for p in params) else {}
    return OPTIMIZERS[key](params, lr=lr, weight_decay=weight_decay, **fused)
