"""Sampled ranking that scores only the candidates (data/evaluator.py scores_on_candidates): the same metrics as the
full sort then masked, for a dot-product top-k model and a next-item model, and which models take which path.
CMN's block (a pairwise-expensive full sort) is checked in tests/test_cmn_paper.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from paper_autotrain.data.candidates import SampledCandidates, draw_candidates
from paper_autotrain.data.evaluator import candidate_items, full_sort_evaluate
from paper_autotrain.data.sequential import evaluate_next_item, load_sequences
from paper_autotrain.runtime.module import TopKModule
from paper_autotrain.runtime.sequential import SequentialModule
from tests.model_fixtures import synthetic_split


class DotModel(TopKModule):
    """Matrix factorisation: the inner product pair by pair, the full sort one matrix product."""

    def __init__(self, split, seed: int = 0) -> None:
        super().__init__(split, eval_batch_size=7)
        generator = torch.Generator().manual_seed(seed)
        self.users = nn.Parameter(torch.randn(self.n_users, 8, generator=generator))
        self.items = nn.Parameter(torch.randn(self.n_items, 8, generator=generator))

    def score_with(self, state, users, items):
        return (self.users[users] * self.items[items]).sum(-1)

    def full_sort_with(self, state, users):
        return self.users[users] @ self.items.T


class PairsOnly(DotModel):
    """The same scores through the generic (pairwise) full sort."""

    full_sort_with = TopKModule.full_sort_with


class MeanHistory(SequentialModule):
    """A next-item model as SASRec scores: a state from the history (here its mean item vector, through a layer)
    against every item's vector."""

    def __init__(self, split) -> None:
        super().__init__(split, eval_batch_size=7)
        generator = torch.Generator().manual_seed(0)
        self.table = nn.Parameter(torch.randn(self.n_items + 1, 8, generator=generator))
        self.layer = nn.Linear(8, 8)

    def encode_sequence(self, histories, lengths, users):
        return self.layer(self.table[histories].sum(1) / lengths.clamp_min(1).unsqueeze(1))

    def item_table(self):
        return self.table


def thinned(candidates: SampledCandidates, keep_every: int) -> SampledCandidates:
    """The candidates with some of the even users' negatives dropped: rows of unequal lengths in a batch."""
    matrices = {}
    for phase, matrix in candidates.matrices.items():
        matrix = matrix.tolil()
        for user in range(0, matrix.shape[0], 2):
            columns = matrix.rows[user]
            for column in columns[::keep_every]:
                matrix[user, column] = 0
        matrices[phase] = matrix.tocsr()
        matrices[phase].eliminate_zeros()
    return SampledCandidates(candidates.negatives, candidates.seed, matrices)


def refuse(*args):
    raise AssertionError("this path must not be taken")


def assert_same_metrics(first, second):
    assert first.per_user.keys() == second.per_user.keys()
    for name in first.per_user:
        np.testing.assert_array_equal(first.per_user[name], second.per_user[name], err_msg=name)
    np.testing.assert_array_equal(first.users, second.users)


def test_candidate_items_are_each_rows_columns_in_order_padded_with_its_first():
    allowed = torch.tensor([[False, True, False, True, True], [True, False, False, False, False]])
    assert candidate_items(allowed).tolist() == [[1, 3, 4], [0, 0, 0]]


@pytest.mark.parametrize("phase", ["valid", "test"])
def test_a_dot_product_model_ranks_its_candidates_alike_scored_alone_or_by_the_full_sort(phase):
    split = synthetic_split(n_users=30, n_items=120, per_user=20)  # 2 valid and 2 test items a user
    model = DotModel(split)
    model.candidates = thinned(draw_candidates(split, 6, seed=0), keep_every=3)
    with torch.no_grad():
        full = full_sort_evaluate(model.full_sort_scores, split, phase, ks=(1, 5, 10), batch_size=7,
                                  candidates=model.candidates)
        alone = full_sort_evaluate(model.full_sort_scores, split, phase, ks=(1, 5, 10), batch_size=7,
                                   candidates=model.candidates, candidate_score_fn=model.candidate_scores)
    assert_same_metrics(full, alone)
    assert 0.0 < full.mean["ndcg@10"] < 1.0  # the ranking is not trivial either way
    # the pairs scored: each user's candidates, not its n_items
    pairs = []
    original = model.score_with
    model.score_with = lambda state, users, items: pairs.append(torch.broadcast_shapes(users.shape, items.shape)) \
        or original(state, users, items)
    with torch.no_grad():
        full_sort_evaluate(model.full_sort_scores, split, phase, ks=(10,), batch_size=7,
                           candidates=model.candidates, candidate_score_fn=model.candidate_scores)
    assert sum(shape[0] for shape in pairs) == len(full.users)
    assert max(shape[1] for shape in pairs) == 2 + 2 * 6  # a user's held-out items and their negatives


def test_which_models_score_the_candidates_alone():
    split = synthetic_split(n_users=12, n_items=50)  # 1 valid and 1 test item a user: 4 candidates at N = 3
    product, pairs = DotModel(split), PairsOnly(split)
    assert product.pair_cost() == float("inf")  # its full sort is one matrix product: always kept
    assert pairs.pair_cost() == 1.0  # the generic full sort scores every pair through score_with: the same work
    product.candidates = pairs.candidates = draw_candidates(split, 3, seed=0)
    expected = pairs.evaluate("test")
    pairs.full_sort_with = refuse  # 4 candidates x 1 < 50 items: never called
    assert_same_metrics(pairs.evaluate("test"), expected)
    product.candidate_pair_cost = 12.0  # 4 x 12 < 50: scored alone
    product.full_sort_with = refuse
    assert_same_metrics(product.evaluate("test"), expected)
    product.candidate_pair_cost = 13.0  # 4 x 13 >= 50: the full sort
    del product.full_sort_with
    product.candidate_scores = refuse
    assert_same_metrics(product.evaluate("test"), expected)


def test_a_next_item_model_ranks_its_candidates_alike_scored_alone_or_by_the_full_sort(sequences):
    split = load_sequences(sequences.path)
    model = MeanHistory(split)
    model.candidates = thinned(draw_candidates(split, 8, seed=0), keep_every=2)
    assert model.pair_cost() == float("inf")  # the state against the item table: the full product is kept
    for phase in ("valid", "test"):
        with torch.no_grad():
            full = evaluate_next_item(model.full_sort_scores, split, phase, ks=(1, 5), batch_size=7,
                                      candidates=model.candidates)
            alone = evaluate_next_item(model.full_sort_scores, split, phase, ks=(1, 5), batch_size=7,
                                       candidates=model.candidates, candidate_score_fn=model.candidate_scores)
        assert_same_metrics(full, alone)
        assert 0.0 < full.mean["hit@5"] < 1.0
    by_full_sort = model.evaluate("test")
    model.candidate_pair_cost = 2.0  # stated: the module's own evaluate scores the candidates alone (9 x 2 < 31)
    model.full_sort_scores = refuse  # the candidates' path never calls it
    assert_same_metrics(model.evaluate("test"), by_full_sort)
