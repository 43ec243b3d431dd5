"""CTR interaction models read from fixture papers that describe them in prose (NFM, AFM, FwFM, xDeepFM, AutoInt,
DCN-V2, PNN, FFM, FNN): each
paper is read into its model's blocks, comes out `faithful` with RecBole's class of it as the reference, renders,
passes validate's gates and trains a few epochs on the tiny CTR rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from paper_autotrain.data.ctr import load_ctr
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.ctr import ctr_batch
from paper_autotrain.schemas import HyperParameter, MethodSpec
from paper_autotrain.stages import extract, parse, render, validate
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.loading import build_model, load_config
from paper_autotrain.worker.train import train as train_rows
from tests.fixture_papers import with_block_params
from tests.model_fixtures import adam_losses
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

XDEEPFM_PAPER = [
    ["xDeepFM: Combining Explicit and Implicit Feature Interactions for Recommender Systems",
     "Abstract. Combinatorial features are essential for click-through rate (CTR) prediction. Deep neural networks "
     "learn feature interactions implicitly and at the bit-wise level. We propose a novel Compressed Interaction "
     "Network (CIN), which generates feature interactions explicitly and at the vector-wise level, and combine a "
     "CIN and a classical DNN into one unified model named eXtreme Deep Factorization Machine (xDeepFM).",
     "1 INTRODUCTION", "Factorization machines model second-order interactions only. A plain DNN learns "
     "interactions of unknown degree."],
    ["3 OUR PROPOSED MODEL",
     "Each field is embedded into a vector; the field embeddings form the matrix X0. The compressed interaction "
     "network computes its hidden layers one after the other: each feature map of layer k is a weighted sum of the "
     "Hadamard products of every vector of layer k-1 with every field embedding, so the degree of the interactions "
     "grows by one with each layer. Every feature map of every hidden layer is sum-pooled over the embedding "
     "dimensions and the pooled vectors of all layers are concatenated and fed to the output unit.",
     "The xDeepFM combines the CIN with a plain DNN with hidden layers over the concatenated field embeddings and "
     "with the linear (first-order) part of the raw features; the output unit sums their three outputs. The model "
     "is trained with the log loss on the clicks."],
    ["4 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is set to 16. The network structure is 100-100-100 for the DNN. The dropout "
     "ratio is 0.2. All models are optimised with Adam."],
]

AUTOINT_PAPER = [
    ["AutoInt: Automatic Feature Interaction Learning via Self-Attentive Neural Networks",
     "Abstract. Click-through rate (CTR) prediction needs high-order combinatorial features of sparse, "
     "high-dimensional inputs. We propose AutoInt, which maps the sparse features into a low-dimensional space and "
     "models their high-order interactions with a multi-head self-attentive neural network with residual "
     "connections.",
     "1 INTRODUCTION", "Factorization machines model second-order interactions; deep networks model interactions "
     "implicitly and are hard to explain."],
    ["3 AUTOINT",
     "Each categorical feature is mapped to a d-dimensional embedding vector, one per field. The interacting layer "
     "lets every field attend to every other field with multi-head self-attention: in each head, the attention "
     "weight of field m on field k is the softmax over the fields of the inner product of their query and key "
     "projections, and the new representation of field m is the weighted sum of the value projections.",
     "The outputs of all heads are concatenated, and we add a residual connection from the field's own embedding, "
     "followed by the ReLU activation. We stack several interacting layers so that interactions of any order are "
     "modelled. The output layer concatenates the representations of all fields and applies a linear projection and "
     "the sigmoid function to predict the click; the model is trained with the log loss."],
    ["4 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is set to 16. We use three interacting layers and two attention heads. All models "
     "are optimised with Adam."],
]

DCNV2_PAPER = [
    ["DCN V2: Improved Deep & Cross Network and Practical Lessons for Web-scale Learning to Rank Systems",
     "Abstract. Learning effective feature crosses is the key behind click-through rate (CTR) prediction and "
     "learning to rank. We propose an improved framework, DCN-V2, whose cross network is much more expressive and "
     "remains cost efficient.",
     "1 INTRODUCTION", "Deep networks learn feature crosses implicitly and inefficiently. Explicit crosses of "
     "bounded degree help."],
    ["3 PROPOSED ARCHITECTURE: DCN-V2",
     "The embedding layer maps every categorical feature to a dense vector; the field embeddings are concatenated "
     "into x0. The cross network is a stack of cross layers: the (l+1)-th cross layer computes the element-wise "
     "product of x0 with a full weight matrix times the l-th layer's output plus a bias, and adds the l-th output "
     "as a residual. The deep network is a plain feed-forward network with hidden layers and the ReLU activation.",
     "We combine them in a stacked structure: the deep network is placed on top of the cross network, and its "
     "output goes to a logistic layer. The model is trained with the log loss on the clicks plus an L2 penalty "
     "on the cross weight matrices."],
    ["4 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is set to 16. We use two cross layers. The network structure is 256-128-64 for "
     "the deep network. All models are optimised with Adam."],
]

PNN_PAPER = [
    ["Product-based Neural Networks for User Response Prediction",
     "Abstract. Predicting user responses such as clicks (click-through rate, CTR) is crucial in web applications. "
     "We propose a Product-based Neural Network (PNN) with an embedding layer to learn a distributed representation "
     "of the categorical data, a product layer to capture interactive patterns between the fields, and further "
     "fully connected layers to explore high-order feature interactions.",
     "1 INTRODUCTION", "Factorization machines and FNN capture feature interactions in limited ways."],
    ["3 DEEP LEARNING FOR CTR ESTIMATION",
     "Each field is embedded into a dense vector by the embedding layer. The product layer produces two kinds of "
     "signals: the linear signals, which are the field embeddings themselves, and the quadratic signals, which are "
     "the inner products of every pair of field embeddings (IPNN).",
     "The first hidden layer is fully connected to the product layer: it sums the weighted linear and quadratic "
     "signals with a bias and applies the ReLU activation. Further hidden layers with ReLU follow, and the output "
     "layer applies the sigmoid function to predict the click. The model is trained with the log loss."],
    ["4 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is set to 16. The network structure is 128-64-32 for the hidden layers. "
     "All models are optimised with Adam."],
]

FFM_PAPER = [
    ["Field-aware Factorization Machines for CTR Prediction",
     "Abstract. Click-through rate (CTR) prediction plays an important role in computational advertising. Models "
     "based on degree-2 polynomial mappings and factorization machines (FMs) are widely used. We present "
     "field-aware factorization machines (FFMs), which learn the interactions of features of different fields "
     "with field-specific latent vectors.",
     "1 INTRODUCTION", "In a factorization machine every feature has one latent vector to interact with all other "
     "features, whatever their fields."],
    ["3 FIELD-AWARE FACTORIZATION MACHINES",
     "The features are grouped into fields. Each feature has several latent vectors, one for each other field. "
     "When two features interact, each uses its latent vector for the field of the other, and their interaction "
     "is the inner product of these two field-aware vectors. FFM predicts the log-odds of a click as the sum of a "
     "global bias, the linear terms of the features and the field-aware interactions of all pairs of features. "
     "The model is trained with the log loss on the clicks."],
    ["4 EXPERIMENTS", SETTINGS, "Settings. The latent dimension is set to 8. All models are optimised with Adam."],
]

FNN_PAPER = [
    ["Deep Learning over Multi-field Categorical Data",
     "Abstract. Predicting user responses such as click-through rate (CTR) works on multi-field categorical data. "
     "We propose the Factorisation Machine supported Neural Network (FNN), a deep network whose bottom layer is "
     "initialised by a factorisation machine, so that high-order feature interactions are learned efficiently.",
     "1 INTRODUCTION", "Linear models and factorization machines model low-order interactions only; deep networks "
     "over sparse one-hot inputs are expensive to train."],
    ["2 DNNS FOR CTR ESTIMATION",
     "Each field is embedded: the dense real layer holds, for every field, the first-order weight and the latent "
     "vector of its active feature, plus a global bias. We pre-train a factorization machine on the training data "
     "and initialise the dense layer with the FM's weights and latent vectors.",
     "Above the dense layer, fully connected hidden layers with the tanh activation learn high-order interactions, "
     "and the output unit applies the sigmoid function. The hidden layers are pre-trained layer-wise with "
     "contrastive divergence, and the whole network is then fine-tuned by back-propagation on the log loss."],
    ["4 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is set to 10. The network structure is 200-300-100 for the hidden layers. The "
     "dropout rate is 0.2. All models are optimised with Adam."],
]

PAPERS = {
    "NFM": (NFM_PAPER, ["field_embedding", "linear", "bi_interaction", "mlp_tower", "sum_logits"]),
    "AFM": (AFM_PAPER, ["field_embedding", "linear", "attentional_interaction", "sum_logits"]),
    "FwFM": (FWFM_PAPER, ["field_embedding", "linear", "field_weighted_interaction", "sum_logits"]),
    "xDeepFM": (XDEEPFM_PAPER, ["field_embedding", "linear", "compressed_interaction", "mlp_tower", "sum_logits"]),
    "AutoInt": (AUTOINT_PAPER, ["field_embedding", "interacting_layer", "sum_logits"]),
    "DCNV2": (DCNV2_PAPER, ["field_embedding", "matrix_cross_network", "mlp_tower", "sum_logits"]),
    "PNN": (PNN_PAPER, ["field_embedding", "product_layer", "mlp_tower", "sum_logits"]),
    "FFM": (FFM_PAPER, ["field_aware_interaction", "linear", "sum_logits"]),
    "FNN": (FNN_PAPER, ["field_embedding", "fm_pretraining", "mlp_tower", "sum_logits"]),
}


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


def built(spec: MethodSpec) -> dict[str, str | None]:
    return {component.name: component.block for component in spec.fidelity.components}


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.loss) == ("context", "ctr", "bce")
    assert spec.reference == model  # FwFM's paper prints "FwFMs", DCN-V2's "DCN-V2"
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
    user = {"batch_size": 64, "learning_rate": 0.01, "mlp_layers": [32, 16]}  # small and quick on the tiny rows
    spec = spec.model_copy(update={"hyperparameters": {
        **spec.hyperparameters, **{key: HyperParameter(value=value, source="user") for key, value in user.items()}}})
    if model == "xDeepFM":
        spec = with_block_params(spec, "compressed_interaction", layers=[16, 16])
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
    per_field = with_block_params(spec, "linear", weights="field")  # FwFM's field-specific linear terms
    assert "linear weights='field' not mapped" in reference_with_notes(per_field)[2][-1]


def test_xdeepfm_builds_the_papers_cin_and_recboles_choices_on_request(tmp_path):
    spec = spec_of(tmp_path, XDEEPFM_PAPER)
    assert built(spec)["compressed interaction network (vector-wise interactions of bounded degree)"] == \
        "compressed_interaction"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["cin_layers"] == [100, 100, 100] and values["mlp_layers"] == [100, 100, 100]
    source = render.run(spec, {})["model.py"]
    assert "nn.Linear(self.n_fields * maps, size, bias=False)" in source and "torch.relu(layer" not in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "xDeepFM" and overrides["direct"] is True and overrides["cin_layer_size"] == [100, 100, 100]
    assert overrides["reg_weight"] == 0.0 and len(notes) == 4
    recbole_like = with_block_params(spec, "compressed_interaction", activation="relu", split_half=True, bias=True)
    source = render.run(recbole_like, {})["model.py"]
    assert "torch.relu(layer(" in source and "self.cin_splits.append(maps if k < len(cin_layers) - 1 else 0)" in source
    model, overrides, notes = reference_with_notes(recbole_like)
    assert overrides["direct"] is False and len(notes) == 2  # the reg_weight and the ReLU on RecBole's DNN output


def test_autoint_reads_its_interacting_layers_and_autoint_plus_adds_the_dnn(tmp_path):
    spec = spec_of(tmp_path, AUTOINT_PAPER)
    parts = built(spec)
    assert parts["multi-head self-attention over fields"] == "interacting_layer"
    assert parts["residual units"] == "interacting_layer"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert (values["interacting_layers"], values["attention_heads"], values["embedding_size"]) == (3, 2, 16)
    model, overrides, notes = reference_with_notes(spec)
    assert model == "AutoInt"
    assert (overrides["n_layers"], overrides["num_heads"], overrides["attention_size"]) == (3, 2, 16)
    assert any("always adds a first-order linear part and a DNN" in note for note in notes)
    plus = [list(page) for page in AUTOINT_PAPER]
    plus[1] = [*plus[1], "AutoInt+ feeds the concatenated embeddings to a feed-forward neural network with hidden "
               "layers besides the interacting layers and sums both outputs."]
    spec = spec_of(tmp_path / "plus", plus)
    assert [block.block for block in spec.architecture] == ["field_embedding", "interacting_layer", "mlp_tower",
                                                            "sum_logits"]
    assert spec.fidelity.verdict == "faithful" and spec.reference == "AutoInt"


def test_dcnv2_reads_its_matrix_cross_layers_and_the_stated_structure(tmp_path):
    spec = spec_of(tmp_path, DCNV2_PAPER)
    parts = built(spec)
    assert parts["cross layers with full weight matrices (DCN-V2)"] == "matrix_cross_network"
    assert parts["stacked structure (the deep network on top of the cross network)"] == "matrix_cross_network"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["matrix_cross_layers"] == 2 and values["mlp_layers"] == [256, 128, 64]
    source = render.run(spec, {})["model.py"]
    assert "crossed = x0 * (crossed @ weight.T + bias) + crossed" in source
    assert "fields = crossed.view_as(fields)" in source and "self.deep(fields.flatten(1))" in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "DCNV2" and overrides["structure"] == "stacked" and overrides["mixed"] is False
    assert overrides["cross_layer_num"] == 2 and overrides["reg_weight"] == 2.0
    assert any("never batch-normalises" not in note and "batch_norm=False" in note for note in notes)
    parallel = [list(page) for page in DCNV2_PAPER]
    parallel[1][-1] = ("We combine them in a parallel structure: the cross network and the deep network run in "
                       "parallel on x0 and their outputs are concatenated for the logistic layer. The model is "
                       "trained with the log loss on the clicks. The cross layers may use a mixture of low-rank "
                       "experts.")
    spec = spec_of(tmp_path / "parallel", parallel)
    assert spec.fidelity.verdict == "faithful"
    cross = next(block for block in spec.architecture if block.block == "matrix_cross_network")
    assert cross.params == {"structure": "parallel", "mixture": True}
    source = render.run(spec, {})["model.py"]
    assert "parts.append(self.cross_output(crossed).squeeze(-1))" in source and "cross_gates" in source
    model, overrides, _ = reference_with_notes(spec)
    assert overrides["structure"] == "parallel" and overrides["mixed"] is True and overrides["expert_num"] == 4


@pytest.mark.parametrize("words", [{"structure": "parallel", "mixture": True}, {"mixture": True, "penalty": "norm"}])
def test_dcn_mix_and_the_parallel_structure_build_and_learn(words, rows, tmp_path):
    """DCN-V2's other forms, in process: ruff-clean, built on the rows, and the loss of a fixed batch falls."""
    spec = with_block_params(spec_of(tmp_path / "paper", DCNV2_PAPER), "matrix_cross_network", **words)
    folder = rendered(spec, tmp_path / "model")
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "120",
                           str(folder / "model.py")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    split = load_ctr(rows.path)
    torch.manual_seed(0)
    model = build_model(folder, load_config(folder), split)
    batch = ctr_batch(split, "train", slice(0, 256))
    losses = adam_losses(model, batch, steps=20, lr=0.01)
    assert losses[-1] < losses[0], losses


