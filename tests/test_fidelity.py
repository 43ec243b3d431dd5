"""Fidelity: the component inventory read from a paper's method section, the paper's own RecBole class as the
reference, and no model built under a paper's name unless every component of its method is built.

The fixture papers are written the way papers describe methods; none is a real paper.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from paper_autotrain.errors import StageError
from paper_autotrain.recbole_models import composition_class, recbole_class
from paper_autotrain.schemas import Component, Fidelity
from paper_autotrain.stages import extract, parse, render
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.stages.extract.fidelity import offered_or_cited
from tests.model_fixtures import reference_spec
from tests.pdf_fixtures import bundle_for, write_pdf

RULES = {"name": "rules", "hparams": {}}
SETTINGS = ("4 EXPERIMENTS", "We evaluate on the Criteo dataset with AUC and Logloss. Table 1 reports the results. "
            "The embedding size is 16 and we use Adam with a learning rate of 0.001.")

# Known blocks (field embeddings, FM pairwise products, a linear part) plus one part no block builds: an external
# memory the interactions are written to (AFM's attention network is built since issue 19: attentional_interaction;
# a matrix per pair of fields since the fifth session: FmFM's field_matrixed_interaction)
MISSING_PART = "memory network (external memory, attention hops)"
ATTENTIVE_FM = [
    ["AttnFM: Weighting Feature Interactions with Attention for CTR Prediction",
     "Abstract. We propose a new model named AttnFM for click-through rate (CTR) prediction. AttnFM learns how "
     "much each feature interaction matters.",
     "1 INTRODUCTION", "Factorization machines (FM) model pairwise feature interactions with inner products of "
     "latent vectors, but an FM weights every interaction the same. AttnFM keeps the FM and adds attention. "
     "Like an FM, AttnFM has a first-order part. FMs are fast; AttnFM is as fast as an FM. A deep neural network, "
     "as in DeepFM, learns implicit interactions."],
    ["2 RELATED WORK", "DeepFM [4] sums a factorization machine and a deep neural network with hidden layers. "
     "Wide & Deep [2] joins a linear model with a deep network.",
     "3 METHOD", "Each field is embedded into a latent vector. The first-order part is a linear regression over "
     "the sparse features. The pairwise interactions are the element-wise products of the field embeddings, as "
     "in factorization machines. The pairwise interactions are written to an external memory of learned slots "
     "before their sum. The model is trained with the log loss on the clicks.",
     *SETTINGS],
]
# The related work describes LightGCN's light propagation; the method itself keeps per-layer weight matrices,
# a non-linear activation and concatenates the layers
WEIGHTED_GRAPH = [
    ["DeepProp: Deeper Propagation for Graph Collaborative Filtering",
     "Abstract. We propose a graph neural network named DeepProp for top-k recommendation on the user-item graph.",
     "1 INTRODUCTION", "Graph convolution networks refine user and item embeddings over the interaction graph. We "
     "train with the BPR loss and score a pair by the inner product of the embeddings."],
    ["2 RELATED WORK", "LightGCN [12] uses light graph convolution: it removes feature transformation and "
     "non-linear activation and applies layer combination over neighborhood aggregation. NGCF [30] keeps them.",
     "3 METHOD", "Unlike LightGCN, each layer has its own weight matrix W_k. After the neighbour sum, a LeakyReLU "
     "non-linear activation is applied at every layer. The embeddings of all layers are concatenated into the "
     "final representation. The score of a user-item pair is the inner product of the final representations. "
     "We optimise the BPR loss with one sampled negative item.",
     "4 EXPERIMENTS", "We evaluate on Gowalla with Recall@20 and NDCG@20. The embedding size is 64."],
]


def spec_of(tmp_path: Path, pages: list[list[str]]):
    tmp_path.mkdir(parents=True, exist_ok=True)
    bundle, folder = bundle_for(write_pdf(tmp_path / "paper.pdf", pages))
    return extract.run(parse.run(bundle, folder, {"max_pages": 60, "max_mb": 50}), RULES)


def test_known_blocks_with_one_unknown_part_is_partial_and_names_the_part(tmp_path):
    spec = spec_of(tmp_path, ATTENTIVE_FM)
    assert spec.model_name == "AttnFM" and spec.reference is None  # RecBole has no class named AttnFM
    assert spec.fidelity.verdict == "partial"
    assert MISSING_PART in spec.fidelity.missing
    assert MISSING_PART in [part.name for part in spec.custom]
    built = {c.name: c.block for c in spec.fidelity.components if c.block}
    assert built.get("factorisation-machine pairwise interactions (inner products of latent vectors)") == \
        "fm_interaction"
    # the related work's DeepFM and Wide & Deep are not read as parts of AttnFM
    assert "multi-layer perceptron" not in [c.name for c in spec.fidelity.components]
    quote = next(c.evidence for c in spec.fidelity.components if c.name == MISSING_PART)
    assert quote.startswith("p2: ") and "external memory of learned slots" in quote


def test_a_partial_spec_is_refused_at_render_with_the_missing_part_and_the_ways_forward(tmp_path):
    spec = spec_of(tmp_path, ATTENTIVE_FM)
    with pytest.raises(StageError) as refused:
        render.run(spec, {})
    message = str(refused.value)
    assert "\n" not in message and MISSING_PART in message
    assert "fidelity=allow_partial" in message and "llm=" in message


def test_allow_partial_builds_the_rest_and_every_file_says_approximation(tmp_path):
    spec = spec_of(tmp_path, ATTENTIVE_FM)
    files = render.run(spec, {"fidelity": "allow_partial"})
    docstring = files["model.py"].split('"""')[1]
    assert "approximation: " in docstring and MISSING_PART in docstring
    assert "NOT the paper's model" in docstring
    readme = files["README.md"]
    assert "(approximation)" in readme.splitlines()[0]
    assert "**not built**" in readme and MISSING_PART in readme
    with pytest.raises(StageError, match="not a mode"):
        render.run(spec, {"fidelity": "sometimes"})


