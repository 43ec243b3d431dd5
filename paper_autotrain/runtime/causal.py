"""DICE (Zheng et al., WWW 2021): popularity-based negative sampling with margin (PNSM), the cause-specific BPR terms
of interest and conformity, and the discrepancy between the two embedding sets.

A training triplet (u, i, j) pairs a positive i of popularity p (its train interactions) with a negative j drawn
from the items more popular than p + m_up or less popular than p - m_down. A negative more popular than the
positive puts the triplet in O2 (Case 2: the click is largely due to interest), a less popular one in O1 (Case 1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from paper_autotrain.runtime.graph import distance_correlation

CASE_DRAWS = ("union", "even")
DISCREPANCIES = ("dcor", "l1", "l2")


def pnsm_draw(positive_popularity: torch.Tensor, popularity: torch.Tensor, order: torch.Tensor,
              sorted_popularity: torch.Tensor, margin_up: float, margin_down: float, case_draw: str = "union",
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One negative per positive, [n] each: (items, more_popular). The negative is drawn from the items whose
    popularity is above p + margin_up or below p - margin_down (`sorted_popularity` = popularity[order], ascending).
    `case_draw` "union": uniform over the two sets together (the paper's "from items with popularity larger than
    p + m_up, or lower than p - m_down"); "even": each set with probability 1/2 when both hold an item (the authors'
    released code). A positive with no item beyond either margin gets a uniform draw. `more_popular` marks O2."""
    n_items = len(order)
    below = torch.searchsorted(sorted_popularity, positive_popularity - margin_down, right=False)  # pop < p - m_down
    up_start = torch.searchsorted(sorted_popularity, positive_popularity + margin_up, right=True)  # pop > p + m_up
    above = n_items - up_start
    uniform = torch.rand(positive_popularity.shape, generator=generator, device=popularity.device)
    if case_draw == "even":
        pick_up = torch.where((below > 0) & (above > 0),
                              torch.rand(uniform.shape, generator=generator, device=uniform.device) < 0.5, above > 0)
        size = torch.where(pick_up, above, below)
        offset = torch.where(pick_up, up_start, torch.zeros_like(up_start))
        index = offset + (uniform * size).long().clamp(max=(size - 1).clamp(min=0))
    else:
        total = below + above
        rank = (uniform * total).long().clamp(max=(total - 1).clamp(min=0))
        index = torch.where(rank < below, rank, up_start + rank - below)
        size = total
    anywhere = (uniform * n_items).long().clamp(max=n_items - 1)
    items = order[torch.where(size > 0, index, anywhere)]
    return items, popularity[items] > positive_popularity


def pnsm_negatives(users: torch.Tensor, positives: torch.Tensor, k: int, popularity: torch.Tensor,
                   order: torch.Tensor, sorted_popularity: torch.Tensor, margin_up: float, margin_down: float,
                   is_train_pair: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], case_draw: str = "union",
                   rounds: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, k] PNSM negatives of each (user, positive) and [B, k] their O2 flags; a draw the user interacted with in
    train is drawn again (at most `rounds` times: a user who holds every item beyond the margins keeps one)."""
    flat_users = users.repeat_interleave(k)
    positive_popularity = popularity[positives].repeat_interleave(k)
    items, more = pnsm_draw(positive_popularity, popularity, order, sorted_popularity, margin_up, margin_down,
                            case_draw)
    for _ in range(rounds):
        bad = is_train_pair(flat_users, items)
        if not bool(bad.any()):
            break
        items[bad], more[bad] = pnsm_draw(positive_popularity[bad], popularity, order, sorted_popularity,
                                          margin_up, margin_down, case_draw)
    return items.view(-1, k), more.view(-1, k)


def cause_specific_bpr(pos_interest: torch.Tensor, neg_interest: torch.Tensor, pos_conformity: torch.Tensor,
                       neg_conformity: torch.Tensor, more_popular: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(click, interest, conformity) BPR terms of Eq. 6-8 over [B, k] triplets, each a mean over every triplet of
    the batch (the paper's sums over O, O1 and O2 divided by the batch's triplets, so alpha weighs them as it weighs
    the sums). Click: BPR of s_int + s_con on all (the concatenated embeddings' inner product). Interest: BPR on O2
    only. Conformity: BPR(s_i, s_j) on O1 and the reversed BPR(s_j, s_i) on O2 -- the paper's -BPR(...) for O2 is
    the inequality M^C_ui < M^C_uj of Eq. 5 (minimising -BPR literally would be unbounded below)."""
    interest_margin = pos_interest - neg_interest
    conformity_margin = pos_conformity - neg_conformity
    click = -F.logsigmoid(interest_margin + conformity_margin).mean()
    interest = -(F.logsigmoid(interest_margin) * more_popular).mean()
    conformity = -F.logsigmoid(torch.where(more_popular, -conformity_margin, conformity_margin)).mean()
    return click, interest, conformity


def discrepancy(interest: torch.Tensor, conformity: torch.Tensor, kind: str) -> torch.Tensor:
    """L_discrepancy between the two embedding sets, [n, d] each (rows paired): `dcor` dCor(E_int, E_con), `l1`
    -L1 (minus the mean absolute difference: L1-inv), `l2` -L2 (minus the mean squared difference: L2-inv)."""
    if kind == "dcor":
        return distance_correlation(interest, conformity)
    difference = interest - conformity
    return -(difference.abs().mean() if kind == "l1" else (difference * difference).mean())


def decayed(value: float, decay: float, epoch: int) -> float:
    """The curriculum's value at `epoch` (from 0): value * decay^epoch, decayed after each epoch."""
    return float(value) * float(decay) ** int(epoch)
