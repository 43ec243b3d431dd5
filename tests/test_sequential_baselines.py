"""RecBole's sequential models on our saved sequences, scored by our next-item evaluator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paper_autotrain.data.sequential import compute_sequences, save_sequences, write_benchmark
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages import baselines

N_USERS, N_ITEMS, LENGTH = 50, 30, 8
CFG = {"models": ["Pop", "GRU4Rec", "SASRec"], "max_epochs": 2, "patience": 5, "seed": 0, "ks": [10, 20],
       "valid_metric": "NDCG@10", "device": "cpu", "timeout_s": 300, "regime": "sequential",
       "max_seq_length": LENGTH}


def cyclic_frame() -> pd.DataFrame:
    """Each user walks the items in a cycle from a random start: the next item is predictable from the last."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(N_USERS):
        start, length = int(rng.integers(N_ITEMS)), int(rng.integers(6, 15))
        rows += [(f"u{user}", f"i{(start + step) % N_ITEMS}", float(step)) for step in range(length)]
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seq")
    split = compute_sequences(cyclic_frame(), LENGTH)
    save_sequences(split, folder)
    write_benchmark(split, folder, "cyc")
    info = SplitInfo(dataset="cyc", split_id="seqtest1", path=str(folder), n_users=split.n_users,
                     n_items=split.n_items, n_train=len(split.examples("train")[0]),
                     n_valid=len(split.eval_users()), n_test=len(split.eval_users()), protocol="LOO-TO")
    return {r.model: r for r in baselines.run(None, info, CFG, tmp_path_factory.mktemp("cache"))}


def test_sequential_baselines_train_and_are_scored_by_our_evaluator(results):
    assert {name: r.status for name, r in results.items()} == {"Pop": "ok", "GRU4Rec": "ok", "SASRec": "ok"}
    for result in results.values():
        assert result.config["regime"] == "sequential"
        assert set(result.test) >= {"ndcg@10", "hit@10", "recall@20"}


@pytest.mark.parametrize("model", ["GRU4Rec", "SASRec"])
def test_our_next_item_metrics_equal_recboles_own(results, model):
    """Same histories, same targets, no history masking on either side: the numbers must agree."""
    result = results[model]
    for metric in ("ndcg@10", "hit@10", "mrr@10", "recall@20"):
        assert result.test[metric] == pytest.approx(result.config["recbole_test"][metric], abs=1e-6), metric
