"""Implicit-feedback matrix factorisation by alternating least squares (iALS, Hu, Koren & Volinsky 2008), read from a
fixture paper that describes it in prose (not the real paper): a binary preference p_ui = 1[r_ui > 0] with the
confidence c_ui = 1 + alpha r_ui, the confidence-weighted squared error over every user-item pair plus L2, solved by
alternating least squares with the Y^T Y speed-up, scored by x_u^T y_i. The paper is read into
`embedding -> ials -> dot_score`, `faithful` with no RecBole reference (RecBole 1.2.1 has no iALS class), renders a
model of the fit regime that is fitted once and loads back; the ALS step equals the closed-form minimiser of the
weighted objective for fixed item factors, its speed-up equals the naive form, and no sweep raises the objective."""

from __future__ import annotations

import shutil
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from paper_autotrain import trained
from paper_autotrain.data.split import load_split
from paper_autotrain.runtime.als import (
    confidence_excess,
    implicit_als,
    implicit_als_objective,
    least_squares_rows,
    weighted_squared_rows,
)
from paper_autotrain.stages import render, validate
from paper_autotrain.stages.compare.report import fitted_once
from paper_autotrain.worker.loading import build_model, load_config
from paper_autotrain.worker.train import train as train_in_process
from tests.fixture_papers import rendered, spec_of, with_block_params, with_values

WEIGHTED_ALS_PAPER = [
    ["Confident Factors: Matrix Factorization for Implicit Feedback",
     "Abstract. We propose ConfMF, a latent factor model for implicit feedback such as purchases or watching "
     "times, where there is no negative feedback and the observations carry varying confidence.",
     "1 Introduction",
     "Explicit ratings are scarce; most systems only observe what users did. Such observations are noisy and tell "
     "nothing directly about what a user dislikes."],
    ["2 Our Model",
     "Let r_ui be the observation of user u on item i. We binarize it into a preference p_ui, which is 1 when "
     "r_ui > 0 and 0 otherwise. The observations carry varying confidence levels, so we attach to each pair a "
     "confidence c_ui = 1 + alpha r_ui, which grows with the evidence. The rate of increase is controlled by alpha, "
     "and setting alpha = 40 worked well in our experiments.",
     "Every user gets a vector x_u and every item a vector y_i, and preferences are assumed to be the inner "
     "products x_u^T y_i. The factors minimize the confidence-weighted squared error over all user-item pairs, "
     "sum over u, i of c_ui (p_ui - x_u^T y_i)^2 plus lambda times the squared norms of all factors.",
     "3 Optimization",
     "When the item factors are fixed the cost is quadratic in the user factors, so we use alternating least "
     "squares: x_u = (Y^T C^u Y + lambda I)^-1 Y^T C^u p(u), and the items likewise. Since Y^T C^u Y = Y^T Y + "
     "Y^T (C^u - I) Y and C^u - I has only n_u non-zero entries, each sweep is linear in the number of "
     "observations. A typical number of sweeps is 10.",
     "4 Explaining Recommendations",
     "Substituting the user factors, this reduces our latent factor model into a linear model that predicts "
     "preferences from past actions, weighted by item-item similarity."],
    ["5 Experiments",
     "We use a set of watching logs and report the expected percentile ranking of the test items.",
     "We implemented the model with 10 to 200 factors."],
]


def test_the_paper_is_read_into_the_ials_blocks_faithful_without_a_reference(tmp_path):
    spec = spec_of(tmp_path, WEIGHTED_ALS_PAPER)
    assert (spec.family, spec.task) == ("general", "topk")
    assert [b.block for b in spec.architecture] == ["embedding", "ials", "dot_score"]
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {c.name: c.block for c in spec.fidelity.components}
    assert built["inner-product preference score"] == "dot_score"
    assert built["confidence-weighted squared loss (implicit-feedback weighting)"] == "ials"
    assert built["alternating least squares or closed-form solver"] == "ials"
    # the explaining section rewrites the fitted model as item-item similarities: no part of its own
    assert not any("item-item" in name or "item-similarity" in name for name in built)
    assert spec.reference is None
    assert render.trained_loss(spec) == "fit"  # the block's own objective, solved by its sweeps
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["confidence_alpha"] == 40.0 and values["sweeps"] == 10
    assert spec.hyperparameters["confidence_alpha"].source == "paper"
    config = render.run(spec, {})["config.yaml"]
    assert 'regime: "fit"' in config and "learning_rate" not in config


