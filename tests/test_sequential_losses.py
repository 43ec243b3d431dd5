"""The losses sequential papers train with: GRU4Rec's TOP1 and BPR-max over in-batch negatives, SASRec's sampled BCE,
RecBole's BPR (to compare like with like). Each loss against a value computed by hand; fixture papers describing
GRU4Rec with TOP1 or BPR-max, and SASRec with sampled BCE, are read to their loss, render, pass the gates, and their
RecBole reference trains BPR with a note that it is not the paper's loss. The papers are written for the tests."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from paper_autotrain.data.sequential import load_sequences
from paper_autotrain.errors import UserError
from paper_autotrain.runtime.losses import bpr_max_loss, top1_loss
from paper_autotrain.runtime.sequential import SequentialModule, training_batches
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages import extract, parse, render, validate
from paper_autotrain.stages import train as train_stage
from paper_autotrain.stages.baselines.references import reference_with_notes
from tests.model_fixtures import reference_spec
from tests.pdf_fixtures import bundle_for, write_pdf

RULES = {"name": "rules", "hparams": {}}


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# --- the losses by hand ---------------------------------------------------------------------------------------

def test_top1_equals_the_papers_formula_on_a_tiny_tensor():
    # positive score 1.0, negatives 0.0 and 2.0: mean_j sigmoid(r_j - r_i) + sigmoid(r_j^2)
    by_hand = ((sigmoid(0.0 - 1.0) + sigmoid(0.0)) + (sigmoid(2.0 - 1.0) + sigmoid(4.0))) / 2
    assert by_hand == pytest.approx(1.241007, abs=1e-6)
    value = top1_loss(torch.tensor([1.0]), torch.tensor([[0.0, 2.0]]))
    assert value.item() == pytest.approx(by_hand, abs=1e-6)
    # a masked entry is no negative; a row without negatives adds nothing to its row's mean
    masked = top1_loss(torch.tensor([1.0, 0.5]), torch.tensor([[0.0, 2.0, 9.0], [3.0, 3.0, 3.0]]),
                       torch.tensor([[True, True, False], [True, False, False]]))
    second = sigmoid(3.0 - 0.5) + sigmoid(9.0)
    assert masked.item() == pytest.approx((by_hand + second) / 2, abs=1e-6)


def test_bpr_max_equals_the_papers_formula_on_a_tiny_tensor():
    # -log sum_j softmax(r_j) sigmoid(r_i - r_j) + lambda * sum_j softmax(r_j) r_j^2, r_i = 1, r_j = 0 and 2
    s0, s2 = 1.0 / (1.0 + math.exp(2.0)), math.exp(2.0) / (1.0 + math.exp(2.0))
    by_hand = -math.log(s0 * sigmoid(1.0) + s2 * sigmoid(-1.0)) + 0.5 * (s0 * 0.0 + s2 * 4.0)
    assert by_hand == pytest.approx(2.888522, abs=1e-6)
    value = bpr_max_loss(torch.tensor([1.0]), torch.tensor([[0.0, 2.0]]), reg=0.5)
    assert value.item() == pytest.approx(by_hand, abs=1e-6)
    # masked negatives leave the softmax; a row with none is dropped, never NaN
    masked = bpr_max_loss(torch.tensor([1.0, 7.0]), torch.tensor([[0.0, 2.0, 50.0], [1.0, 1.0, 1.0]]), reg=0.5,
                          mask=torch.tensor([[True, True, False], [False, False, False]]))
    assert masked.item() == pytest.approx(by_hand, abs=1e-6)
    nothing = torch.zeros(1, 1, requires_grad=True)
    empty = bpr_max_loss(nothing[0], nothing, reg=1.0, mask=torch.zeros(1, 1, dtype=torch.bool))
    assert empty.item() == 0.0 and not torch.isnan(empty)


class FixedScores(SequentialModule):
    """States and item vectors given, so the base class's loss can be checked on them."""

    def __init__(self, loss: str, states: torch.Tensor, table: torch.Tensor, **kwargs: object) -> None:
        super().__init__(SimpleNamespace(n_items=len(table) - 1, max_seq_length=4), loss=loss, **kwargs)
        self.states, self.table = states, table

    def training_states(self, batch):  # noqa: ANN001, ANN201 - the base class's contract
        return self.states, batch["targets"], batch.get("neg_items")

    def item_table(self) -> torch.Tensor:
        return self.table


