"""Sampled ranking for the sequential regime (the next item among N negatives, as SASRec's paper ranks it), the
`paper` setting taking the paper's leave-one-out split, and the baselines' cache keyed by the candidates."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from paper_autotrain import pipeline
from paper_autotrain.data import candidates as cands
from paper_autotrain.data.candidates import (
    SampledCandidates,
    candidates_identity,
    candidates_path,
    prepare_for_seeds,
)
from paper_autotrain.data.protocol_words import LEAVE_ONE_OUT_WORDS
from paper_autotrain.data.sequential import compute_sequences, evaluate_next_item, load_sequences
from paper_autotrain.schemas import ProtocolItem, SplitInfo
from paper_autotrain.stages import baselines, compare
from paper_autotrain.stages.baselines.runner import ranking_arguments, sampled_candidates
from paper_autotrain.worker.train import use_candidates
from tests import report_fixtures
from tests.model_fixtures import write_synthetic_split, write_walks
from tests.test_baselines import fake_runner

LOG2 = math.log2


def hand_sequences():
    """User 0 watches a, b, c (valid target b, test c); user 1 d, e, a, f (valid a, test f). Ids: a=1 .. f=6."""
    rows = [("u0", "a", 1), ("u0", "b", 2), ("u0", "c", 3), ("u1", "d", 1), ("u1", "e", 2), ("u1", "a", 3),
            ("u1", "f", 4)]
    return compute_sequences(pd.DataFrame(rows, columns=["user", "item", "timestamp"]), max_seq_length=5)


def matrix(pairs, shape):
    rows, cols = zip(*pairs, strict=True)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)


# columns: padding, a, b, c, d, e, f; the padding scores highest and must never rank
SCORES = torch.tensor([[100.0, 9.0, 3.0, 5.0, 6.0, 1.0, 10.0],
                       [50.0, 1.0, 8.0, 2.0, 10.0, 9.0, 9.5]])


def test_sequential_sampled_metrics_equal_a_hand_computation():
    split = hand_sequences()
    shape = (2, 7)
    hand = SampledCandidates(2, 0, {"test": matrix([(0, 4), (0, 5), (1, 2), (1, 3)], shape),
                                    "valid": matrix([(0, 6), (1, 3)], shape)})

    def score(histories, lengths, users):
        return SCORES[users]

    test = evaluate_next_item(score, split, "test", ks=(1, 2), candidates=hand)
    by_user = {name: values.tolist() for name, values in test.per_user.items()}
    # user 0 ranks {c 5, d 6, e 1}: d, c, e -> its target second; user 1 ranks {f 9.5, b 8, c 2}: f first
    assert by_user["hit@1"] == [0.0, 1.0] and by_user["hit@2"] == [1.0, 1.0]
    assert by_user["ndcg@2"] == pytest.approx([1 / LOG2(3), 1.0])
    assert by_user["mrr@2"] == pytest.approx([0.5, 1.0])
    # the full ranking of the same scores (padding excluded, history not masked): user 0's c is fourth (f, a, d
    # above it), user 1's f second (d above it)
    full = evaluate_next_item(score, split, "test", ks=(1, 2))
    assert full.per_user["hit@2"].tolist() == [0.0, 1.0] and full.per_user["hit@1"].tolist() == [0.0, 0.0]
    valid = evaluate_next_item(score, split, "valid", ks=(1, 2), candidates=hand)
    # user 0: b (3) under f (10); user 1: a (1) under c (2)
    assert valid.per_user["hit@1"].tolist() == [0.0, 0.0] and valid.per_user["hit@2"].tolist() == [1.0, 1.0]


def test_sequence_candidates_are_unseen_items_drawn_once_and_read_alike_by_our_worker_and_recboles_runner(sequences):
    split_dir = sequences.path
    drawn = prepare_for_seeds(split_dir, "sampled-5", [0], load_sequences)  # the stage, before worker and runners
    split = load_sequences(split_dir)
    written = candidates_path(split_dir, 5, 0).stat().st_mtime_ns
    assert prepare_for_seeds(split_dir, "sampled-5", [0], load_sequences)[0].negatives == 5
    assert candidates_path(split_dir, 5, 0).stat().st_mtime_ns == written  # not drawn again

    class Model:  # what the worker hands the candidates to (the base modules' `candidates`)
        candidates = None

    ours = Model()
    use_candidates(ours, {"eval": {"ranking": "sampled-5"}}, split_dir, split, 0)  # the sandboxed worker's read
    theirs = sampled_candidates(split_dir, split, **ranking_arguments({"ranking": "sampled-5", "seed": 0}))
    assert candidates_identity(ours.candidates) == candidates_identity(theirs) == candidates_identity(drawn[0])
    pool = split.candidate_pool()
    evaluated = np.isin(np.arange(split.n_users), split.eval_users())
    for phase in ("valid", "test"):
        negatives = theirs.matrices[phase]
        assert negatives.shape == (split.n_users, split.n_items + 1)  # the sequences' score columns
        assert negatives[:, 0].nnz == 0 and negatives.multiply(pool.seen).nnz == 0  # no padding, no item of theirs
        assert np.array_equal(np.diff(negatives.indptr), np.where(evaluated, 5, 0))
    assert (theirs.matrices["valid"] != theirs.matrices["test"]).nnz > 0


def test_sequence_model_ranks_its_target_among_the_candidates_when_the_worker_sets_them(sequences, tmp_path):
    """The base module's validation reads the candidates the worker set: a scorer that knows the target ranks it
    first among 5 negatives, while the full ranking's padding and history stay as they were."""
    from paper_autotrain.runtime.sequential import SequentialModule

    split = load_sequences(sequences.path)
    prepare_for_seeds(sequences.path, "sampled-5", [0], load_sequences)
    targets = {phase: dict(zip(*split_targets(split, phase), strict=True)) for phase in ("valid", "test")}

    class Oracle(SequentialModule):  # scores one wrong item highest, the target second
        phase = "test"

        def full_sort_scores(self, histories, lengths, users):
            scores = torch.zeros(len(users), self.n_items + 1)
            wanted = torch.tensor([targets[self.phase][int(u)] for u in users])
            rows = torch.arange(len(users))
            scores[rows, wanted] = 1.0
            scores[rows, 1 + (wanted % self.n_items)] = 2.0  # the next item id: seldom a candidate
            return scores

    model = Oracle(split, ks=(1,))
    full = model.evaluate("test").mean["hit@1"]
    use_candidates(model, {"eval": {"ranking": "sampled-5"}}, sequences.path, split, 0)
    sampled = model.evaluate("test").mean["hit@1"]
    assert full == 0.0 and sampled > 0.6  # the decoy item is among a user's 5 negatives only sometimes


