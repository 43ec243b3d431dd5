"""CTR interaction models read from fixture papers that describe them in prose (NFM, AFM, FwFM, ...): each paper
is read into its model's blocks, comes out `faithful` with RecBole's class of it as the reference, renders, passes
validate's gates and trains a few epochs on the tiny CTR rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from paper_autotrain.data.ctr import prepare_ctr
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import Block, MethodSpec, SplitInfo
from paper_autotrain.stages import extract, parse, render, validate
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.train import train as train_rows
from tests.ctr_fixtures import write_ctr_dataset
from tests.pdf_fixtures import bundle_for, write_pdf

RULES = {"name": "rules", "hparams": {}}
SETTINGS = "We evaluate on the Criteo and Avazu datasets with AUC and Logloss. Table 2 reports the results."

NFM_PAPER = [
    ["Neural Factorization Machines for Sparse Predictive Analytics",
     "Abstract. Many predictive tasks such as click-through rate (CTR) prediction need to model categorical "
     "variables. Factorization machines (FMs) model second-order feature interactions in a linear way. In this "
     "paper we propose a novel model, Neural Factorization Machine (NFM), which combines the linearity of FM in "
     "modelling second-order feature interactions with the non-linearity of a neural network in modelling "
     "higher-order feature interactions.",
     "1 INTRODUCTION", "Wide&Deep and DeepCross concatenate the feature embeddings and feed them to a deep "
     "network; such deep structures are difficult to train. FM can be seen as a special case of NFM without "
     "hidden layers."],
    ["2 NEURAL FACTORIZATION MACHINES",
     "Given a sparse feature vector, NFM estimates the target as the sum of a global bias, the linear terms of the "
     "features (the first-order part) and a function f(x) that models the feature interactions. Each non-zero "
     "feature is projected to a dense embedding vector by the embedding layer.",
     "Bi-Interaction Layer. We feed the embedding vectors into the Bi-Interaction pooling, which sums the "
     "element-wise products of every pair of embedding vectors into one k-dimensional vector. It has no extra "
     "parameter and is computed in linear time. We apply batch normalization on the Bi-Interaction output.",
     "Hidden Layers. Above the Bi-Interaction layer we stack fully connected hidden layers with the ReLU "
     "activation, which learn higher-order interactions between features.",
     "Prediction Layer. The output of the last hidden layer is projected to the prediction score by a weight "
     "vector h. We train NFM with the log loss on the clicks and apply dropout on the Bi-Interaction layer and "
     "the hidden layers."],
    ["3 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is set to 16. The network structure is 64-32-16 for the hidden layers. "
     "The dropout ratio is 0.3. All models are optimised with Adam."],
]

AFM_PAPER = [
    ["Attentional Factorization Machines: Learning the Weight of Feature Interactions via Attention Networks",
     "Abstract. Factorization machines (FMs) enhance a linear regression model with second-order feature "
     "interactions, but they model all interactions with the same weight, although not all of them are equally "
     "useful for click-through rate (CTR) prediction. We propose the Attentional Factorization Machine (AFM), "
     "which learns the importance of each feature interaction from data with a neural attention network.",
     "1 INTRODUCTION", "FM treats every interaction alike. Wide&Deep and DeepCross learn interactions implicitly "
     "with deep networks, which is hard to interpret."],
    ["2 ATTENTIONAL FACTORIZATION MACHINES",
     "AFM estimates the target as the sum of a global bias, the linear terms of the features (the first-order "
     "part) and the attention-weighted pairwise interactions. Each non-zero feature is projected to a dense "
     "embedding vector.",
     "Pair-wise Interaction Layer. Every pair of embedding vectors is combined by their element-wise product into "
     "an interacted vector.",
     "Attention-based Pooling Layer. An attention network scores each pairwise interaction: a one-layer network "
     "with the ReLU activation and a weight matrix W is applied to the interacted vector, and the scores are "
     "normalised with the softmax function over all pairs. The interacted vectors are summed with their attention "
     "scores into one vector, which a weight vector p projects to the prediction score.",
     "Learning. We optimise the log loss on the clicks, apply dropout on the pair-wise interaction layer and add "
     "L2 regularization on the weight matrix of the attention network."],
    ["3 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is set to 16. The dropout ratio is 0.3. All models are optimised with Adam."],
]

FWFM_PAPER = [
    ["Field-weighted Factorization Machines for Click-Through Rate Prediction in Display Advertising",
     "Abstract. Click-through rate (CTR) prediction in display advertising works on multi-field categorical data: "
     "every feature belongs to one field, and features of different fields interact with different strengths. "
     "We propose Field-weighted Factorization Machines (FwFMs), which model the different interaction strengths "
     "of the field pairs with very few parameters.",
     "1 INTRODUCTION", "Factorization machines give every feature interaction the same weight, whatever the fields. "
     "Field-aware factorization machines (FFMs) learn a vector per feature and field, at a high memory cost."],
    ["2 FIELD-WEIGHTED FACTORIZATION MACHINES",
     "FwFM predicts the log-odds of a click as the sum of a global bias, the linear terms of the features (the "
     "first-order part) and the pairwise feature interactions. Each feature is represented by an embedding vector. "
     "The interaction of two features is the inner product of their embedding vectors, as in factorization "
     "machines, multiplied by a learned weight for each pair of fields that models the strength of that field "
     "pair's interactions. The model is trained with the log loss on the clicks."],
    ["3 EXPERIMENTS", SETTINGS, "Settings. The embedding size is set to 16. All models are optimised with Adam."],
]

PAPERS = {
    "NFM": (NFM_PAPER, ["field_embedding", "linear", "bi_interaction", "mlp_tower", "sum_logits"]),
    "AFM": (AFM_PAPER, ["field_embedding", "linear", "attentional_interaction", "sum_logits"]),
    "FwFM": (FWFM_PAPER, ["field_embedding", "linear", "field_weighted_interaction", "sum_logits"]),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    dataset = write_ctr_dataset(tmp_path_factory.mktemp("ctrdata"))
    return prepare_ctr(dataset, tmp_path_factory.mktemp("datasets"))


def spec_of(folder: Path, pages: list[list[str]]) -> MethodSpec:
    folder.mkdir(parents=True, exist_ok=True)
    pdf = write_pdf(folder / "paper.pdf", pages)
    bundle, where = bundle_for(pdf)
    return extract.run(parse.run(bundle, where, {"max_pages": 60, "max_mb": 50}), RULES)


def rendered(spec: MethodSpec, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(spec, {}).items():
        (folder / name).write_text(text)
    return folder


def with_block_params(spec: MethodSpec, name: str, **params: Any) -> MethodSpec:
    """`spec` with parameters set on its block `name` (as a user edits spec.yaml)."""
    blocks = [Block(block=b.block, **{**b.params, **params}) if b.block == name else b for b in spec.architecture]
    return spec.model_copy(update={"architecture": blocks})


def built(spec: MethodSpec) -> dict[str, str | None]:
    return {component.name: component.block for component in spec.fidelity.components}


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.loss) == ("context", "ctr", "bce")
    assert spec.model_name in (model, f"{model}s")  # "Field-weighted Factorization Machines (FwFMs)"
    assert [block.block for block in spec.architecture] == blocks
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == model == composition_class("context", blocks, spec.loss)
    assert not spec.custom
    found = reference_with_notes(spec)
    assert found is not None and found[0] == model


def test_nfm_reads_its_parts_and_the_stated_values_reach_the_blocks(tmp_path):
    spec = spec_of(tmp_path, NFM_PAPER)
    parts = built(spec)
    assert parts["bi-interaction pooling (sum of the element-wise products of every pair of field vectors)"] == \
        "bi_interaction"
    assert parts["multi-layer perceptron"] == "mlp_tower" and parts["linear (first-order) terms"] == "linear"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["mlp_layers"] == [64, 32, 16] and values["dropout"] == 0.3 and values["embedding_size"] == 16
    assert values["bi_batch_norm"] is True
    source = render.run(spec, {})["model.py"]
    assert "tower_input = self.bi_norm(0.5 * (summed.pow(2) - fields.pow(2).sum(dim=1)))" in source
    assert "self.deep(tower_input)" in source and "nn.Linear(width, 1, bias=False)" in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "NFM"
    assert overrides["mlp_hidden_size"] == [64, 32, 16] and overrides["dropout_prob"] == 0.3
    assert overrides["embedding_size"] == 16
    # the paper's ReLU hidden layers without batch norm; RecBole's NFM hard-codes sigmoid with batch norm
    assert notes == ["mlp_tower activation='relu' not mapped: RecBole's NFM uses sigmoid in its MLP",
                     "mlp_tower batch_norm=False not mapped: RecBole's NFM always batch-normalises its hidden layers"]


@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, rows, tmp_path):
    spec = spec_of(tmp_path / "paper", PAPERS[model][0])
    spec = spec.model_copy(update={"hyperparameters": {
        **spec.hyperparameters,
        "batch_size": spec.hyperparameters["batch_size"].model_copy(update={"value": 64, "source": "user"}),
        "learning_rate": spec.hyperparameters["learning_rate"].model_copy(update={"value": 0.01, "source": "user"}),
    }})
    folder = rendered(spec, tmp_path / "model")
    report = validate.run(folder, rows, {"overfit_steps": 30})
    assert report["ok"], report
    result = train_rows(folder, Path(rows.path), tmp_path / "out", ["trainer.max_epochs=3", "trainer.patience=3",
                                                                    "trainer.csv_logger=false"])
    assert set(result.test) == {"auc", "logloss"}
    assert result.test["auc"] > 0.6, result.test


def test_afm_reads_its_attention_network_and_the_reference_notes_recboles_penalty(tmp_path):
    spec = spec_of(tmp_path, AFM_PAPER)
    parts = built(spec)
    assert parts["attention network over pairwise interactions"] == "attentional_interaction"
    assert parts["linear (first-order) terms"] == "linear"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["pair_dropout"] == 0.3 and values["embedding_size"] == 16 and values["attention_size"] == 25
    source = render.run(spec, {})["model.py"]
    assert "torch.softmax(torch.relu(self.attention(pairs)) @ self.attention_h, dim=1)" in source
    assert "self.attention_reg * self.attention.weight.pow(2).sum()" in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "AFM"
    assert overrides["dropout_prob"] == 0.3 and overrides["attention_size"] == 25 and overrides["reg_weight"] == 2.0
    assert len(notes) == 2 and "||W||^2" in notes[0] and "no bias" in notes[1]
    recbole_like = with_block_params(spec, "attentional_interaction", bias=False, penalty="norm")
    source = render.run(recbole_like, {})["model.py"]
    assert "nn.Linear(embedding_size, attention_size, bias=False)" in source
    assert "self.attention_reg * self.attention.weight.norm(2)" in source
    assert reference_with_notes(recbole_like)[2] == []


def test_a_self_attention_paper_is_not_read_as_afm(tmp_path):
    """AFM's attention network is over pairwise interactions: self-attention over fields is another part."""
    pages = [list(page) for page in AFM_PAPER]
    pages[1] = ["2 METHOD", "Each field is embedded. A multi-head self-attention mechanism over the fields lets "
                "every field attend to the others; the self-attention scores are normalised with the softmax "
                "function. The outputs are concatenated and projected to the prediction score with the log loss."]
    spec = spec_of(tmp_path, pages)
    assert "attention network over pairwise interactions" not in built(spec)
    assert "attentional_interaction" not in [block.block for block in spec.architecture]


def test_fwfm_learns_its_field_pair_weights_where_recboles_never_trains_them(tmp_path):
    spec = spec_of(tmp_path, FWFM_PAPER)
    assert built(spec)["field-pair weights on interactions (field-weighted)"] == "field_weighted_interaction"
    source = render.run(spec, {})["model.py"]
    assert "self.field_pair_weights = nn.Parameter(torch.randn(fw_left.numel()))  # r" in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "FwFM" and overrides["embedding_size"] == 16 and overrides["dropout_prob"] == 0.0
    assert len(notes) == 1 and "never trains its field-pair weights" in notes[0]
    frozen = with_block_params(spec, "field_weighted_interaction", learned=False)
    assert "requires_grad=False" in render.run(frozen, {})["model.py"] and reference_with_notes(frozen)[2] == []