def test_in_batch_negatives_are_the_other_targets_of_the_batch_not_the_same_item():
    table = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    states = torch.tensor([[2.0, 0.5], [0.5, 1.0], [1.0, -1.0]])
    targets = torch.tensor([1, 2, 1])  # rows 0 and 2 share item 1: not each other's negative
    score = [[float(states[i] @ table[t]) for t in targets] for i in range(3)]

    def top1_row(i: int) -> float:
        negatives = [score[i][j] for j in range(3) if targets[j] != targets[i]]
        return sum(sigmoid(r - score[i][i]) + sigmoid(r * r) for r in negatives) / len(negatives)

    def bpr_max_row(i: int, reg: float) -> float:
        negatives = [score[i][j] for j in range(3) if targets[j] != targets[i]]
        weights = [math.exp(r) / sum(math.exp(q) for q in negatives) for r in negatives]
        ranked = sum(w * sigmoid(score[i][i] - r) for w, r in zip(weights, negatives, strict=True))
        return -math.log(ranked) + reg * sum(w * r * r for w, r in zip(weights, negatives, strict=True))

    batch = {"targets": targets}
    top1 = FixedScores("top1", states, table).loss(batch)
    assert top1.item() == pytest.approx(sum(top1_row(i) for i in range(3)) / 3, abs=1e-5)
    bpr_max = FixedScores("bpr_max", states, table, bpr_max_reg=0.25).loss(batch)
    assert bpr_max.item() == pytest.approx(sum(bpr_max_row(i, 0.25) for i in range(3)) / 3, abs=1e-5)


def test_sampled_bce_and_bpr_by_hand_and_which_losses_draw_negatives(sequences):
    table = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    states = torch.tensor([[2.0, 0.5]])
    batch = {"targets": torch.tensor([1]), "neg_items": torch.tensor([[2]])}
    bce = FixedScores("bce", states, table).loss(batch).item()  # SASRec's: -log s(r_i) - log(1 - s(r_j))
    assert bce == pytest.approx(-math.log(sigmoid(2.0)) - math.log(1 - sigmoid(0.5)), abs=1e-6)
    bpr = FixedScores("bpr", states, table).loss(batch).item()  # RecBole's: -log s(r_i - r_j)
    assert bpr == pytest.approx(-math.log(sigmoid(2.0 - 0.5)), abs=1e-6)

    split = load_sequences(sequences.path)
    for loss, drawn in (("bce", True), ("bpr", True), ("top1", False), ("bpr_max", False), ("ce", False)):
        config = {"model": {"loss": loss}, "optim": {"negative_samples": 1}, "data": {"train_positions": "windows"}}
        first = next(iter(training_batches(split, config, batch_size=32)))
        assert ("neg_items" in first) is drawn, loss
        if drawn:  # one negative per positive at every position of the window
            assert first["neg_items"].shape == (*first["targets"].shape, 1)


# --- fixture papers ---------------------------------------------------------------------------------------------

SESSION_SETTINGS = ("We evaluate on the RSC15 and VIDEO datasets and report Recall@20 and MRR@20. Table 2 reports "
                    "the results.")


def gru_paper(loss_section: list[str]) -> list[list[str]]:
    return [
        ["Session-based Recommendations with Recurrent Neural Networks",
         "Abstract. Session-based recommendation predicts the next click of a user from the clicks of the current "
         "session only. We apply recurrent neural networks with gated recurrent units to this task and train them "
         "with a ranking loss.",
         "1 INTRODUCTION",
         "Item-to-item methods consider only the last click of a session and ignore the sequence of items. A GRU "
         "network models the whole session instead."],
        ["2 METHOD",
         "2.1 Model",
         "The input of the network is the sequence of items of the session. Each item is mapped to an item "
         "embedding, and a single layer of gated recurrent units (GRU) reads the sequence; the hidden state of the "
         "GRU after the last item is the representation of the session. The GRU's update gate and reset gate learn "
         "when and by how much to update the hidden state. The score of each candidate next item is "
         "the dot product of the hidden state and the item's embedding.",
         "2.2 Sampling on the output",
         "Computing a score for every item at every step is too slow, so we sample negative items: the other "
         "items of the mini-batch are the negative samples of each example.",
         *loss_section],
        ["3 EXPERIMENTS", SESSION_SETTINGS,
         "Settings. The number of hidden units is 100. We use a mini-batch size of 50 and the Adagrad optimizer with "
         "a learning rate of 0.01. Dropout of 0.5 is applied to the hidden layer."],
    ]