def test_pnn_reads_its_product_layer_and_the_products_it_states(tmp_path):
    spec = spec_of(tmp_path, PNN_PAPER)
    parts = built(spec)
    assert parts["inner or outer product layer"] == "product_layer"
    assert parts["inner products of the field vectors (IPNN)"] == "product_layer"
    product = next(block for block in spec.architecture if block.block == "product_layer")
    assert product.params == {"inner": True}
    source = render.run(spec, {})["model.py"]
    assert "tower_width = self.n_fields * embedding_size + pnn_left.numel()" in source
    assert "self.deep(tower_input)" in source and "summed.unsqueeze(2)" not in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "PNN" and overrides["use_inner"] is True and overrides["use_outer"] is False
    assert overrides["mlp_hidden_size"] == [128, 64, 32] and notes == []
    both = [list(page) for page in PNN_PAPER]
    both[1][1] = both[1][1].replace("(IPNN).", "(IPNN). In OPNN the quadratic signals are the outer products of the "
                                    "pairs of field embeddings, summed into one matrix.")
    spec = spec_of(tmp_path / "both", both)
    product = next(block for block in spec.architecture if block.block == "product_layer")
    assert product.params == {"inner": True, "outer": True} and spec.fidelity.verdict == "faithful"
    assert "summed.unsqueeze(2) * summed.unsqueeze(1)" in render.run(spec, {})["model.py"]
    assert any("kernel product" in note for note in reference_with_notes(spec)[2])