def test_a_sentence_rewriting_the_model_states_no_part_outside_an_explaining_section_too(tmp_path):
    """The rewrite into item-item similarities under a plain heading: the clause after "reduces our ... model into"
    is an analysis of the fitted model, not a part of it."""
    pages = [WEIGHTED_ALS_PAPER[0], [text.replace("4 Explaining Recommendations", "4 Scoring")
                                     for text in WEIGHTED_ALS_PAPER[1]], WEIGHTED_ALS_PAPER[2]]
    spec = spec_of(tmp_path, pages)
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert not any("item-item" in c.name or "item-similarity" in c.name for c in spec.fidelity.components)


def test_without_the_weighted_loss_the_paper_is_not_read_as_ials_and_the_inner_product_stays_built(tmp_path):
    """The same prose with a plain squared error over the observed entries and gradient descent: no composition is
    known, so the spec is partial; the family's fill-in frame still builds the stated inner product."""
    pages = [WEIGHTED_ALS_PAPER[0], [
        "2 Our Model",
        "Every user gets a vector x_u and every item a vector y_i, and preferences are assumed to be the inner "
        "products x_u^T y_i. The factors minimize a hierarchical pseudo-likelihood of the observed entries.",
        "We train the factors with stochastic gradient descent."], WEIGHTED_ALS_PAPER[2]]
    spec = spec_of(tmp_path, pages)
    assert "ials" not in [b.block for b in spec.architecture]
    assert spec.fidelity.verdict == "partial"
    built = {c.name: c.block for c in spec.fidelity.components}
    assert built["inner-product preference score"] == "dot_score"
    assert [b.block for b in spec.architecture] == ["embedding", "dot_score"]


def naive_user_factors(r: np.ndarray, y: np.ndarray, alpha: float, l2: float) -> np.ndarray:
    """Eq. 4 as written: x_u = (Y^T C^u Y + lambda I)^-1 Y^T C^u p(u), C^u the dense n x n diagonal."""
    f = y.shape[1]
    rows = []
    for r_u in r:
        c_u = np.diag(1.0 + alpha * r_u)
        p_u = (r_u > 0).astype(float)
        rows.append(np.linalg.solve(y.T @ c_u @ y + l2 * np.eye(f), y.T @ c_u @ p_u))
    return np.array(rows)


def dense_objective(r: np.ndarray, x: np.ndarray, y: np.ndarray, alpha: float, l2: float,
                    form: str = "linear", epsilon: float = 1e-8) -> float:
    c = 1.0 + np.where(r > 0, confidence_excess(r, alpha, form, epsilon), 0.0)
    return float(np.sum(c * ((r > 0) - x @ y.T) ** 2) + l2 * (np.sum(x ** 2) + np.sum(y ** 2)))


TINY = np.array([[2.0, 0, 1, 0, 0], [0, 3, 0, 0, 1], [1, 0, 0, 4, 0], [0, 0, 0, 0, 0]])