TOP1_SECTION = [
    "2.3 Ranking loss",
    "TOP1: This ranking loss was devised by us for this task. It is the regularized approximation of the relative "
    "rank of the relevant item, where the indicator is approximated by a sigmoid, with a regularization term that "
    "pushes the scores of the negative samples towards zero."]
BPR_MAX_SECTION = [
    "2.3 Ranking loss",
    "The network is trained with the BPR-max loss: the target is compared with the negative samples weighted by "
    "their softmax scores, together with a score regularization term on the negative scores."]

SASREC_PAPER = [
    ["Self-Attentive Sequential Recommendation",
     "Abstract. Sequential dynamics are a key feature of modern recommender systems. We propose a self-attention "
     "based sequential model (SASRec) that predicts the next item from the items a user interacted with.",
     "1 INTRODUCTION",
     "Markov chains and recurrent networks model the sequence of items a user consumed; self-attention has "
     "replaced recurrence in machine translation."],
    ["2 METHODOLOGY",
     "2.1 Embedding Layer",
     "The training sequence is converted into a fixed-length sequence of item embeddings with a learnable position "
     "embedding added.",
     "2.2 Self-Attention Block",
     "We stack self-attention blocks with a causal mask, each followed by a point-wise feed-forward network, with "
     "residual connections, layer normalization and dropout. The self-attention layer at step t attends to the "
     "first t items only.",
     "2.3 Prediction Layer",
     "The relevance of item i at step t is the inner product of the output of the last block and the embedding "
     "of item i.",
     "2.4 Network Training",
     "At every position of the sequence the expected output is the next item. We adopt the binary cross entropy "
     "loss as the objective function, with one negative item sampled for each positive item at each time step."],
    ["3 EXPERIMENTS",
     "We use the MovieLens-1M, Steam and Beauty datasets and report Hit@10 and NDCG@10. Table 2 reports the "
     "results.",
     "Settings. The embedding size is 50. We use two self-attention blocks and the Adam optimizer with a learning "
     "rate of 0.001 and a batch size of 128. The dropout rate is 0.2. The maximum sequence length is 200."],
]

GRU4REC = ["item_embedding", "gru_encoder", "last_position", "item_dot_score"]
FIXTURES = {
    "top1": (gru_paper(TOP1_SECTION), GRU4REC, "GRU4Rec"),
    "bpr_max": (gru_paper(BPR_MAX_SECTION), GRU4REC, "GRU4Rec"),
    "bce": (SASREC_PAPER, ["item_embedding", "self_attention_encoder", "last_position", "item_dot_score"], "SASRec"),
}


def spec_of(folder: Path, pages: list[list[str]], **hparams: object) -> MethodSpec:
    folder.mkdir(parents=True, exist_ok=True)
    bundle, where = bundle_for(write_pdf(folder / "paper.pdf", pages))
    return extract.run(parse.run(bundle, where, {"max_pages": 60, "max_mb": 50}), {**RULES, "hparams": hparams})


def small(spec: MethodSpec, loss: str | None = None) -> MethodSpec:
    """The spec at sizes the synthetic sequences train in seconds (and with another loss, when given)."""
    hyperparameters = {**spec.hyperparameters}
    for key, value in {"batch_size": 64, "embedding_size": 16, "hidden_size": 16, "max_seq_length": 20}.items():
        hyperparameters[key] = {"value": value, "source": "user"}
    data = {**spec.model_dump(), "hyperparameters": hyperparameters, "loss": loss or spec.trained_loss}
    return MethodSpec.model_validate(data)