def test_related_work_cues_do_not_make_a_different_model(tmp_path):
    spec = spec_of(tmp_path, WEIGHTED_GRAPH)
    assert spec.model_name == "DeepProp" and spec.reference is None
    names = [c.name for c in spec.fidelity.components]
    assert not any(name.startswith("light graph convolution") for name in names)  # read in related work only
    missing = spec.fidelity.missing
    assert "per-layer weight matrices (feature transformation in propagation)" in missing
    assert "non-linear propagation (activation after each graph layer)" in missing
    assert "layer concatenation (concatenating every layer's embeddings)" in missing
    assert spec.fidelity.verdict == "partial"


def test_negated_parts_are_not_components_and_the_example_paper_is_faithful():
    example = Path(__file__).resolve().parents[1] / "examples" / "papers" / "tinyprop.pdf"
    bundle, folder = bundle_for(example)
    spec = extract.run(parse.run(bundle, folder, {"max_pages": 60, "max_mb": 50}), RULES)
    assert (spec.model_name, spec.reference, spec.fidelity.verdict) == ("LightGCN", "LightGCN", "faithful")
    by_block = {c.block for c in spec.fidelity.components}
    assert {"light_propagation", "dot_score"} <= by_block
    # "We remove the feature transformation and the nonlinear activation": neither is a component
    assert not any(c.name.startswith(("per-layer", "non-linear")) for c in spec.fidelity.components)


def test_the_reference_is_the_papers_class_by_name_or_title_never_by_blocks():
    assert recbole_class("Mult-VAE^PR") == "MultiVAE" and recbole_class("Wide & Deep") == "WideDeep"
    assert recbole_class("AttnFM") is None and recbole_class("CML", "Collaborative Metric Learning") is None
    assert recbole_class(None, "Session-based Recommendations with Recurrent Neural Networks") == "GRU4Rec"
    assert recbole_class(None, "SESSION-BASED RECOMMENDATIONS WITH RECURRENT NEURAL NETWORKS Balázs Hidasi") == \
        "GRU4Rec"  # the first page's opening text, when the PDF has no title metadata
    assert composition_class("context", ["field_embedding", "linear", "fm_interaction", "sum_logits"], "bce") == "FM"
    assert composition_class("general", ["embedding", "dot_score"], "bce") is None  # MF is BPR only with BPR


