"""Our evaluator against RecBole's own metric code, on the same ranked scores."""

import inspect

import numpy as np
import pytest
import torch
from recbole.evaluator import metrics as recbole_metrics

from paper_autotrain.data import evaluator
from paper_autotrain.data.evaluator import full_sort_evaluate, metrics_from_hits, topk_hits
from paper_autotrain.data.split import SplitData
from tests.model_fixtures import synthetic_split

RECBOLE_CLASSES = {"recall": "Recall", "ndcg": "NDCG", "hit": "Hit", "mrr": "MRR", "precision": "Precision"}
KS = (5, 10, 20)


def random_ranking(seed: int, users: int = 300, items: int = 120):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(users, items, generator=gen)
    exclude = torch.rand(users, items, generator=gen) < 0.2
    target = (torch.rand(users, items, generator=gen) < 0.06) & ~exclude
    target[:, 0] |= ~target.any(1) & ~exclude[:, 0]  # every user has at least one target
    keep = target.any(1)
    return scores[keep], exclude[keep], target[keep]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(RECBOLE_CLASSES))
def test_per_user_values_equal_recbole(seed, name, monkeypatch):
    # RecBole 1.2.1's MRR still uses the `np.float` alias that numpy 1.24 removed
    monkeypatch.setattr(np, "float", float, raising=False)
    scores, exclude, target = random_ranking(seed)
    hits = topk_hits(scores, exclude, target, max(KS))
    n_targets = target.sum(1)
    ours = metrics_from_hits(hits, n_targets, KS)
    metric = getattr(recbole_metrics, RECBOLE_CLASSES[name])({"topk": list(KS), "metric_decimal_place": 6})
    needs_len = len(inspect.signature(metric.metric_info).parameters) == 2
    args = (hits.numpy(), n_targets.numpy()) if needs_len else (hits.numpy(),)
    theirs = metric.metric_info(*args)  # [users, max_k]: the value at cut-off k is in column k-1
    for k in KS:
        np.testing.assert_allclose(ours[f"{name}@{k}"].numpy(), theirs[:, k - 1], rtol=0, atol=1e-6)


def test_masked_items_never_ranked():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0]])
    exclude = torch.tensor([[True, True, False, False]])
    target = torch.tensor([[False, False, True, False]])
    hits = topk_hits(scores, exclude, target, 1)
    assert hits.tolist() == [[True]]


def tiny_split() -> SplitData:
    train = np.array([[0, 0], [0, 1], [1, 2], [2, 0]])
    valid = np.array([[0, 2], [1, 0]])
    test = np.array([[0, 3], [1, 3]])
    return SplitData(3, 4, train, valid, test, np.array(["a", "b", "c"]), np.array(["w", "x", "y", "z"]))


def test_test_phase_masks_train_and_valid_and_skips_users_without_targets():
    split = tiny_split()
    # a model that loves the items each user has already seen: they must be masked away
    preference = torch.tensor([[9.0, 9.0, 9.0, 1.0], [9.0, 0.0, 9.0, 1.0], [9.0, 0.0, 0.0, 0.0]])
    result = full_sort_evaluate(lambda u: preference[u], split, "test", ks=(1,))
    assert result.users.tolist() == [0, 1]  # user 2 has no test item
    assert result.mean["hit@1"] == 1.0
    valid = full_sort_evaluate(lambda u: preference[u], split, "valid", ks=(1,))
    assert valid.per_user["hit@1"].tolist() == [1.0, 1.0]


def test_dense_and_sparse_row_masks_give_the_same_metrics(monkeypatch):
    split = synthetic_split(n_users=40, n_items=30, per_user=8)
    scores = torch.randn(split.n_users, split.n_items, generator=torch.Generator().manual_seed(3))
    dense = full_sort_evaluate(lambda u: scores[u], split, "test", ks=(5, 10), batch_size=7)
    assert split.memo[("eval_rows", "train", "valid")][1] is not None  # the small split kept dense masks
    monkeypatch.setattr(evaluator, "DENSE_ROWS_MAX_CELLS", 0)
    sparse_split = synthetic_split(n_users=40, n_items=30, per_user=8)
    sparse = full_sort_evaluate(lambda u: scores[u], sparse_split, "test", ks=(5, 10), batch_size=7)
    assert sparse_split.memo[("eval_rows", "train", "valid")][1] is None
    assert dense.users.tolist() == sparse.users.tolist() and len(dense.users) > 0
    for name, values in dense.per_user.items():
        np.testing.assert_array_equal(values, sparse.per_user[name])
    assert 0 < dense.mean["ndcg@10"] < 1