def rendered(spec: MethodSpec, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(spec, {}).items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("loss", FIXTURES)
def test_the_paper_is_read_to_its_loss_and_the_reference_says_it_trains_bpr_instead(loss, tmp_path):
    pages, blocks, reference = FIXTURES[loss]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.trained_loss) == ("sequential", loss)
    assert spec.loss == ("other" if loss in ("top1", "bpr_max") else loss)  # DESIGN's vocabulary, the name apart
    assert [block.block for block in spec.architecture] == blocks
    assert spec.reference == reference
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    # the ranking loss with in-batch negatives is built as the paper says: no deviation names it
    assert not any("TOP1" in deviation.component for deviation in spec.fidelity.deviations)
    assert not any("loss" in note for note in spec.unclear if "not recognised" in note)
    name, overrides, notes = reference_with_notes(spec)
    assert name == reference and overrides["loss_type"] == "BPR"
    assert overrides["train_neg_sample_args"] == {"distribution": "uniform", "sample_num": 1}
    loss_note = next(note for note in notes if note.startswith("loss:"))
    assert "not the paper's loss" in loss_note and "loss: bpr" in loss_note
    config = render.run(spec, {})["config.yaml"]
    assert f'loss: "{loss}"' in config
    assert ("bpr_max_reg: 1.0" in config) is (loss == "bpr_max")
    if loss == "bpr_max":
        assert spec.hyperparameters["bpr_max_reg"].source == "default"


@pytest.mark.parametrize(("paper", "read"), [("bce", "bce"), ("top1", "top1")])
def test_hparams_loss_trains_recboles_loss_beside_the_reference_and_says_it_is_not_the_papers(paper, read, tmp_path):
    pages, _, reference = FIXTURES[paper]
    spec = spec_of(tmp_path, pages, loss="bpr")  # +hparams.loss=bpr
    assert spec.loss == "bpr"
    assert f"loss: bpr set by the user (hparams.loss); the loss read from the paper is {read}" in spec.unclear
    assert any(d.component == "the paper's training loss" and d.paper == f"loss: {read}"
               for d in spec.fidelity.deviations)
    name, overrides, notes = reference_with_notes(spec)
    assert (name, overrides["loss_type"]) == (reference, "BPR")
    assert overrides["train_neg_sample_args"] == {"distribution": "uniform", "sample_num": 1}
    assert not any(note.startswith("loss:") for note in notes)  # both sides train BPR
    assert 'loss: "bpr"' in render.run(spec, {})["config.yaml"]
    with pytest.raises(UserError, match="hparams.loss='hinge' is not a loss"):
        spec_of(tmp_path / "again", pages, loss="hinge")


@pytest.mark.parametrize("loss", FIXTURES)
def test_the_papers_loss_renders_and_passes_the_gates(loss, sequences, tmp_path):
    pages, _, _ = FIXTURES[loss]
    folder = rendered(small(spec_of(tmp_path / "paper", pages)), tmp_path / "model")
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    assert {g["name"] for g in report["gates"]} >= {"build", "shapes", "overfit", "leakage"}


@pytest.mark.parametrize("loss", [
    "top1", pytest.param("bpr_max", marks=pytest.mark.slow), pytest.param("bce", marks=pytest.mark.slow)])
def test_the_papers_loss_trains(loss, sequences, tmp_path):
    pages, _, _ = FIXTURES[loss]
    folder = rendered(small(spec_of(tmp_path / "paper", pages)), tmp_path / "model")
    result = train_stage.run(folder, sequences, {"max_epochs": 2, "seed": 0, "timeout_s": 300}, tmp_path / "out")
    assert result.status == "ok" and result.epochs_run == 2 and 0.0 < result.test["hit@20"] <= 1.0


def test_a_named_loss_is_written_in_the_designs_vocabulary_with_its_name_apart():
    spec = MethodSpec.model_validate({**reference_spec("GRU4Rec").model_dump(), "loss": "top1"})
    assert (spec.loss, spec.loss_name, spec.trained_loss) == ("other", "top1", "top1")
    assert yaml.safe_load(yaml.safe_dump(spec.model_dump()))["loss"] == "other"  # what spec.yaml says
    assert spec.with_trained_loss("ce").model_dump()["loss_name"] is None
    with pytest.raises(ValueError, match="loss must be 'other'"):
        MethodSpec.model_validate({**spec.model_dump(), "loss": "bce", "loss_name": "top1"})