def test_the_blocks_that_feed_the_deep_tower_are_the_ones_its_template_reads():
    from paper_autotrain.library import load_library

    base = load_library().base_for("context")
    feeders = {name for name, rule in base.blocks.items() if "tower_input" in rule.provides}
    template = (Path(render.templates_dir()) / base.blocks_folder / "mlp_tower.j2").read_text()
    assert feeders == {"bi_interaction", "product_layer", "fm_pretraining", "behaviour_attention",
                       "interest_evolution"}
    assert all(f'"{name}" in before' in template for name in feeders)


def test_ffm_holds_a_vector_per_feature_and_field_and_the_linear_terms_only_when_stated(tmp_path):
    spec = spec_of(tmp_path, FFM_PAPER)
    assert built(spec)["field-aware latent vectors (one per other field)"] == "field_aware_interaction"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["field_aware_size"] == 8
    source = render.run(spec, {})["model.py"]
    assert "FieldEmbedding(split, self.n_fields * field_aware_size)" in source and "self.field_embedding" not in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "FFM" and overrides["embedding_size"] == 8 and notes == []
    pairwise_only = [list(page) for page in FFM_PAPER]
    pairwise_only[1][1] = pairwise_only[1][1].replace("a global bias, the linear terms of the features and ", "")
    spec = spec_of(tmp_path / "pairwise", pairwise_only)
    assert [block.block for block in spec.architecture] == ["field_aware_interaction", "sum_logits"]
    assert spec.fidelity.verdict == "faithful" and spec.reference == "FFM"
    assert any("always adds the linear terms" in note for note in reference_with_notes(spec)[2])