def test_the_speed_up_equals_the_naive_normal_equations_and_minimises_the_objective_for_fixed_items():
    """Y^T Y + Y^T (C^u - I) Y in place of Y^T C^u Y gives the same x_u (np.linalg.solve of the dense normal
    equations); the gradient of the weighted objective in X vanishes there; a user with no observation gets 0."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=(5, 3))
    alpha, l2 = 4.0, 0.5
    x = least_squares_rows(y, sp.csr_matrix(TINY), alpha, l2)
    np.testing.assert_allclose(x, naive_user_factors(TINY, y, alpha, l2), rtol=1e-10, atol=1e-12)
    c = 1.0 + alpha * TINY
    gradient = -2 * (c * ((TINY > 0) - x @ y.T)) @ y + 2 * l2 * x
    np.testing.assert_allclose(gradient, 0.0, atol=1e-10)
    assert not x[3].any()
    # any other X costs more for these Y
    assert dense_objective(TINY, x, y, alpha, l2) < dense_objective(TINY, x + 1e-3 * rng.normal(size=x.shape), y,
                                                                    alpha, l2)


@pytest.mark.parametrize("form", ["linear", "log"])
def test_no_sweep_raises_the_objective_and_the_fast_objective_is_eq_3(form):
    rng = np.random.default_rng(1)
    r = rng.poisson(0.6, size=(12, 9)).astype(float)
    start = rng.normal(scale=0.1, size=(9, 4))
    alpha, l2 = (2.0, 0.3) if form == "linear" else (0.1, 0.3)
    values = []
    for sweeps in range(1, 7):
        x, y = implicit_als(sp.csr_matrix(r), start, alpha, l2, sweeps, form=form, epsilon=1e-2)
        fast = implicit_als_objective(sp.csr_matrix(r), x, y, alpha, l2, form=form, epsilon=1e-2)
        assert fast == pytest.approx(dense_objective(r, x, y, alpha, l2, form, 1e-2), rel=1e-10)
        values.append(fast)
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in zip(values, values[1:], strict=False))
    assert values[-1] < values[0]


def test_the_diagnostic_loss_is_the_weighted_error_of_the_users_rows():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    users = torch.tensor([0, 2])
    loss = weighted_squared_rows(sp.csr_matrix(TINY), users, torch.from_numpy(x), torch.from_numpy(y), 4.0)
    expected = dense_objective(TINY[[0, 2]], x[[0, 2]], y, 4.0, 0.0) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-10)


def test_the_model_is_fitted_once_by_its_sweeps_and_loads_back(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", WEIGHTED_ALS_PAPER), embedding_size=8, epochs=3)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split)
    start = model.item_embedding.weight.detach().numpy().astype(np.float64)
    model.fit()
    x, y = implicit_als(split.matrix("train"), start, alpha=40.0, l2=model.regularization, sweeps=3)
    np.testing.assert_allclose(model.item_embedding.weight.detach().numpy(), y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.full_sort_scores(torch.tensor([1]))[0].detach().numpy(), (x @ y.T)[1], rtol=1e-4,
                               atol=1e-5)
    assert model.n_parameters() == (split.n_users + split.n_items) * 8 and not hasattr(model, "item_weights")
    out = tmp_path / "train" / "seed0"
    result = train_in_process(folder, Path(split_info.path), out, ["trainer.csv_logger=false"])
    assert result.status == "ok" and fitted_once(result) and 0.0 < result.test["ndcg@10"] <= 1.0
    shutil.copy(folder / "model.py", out / "model.py")  # as the train stage keeps the seed folder
    (out / "split.json").write_text(split_info.model_dump_json())
    loaded = trained.load(out)
    L.seed_everything(0)  # the train worker's seed: the same starting item table
    fresh = build_model(folder, load_config(folder), split)
    fresh.fit()
    user = str(loaded.split.user_tokens[3])
    np.testing.assert_allclose(loaded.scores(user), fresh.full_sort_scores(torch.tensor([3]))[0].detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    assert len(loaded.recommend(user, 5)) == 5


def test_the_log_confidence_is_a_block_word(tmp_path):
    spec = with_block_params(spec_of(tmp_path, WEIGHTED_ALS_PAPER), "ials", confidence="log")
    model = render.run(spec, {})["model.py"]
    assert 'self.confidence = "log"' in model and "log(1 + r_ui / eps)" in model


LOG_SCALING = ("The watching times range from seconds to hundreds of hours, so we employ the log scaling scheme "
               "c_ui = 1 + alpha log(1 + r_ui / epsilon) with epsilon = 10^-8.")


def test_the_log_confidence_the_experiments_employ_is_read_into_the_block_word(tmp_path):
    """The experiments' "we employ the log scaling scheme" sets `confidence: log` with its quote, a component of the
    spec; the method's linear form alone (the fixture paper) keeps the block's default, and an alternative offered in
    the method ("one alternative is setting c = 1 + alpha log(...)") is no statement of what was run."""
    pages = [*WEIGHTED_ALS_PAPER[:2], [*WEIGHTED_ALS_PAPER[2], LOG_SCALING]]
    spec = spec_of(tmp_path / "log", pages)
    assert spec.fidelity.verdict == "faithful"
    assert next(b for b in spec.architecture if b.block == "ials").params == {"confidence": "log"}
    scheme = next(c for c in spec.fidelity.components if c.name.startswith("log-scaled confidence"))
    assert scheme.block == "ials" and "employ the log scaling scheme" in scheme.evidence
    assert spec.hp("epsilon") == 1e-8 and spec.hyperparameters["epsilon"].source == "paper"
    assert 'self.confidence = "log"' in render.run(spec, {})["model.py"]
    offered = [WEIGHTED_ALS_PAPER[0], [*WEIGHTED_ALS_PAPER[1], "One alternative that also worked well is setting "
                                       "c_ui = 1 + alpha log(1 + r_ui / epsilon)."], WEIGHTED_ALS_PAPER[2]]
    for folder, paper in (("linear", WEIGHTED_ALS_PAPER), ("offered", offered)):
        assert next(b for b in spec_of(tmp_path / folder, paper).architecture if b.block == "ials").params == {}


@pytest.mark.slow  # the sandboxed probe
def test_the_model_passes_the_gates_with_a_fit_gate(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", WEIGHTED_ALS_PAPER), embedding_size=8)
    report = validate.run(rendered(spec, tmp_path / "model"), split_info, {"overfit_steps": 40})
    assert report["ok"], report
    gates = {gate["name"]: gate for gate in report["gates"]}
    assert "overfit" not in gates and gates["fit"]["detail"].startswith("fitted in")
