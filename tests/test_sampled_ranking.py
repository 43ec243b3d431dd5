"""Sampled ranking (eval.ranking=sampled-N): the metrics, the candidates every model meets, their file, the report."""

import csv
import io
import json
import logging
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from paper_autotrain.data import candidates as cands
from paper_autotrain.data.candidates import (
    SampledCandidates,
    candidates_path,
    draw_candidates,
    load_candidates,
    prepare_candidates,
    prepare_for_seeds,
    resolve_ranking,
)
from paper_autotrain.data.evaluator import full_sort_evaluate
from paper_autotrain.data.split import SplitData, load_split
from paper_autotrain.errors import UserError
from paper_autotrain.run_settings import check_eval
from paper_autotrain.stages import compare
from paper_autotrain.stages.baselines import recbole_config
from paper_autotrain.worker.train import use_candidates
from tests import report_fixtures
from tests.model_fixtures import synthetic_split, write_synthetic_split

LOG2 = math.log2


def hand_split() -> SplitData:
    """Two users, six items: user 0 tests item 2, user 1 tests items 1 and 2."""
    train = np.array([[0, 0], [1, 5]])
    valid = np.array([[0, 1], [1, 0]])
    test = np.array([[0, 2], [1, 1], [1, 2]])
    return SplitData(2, 6, train, valid, test, np.array(["a", "b"]), np.array(list("uvwxyz")))


def hand_candidates(split: SplitData) -> SampledCandidates:
    """The test negatives by hand: items 3 and 4 for both users (valid: item 5 for user 0, 3 for user 1)."""
    def matrix(pairs):
        rows, cols = zip(*pairs, strict=True)
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(split.n_users, split.n_items))

    return SampledCandidates(2, 0, {"test": matrix([(0, 3), (0, 4), (1, 3), (1, 4)]),
                                    "valid": matrix([(0, 5), (1, 3)])})


SCORES = torch.tensor([[9.0, 8.0, 5.0, 7.0, 1.0, 10.0],   # user 0: item 5 scores highest but is no candidate
                       [1.0, 2.0, 6.0, 5.0, 7.0, 9.0]])   # user 1: item 5 is a train item


def test_sampled_metrics_equal_a_hand_computation():
    split = hand_split()
    result = full_sort_evaluate(lambda u: SCORES[u], split, "test", ks=(1, 2, 4), candidates=hand_candidates(split))
    by_user = {name: values.tolist() for name, values in result.per_user.items()}
    # user 0 ranks {2, 3, 4}: 3 (7), 2 (5), 4 (1) -> its test item second
    # user 1 ranks {1, 2, 3, 4}: 4 (7), 2 (6), 3 (5), 1 (2) -> its test items second and fourth
    assert by_user["hit@1"] == [0.0, 0.0] and by_user["hit@2"] == [1.0, 1.0]
    assert by_user["mrr@4"] == pytest.approx([0.5, 0.5])
    assert by_user["recall@2"] == pytest.approx([1.0, 0.5]) and by_user["recall@4"] == pytest.approx([1.0, 1.0])
    ideal_two = 1 + 1 / LOG2(3)
    assert by_user["ndcg@2"] == pytest.approx([1 / LOG2(3), (1 / LOG2(3)) / ideal_two])
    assert by_user["ndcg@4"] == pytest.approx([1 / LOG2(3), (1 / LOG2(3) + 1 / LOG2(5)) / ideal_two])
    assert by_user["precision@2"] == pytest.approx([0.5, 0.5])
    # the full ranking of the same scores: user 0's test item is third (items 5 and 3 above it)
    full = full_sort_evaluate(lambda u: SCORES[u], split, "test", ks=(2,))
    assert full.per_user["hit@2"].tolist() == [0.0, 1.0]
    valid = full_sort_evaluate(lambda u: SCORES[u], split, "valid", ks=(1,), candidates=hand_candidates(split))
    assert valid.per_user["hit@1"].tolist() == [0.0, 0.0]  # user 0: 5 (10) over 1 (8); user 1: 3 (5) over 0 (1)