def split_targets(split, phase):
    users, positions = split.examples(phase)
    return users.tolist(), split.items[split.offsets[users] + positions].tolist()


class RunContext:
    """What the pipeline reads of a run to cut its split: its spec, config sections and paths."""

    def __init__(self, spec, ranking, root, dataset):
        self._spec, self._split = spec, None
        self.cfg = {"paths": {"root": str(root), "datasets": "datasets"}, "dataset": dataset,
                    "eval": {"ranking": ranking}}

    def spec(self):
        return self._spec

    def section(self, name):
        return dict(self.cfg.get(name) or {})


def test_paper_ranking_takes_the_papers_leave_one_out_split_and_says_so(tmp_path, caplog):
    write_walks(tmp_path)
    dataset = {"name": "walks", "path": str(tmp_path), "split": {"ratios": [0.8, 0.1, 0.1], "order": "RO"}}
    loo = report_fixtures.protocol_spec()  # "leave-one-out (latest interaction per user)", sampled-100
    with caplog.at_level(logging.INFO, logger="paper_autotrain"):
        split = pipeline.Context.split(RunContext(loo, "paper", tmp_path, dataset))
    assert LEAVE_ONE_OUT_WORDS in split.protocol and "time order" in split.protocol
    assert "the split is the paper's" in caplog.text
    assert pipeline.Context.split(RunContext(loo, "sampled-100", tmp_path, dataset)).protocol.startswith(
        "per-user 0.8/0.1/0.1")  # a ranking set by hand keeps the configured split
    ratio = loo.model_copy(update={"protocol": loo.protocol.model_copy(update={
        "split": ProtocolItem(value="random 80/10/10 per user")})})
    per_dataset = loo.model_copy(update={"protocol": loo.protocol.model_copy(update={
        "split": ProtocolItem(value="leave-one-out (ML-1M); random 80/20 (Yelp)")})})
    sequential = loo.model_copy(update={"family": "sequential"})  # its sequences are leave-one-out already
    for spec in (ratio, per_dataset, sequential):
        assert pipeline.paper_split(RunContext(spec, "paper", tmp_path, dataset)) is None
    assert pipeline.with_papers_split(dataset, "leave-one-out")["split"] == {
        "ratios": [0.8, 0.1, 0.1], "order": "RO", "leave_one_out": True}  # no "latest": the configured order

    ours, others, files = report_fixtures.runs(tmp_path / "runs", [0])
    md = compare.run(loo, ours, others, report_fixtures.SPLIT,
                     {"split_from_paper": "leave-one-out (latest interaction per user)"}, files)["report.md"]
    protocol = next(line for line in md.splitlines() if line.startswith("- Protocol:"))
    assert 'split taken from the paper\'s protocol (eval.ranking=paper: "leave-one-out' in protocol