def test_a_partial_spec_is_compared_with_recbole_s_class_of_the_paper_not_of_the_blocks():
    spec = reference_spec("FM").model_copy(update={
        "model_name": "AFM", "reference": "AFM",
        "fidelity": Fidelity(verdict="partial", components=[
            Component(name="attention network over pairwise interactions", evidence="p3: ...", block=None)])})
    model, overrides, notes = reference_with_notes(spec)
    assert model == "AFM" and overrides["learning_rate"] == 0.001
    assert any("approximation of AFM" in note and "RecBole's FM" in note for note in notes)
    nameless = spec.model_copy(update={"reference": None})
    assert reference_with_notes(nameless) is None  # RecBole has no class of the paper's model: no reference row
    assert reference_with_notes(reference_spec("FM"))[0] == "FM"  # a hand-written spec: the class of its blocks


def test_the_schema_refuses_a_faithful_verdict_with_an_unbuilt_component_and_a_block_the_model_lacks():
    unbuilt = Component(name="attention network", evidence="p3: ...", block=None)
    with pytest.raises(ValidationError, match="verdict is faithful but component 'attention network'"):
        Fidelity(verdict="faithful", components=[unbuilt])
    spec = reference_spec("FM")
    lacking = Fidelity(verdict="faithful", components=[Component(name="attention network", block="attention")])
    with pytest.raises(ValidationError, match="block 'attention', which the architecture does not have"):
        spec.model_validate({**spec.model_dump(), "fidelity": lacking.model_dump()})


def test_block_parameters_copied_from_defaults_say_default_not_paper(tmp_path):
    spec = spec_of(tmp_path, ATTENTIVE_FM)
    readme = render.run(spec, {"fidelity": "allow_partial"})["README.md"]
    row = next(line for line in readme.splitlines() if line.startswith("| mlp_layers") or
               line.startswith("| embedding_size"))
    assert "| paper |" in row or "| default |" in row
    assert "architecture (" not in readme


def test_an_approximation_run_says_so_in_the_report_csv_ledger_and_leaderboard(tmp_path):
    """The whole chain on a partial paper with fidelity=allow_partial: nothing claims a reproduction."""
    import csv

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from paper_autotrain import pipeline
    from paper_autotrain.records import leaderboard
    from paper_autotrain.records.ledger import Ledger

    pdf = write_pdf(tmp_path / "attnfm.pdf", ATTENTIVE_FM)
    conf = Path(__file__).resolve().parents[1] / "paper_autotrain" / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config", overrides=[
            f"paper={pdf}", f"paths.root={tmp_path}", "fidelity=allow_partial", "trainer.max_epochs=1",
            "baselines=[LR]"]), resolve=True)
    pipeline.run(cfg)
    results = tmp_path / "results" / "attnfm"
    missing = MISSING_PART
    report = (results / "report.md").read_text()
    assert report.splitlines()[0].startswith("# AttnFM: approximation: ") and missing in report.splitlines()[0]
    assert "Reproduced AttnFM" not in report
    rows = list(csv.DictReader((results / "report.csv").open()))
    assert {r["role"] for r in rows if r["model"] == "AttnFM"} >= {"approximation"}
    assert "reproduced" not in {r["role"] for r in rows}
    assert missing in (results / "report.html").read_text()
    ledger = Ledger.under(tmp_path / "results")
    (run,) = ledger.history("attnfm")
    assert run.status == "approximation"
    board = leaderboard.build(ledger, tolerance=0.05)
    written = leaderboard.write(board, tmp_path / "results", 0.05)
    assert any("approximation" in path.read_text() for path in written)
    assert not any(row.regressed for row in board)