def test_candidates_are_unseen_items_n_per_held_out_item_and_reproducible_from_the_seed():
    split = synthetic_split(n_users=30, n_items=80, per_user=20)
    drawn = draw_candidates(split, 5, seed=3)
    seen = split.matrix("train", "valid", "test")
    for phase in ("valid", "test"):
        matrix = drawn.matrices[phase]
        assert matrix.multiply(seen).nnz == 0  # never an item the user interacted with
        held = np.bincount(split.part(phase)[:, 0], minlength=split.n_users)
        assert np.array_equal(np.diff(matrix.indptr), 5 * held)  # distinct, N per held-out item
    again = draw_candidates(split, 5, seed=3)
    other = draw_candidates(split, 5, seed=4)
    assert all((drawn.matrices[p] != again.matrices[p]).nnz == 0 for p in ("valid", "test"))
    assert (drawn.matrices["test"] != other.matrices["test"]).nnz > 0
    few = draw_candidates(split, 1000, seed=3)  # more than a user has left: all its unseen items
    assert np.array_equal(np.diff(few.matrices["test"].indptr), split.n_items - np.diff(seen.indptr))


def test_every_model_of_a_run_meets_the_candidates_drawn_once(tmp_path):
    write_synthetic_split(tmp_path / "split", n_users=30, n_items=80, per_user=20)
    split_dir = tmp_path / "split"
    prepare_for_seeds(split_dir, "sampled-7", [0, 1], load_split)  # the train stage, before its sandboxed worker
    path = candidates_path(split_dir, 7, 0)
    written = path.stat().st_mtime_ns
    prepare_for_seeds(split_dir, "sampled-7", [0], load_split)  # the baselines stage: the same file, not drawn again
    assert path.stat().st_mtime_ns == written

    class Model:  # what the worker hands the candidates to (the base modules' `candidates`)
        candidates = None

    split = load_split(split_dir)
    ours, theirs = Model(), load_candidates(split_dir, split, 7, 0)  # the worker's read; the runner's read
    use_candidates(ours, {"eval": {"ranking": "sampled-7"}}, split_dir, split, 0)
    assert all((ours.candidates.matrices[p] != theirs.matrices[p]).nnz == 0 for p in ("valid", "test"))
    assert all((theirs.matrices[p] != draw_candidates(split, 7, 0).matrices[p]).nnz == 0 for p in ("valid", "test"))
    seed_one = load_candidates(split_dir, split, 7, 1)
    assert (seed_one.matrices["test"] != theirs.matrices["test"]).nnz > 0
    full = Model()
    use_candidates(full, {}, split_dir, split, 0)
    assert full.candidates is None  # full ranking: nothing to read


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other split", "missing"])
def test_a_damaged_or_missing_candidates_file_is_drawn_again(tmp_path, damage):
    split = write_synthetic_split(tmp_path / "split", n_users=30, n_items=80, per_user=20)
    path = candidates_path(tmp_path / "split", 4, 0)
    prepare_candidates(tmp_path / "split", split, 4, 0)
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not an archive")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "other split":
        prepare_candidates(tmp_path / "other", synthetic_split(n_users=30, n_items=90, per_user=20), 4, 0)
        path.write_bytes(candidates_path(tmp_path / "other", 4, 0).read_bytes())
    else:
        path.unlink()
    with pytest.raises(UserError, match="sampled-4 candidates"):  # the sandboxed worker cannot draw them
        load_candidates(tmp_path / "split", split, 4, 0)
    again = prepare_candidates(tmp_path / "split", split, 4, 0)
    assert (again.matrices["test"] != draw_candidates(split, 4, 0).matrices["test"]).nnz == 0
    assert load_candidates(tmp_path / "split", split, 4, 0).negatives == 4  # saved again, readable


def test_the_ranking_setting_and_papers_ranking():
    assert resolve_ranking(None, "sampled-100") == "full"  # full stays the default
    assert resolve_ranking("sampled-50", "sampled-100") == "sampled-50"
    assert resolve_ranking("paper", "sampled-100") == "sampled-100"
    assert resolve_ranking("paper", "full") == "full" and resolve_ranking("paper", None) == "full"
    for bad in ("sampled-0", "sampled", "uni100", "sampled-1x"):
        with pytest.raises(UserError, match="eval.ranking"):
            check_eval({"ranking": bad})
    check_eval({"ranking": "paper"})
    assert cands.negatives_of("SAMPLED-20") == 20


def test_recbole_evaluates_its_own_uniN_beside_ours():
    assert recbole_config({}, {"ranking": "sampled-100"})["eval_args"]["mode"] == "uni100"
    assert recbole_config({}, {"ranking": "full"})["eval_args"]["mode"] == "full"
    assert recbole_config({"eval_args": {"mode": "full"}}, {"ranking": "sampled-100"})["eval_args"]["mode"] == \
        "uni100"  # the shared protocol: a model's override cannot change it


def sampled(runs, ranking="sampled-100"):
    return [run.model_copy(update={"ranking": ranking}) for run in runs]