def test_fnn_pretrains_a_factorization_machine_first_and_lists_the_rbm_stage_as_a_deviation(tmp_path):
    spec = spec_of(tmp_path, FNN_PAPER)
    parts = built(spec)
    assert parts["factorization machine pre-training of the embedding layer (FNN)"] == "fm_pretraining"
    deviation = next(d for d in spec.fidelity.deviations if d.component.startswith("layer-wise pre-training"))
    assert "contrastive divergence" in deviation.paper and "Xavier-normal" in deviation.ours
    assert "pre-training of the model's parts before joint training" not in parts  # NeuMF's, not a context part
    tower = next(block for block in spec.architecture if block.block == "mlp_tower")
    assert tower.params["activation"] == "tanh" and parts["tanh activation of the hidden layers"] == "mlp_tower"
    source = render.run(spec, {})["model.py"]
    assert "pretrain_fm(self.split, self.field_embedding, self.fm_first_order, self.fm_bias," in source
    assert "tower_width = 1 + self.n_fields * (embedding_size + 1)" in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "FNN" and overrides["mlp_hidden_size"] == [200, 300, 100]
    assert any("no pre-training stage" in note for note in notes)


def test_fm_pretraining_fits_the_fm_on_the_training_rows_once_and_the_model_starts_from_it(rows, tmp_path):
    spec = spec_of(tmp_path / "paper", FNN_PAPER)
    folder = rendered(with_block_params(spec, "fm_pretraining", pretrain_epochs=2), tmp_path / "model")
    split = load_ctr(rows.path)
    torch.manual_seed(0)
    model = build_model(folder, load_config(folder), split)
    assert not bool(model.fm_pretrained)
    before = model.field_embedding.tokens.weight.detach().clone()
    batch = ctr_batch(split, "valid", slice(0, 32))
    with torch.inference_mode():  # the first forward pass may be an evaluation
        model.logit(batch)
    after = model.field_embedding.tokens.weight.detach().clone()
    assert bool(model.fm_pretrained) and not torch.equal(before, after)
    model.logit(batch)  # no second fit
    assert torch.equal(after, model.field_embedding.tokens.weight.detach())
    assert "fm_pretrained" in model.state_dict()  # a reloaded model is not fitted again
