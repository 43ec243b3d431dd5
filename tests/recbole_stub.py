"""RecBole's sequential modules built beside ours in the tests (NextItNet, STAMP, GC-SAN, FPMC, TransRec): the config
and dataset fields their constructors read, and small right-padded batches as both sides take them."""

from __future__ import annotations

from typing import Any

import torch


class RecBoleStub:
    """What RecBole's sequential models read of their config and dataset, for building one beside ours."""

    def __init__(self, n_items: int, max_seq_length: int, **values) -> None:
        self.n_items = n_items + 1  # RecBole counts the padding item
        self.config = {"USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "LIST_SUFFIX": "_list",
                       "ITEM_LIST_LENGTH_FIELD": "item_length", "NEG_PREFIX": "neg_", "device": "cpu",
                       "MAX_ITEM_LIST_LENGTH": max_seq_length, "loss_type": "CE", **values}

    def num(self, field: str) -> int:
        return self.n_items

    def interaction(self, histories, lengths, targets):
        from recbole.data.interaction import Interaction
        return Interaction({"item_id_list": histories, "item_length": lengths, "item_id": targets})


RIGHT_PADDED = torch.tensor([[3, 0, 0, 0, 0, 0], [4, 9, 2, 0, 0, 0], [5, 1, 7, 8, 6, 2], [2, 6, 0, 0, 0, 0]])
RIGHT_PADDED_LENGTHS, RIGHT_PADDED_TARGETS = torch.tensor([1, 3, 6, 2]), torch.tensor([4, 8, 3, 1])


Batch = dict[str, torch.Tensor]


def right_padded_batch(stub: RecBoleStub, histories: torch.Tensor = RIGHT_PADDED,
                       lengths: torch.Tensor = RIGHT_PADDED_LENGTHS,
                       targets: torch.Tensor = RIGHT_PADDED_TARGETS) -> tuple[torch.Tensor, Batch, Any]:
    """Right-padded histories as our batch (one user id for all) and as RecBole's interaction."""
    users = torch.zeros(len(histories), dtype=torch.long)
    batch = {"histories": histories, "lengths": lengths, "targets": targets, "users": users}
    return users, batch, stub.interaction(histories, lengths, targets)


def shuffled_ids(n_users: int, n_items: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(RecBole's id of each of our users, of each of our items): shuffled, as RecBole numbers its own way; its
    padding user and item are 0, our item 0 (padding) stays 0."""
    generator = torch.Generator().manual_seed(seed)
    users = torch.randperm(n_users, generator=generator) + 1
    return users, torch.cat([torch.zeros(1, dtype=torch.long), torch.randperm(n_items, generator=generator) + 1])


def pairwise_batch(users: torch.Tensor, items: torch.Tensor) -> tuple[Batch, Any]:
    """One BPR batch (users, right-padded histories, targets, one negative each) in our ids, and RecBole's
    interaction of the same rows in its ids (`users`, `items`: RecBole's id of each of ours)."""
    from recbole.data.interaction import Interaction

    ours = {"users": torch.tensor([4, 9, 0, 4]), "histories": RIGHT_PADDED[:, :4].clone(),
            "lengths": RIGHT_PADDED_LENGTHS.clamp(max=4), "targets": RIGHT_PADDED_TARGETS,
            "neg_items": torch.tensor([[7], [1], [9], [3]])}
    theirs = Interaction({"user_id": users[ours["users"]], "item_id_list": items[ours["histories"]],
                          "item_length": ours["lengths"], "item_id": items[ours["targets"]],
                          "neg_item_id": items[ours["neg_items"][:, 0]]})
    return ours, theirs


def assert_same_loss_and_gradients(ours_loss: torch.Tensor, their_loss: torch.Tensor, layout: Any,
                                   **tolerance: float) -> None:
    """Our loss equals RecBole's; after one backward through both, every (our parameter, RecBole's matching gradient)
    pair that `layout(of=...)` gives (a module test's layout function, read after the backward) is equal, within
    `tolerance` (torch.testing.assert_close's rtol and atol; its defaults when none)."""
    torch.testing.assert_close(ours_loss, their_loss)
    (ours_loss + their_loss).backward()
    for mine, their_grad in layout(of=lambda tensor: tensor.grad):
        torch.testing.assert_close(mine.grad, their_grad, **tolerance)
