"""Each data regime's shapes gate (the probe's second gate), as the regime table (paper_autotrain/regimes.py)
names them: `(model, batch) -> detail line`, ValueError on a non-finite loss or a score of the wrong shape."""

from __future__ import annotations

import torch

from paper_autotrain.runtime.autoencoder import AutoEncoderModule
from paper_autotrain.runtime.ctr import CTRModule
from paper_autotrain.runtime.module import TopKModule
from paper_autotrain.runtime.sequential import SequentialModule

Batch = dict[str, torch.Tensor]


def finite_training_loss(model: torch.nn.Module, batch: Batch) -> torch.Tensor:
    """The training loss on `batch`, which must be a finite scalar; leaves the model in eval mode."""
    model.train()
    loss = model.loss(batch)
    if loss.dim() != 0 or not torch.isfinite(loss):
        raise ValueError(f"loss must be a finite scalar, got shape {tuple(loss.shape)} value {loss}")
    model.eval()
    return loss


def check_full_sort(scores: torch.Tensor, expected: tuple[int, int]) -> None:
    if tuple(scores.shape) != expected:
        raise ValueError(f"full_sort_scores gave shape {tuple(scores.shape)}, expected {expected}")
    if not torch.isfinite(scores).all():
        raise ValueError("full_sort_scores returned non-finite values")


def check_topk_shapes(model: TopKModule, batch: Batch) -> str:
    loss = finite_training_loss(model, batch)
    with torch.no_grad():
        users = batch["users"][:8]
        scores = model.full_sort_scores(users)
        expected = (len(users), model.n_items)
        check_full_sort(scores, expected)
        pair_scores = model.score(batch["users"], batch["pos_items"])
        if tuple(pair_scores.shape) != (len(batch["users"]),):
            raise ValueError(f"score(users, items) gave shape {tuple(pair_scores.shape)}, "
                             f"expected ({len(batch['users'])},)")
    return f"loss {float(loss.detach()):.4f}; full_sort_scores {expected}"


def check_sequence_shapes(model: SequentialModule, batch: Batch) -> str:
    loss = finite_training_loss(model, batch)
    with torch.no_grad():
        scores = model.full_sort_scores(batch["histories"][:8], batch["lengths"][:8], batch["users"][:8])
        expected = (min(8, len(batch["lengths"])), model.n_items + 1)
        check_full_sort(scores, expected)
    return f"loss {float(loss.detach()):.4f}; full_sort_scores {expected}"


def check_row_shapes(model: AutoEncoderModule, batch: Batch) -> str:
    loss = finite_training_loss(model, batch)
    with torch.no_grad():
        users = batch["users"][:8] if "users" in batch else torch.arange(min(8, model.n_users))  # item rows
        scores = model.full_sort_scores(users)
        expected = (len(users), model.n_items)
        check_full_sort(scores, expected)
    return f"loss {float(loss.detach()):.4f}; full_sort_scores {expected}"


def check_ctr_shapes(model: CTRModule, batch: Batch) -> str:
    loss = finite_training_loss(model, batch)
    with torch.no_grad():
        probabilities = model.predict(batch)
    expected = (len(batch["label"]),)
    if tuple(probabilities.shape) != expected:
        raise ValueError(f"predict gave shape {tuple(probabilities.shape)}, expected {expected}")
    if not ((probabilities >= 0) & (probabilities <= 1)).all():
        raise ValueError("predict returned values outside [0, 1]")
    return f"loss {float(loss.detach()):.4f}; predict {expected}"
