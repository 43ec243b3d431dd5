"""Set B's CTR models, read from fixture papers that describe them in prose: Deep Crossing (embedding, stacking,
residual units, a scoring layer; no RecBole class) and FmFM (a learned matrix per pair of fields on the FM
interaction; no RecBole class). Each is read into its blocks and `faithful`, renders, passes validate's gates and
trains; each block's log-odds equals the paper's formula computed by hand on a tiny batch. The FmFM paper also
speaks of FwFM, FFM, OPNN and DNNs (what it extends, is faster than, differs from): none of their parts is read as
FmFM's own."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from paper_autotrain.data.ctr import load_ctr
from paper_autotrain.runtime.ctr import ctr_batch
from paper_autotrain.schemas import HyperParameter, MethodSpec, SplitInfo
from paper_autotrain.stages import render, validate
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.stages.extract.fidelity import find_parts, vocabulary, without_other_work_paragraphs
from paper_autotrain.stages.extract.text import Sentence
from paper_autotrain.worker.loading import build_model, load_config
from paper_autotrain.worker.train import train as train_rows
from tests.fixture_papers import rendered, spec_of, with_block_params
from tests.model_fixtures import adam_losses

SETTINGS = "We evaluate on the Criteo and Avazu datasets with AUC and Logloss. Table 2 reports the results."

DEEP_CROSSING_PAPER = [
    ["Deep Crossing: Learning Feature Combinations for Click Prediction without Hand-made Cross Features",
     "Abstract. Click prediction in sponsored search needs combinations of features, which experts craft by hand. "
     "We propose Deep Crossing, a deep network that takes the individual features and learns their combinations.",
     "1 INTRODUCTION", "Combinatorial features are powerful but costly to build. Factorization machines model "
     "pairwise interactions of sparse features."],
    ["2 MODEL ARCHITECTURE",
     "The model has four kinds of layers: the embedding layer, the stacking layer, the residual units and the "
     "scoring layer. Each individual feature is embedded by a single layer with a rectified linear unit, "
     "max(0, W x + b). The embedded features are then stacked (concatenated) into one vector. The stacked vector "
     "passes through a stack with five layers of residual units. Each residual unit passes its input through "
     "two layers, the first with a ReLU, adds the input back and applies a ReLU to the sum, so that its output "
     "has the dimension of its input. "
     "The scoring layer is a single node with a sigmoid function, and the objective is the log loss."],
    ["3 EXPERIMENTS", SETTINGS, "Settings. The embedding size is set to 16. All models are optimised with Adam."],
]

FMFM_PAPER = [
    ["FmFM: Field-matrixed Factorization Machines for Click-Through Rate Prediction",
     "Abstract. Click-through rate (CTR) prediction works on multi-field categorical data. We propose Field-matrixed "
     "Factorization Machines (FmFM), which model the interaction of each pair of fields with a learned matrix.",
     "1 INTRODUCTION", "Field-aware factorization machines (FFMs) learn a vector per feature and field. "
     "Field-weighted factorization machines (FwFMs) put a scalar weight on each field pair."],
    ["2 OUR MODEL",
     "FmFM predicts the log-odds of a click as the sum of a global bias, the linear terms of the features and the "
     "pairwise feature interactions. Each feature has one embedding vector. The linear terms learn a field "
     "specific vector w_F(i), and the linear weight of a feature is the inner product of its embedding with it. "
     "The interaction of two features is "
     "the inner product of the first vector, multiplied by a learned matrix for each pair of fields, with the "
     "second vector, as in factorization machines. FmFM are extensions of FwFM in that a matrix replaces the "
     "scalar weight r in FwFM. FFM looks up a separate embedding for every other field. FmFM needs more "
     "operations than FwFM, but it is still faster than most DNN models such as the hidden layers of DeepFM. "
     "OPNN also models the interactions with an outer product, with fully connected layers on top. The model is "
     "trained with the log loss on the clicks."],
    ["3 EXPERIMENTS", SETTINGS, "Settings. The embedding size is set to 16. All models are optimised with Adam."],
]

PAPERS = {
    "Deep Crossing": (DEEP_CROSSING_PAPER, ["field_embedding", "residual_units", "sum_logits"]),
    "FmFM": (FMFM_PAPER, ["field_embedding", "linear", "field_matrixed_interaction", "sum_logits"]),
}


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MethodSpec]:
    return {name: spec_of(tmp_path_factory.mktemp("paper"), pages) for name, (pages, _) in PAPERS.items()}


def with_user_values(spec: MethodSpec, **values: object) -> MethodSpec:
    user = {key: HyperParameter(value=value, source="user") for key, value in values.items()}
    return spec.model_copy(update={"hyperparameters": {**spec.hyperparameters, **user}})


@pytest.mark.parametrize("name", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_without_a_reference(name, specs):
    spec = specs[name]
    assert (spec.model_name, spec.family, spec.task, spec.loss) == (name, "context", "ctr", "bce")
    assert [block.block for block in spec.architecture] == PAPERS[name][1]
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference is None and reference_with_notes(spec) is None and not spec.custom


def test_deep_crossing_reads_its_residual_units_and_their_count(specs):
    spec = specs["Deep Crossing"]
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["residual units"] == "residual_units"
    assert spec.hp("n_layers") == 5 and spec.hyperparameters["n_layers"].source == "paper"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["residual_layers"] == [128] * 5  # five units of the family's hidden size


def test_fmfm_reads_no_part_of_the_models_it_is_compared_with(specs):
    built = {component.name: component.block for component in specs["FmFM"].fidelity.components}
    assert built["field-pair matrices on interactions (field-matrixed)"] == "field_matrixed_interaction"
    assert built["field-specific linear weight vectors (the linear terms as <v_i, w_F(i)>)"] == "linear"
    assert specs["FmFM"].architecture[1].params == {"weights": "field"}
    for other in ("field-pair weights on interactions (field-weighted)", "field-aware latent vectors (one per other "
                  "field)", "inner or outer product layer", "multi-layer perceptron"):
        assert other not in built  # FwFM's, FFM's, OPNN's and the DNNs' parts, named only to compare


def small(spec: MethodSpec) -> MethodSpec:
    return with_user_values(spec, batch_size=64, learning_rate=0.01, embedding_size=8, hidden_size=16)


@pytest.mark.parametrize("name", PAPERS)
def test_the_rendered_model_learns_a_batch_in_a_few_steps(name, specs, rows, tmp_path):
    folder = rendered(small(specs[name]), tmp_path / "model")
    split = load_ctr(rows.path)
    torch.manual_seed(0)
    model = build_model(folder, load_config(folder), split)
    batch = ctr_batch(split, "train", slice(0, 64))
    losses = adam_losses(model, batch, steps=20, lr=0.01)
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(name, specs, rows, tmp_path):
    folder = rendered(small(specs[name]), tmp_path / "model")
    report = validate.run(folder, rows, {"overfit_steps": 30})
    assert report["ok"], report
    result = train_rows(folder, Path(rows.path), tmp_path / "out", ["trainer.max_epochs=3", "trainer.patience=3",
                                                                    "trainer.csv_logger=false"])
    assert set(result.test) == {"auc", "logloss"}
    assert result.test["auc"] > 0.6, result.test


def model_and_batch(spec: MethodSpec, rows: SplitInfo, folder: Path) -> tuple[torch.nn.Module, dict]:
    folder = rendered(with_user_values(spec, embedding_size=3, n_layers=2, hidden_size=4), folder)
    split = load_ctr(rows.path)
    torch.manual_seed(0)
    model = build_model(folder, load_config(folder), split).eval()
    with torch.no_grad():  # biases away from zero, so the hand computation checks where they enter
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model, ctr_batch(split, "valid", slice(0, 5))


def test_residual_units_compute_deep_crossings_layers(specs, rows, tmp_path):
    model, batch = model_and_batch(specs["Deep Crossing"], rows, tmp_path)
    fields = model.field_embedding(batch)
    with torch.no_grad():
        expected = []
        for row in fields:
            x = torch.cat([torch.relu(row[j] + model.embedding_bias[j]) for j in range(len(row))])  # Eq. 2, 3
            for unit in model.residual_units:
                w0, b0, w1, b1 = unit[0].weight, unit[0].bias, unit[2].weight, unit[2].bias
                x = torch.relu(x + w1 @ torch.relu(w0 @ x + b0) + b1)  # ReLU(x + W1 ReLU(W0 x + b0) + b1)
            expected.append(model.scoring_layer.weight[0] @ x + model.scoring_layer.bias[0])
        torch.testing.assert_close(model.logit(batch), torch.stack(expected))
    assert len(model.residual_units) == 2 and model.residual_units[0][0].out_features == 4


@pytest.mark.parametrize("matrix", ["full", "diagonal"])
def test_field_matrixed_interaction_is_the_sum_of_vi_m_vj_over_the_field_pairs(matrix, specs, rows, tmp_path):
    spec = with_block_params(specs["FmFM"], "field_matrixed_interaction", matrix=matrix)
    model, batch = model_and_batch(spec, rows, tmp_path)
    fields = model.field_embedding(batch)
    with torch.no_grad():
        linear = (fields * model.field_linear).sum(dim=(1, 2)) + model.first_order_bias  # sum_i <v_i, w_F(i)> + w_0
        expected = []
        for row in fields:
            total, pair = torch.zeros(()), 0
            for i in range(len(row)):
                for j in range(i + 1, len(row)):
                    m = (torch.diag(model.field_pair_vectors[pair]) if matrix == "diagonal"
                         else model.field_pair_matrices[pair])
                    total += row[i] @ m @ row[j]  # <v_i M_{F(i),F(j)}, v_j>
                    pair += 1
            expected.append(total)
        torch.testing.assert_close(model.logit(batch), linear + torch.stack(expected))


def parts_read(texts: list[str], own: str = "FmFM") -> set[str]:
    sentences = [Sentence(page=2, text=text, order=order) for order, text in enumerate(texts)]
    parts = [part for part in vocabulary()[0] if part.applies_to("context")]
    return {found.part.name for found in find_parts(parts, without_other_work_paragraphs(sentences, own), own)}


def test_a_mutual_information_score_the_paper_shows_is_no_objective():
    contrastive = "contrastive or self-supervised auxiliary objective"
    assert contrastive not in parts_read(["Figure 6 shows a heat-map of mutual information scores between field "
                                          "pairs and labels."])
    assert contrastive in parts_read(["We maximise the mutual information between the two views of a row."])


def test_a_subsection_heading_run_into_a_table_starts_a_paragraph_on_other_work():
    opnn = "inner or outer product layer"
    text = ["Table 1: Degrees of freedom of the models 3.1.5 Connections to OPNN.",
            "The product layer of OPNN-style models takes outer products of every pair of fields."]
    assert opnn not in parts_read(text)
    assert opnn in parts_read(text[1:])  # the same sentence, outside that paragraph, is read
