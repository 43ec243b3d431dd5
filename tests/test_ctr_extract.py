"""The rules extractor on fixture CTR papers: family context, task ctr, and the blocks of the described model."""

from __future__ import annotations

from pathlib import Path

import pytest

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.stages import extract, parse, render
from paper_autotrain.stages.baselines.references import reference_with_notes
from tests.pdf_fixtures import bundle_for, write_pdf

RULES = {"name": "rules", "hparams": {}}

SETTINGS = ("4 EXPERIMENTS", "We evaluate on the Criteo dataset with AUC and Logloss. Table 1 reports the results.")
FM_DEEP = [
    ["JointNet: A Factorization Machine based Neural Network for CTR Prediction",
     "Abstract. We propose a new model named JointNet for click-through rate (CTR) prediction. JointNet combines a "
     "factorization machine component with a deep neural network component. The factorization machine models "
     "low-order feature interactions and the deep neural network models high-order feature interactions.",
     "1 INTRODUCTION", "Each field is embedded; the factorization machine and the deep neural network share the "
     "field embeddings. Unlike a factorization machine alone, the hidden layers learn more. A wide model is weaker."],
    ["3 METHOD", "The output of the factorization machine and the deep neural network are summed. The hidden layers "
     "use relu. The model is trained with the log loss on the clicks.", *SETTINGS,
     "Settings: (1) dropout: 0.5; (2) network structure: 400-400-400; (3) optimizer: Adam."],
]
WIDE_DEEP = [
    ["Wide and Deep Joint Training for Recommender Systems",
     "Abstract. We present a wide and deep model for click-through rate (CTR) prediction in app recommendation. "
     "The wide part is a linear model over sparse features with cross-product transformations, the deep part a "
     "feed-forward neural network with hidden layers over embeddings of sparse features.",
     "1 INTRODUCTION", "The wide part memorizes and the deep part generalizes. Wide and deep parts are trained "
     "jointly; the wide model alone and the deep model alone are the baselines. A deep neural network is used."],
    ["3 METHOD", "A 32-dimensional embedding vector is learned for each categorical feature. The wide and deep parts "
     "are combined in one logistic loss. The neural network has 3 hidden layers.", *SETTINGS],
]
RATING_FM = [
    ["Feature Machines",
     "Abstract. We introduce factorization machines (FM), a general predictor over real-valued feature vectors. "
     "Factorization machines model all interactions between variables with factorized parameters. FMs work "
     "under huge sparsity and factorization machines mimic other factorization models.",
     "1 INTRODUCTION", "Factorization machines can be learned with stochastic gradient descent for the squared "
     "loss. A factorization machine with a feature interaction of degree two is the main model."],
    ["4 EXPERIMENTS", "We predict ratings on the Netflix dataset and report RMSE. Factorization machines beat the "
     "SVM. The least squares loss is optimised."],
]
CROSS_DEEP = [
    ["Crossing Networks for Ad Click Predictions",
     "Abstract. We propose a cross network combined with a deep neural network for click-through rate (CTR) "
     "prediction. The cross network applies explicit feature crossing at each of its cross layers.",
     "1 INTRODUCTION", "The cross network is efficient; the cross layers have few parameters. The deep neural "
     "network learns implicit interactions with hidden layers; the cross network and the deep neural network "
     "share the embedding of each field. The cross network output and the deep output are concatenated."],
    ["3 METHOD", "The log loss is minimised. The cross network has 6 cross layers. The deep neural network has "
     "three hidden layers.", *SETTINGS],
]


def spec_of(tmp_path: Path, pages: list[list[str]]):
    tmp_path.mkdir(parents=True, exist_ok=True)
    pdf = write_pdf(tmp_path / "paper.pdf", pages)
    bundle, folder = bundle_for(pdf)
    return extract.run(parse.run(bundle, folder, {"max_pages": 60, "max_mb": 50}), RULES)


def blocks(spec) -> list[str]:
    return [b.block for b in spec.architecture]


@pytest.mark.parametrize(("pages", "expected", "recbole"), [
    (FM_DEEP, ["field_embedding", "linear", "fm_interaction", "mlp_tower", "sum_logits"], "DeepFM"),
    (WIDE_DEEP, ["field_embedding", "linear", "mlp_tower", "sum_logits"], "WideDeep"),
    (CROSS_DEEP, ["field_embedding", "cross_network", "mlp_tower", "concat_head"], "DCN"),
], ids=["fm+deep", "wide+deep", "cross+deep"])
def test_ctr_papers_map_to_context_blocks_and_render(tmp_path, pages, expected, recbole):
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.loss) == ("context", "ctr", "bce")
    assert blocks(spec) == expected
    assert composition_class("context", expected, spec.loss) == recbole
    # a new name over a known composition: no RecBole class is the paper's, and the spec claims nothing
    assert spec.reference is None and spec.fidelity.verdict == "partial"
    assert reference_with_notes(spec) is None
    assert "class" in render.run(spec, {"fidelity": "allow_partial"})["model.py"]


def test_stated_values_reach_the_blocks_and_the_rest_are_context_defaults(tmp_path):
    spec = spec_of(tmp_path, FM_DEEP)
    tower = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert tower["mlp_layers"] == [400, 400, 400] and tower["dropout"] == 0.5
    assert spec.hyperparameters["mlp_layers"].source == "paper"
    assert spec.hyperparameters["embedding_size"].source == "default"
    assert spec.hyperparameters["embedding_size"].value == 10
    wide = spec_of(tmp_path / "wide", WIDE_DEEP)
    assert render.resolve_block_params(wide, render.base_for(wide).blocks)[0]["embedding_size"] == 32
    assert wide.hyperparameters["mlp_layers"].source == "default"


def test_a_rating_fm_paper_becomes_a_runnable_ctr_spec_and_says_so(tmp_path):
    spec = spec_of(tmp_path, RATING_FM)
    assert (spec.family, spec.task, spec.loss) == ("context", "ctr", "mse")
    assert blocks(spec) == ["field_embedding", "linear", "fm_interaction", "sum_logits"]
    assert any(note.startswith("task: the paper's experiments predict ratings") for note in spec.unclear)
    assert all(hp.source == "default" for name, hp in spec.hyperparameters.items() if name != "optimizer")
    model, _, notes = reference_with_notes(spec)
    assert model == "FM" and any("loss='mse'" in note for note in notes)
    assert "class FM(CTRModule)" in render.run(spec, {})["model.py"]
