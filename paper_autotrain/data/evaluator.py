"""The one evaluator: full ranking over all items, seen items masked, RecBole's metric definitions; or, with
sampled candidates (data/candidates.py, `eval.ranking=sampled-N`), each user's held-out items ranked among
that user's sampled negatives only, with the same formulas.

Every model, ours and RecBole's, is scored here, so differences in a table come from the
models and never from the bookkeeping.

Under sampled ranking a model whose scores are costly per (user, item) pair may score only each user's candidates
(`candidate_score_fn`); their scores are put in place of the full row and everything else is -inf, so the ranking
below is the same code on the same values as a full sort that then masks all but the candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from paper_autotrain.data.candidates import SampledCandidates
from paper_autotrain.data.metric_names import TOPK_METRICS
from paper_autotrain.data.split import SplitData

PHASES = {"valid": (("train",), "valid"), "test": (("train", "valid"), "test")}

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
CandidateScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (users [B], items [B, C]) -> [B, C]


@dataclass
class EvalResult:
    mean: dict[str, float]  # "ndcg@10" -> mean over evaluated users
    per_user: dict[str, np.ndarray]  # "ndcg@10" -> value per evaluated user
    users: np.ndarray  # the evaluated users, in the order of per_user


def topk_hits(scores: torch.Tensor, exclude: torch.Tensor, target: torch.Tensor, k: int) -> torch.Tensor:
    """Bool [B, k]: whether the i-th ranked item (after masking `exclude`) is a target."""
    masked = scores.float().masked_fill(exclude, float("-inf"))
    top = torch.topk(masked, k=min(k, masked.shape[1]), dim=1).indices
    return target.gather(1, top)


def metrics_from_hits(hits: torch.Tensor, n_targets: torch.Tensor, ks: Sequence[int],
                      names: Sequence[str] = TOPK_METRICS) -> dict[str, torch.Tensor]:
    """Per-user metric values at each cut-off from ranked hits (RecBole's formulas, float64)."""
    hits = hits.double()
    n_targets = n_targets.double()
    ranks = torch.arange(1, hits.shape[1] + 1, dtype=torch.float64)
    discounts = 1.0 / torch.log2(ranks + 1.0)
    cum_hits = hits.cumsum(1)
    cum_dcg = (hits * discounts).cumsum(1)
    cum_ideal = discounts.cumsum(0)
    first_hit = torch.where(hits.any(1), hits.argmax(1), torch.full_like(n_targets, hits.shape[1]).long())
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        col = min(k, hits.shape[1]) - 1
        ideal_len = torch.clamp(n_targets, max=col + 1).long()
        values = {
            "recall": cum_hits[:, col] / n_targets,
            "precision": cum_hits[:, col] / k,
            "hit": (cum_hits[:, col] > 0).double(),
            "mrr": torch.where(first_hit <= col, 1.0 / (first_hit.double() + 1.0), torch.zeros_like(n_targets)),
            "ndcg": cum_dcg[:, col] / cum_ideal[ideal_len - 1],
        }
        for name in names:
            out[f"{name}@{k}"] = values[name]
    return out


DENSE_ROWS_MAX_CELLS = 1 << 26  # user x item bool tables up to 64 MB are kept whole; larger ones stay sparse


def _row_source(split: SplitData, parts: Sequence[str]) -> tuple[sp.csr_matrix, torch.Tensor | None]:
    """The binary user x item matrix of `parts`, built once per split, with its dense bool copy when small:
    a batch's rows are then one gather instead of a sparse slice and a conversion per batch."""
    key = ("eval_rows", *parts)
    if key not in split.memo:
        matrix = split.matrix(*parts)
        dense = torch.from_numpy(matrix.toarray() > 0) if split.n_users * split.n_items <= DENSE_ROWS_MAX_CELLS \
            else None
        split.memo[key] = (matrix, dense)
    return split.memo[key]


def _rows(source: tuple[sp.csr_matrix, torch.Tensor | None], users: np.ndarray,
          device: torch.device | str) -> torch.Tensor:
    matrix, dense = source
    if dense is not None:
        return dense[torch.from_numpy(users)].to(device)
    return torch.from_numpy(matrix[users].toarray() > 0).to(device)


def candidate_items(allowed: torch.Tensor) -> torch.Tensor:
    """[B, C] the columns where each row of `allowed` [B, n] is True, in increasing order, C the most of any row;
    a row with fewer repeats its first column (scored twice, no other column scored)."""
    counts = allowed.sum(1, keepdim=True)
    order = torch.sort(allowed.to(torch.uint8), dim=1, descending=True, stable=True).indices
    order = order[:, :int(counts.max()) if len(allowed) else 0]
    return torch.where(torch.arange(order.shape[1], device=order.device) < counts, order, order[:, :1])


def scores_on_candidates(candidate_score_fn: CandidateScoreFn, users: torch.Tensor,
                         allowed: torch.Tensor) -> torch.Tensor:
    """[B, n] rows of scores holding `candidate_score_fn`'s at the `allowed` columns and -inf elsewhere: what a full
    sort gives once the rest is masked, for C pairs a user instead of n."""
    items = candidate_items(allowed)
    scores = candidate_score_fn(users, items)
    return torch.full(allowed.shape, float("-inf"), dtype=scores.dtype, device=scores.device).scatter(
        1, items.to(scores.device), scores)


def worth_scoring_candidates(candidate_score_fn: Callable | None, allowed: torch.Tensor, pair_cost: float) -> bool:
    """Whether scoring a batch's candidates alone is cheaper than its full sort: its most candidates a user times
    what a candidate pair costs in full-sort pairs (runtime/phases.py candidate_pair_cost) under its n columns."""
    return candidate_score_fn is not None and int(allowed.sum(1).max()) * pair_cost < allowed.shape[1]


def full_sort_evaluate(score_fn: ScoreFn, split: SplitData, phase: str, ks: Sequence[int] = (10, 20),
                       batch_size: int = 1024, device: torch.device | str = "cpu",
                       names: Sequence[str] = TOPK_METRICS,
                       candidates: SampledCandidates | None = None,
                       candidate_score_fn: CandidateScoreFn | None = None,
                       candidate_pair_cost: float = 1.0) -> EvalResult:
    """Rank all items for every user with a target in `phase`; mask what the user has already seen. With
    `candidates`, rank only the user's targets and sampled negatives of `phase` (everything else masked), as
    RecBole ranks its sampled candidates (the other columns -inf).

    `score_fn(users)` returns [B, n_items] scores in our item index space; with `candidates`,
    `candidate_score_fn(users, items [B, C])`, where given, scores only the candidates instead ([B, C]: the same
    values score_fn gives at those columns) in a batch where that is cheaper (worth_scoring_candidates).
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {sorted(PHASES)}, got {phase!r}")
    seen_parts, target_part = PHASES[phase]
    seen = _row_source(split, seen_parts)
    target = _row_source(split, (target_part,))
    per_user_targets = np.diff(target[0].indptr)
    users = np.flatnonzero(per_user_targets > 0)
    collected: dict[str, list[torch.Tensor]] = {}
    max_k = max(ks)
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            batch = users[start:start + batch_size]
            batch_users = torch.from_numpy(batch).long().to(device)
            target_rows = _rows(target, batch, device)
            if candidates is None:
                exclude = _rows(seen, batch, device)
                scores = score_fn(batch_users)
            else:
                allowed = target_rows | torch.from_numpy(candidates.rows(phase, batch)).to(device)
                exclude = ~allowed
                if worth_scoring_candidates(candidate_score_fn, allowed, candidate_pair_cost):
                    scores = scores_on_candidates(candidate_score_fn, batch_users, allowed)
                else:
                    scores = score_fn(batch_users)
            hits = topk_hits(scores, exclude.to(scores.device), target_rows.to(scores.device), max_k).cpu()
            n_targets = torch.from_numpy(per_user_targets[batch])
            for name, values in metrics_from_hits(hits, n_targets, ks, names).items():
                collected.setdefault(name, []).append(values)
    per_user = {name: torch.cat(parts).numpy() for name, parts in collected.items()}
    mean = {name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()}
    return EvalResult(mean=mean, per_user=per_user, users=users)


# --- CTR metrics: one AUC and one LogLoss over all scored rows (RecBole's definitions) ---------------

CTR_METRICS = ("auc", "logloss")
LOGLOSS_EPS = 1e-15  # RecBole clips probabilities to [eps, 1 - eps]


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC with ties counted half (Mann-Whitney with average ranks; equals the trapezoidal ROC area)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    positive = np.asarray(labels).reshape(-1) == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    average_rank = (starts + ends + 1) / 2.0  # 1-based mean rank of each block of tied scores
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(average_rank, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def logloss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean binary cross-entropy of predicted probabilities, clipped as RecBole clips them."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(-1), LOGLOSS_EPS, 1 - LOGLOSS_EPS)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    return float(np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))) if len(p) else float("nan")


def ctr_metrics(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """{"auc", "logloss"} of predicted click probabilities against 0/1 labels."""
    return {"auc": auc(probabilities, labels), "logloss": logloss(probabilities, labels)}