def test_a_sampled_run_says_so_in_the_table_and_matches_the_papers_ranking(tmp_path):
    ours, baselines, files = report_fixtures.runs(tmp_path, [0])
    out = compare.run(report_fixtures.protocol_spec(), sampled(ours), sampled(baselines),
                      report_fixtures.SPLIT.model_copy(update={"protocol": "per-user 0.8/0.1/0.1 split, random "
                                                               "order; " + cands.FULL_WORDS}), {}, files)
    md = out["report.md"]
    assert "## Results on ml-100k (test split, our evaluator, sampled-100 ranking)" in md
    protocol = next(line for line in md.splitlines() if line.startswith("- Protocol:"))
    assert "among 100 negatives" in protocol and cands.FULL_WORDS not in protocol
    ranking = next(line for line in md.splitlines() if line.startswith("| Ranking "))
    assert ranking.endswith("| same |")
    rows = list(csv.DictReader(io.StringIO(out["report.csv"])))
    assert {r["ranking"] for r in rows if r["role"] != "paper"} == {"sampled-100"}
    assert "sampled-100 ranking" in out["report.html"]
    # a table whose rows were ranked differently says so, naming them
    mixed = compare.run(report_fixtures.protocol_spec(), sampled(ours), baselines, report_fixtures.SPLIT, {}, files)
    assert "(test split, our evaluator, mixed ranking)" in mixed["report.md"]
    assert "sampled-100: TinyProp" in mixed["report.md"]
    # full ranking against the paper's sampled-100: the difference stays marked
    full = compare.run(report_fixtures.protocol_spec(), ours, baselines, report_fixtures.SPLIT, {}, files)
    assert "(test split, our evaluator, full ranking)" in full["report.md"]
    assert "eval.ranking=paper" in next(line for line in full["report.md"].splitlines()
                                        if line.startswith("| Ranking "))


@pytest.mark.slow
def test_a_sampled_pipeline_run_ranks_every_model_on_the_same_candidates(tmp_path):
    """The whole chain on the example paper with eval.ranking=sampled-20: our sandboxed model and RecBole's read the
    one candidates file, and the report's table says which ranking produced its numbers."""
    from paper_autotrain import pipeline
    from tests.test_pipeline import SMALL, config

    pipeline.run(config(tmp_path, *SMALL, "eval.ranking=sampled-20", "dataset.split.leave_one_out=true"))
    results = tmp_path / "results" / "tinyprop"
    ours = json.loads((results / "train" / "result.json").read_text())
    theirs = json.loads((results / "baselines" / "results.json").read_text())
    assert ours["ranking"] == "sampled-20" and {r["ranking"] for r in theirs} == {"sampled-20"}
    assert all(r["config"]["recbole"]["eval_args"]["mode"] == "uni20" for r in theirs)
    assert len(list((tmp_path / "datasets" / "ml-100k").glob("*/candidates/sampled-20.seed0.npz"))) == 1
    md = (results / "report.md").read_text()
    assert "(test split, our evaluator, sampled-20 ranking)" in md and "among 20 negatives" in md
    assert 0.3 < ours["test"]["hit@10"] <= 1  # 10 of 21 candidates: far above the full ranking's hit rate


class RunContext:
    """What the pipeline's ranking resolution reads of a run: its spec and its eval section."""

    def __init__(self, spec, ranking):
        self._spec, self.eval = spec, {"ranking": ranking}

    def spec(self):
        return self._spec

    def section(self, name):
        return self.eval if name == "eval" else {}


def test_the_pipeline_resolves_the_ranking_by_the_specs_regime(caplog):
    from paper_autotrain.pipeline import resolved_ranking

    graph = report_fixtures.protocol_spec()  # its paper ranks against 100 sampled negatives
    sequential = graph.model_copy(update={"family": "sequential"})
    ctr = graph.model_copy(update={"family": "context"})
    assert resolved_ranking(RunContext(graph, "paper")) == "sampled-100"
    assert resolved_ranking(RunContext(graph, "sampled-20")) == "sampled-20"
    assert resolved_ranking(RunContext(sequential, "paper")) == "sampled-100"  # SASRec's protocol
    assert resolved_ranking(RunContext(report_fixtures.spec(), "paper")) == "full"  # the paper's ranking not read
    with pytest.raises(UserError, match="rank no items, so they have no sampled ranking"):
        resolved_ranking(RunContext(ctr, "sampled-100"))
    with caplog.at_level(logging.WARNING, logger="paper_autotrain"):  # another test may have raised its level
        assert resolved_ranking(RunContext(ctr, "paper")) == "full"
    assert "full ranking only" in caplog.text