def test_a_baseline_cached_on_other_candidates_is_trained_again(tmp_path, monkeypatch):
    data = write_synthetic_split(tmp_path / "split", n_users=30, n_items=80, per_user=20)
    split = SplitInfo(dataset="synthetic", split_id="s1", path=str(tmp_path / "split"), n_users=data.n_users,
                      n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                      protocol="synthetic")
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(baselines, "run_model", fake_runner(calls))
    cfg = {"models": {"Pop": {}}, "seed": 0, "ks": [10], "device": "cpu", "ranking": "sampled-3"}
    baselines.run(None, split, cfg, tmp_path / "cache")
    baselines.run(None, split, cfg, tmp_path / "cache")
    assert len(calls) == 1  # the same candidates: from the cache
    monkeypatch.setattr(cands, "FORMAT_VERSION", cands.FORMAT_VERSION + 1)  # the candidates' format changes
    baselines.run(None, split, cfg, tmp_path / "cache")
    assert len(calls) == 2  # a miss, though RecBole's config is the same
    baselines.run(None, split, {**cfg, "seeds": [0, 1]}, tmp_path / "cache")
    assert calls[2:] == [("Pop", 1)]  # seed 0 from the cache, seed 1 (other candidates) trained

    config = baselines.recbole_config({}, {**cfg, "ranking": "full"})
    full = baselines.run(None, split, {**cfg, "ranking": "full"}, tmp_path / "cache")
    assert full[0].status == "ok" and (tmp_path / "cache" / f"{baselines.cache_key(split, 'Pop', config, 'cpu')}"
                                       ".json").is_file()  # full ranking keeps the key it had
    drawn = json.loads(json.dumps(candidates_identity(prepare_for_seeds(split.path, "sampled-3", [0],
                                                                            lambda path: data)[0])))
    redrawn = {**drawn, "digest": "0" * 16}  # the same format, N and seed, other negatives
    assert baselines.cache_key(split, "Pop", config, "cpu", drawn) != baselines.cache_key(split, "Pop", config,
                                                                                          "cpu", redrawn)


@pytest.mark.slow
def test_a_sequential_model_and_recboles_are_ranked_on_the_same_sampled_candidates(sequences, tmp_path):
    """The train and baselines stages on sampled-20: our SASRec in its sandboxed worker, RecBole's SASRec (the
    reference) and GRU4Rec in their runners, all scored by our evaluator on the one candidates file, RecBole's
    early stopping on its own uni20."""
    from paper_autotrain.stages import train as train_stage
    from tests.fixture_papers import rendered
    from tests.model_fixtures import reference_spec

    spec = reference_spec("SASRec", batch_size=64)
    trainer = {"max_epochs": 3, "seed": 0, "ranking": "sampled-20", "timeout_s": 600}
    ours = train_stage.run(rendered(spec, tmp_path / "model"), sequences, trainer, tmp_path / "train")
    cfg = {**trainer, "models": ["GRU4Rec"], "patience": 10, "ks": [10], "device": "cpu", "regime": "sequential",
           "max_seq_length": 5}
    theirs = {r.model: r for r in baselines.run(spec, sequences, cfg, tmp_path / "cache")}
    assert set(theirs) == {"GRU4Rec", "SASRec"} and all(r.status == "ok" for r in theirs.values()), theirs
    assert ours.ranking == "sampled-20" and {r.ranking for r in theirs.values()} == {"sampled-20"}
    assert all(r.config["recbole"]["eval_args"]["mode"] == "uni20" for r in theirs.values())
    assert (Path(sequences.path) / "candidates" / "sampled-20.seed0.npz").is_file()  # drawn once, read by all
    for result in (ours, *theirs.values()):  # 10 of 21 candidates: far above the full ranking's hit rate
        assert 0.45 < result.test["hit@10"] <= 1, (result.model, result.test)


def test_a_sampled_sequential_run_says_so_in_the_protocol_line_and_table(tmp_path):
    from paper_autotrain.data.protocol_words import SEQUENCE_FULL_WORDS

    spec = report_fixtures.protocol_spec().model_copy(update={"family": "sequential"})  # the paper: sampled-100
    split = report_fixtures.SPLIT.model_copy(update={"protocol": "time-ordered leave-one-out per user, histories of "
                                                                 f"at most 50 items; {SEQUENCE_FULL_WORDS}"})
    ours, others, files = report_fixtures.runs(tmp_path, [0])
    sampled = [[run.model_copy(update={"ranking": "sampled-100"}) for run in runs] for runs in (ours, others)]
    md = compare.run(spec, *sampled, split, {}, files)["report.md"]
    protocol = next(line for line in md.splitlines() if line.startswith("- Protocol:"))
    assert "among 100 negatives" in protocol and SEQUENCE_FULL_WORDS not in protocol
    assert next(line for line in md.splitlines() if line.startswith("| Ranking ")).endswith("| same |")
    full = compare.run(spec, ours, others, split, {}, files)["report.md"]
    assert SEQUENCE_FULL_WORDS in next(line for line in full.splitlines() if line.startswith("- Protocol:"))