SELF_ATTENTIVE = [
    ["SASRec: Self-Attentive Sequential Recommendation (fixture)",
     "Abstract. We propose a self-attention based sequential model named SASRec for next-item recommendation.",
     "1 INTRODUCTION", "Self-attention captures long-range dependencies in the user's action sequence."],
    ["2 METHOD", "We create an item embedding matrix and add a learnable positional embedding to each position. "
     "The self-attention layer attends to the previous items only (causal). The point-wise feed-forward network "
     "is F = ReLU(S W(1) + b(1)) W(2) + b(2), where W(1), W(2) are d × d matrices. For every sub-layer g we "
     "apply layer normalization on the input x before feeding into g: g(x) = x + Dropout(g(LayerNorm(x))). The "
     "preference score is the inner product of the sequence representation and the item embedding. We train "
     "with the binary cross-entropy loss with one sampled negative item.",
     "3 EXPERIMENTS", "We evaluate on MovieLens-1M with Hit@10 and NDCG@10. The latent dimensionality d is 50 "
     "and we use two self-attention blocks with one head. The self-attention block is stacked twice."],
]
WIDE_AND_CROSSED = [
    ["Wide & Deep Learning for Recommender Systems (fixture)",
     "Abstract. We present Wide & Deep learning for click-through rate (CTR) prediction: a wide linear model "
     "and a deep neural network trained jointly.",
     "1 INTRODUCTION", "The wide part memorizes; the deep part generalizes. A deep neural network with hidden "
     "layers embeds the sparse features. The wide model and the deep neural network are trained jointly. The "
     "deep neural network has hidden layers. The wide part is a linear model."],
    ["3 WIDE & DEEP LEARNING", "The wide component is a generalized linear model over the raw sparse features "
     "and their cross-product transformations, one weight for each crossed feature. The deep component is a "
     "feed-forward neural network with hidden layers over the embeddings of the sparse features. The log loss "
     "of the summed wide and deep log-odds is minimised.", *SETTINGS],
]


def test_a_transformer_s_stated_structure_is_built_and_quoted(tmp_path):
    spec = spec_of(tmp_path, SELF_ATTENTIVE)
    assert (spec.reference, spec.fidelity.verdict) == ("SASRec", "faithful")
    encoder = next(b for b in spec.architecture if b.block == "self_attention_encoder").params
    assert (encoder["norm"], encoder["activation"]) == ("pre", "relu")
    assert spec.hp("hidden_size") == spec.hp("embedding_size") == 50  # the d x d feed-forward
    assert "d × d" in spec.hyperparameters["hidden_size"].evidence
    names = {c.name: c for c in spec.fidelity.components}
    pre_norm = names["pre-norm residual sub-layers (layer normalisation on the sub-layer's input)"]
    assert pre_norm.block == "self_attention_encoder" and "LayerNorm(x)" in pre_norm.evidence
    model = render.run(spec, {})["model.py"]
    assert "norm_first=True" in model and 'activation="relu"' in model


def test_a_wide_part_with_crosses_gets_the_cross_product_block(tmp_path):
    spec = spec_of(tmp_path, WIDE_AND_CROSSED)
    assert spec.reference == "WideDeep" and spec.fidelity.verdict == "faithful"
    assert [b.block for b in spec.architecture] == [
        "field_embedding", "linear", "cross_product", "mlp_tower", "sum_logits"]
    crosses = next(c for c in spec.fidelity.components if c.name.startswith("cross-product"))
    assert crosses.block == "cross_product" and "cross-product transformations" in crosses.evidence
    assert [d.component for d in spec.fidelity.deviations] == ["choice of the crossed feature pairs"]
    assert reference_with_notes(spec)[0] == "WideDeep"


@pytest.mark.parametrize(("sentence", "offered"), [
    ("Notice that other interaction functions can be also applied, such as Euclidean distance.", True),
    ("The score could also be the Euclidean distance between the two vectors.", True),
    ("We score a pair by the Euclidean distance between the user and the item.", False),
])
def test_a_part_offered_as_an_option_is_not_the_methods_own(sentence, offered):
    match = re.search("Euclidean distance", sentence)
    assert offered_or_cited(sentence, match, sentence) is offered
