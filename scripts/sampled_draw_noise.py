"""Draw-to-draw spread of a sampled-100 ranking on fixed scores, and what RecBole's with-replacement draw changes.

    PYTHONPATH=. python scripts/sampled_draw_noise.py loo|ratio [--draws 10]

Scores every ML-100K test user by item popularity (no training, so only the draw varies), then evaluates it with
our evaluator against `--draws` candidate draws of ours (data/candidates.py: distinct) and as many of a
re-implementation of RecBole's uni100 (per held-out item 100 uniform draws over all items, the user's items
rejected, with replacement: a repeat counts once). Prints the means and standard deviations of Hit@10 and NDCG@10.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split", choices=["loo", "ratio"])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--datasets", type=Path, default=Path(tempfile.gettempdir()) / "sampled_probe")
    args = parser.parse_args()
    torch.set_num_threads(1)
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
