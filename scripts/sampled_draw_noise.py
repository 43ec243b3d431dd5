"""Draw-to-draw spread of a sampled-100 ranking on fixed scores, and what RecBole's with-replacement draw changes.

    PYTHONPATH=. python scripts/sampled_draw_noise.py loo|ratio|seq [--draws 10]

Scores every ML-100K test user by item popularity (no training, so only the draw varies), then evaluates it with
our evaluator against `--draws` candidate draws of ours (data/candidates.py: distinct) and as many of a
re-implementation of RecBole's uni100 (per held-out item 100 uniform draws over all items, the user's items
rejected, with replacement: a repeat counts once). Prints the means and standard deviations of Hit@10 and NDCG@10.
`seq`: the sequential regime's split (data/sequential.py, histories of at most 50 items) and next-item evaluator;
RecBole's sequential uni100 (its RepeatableSampler) rejects only the target, so its draws may be the user's own
history: the script also prints how many are.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from paper_autotrain.data.candidates import SampledCandidates, draw_candidates
from paper_autotrain.data.evaluator import full_sort_evaluate
from paper_autotrain.data.sequential import (
    PHASE_OFFSET,
    SequenceSplit,
    evaluate_next_item,
    load_sequences,
    prepare_sequences,
)
from paper_autotrain.data.split import SplitData, load_split, prepare_split

NEGATIVES = 100


def recbole_style(split: SplitData, seed: int) -> SampledCandidates:
    """RecBole's uniN test draw: N per held-out item over all items, the user's items rejected, with replacement."""
    rng = np.random.default_rng(seed)
    seen = split.matrix("train", "valid", "test")
    rows, cols = [], []
    for user, _ in split.test:
        used = set(seen.indices[seen.indptr[user]:seen.indptr[user + 1]].tolist())
        picks: list[int] = []
        while len(picks) < NEGATIVES:
            picks += [int(c) for c in rng.integers(0, split.n_items, NEGATIVES - len(picks)) if int(c) not in used]
        rows += [int(user)] * NEGATIVES
        cols += picks
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(split.n_users, split.n_items))
    matrix.data[:] = 1.0  # a repeated draw is one candidate
    return SampledCandidates(NEGATIVES, seed, {"test": matrix, "valid": matrix})


def recbole_sequence_style(split: SequenceSplit, seed: int) -> SampledCandidates:
    """RecBole's sequential uniN test draw (RepeatableSampler): N uniform draws over items 1..n per evaluated user,
    only the target rejected, with replacement."""
    rng = np.random.default_rng(seed)
    users, positions = split.examples("test")
    targets = split.items[split.offsets[users] + positions]
    rows, cols = [], []
    for user, target in zip(users, targets, strict=True):
        picks: list[int] = []
        while len(picks) < NEGATIVES:
            picks += [int(c) for c in rng.integers(1, split.n_items + 1, NEGATIVES - len(picks)) if int(c) != target]
        rows += [int(user)] * NEGATIVES
        cols += picks
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(split.n_users, split.n_items + 1))
    matrix.data[:] = 1.0  # a repeated draw is one candidate
    return SampledCandidates(NEGATIVES, seed, {"test": matrix, "valid": matrix})


def sequences_main(draws: int, datasets: Path) -> None:
    """The `seq` mode: popularity over the training positions, ranked as the next item."""
    info = prepare_sequences({"name": "ml-100k"}, 50, datasets)
    split = load_sequences(info.path)
    lengths = split.lengths()
    kept = np.where(lengths >= 3, lengths - PHASE_OFFSET["valid"], lengths)  # each user's items before valid
    in_train = np.arange(len(split.items)) - np.repeat(split.offsets[:-1], lengths) < np.repeat(kept, lengths)
    popularity = torch.from_numpy(np.bincount(split.items[in_train], minlength=split.n_items + 1)).float()

    def score(histories: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        return popularity.expand(len(users), -1).clone()

    theirs = [recbole_sequence_style(split, 100 + k) for k in range(draws)]
    seen = split.candidate_pool().seen
    users = split.eval_users()
    in_history = np.mean([c.matrices["test"][users].multiply(seen[users]).nnz / c.matrices["test"][users].nnz
                          for c in theirs])
    print(info.protocol)
    for name, found in (("ours (distinct, never the user's items)", [draw_candidates(split, NEGATIVES, k)
                                                                     for k in range(draws)]),
                        ("RecBole-style (with replacement, only the target rejected)", theirs)):
        runs = [evaluate_next_item(score, split, "test", ks=(10,), candidates=c).mean for c in found]
        for metric in ("hit@10", "ndcg@10"):
            values = np.array([r[metric] for r in runs])
            print(f"{name} {metric}: mean {values.mean():.4f}, std over {draws} draws {values.std(ddof=1):.4f}")
    full = evaluate_next_item(score, split, "test", ks=(10,)).mean
    print(f"full ranking hit@10 {full['hit@10']:.4f}, ndcg@10 {full['ndcg@10']:.4f}")
    print(f"share of RecBole-style distinct negatives in the user's own sequence: {in_history:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split", choices=["loo", "ratio", "seq"])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--datasets", type=Path, default=Path(tempfile.gettempdir()) / "sampled_probe")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.split == "seq":
        sequences_main(args.draws, args.datasets)
        return
    loo = args.split == "loo"
    cfg = {"ratios": [0.8, 0.1, 0.1], "order": "TO" if loo else "RO", "seed": 2020, "leave_one_out": loo}
    info = prepare_split({"name": "ml-100k"}, cfg, args.datasets)
    split = load_split(info.path)
    popularity = torch.from_numpy(np.bincount(split.train[:, 1], minlength=split.n_items)).float()

    def score(users: torch.Tensor) -> torch.Tensor:
        return popularity.expand(len(users), -1).clone()

    def evaluate(candidates: SampledCandidates) -> dict[str, float]:
        return full_sort_evaluate(score, split, "test", ks=(10,), candidates=candidates).mean

    users = np.unique(split.test[:, 0])
    held = np.bincount(split.test[:, 0], minlength=split.n_users)[users]
    theirs = [recbole_style(split, 100 + k) for k in range(args.draws)]
    distinct = np.mean([(c.matrices["test"].getnnz(axis=1)[users] / (NEGATIVES * held)).mean() for c in theirs])
    print(info.protocol)
    for name, draws in (("ours (distinct)", [draw_candidates(split, NEGATIVES, k) for k in range(args.draws)]),
                        ("RecBole-style (with replacement)", theirs)):
        runs = [evaluate(c) for c in draws]
        for metric in ("hit@10", "ndcg@10"):
            values = np.array([r[metric] for r in runs])
            print(f"{name} {metric}: mean {values.mean():.4f}, std over {args.draws} draws {values.std(ddof=1):.4f}")
    print(f"distinct share of RecBole-style draws: {distinct:.3f}")


if __name__ == "__main__":
    main()
