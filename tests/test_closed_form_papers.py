"""Item-item models fitted once on the train split (the `fit` regime), read from fixture papers that describe them in
prose: EASE (a zero-diagonal weight matrix in closed form), ItemKNN (shrunk cosine similarities, each item's k nearest)
and SLIM (a non-negative elastic net per item column). Each paper is read into its block, comes out `faithful` with
RecBole's class as its reference, renders a model of the fit regime that passes the gates (a fit gate where the
overfit gate would be), is fitted once with no epochs, and loads back; the weights equal the papers' equations on
tiny matrices. None of the fixture papers is a real paper."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from paper_autotrain import trained
from paper_autotrain.data.split import load_split
from paper_autotrain.errors import UserError
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.closed_form import cosine_knn_weights, ease_weights, slim_weights
from paper_autotrain.schemas import RunResult
from paper_autotrain.stages import baselines, extract, parse, render, validate
from paper_autotrain.stages.compare.report import _epochs, budget_line, fitted_once
from paper_autotrain.stages.compare.seeds import ModelRow
from paper_autotrain.stages.extract.defaults import apply_overrides
from paper_autotrain.worker.loading import build_model, load_config
from paper_autotrain.worker.train import FIT_CHECKPOINT
from paper_autotrain.worker.train import train as train_in_process
from tests.fixture_papers import PARSE, RULES, rendered, spec_of
from tests.pdf_fixtures import bundle_for, write_pdf
from tests.test_classic_papers import ENMF_PAPER
from tests.test_ials_paper import WEIGHTED_ALS_PAPER

EASE_PAPER = [
    ["EASE: A Shallow Item-Item Model for Sparse Implicit Feedback",
     "Abstract. We propose EASE, a linear model for collaborative filtering with implicit feedback whose item-item "
     "weight matrix has a closed-form solution. Despite its simplicity, it is competitive with deep models on "
     "several public data sets.",
     "1 Introduction",
     "Many recent recommenders are deep, non-linear models. We ask how far a shallow linear model of the "
     "interactions can go."],
    ["2 Model Definition",
     "Let X be the binary user-item matrix of the training data. The model is an item-item weight matrix B, and "
     "the predicted score of item j for user u is S_uj = X_u,. B_.,j. To prevent the trivial solution where every "
     "item predicts only itself, we constrain the diagonal of the weight matrix to zero, diag(B) = 0.",
     "We learn B by minimizing the squared loss between the data and the predicted scores, ||X - XB||_F^2, plus "
     "an L2-norm regularization lambda ||B||_F^2 of the weights, subject to the zero diagonal constraint.",
     "3 Closed-Form Solution",
     "With the method of Lagrangian multipliers, the constrained problem has a closed-form solution: with "
     "P = (X^T X + lambda I)^-1, the inverse of the regularized Gram matrix, the weights are B = I - P "
     "diag(1 / diag(P)), so that B_ij = -P_ij / P_jj off the diagonal. Training amounts to one matrix inversion; "
     "there are no epochs and no learning rate."],
    ["4 Experiments",
     "We use the ML-20M and Netflix data sets and report Recall@20 and NDCG@100.",
     "Settings. The closed-form model has one hyperparameter: the L2-norm regularization weight, which we set to "
     "lambda = 500 on ML-20M."],
]

ITEMKNN_PAPER = [
    ["Item-Based Neighbourhood Recommendation Revisited",
     "Abstract. We propose ItemKNN, an item-based collaborative filtering method that recommends the items most "
     "similar to the ones a user has already consumed.",
     "1 Introduction",
     "User-based methods compare users with each other, which scales poorly as the number of users grows; item "
     "relations are more stable."],
    ["2 Item-Based Top-N Recommendation",
     "We compute the cosine similarity between two items as the cosine of the angle between their columns of "
     "the binary user-item matrix. To reduce the weight of similarities supported by few users, we add a "
     "shrinkage term h to the denominator: s_ij = x_i . x_j / (||x_i|| ||x_j|| + h). An item is never its own "
     "neighbour. For every item j we keep only the k most similar items as its neighbourhood and set the other "
     "similarities to zero.",
     "The score of item j for user u sums the similarities between j and the items in the user's history."],
    ["3 Experiments",
     "We use MovieLens and report Recall@10 and NDCG@10.",
     "Settings. The number of neighbours is set to 50, and the shrinkage term is set to 10."],
]

SLIM_PAPER = [
    ["SLIM: Sparse Linear Item Models for Top-N Recommendation",
     "Abstract. We present SLIM, a sparse linear method for top-N recommendation that learns a sparse "
     "aggregation coefficient matrix W from the user-item purchase matrix.",
     "1 Introduction",
     "Neighbourhood methods are fast but not accurate, and latent factor models are accurate but slow to score. "
     "We combine the strengths of both."],
    ["2 Sparse Linear Methods",
     "Let A be the binary user-item purchase matrix. The score of item j for user u is a_u w_j, where w_j is the "
     "j-th column of the sparse aggregation coefficient matrix W.",
     "We learn W by minimizing 1/2 ||A - AW||_F^2 + beta/2 ||W||_F^2 + lambda ||W||_1 subject to W >= 0 and "
     "diag(W) = 0, an elastic net that combines the L1-norm and the Frobenius-norm regularization. The "
     "non-negativity constraint makes the coefficients meaningful, and the zero diagonal avoids the trivial "
     "solution in which an item recommends itself.",
     "The columns of W are decoupled: each column w_j is learned independently and in parallel, by coordinate "
     "descent on the regression of column a_j on the other columns of A."],
    ["3 Experiments",
     "We use eight data sets and report HR@10 and ARHR.",
     "Settings. In the elastic net we set beta = 5 for the Frobenius norm and lambda = 0.5 for the L1-norm."],
]

PAPERS = {  # paper, its block, RecBole's class, the block's values read from the paper
    "EASE": (EASE_PAPER, "ease", "EASE", {"l2_weight": 500.0}),
    "ItemKNN": (ITEMKNN_PAPER, "item_knn", "ItemKNN", {"neighbors": 50, "shrink": 10.0}),
    "SLIM": (SLIM_PAPER, "slim", "SLIMElastic", {"l2_weight": 5.0, "l1_weight": 0.5}),
}


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_block_faithful_with_recboles_class(model, tmp_path):
    pages, block, recbole, values = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.model_name) == ("general", "topk", model)
    assert [b.block for b in spec.architecture] == [block]
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == recbole == composition_class("general", [block], spec.loss)
    assert render.trained_loss(spec) == "fit"  # the block's own objective, solved once
    assert render.resolve_block_params(spec, render.base_for(spec).blocks)[0] == values
    assert all(spec.hyperparameters[key].source == "paper" for key in values)
    config = render.run(spec, {})["config.yaml"]
    assert 'regime: "fit"' in config and "learning_rate" not in config  # no optimiser, batches or epochs


def test_each_reference_fits_the_same_problem_in_recboles_terms(tmp_path):
    """EASE's lambda is RecBole's reg_weight; ItemKNN's k and shrink carry over; SLIM's beta/2 ||W||^2 + lambda
    ||W||_1 beside 1/2 ||A - AW||^2 is sklearn's ElasticNet times its users: l1_ratio = lambda / (lambda + beta),
    alpha = (lambda + beta) / users (divided by the runner, which counts the users)."""
    mapped = {model: baselines.reference_with_notes(spec_of(tmp_path / model, PAPERS[model][0]))
              for model in PAPERS}
    assert mapped["EASE"][:2] == ("EASE", {"reg_weight": 500.0})
    assert mapped["ItemKNN"][:2] == ("ItemKNN", {"k": 50, "shrink": 10.0, "knn_method": "item"})
    name, overrides, notes = mapped["SLIM"]
    assert name == "SLIMElastic" and overrides == {"l1_ratio": pytest.approx(0.5 / 5.5),
                                                   "per_user_values": {"alpha": 5.5}, "positive_only": True,
                                                   "hide_item": True}
    assert any("alpha = (lambda + beta) / users" in note for note in notes)


def test_a_paper_without_the_closed_form_is_not_read_as_ease(tmp_path):
    """The zero diagonal alone (no closed form, no weights named) composes no model: the method stays unbuilt."""
    pages = [EASE_PAPER[0], [text for text in EASE_PAPER[1] if "closed-form" not in text
                             and not text.startswith("3 ")], EASE_PAPER[2]]
    pages[1] = [text.replace("item-item weight matrix B", "function B") for text in pages[1]]
    spec = spec_of(tmp_path, pages)
    assert "ease" not in [b.block for b in spec.architecture]
    assert spec.fidelity.verdict == "partial"


def test_ease_weights_solve_the_papers_constrained_least_squares():
    """Column j of B minimises ||x_j - X b||^2 + lambda ||b||^2 with b_j = 0: a ridge regression on the other
    columns, b = (X_-j^T X_-j + lambda I)^-1 X_-j^T x_j (the closed form agrees with it)."""
    x = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1], [1, 1, 1, 0], [0, 0, 1, 1]], dtype=float)
    lam = 2.0
    b = ease_weights(sp.csr_matrix(x), lam).numpy()
    for j in range(4):
        others = [k for k in range(4) if k != j]
        a = x[:, others]
        expected = np.linalg.solve(a.T @ a + lam * np.eye(3), a.T @ x[:, j])
        np.testing.assert_allclose(b[others, j], expected, rtol=1e-10)
        assert b[j, j] == 0.0


def test_item_knn_keeps_each_items_k_most_similar_shrunk_cosines():
    x = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0]], dtype=float)
    w = cosine_knn_weights(sp.csr_matrix(x), k=1, shrink=1.0).numpy()
    norms = np.sqrt(x.sum(0))  # 3, 3, 2 users
    cosine = (x.T @ x) / (np.outer(norms, norms) + 1.0 + 1e-6)
    # item 0's nearest other item is 1 (2 shared users), item 1's is 0 (2 shared, the larger norm product ties 2),
    # item 2's is 1
    expected = np.zeros((3, 3))
    expected[1, 0], expected[0, 1], expected[1, 2] = cosine[1, 0], cosine[0, 1], cosine[1, 2]
    if cosine[2, 1] > cosine[0, 1]:
        expected[0, 1], expected[2, 1] = 0.0, cosine[2, 1]
    np.testing.assert_allclose(w, expected, rtol=1e-10)


def test_slim_weights_satisfy_the_papers_optimality_conditions_and_match_sklearns_elastic_net():
    """For each column: w >= 0, w_jj = 0, and the subgradient of 1/2 ||a_j - A w||^2 + beta/2 ||w||^2 +
    lambda ||w||_1 vanishes where w > 0 and is >= 0 where w = 0; sklearn's ElasticNet (RecBole's solver) with the
    mapped alpha and l1_ratio finds the same weights."""
    from sklearn.linear_model import ElasticNet

    rng = np.random.default_rng(0)
    a = (rng.random((30, 8)) < 0.35).astype(float)
    l1, l2 = 0.5, 2.0
    w = slim_weights(sp.csr_matrix(a), l1=l1, l2=l2, tol=0.0, max_sweeps=2000).numpy()  # to convergence
    assert (w >= 0).all() and (np.diag(w) == 0).all() and (w > 0).any()
    for j in range(8):
        others = [k for k in range(8) if k != j]
        gradient = -a[:, others].T @ (a[:, j] - a @ w[:, j]) + l2 * w[others, j]
        positive = w[others, j] > 0
        np.testing.assert_allclose(gradient[positive], -l1, atol=1e-6)
        assert (gradient[~positive] >= -l1 - 1e-6).all()
        solver = ElasticNet(alpha=(l1 + l2) / 30, l1_ratio=l1 / (l1 + l2), positive=True, fit_intercept=False,
                            tol=1e-12, max_iter=100000)
        solver.fit(a[:, others], a[:, j])
        np.testing.assert_allclose(w[others, j], solver.coef_, atol=1e-6)


@pytest.mark.parametrize("l1, l2", [(0.5, 2.0), (1.0, 500.0), (0.0, 0.1), (3.0, 1.0)])
def test_slim_exact_column_solves_equal_coordinate_descent_run_to_convergence(l1, l2):
    """The default solver (each column's KKT system by block principal pivoting) reaches the minimiser that the
    cyclic coordinate descent converges to."""
    rng = np.random.default_rng(1)
    a = sp.csr_matrix((rng.random((40, 12)) < 0.3).astype(float))
    exact = slim_weights(a, l1=l1, l2=l2).numpy()
    descent = slim_weights(a, l1=l1, l2=l2, method="cd", tol=0.0, max_sweeps=20000).numpy()
    np.testing.assert_allclose(exact, descent, atol=1e-7)  # coordinate descent stops within ~1e-8
    assert (exact >= 0).all() and (np.diag(exact) == 0).all() and (exact > 0).any()


@pytest.mark.slow  # the sandboxed probe: ~20 s a model on a loaded machine
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_passes_the_gates_with_a_fit_gate(model, split_info, tmp_path):
    spec = spec_of(tmp_path / "paper", PAPERS[model][0])
    folder = rendered(spec, tmp_path / "model")
    report = validate.run(folder, split_info, {"overfit_steps": 40})
    assert report["ok"], report
    gates = {gate["name"]: gate for gate in report["gates"]}
    assert "overfit" not in gates and gates["fit"]["detail"].startswith("fitted in")
    assert "(build + fit)" in gates["leakage"]["detail"]


@pytest.mark.parametrize("model", PAPERS)
def test_the_model_is_fitted_once_and_loads_back(model, split_info, tmp_path):
    spec = spec_of(tmp_path / "paper", PAPERS[model][0])
    folder = rendered(spec, tmp_path / "model")
    out = tmp_path / "train" / "seed0"
    result = train_in_process(folder, Path(split_info.path), out, ["trainer.csv_logger=false"])
    assert result.status == "ok" and result.epochs_run is None and fitted_once(result)
    assert 0.0 < result.test["ndcg@10"] <= 1.0 and result.n_params > 0
    assert (out / "checkpoints" / FIT_CHECKPOINT).is_file()
    assert budget_line(spec, result).startswith("- Training: ours fitted once on the train split (no epochs)")
    shutil.copy(folder / "model.py", out / "model.py")  # as the train stage keeps the seed folder
    (out / "split.json").write_text(split_info.model_dump_json())
    loaded = trained.load(out)
    fresh = build_model(folder, load_config(folder), load_split(split_info.path))
    fresh.fit()
    user = str(loaded.split.user_tokens[3])
    np.testing.assert_allclose(loaded.scores(user), fresh.full_sort_scores(torch.tensor([3]))[0].numpy(),
                               rtol=1e-5, atol=1e-6)
    assert len(loaded.recommend(user, 5)) == 5


def test_the_report_says_fit_for_a_fitted_run():
    fitted = RunResult(model="EASE", role="reproduced", dataset="d", split_id="s", seed=0, test={},
                       config={"data": {"regime": "fit"}, "trainer": {"max_epochs": 7}})
    trained_by_epochs = RunResult(model="BPR", role="baseline", dataset="d", split_id="s", seed=0, test={},
                                  config={"epochs": 7}, epochs_run=7, best_epoch=5)
    recbole_fitted = trained_by_epochs.model_copy(update={"model": "EASE", "config": {"fitted": True},
                                                         "epochs_run": 1, "best_epoch": 1})  # as the runner says
    assert fitted_once(fitted) and fitted_once(recbole_fitted) and not fitted_once(trained_by_epochs)
    assert _epochs(ModelRow([recbole_fitted])) == "fit"
    assert _epochs(ModelRow([fitted])) == "fit" and _epochs(ModelRow([trained_by_epochs])) == "7 (5)"


TRAINING = ("optimizer", "learning_rate", "batch_size", "negative_samples", "epochs")


def test_a_fitted_spec_lists_and_writes_no_training_hyperparameters_a_trained_one_does(tmp_path):
    """The fit regime reads no optimiser, batches or epochs (Regime.training_hyperparameters): EASE's spec lists
    none of them and no embedding size (it has no embeddings), its config.yaml writes no optim values, epoch budget
    or patience; iALS keeps the epochs and l2_reg its block reads (sweeps, lambda); a model trained by epochs keeps
    every one."""
    ease = spec_of(tmp_path / "ease", EASE_PAPER)
    assert set(ease.hyperparameters) == {"l2_weight"}
    assert not any(key in note for note in ease.unclear for key in TRAINING)
    config = render.run(ease, {})["config.yaml"]
    assert "max_epochs" not in config and "patience" not in config and "optim:\ntrainer:" in config
    ials = spec_of(tmp_path / "ials", WEIGHTED_ALS_PAPER)
    assert {"epochs", "l2_reg", "embedding_size"} <= set(ials.hyperparameters)
    assert not {"learning_rate", "batch_size", "negative_samples"} & set(ials.hyperparameters)
    trained_spec = spec_of(tmp_path / "enmf", ENMF_PAPER)
    assert {"optimizer", "learning_rate", "batch_size", "epochs"} <= set(trained_spec.hyperparameters)
    assert "max_epochs" in render.run(trained_spec, {})["config.yaml"]


def test_a_hand_set_training_value_for_a_fitted_model_is_refused_or_dropped_in_a_search(tmp_path):
    """+hparams.learning_rate for EASE names what EASE reads; a search sweeping every paper alike drops it; a value
    a fitted block reads (iALS's sweeps: epochs) is taken."""
    ease = spec_of(tmp_path / "ease", EASE_PAPER)
    with pytest.raises(UserError, match=r"hparams\.learning_rate: EASE is fitted once .*hyperparameters: l2_weight"):
        apply_overrides(ease, {"learning_rate": 0.01})
    assert set(apply_overrides(ease, {"learning_rate": 0.01, "l2_weight": 50.0}, keep_stated=True).hyperparameters) \
        == {"l2_weight"}
    # any search trial drops it, one that also sweeps what the paper states (search.open_only=false) too: the
    # extract stage is told a search runs apart from open_only (the learning rate a search sweeps for every paper)
    doc = parse.run(*bundle_for(write_pdf(tmp_path / "ease" / "again.pdf", EASE_PAPER)), PARSE)
    swept = {"learning_rate": 0.01, "l2_weight": 50.0}
    assert set(extract.run(doc, {**RULES, "hparams": swept, "hparams_search": True}).hyperparameters) == {"l2_weight"}
    with pytest.raises(UserError, match=r"hparams\.learning_rate: EASE is fitted once"):
        extract.run(doc, {**RULES, "hparams": swept})
    ials = apply_overrides(spec_of(tmp_path / "ials", WEIGHTED_ALS_PAPER), {"epochs": 3})
    assert ials.hyperparameters["epochs"].source == "user"
