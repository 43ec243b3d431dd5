"""Set-B models without a RecBole class, read from fixture papers that describe them in prose: CML (users and items
in one metric space, a WARP-weighted hinge on squared distances, the covariance regulariser, the unit ball) and
Logistic MF (a logistic likelihood of interaction with biases and confidence weights over the whole matrix). Each
paper is read into its blocks, comes out `faithful` with no reference (RecBole has neither class), renders, passes
validate's gates and trains; the losses equal the papers' formulas on tiny examples. None of the fixture papers is a
real paper."""

from __future__ import annotations

import math

import pytest
import torch

from paper_autotrain.data.split import load_split
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.losses import covariance_penalty, logistic_mf_loss, warp_hinge_loss
from paper_autotrain.stages import render
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import passes_the_gates_and_trains, rendered, spec_of, with_values

CML_PAPER = [
    ["Collaborative Metric Learning",
     "Abstract. Metric learning produces distance functions that capture the relationships among data. We propose "
     "Collaborative Metric Learning (CML), which learns a joint metric space of users and items that also encodes "
     "user-user and item-item similarity.",
     "1 INTRODUCTION",
     "Matrix factorization scores a user and an item by the dot product of their vectors, which violates the "
     "triangle inequality: two items liked by the same users need not be close to each other. We focus on "
     "collaborative filtering for implicit feedback."],
    ["2 BACKGROUND",
     "BPR minimizes a pairwise log-sigmoid loss over the dot products of user and item vectors. WRMF weights the "
     "unobserved entries with a case weight.",
     "3 COLLABORATIVE METRIC LEARNING",
     "3.1 Model",
     "Each user i and each item j is a vector in a joint r-dimensional space, and their Euclidean distance "
     "d(i, j) = ||u_i - v_j|| encodes the preference: the items a user liked are closer to the user than the other "
     "items. The loss over the positive pairs S is L_m = sum w_ij [m + d(i, j)^2 - d(i, k)^2]_+, where k is an item "
     "the user did not like, [z]_+ = max(z, 0) is the standard hinge loss and m is the safety margin.",
     "3.2 Rank Weights",
     "We penalize a positive item at a lower rank more heavily with a weighted approximate-rank scheme: for each "
     "positive pair we sample U negative items in parallel, count the M impostors among them, approximate the "
     "rank as floor(J M / U) where J is the number of items, and set w_ij = log(rank + 1). For each pair we keep "
     "the negative item with the largest hinge loss.",
     "3.3 Integrating Item Features",
     "A learnable function f projects the raw features of item j into the joint space, and we penalize "
     "||f(x_j) - v_j||^2. We choose a multi-layer perceptron with dropout as f.",
     "3.4 Regularization",
     "We bound all user and item vectors within the unit sphere. Another regularizer we use is covariance "
     "regularization proposed by Smith et al. [9] to decorrelate activations in a deep neural network: the loss "
     "L_c penalizes the covariances between every pair of dimensions of the vectors in a batch.",
     "3.5 Training",
     "We minimize L_m + lambda_c L_c with mini-batch SGD and AdaGrad, and after each update we censor the norms of "
     "the user and item vectors by y / max(||y||, 1)."],
    ["4 EXPERIMENTS",
     "We use the CiteULike, BookCX and MovieLens datasets and report Recall@50 and Recall@100. We also compared "
     "CML with item features (denoted as CML+F) to hybrid baselines. Table 2 reports the results.",
     "Settings. The dimension of the latent vectors is 100. The margin is set to 1.0 and the covariance weight "
     "lambda_c = 5."],
]

LOGISTIC_MF_PAPER = [
    ["Logistic Matrix Factorization for Implicit Feedback Data",
     "Abstract. We present Logistic Matrix Factorization (Logistic MF), a probabilistic model for matrix "
     "factorization with implicit feedback that models the probability that a user prefers an item.",
     "1 Introduction",
     "Implicit feedback such as clicks or play counts is abundant, and the implicit matrix factorization of Hu "
     "et al. [12] is the most used model for it."],
    ["2 Logistic MF",
     "We factorize the observation matrix R into user latent factor vectors x_u and item latent factor vectors "
     "y_i. The probability that user u interacts with item i is modelled by a logistic function of the inner "
     "product of the user and item latent vectors plus a user bias and an item bias. We define a confidence "
     "c = α r_ui for every entry: each nonzero entry serves as c positive observations and each zero entry "
     "serves as a single negative observation. Zero-mean Gaussian priors on the vectors amount to L2 "
     "regularization. We maximize the log posterior by alternating gradient ascent: we fix the user vectors and "
     "take a step towards the gradient of the item vectors, then the reverse, with step sizes adapted by "
     "AdaGrad."],
    ["3 Experiments",
     "We use a dataset of listening counts and report the mean percentile rank (MPR) against a popularity "
     "baseline. The number of latent factors is set to 32."],
]

PAPERS = {
    "CML": (CML_PAPER, ["embedding", "metric_score"], "other", "warp_hinge"),
    "Logistic MF": (LOGISTIC_MF_PAPER, ["embedding", "logistic_score"], "bce", "logistic_mf"),
}


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_without_a_reference(model, tmp_path):
    pages, blocks, loss, trained = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.loss, spec.model_name) == ("general", "topk", loss, model)
    assert [block.block for block in spec.architecture] == blocks
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference is None and composition_class("general", blocks, spec.loss) is None
    assert not spec.custom
    assert render.trained_loss(spec) == trained  # the block's own loss, not a stand-in


def test_cml_reads_each_part_and_leaves_the_named_feature_variant_out(tmp_path):
    spec = spec_of(tmp_path, CML_PAPER)
    built = {component.name: component.block for component in spec.fidelity.components}
    for name in ("metric learning (Euclidean distance between users and items)", "hinge (margin-based) ranking loss",
                 "covariance regulariser", "vectors bounded by the unit ball (norm clipping after each update)",
                 "WARP rank weights (the positive's rank estimated from sampled negatives)",
                 "the paper's training loss (the metric_score block's own)"):
        assert built[name] == "metric_score", name
    # CML+F's feature MLP is the variant's (its own subsection), and the DNN is where the cited regulariser came from
    assert "multi-layer perceptron" not in built
    assert any("3.3 Integrating Item Features" in note and "CML+F" in note for note in spec.unclear)
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 100, "margin": 1.0, "covariance_weight": 5.0}
    assert spec.hyperparameters["margin"].source == "paper" and spec.hp("negative_samples") == 20
    source = render.run(spec, {})["model.py"]
    assert "weights = warp_weights(distances[:, 0], distances[:, 1:], self.margin, self.n_items)" in source
    assert "return -torch.cdist(user_table[users], item_table)" in source


def test_a_feature_part_no_variant_is_named_for_stays_unbuilt(tmp_path):
    """Without the experiments naming CML+F apart, the feature MLP is part of the method: partial, named."""
    pages = [[text.replace("We also compared CML with item features (denoted as CML+F) to hybrid baselines. ", "")
              for text in page] for page in CML_PAPER]
    spec = spec_of(tmp_path, pages)
    assert spec.fidelity.verdict == "partial" and spec.fidelity.missing == ["multi-layer perceptron"]


def test_logistic_mf_lists_its_alternating_updates_as_a_deviation(tmp_path):
    spec = spec_of(tmp_path, LOGISTIC_MF_PAPER)
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["user and item bias terms"] == built["inner-product preference score"] == "logistic_score"
    assert [d.component for d in spec.fidelity.deviations] == [
        "alternating gradient steps (item vectors and biases with the users fixed, then the reverse)"]
    assert spec.hp("embedding_size") == 32 and spec.hp("optimizer") == "adagrad"


def test_the_warp_hinge_is_the_papers_formula_on_a_tiny_example():
    pos = torch.tensor([0.2, 0.9])  # d(i, j)^2 of two positive pairs
    neg = torch.tensor([[0.5, 1.5, 0.1, 3.0], [2.0, 2.5, 3.0, 4.0]])  # d(i, k)^2 of U = 4 negatives each
    n_items, margin = 100, 0.5
    # pair 0: hinges [0.2, 0, 0.6, 0], M = 2, rank = floor(100 * 2 / 4) = 50, w = log 51, hardest hinge 0.6
    # pair 1: hinges [0, 0, 0, 0], M = 0, rank 0, w = log 1 = 0
    expected = math.log(51) * 0.6
    assert warp_hinge_loss(pos, neg, margin, n_items).item() == pytest.approx(expected, rel=1e-6)
    rows = torch.tensor([[1.0, 0.0, 2.0], [3.0, 1.0, 0.0], [2.0, 2.0, 1.0], [0.0, 1.0, 1.0]])
    centred = rows - rows.mean(0)
    covariance = centred.T @ centred / 4
    off_diagonal = sum(covariance[a, b].item() ** 2 for a in range(3) for b in range(3) if a != b)
    assert covariance_penalty(rows).item() == pytest.approx(off_diagonal / 4, rel=1e-6)


def test_cml_loss_and_gradient_equal_the_papers_over_every_sampled_negative(split_info, tmp_path):
    """The model looks up only the hardest negative with a gradient: the same loss and gradient as Eq. 1 with the
    WARP weights over all U negatives plus lambda_c L_c over the batch's users, positives and hardest negatives."""
    spec = with_values(spec_of(tmp_path / "paper", CML_PAPER), embedding_size=8, negative_samples=6)
    folder = rendered(spec, tmp_path / "model")
    model = build_model(folder, load_config(folder), load_split(split_info.path))
    generator = torch.Generator().manual_seed(0)
    users = torch.randint(0, model.n_users, (32,), generator=generator)
    pos, neg = torch.randint(0, model.n_items, (32,), generator=generator), \
        torch.randint(0, model.n_items, (32, 6), generator=generator)
    loss = model.loss({"users": users, "pos_items": pos, "neg_items": neg})
    grads = torch.autograd.grad(loss, [model.user_embedding.weight, model.item_embedding.weight])
    u, v = model.user_embedding.weight, model.item_embedding.weight
    d_pos = (u[users] - v[pos]).pow(2).sum(-1)
    d_neg = (u[users].unsqueeze(1) - v[neg]).pow(2).sum(-1)
    hardest = neg.gather(1, d_neg.argmin(-1, keepdim=True)).squeeze(1)
    expected = warp_hinge_loss(d_pos, d_neg, 1.0, model.n_items) + 5.0 * covariance_penalty(
        torch.cat([u[users], v[pos], v[hardest]]))
    torch.testing.assert_close(loss, expected)
    for got, want in zip(grads, torch.autograd.grad(expected, [u, v]), strict=True):
        torch.testing.assert_close(got, want)


def test_an_epoch_of_the_logistic_mf_loss_is_the_papers_log_posterior(split_info, tmp_path):
    """Over all train pairs in one batch, the loss times the batch is minus Eq. 3: sum over every entry of
    (1 + alpha r) log(1 + e^s) - alpha r s, plus lambda / 2 (sum ||x_u||^2 + sum ||y_i||^2)."""
    spec = with_values(spec_of(tmp_path / "paper", LOGISTIC_MF_PAPER), embedding_size=8, alpha=3.0, l2_reg=0.1)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split)
    with torch.no_grad():
        model.user_bias.normal_()
        model.item_bias.normal_()
    train = torch.as_tensor(split.train)
    batch = {"users": train[:, 0], "pos_items": train[:, 1], "neg_items": torch.zeros(len(train), 1, dtype=int)}
    with torch.no_grad():
        got = model.loss(batch) * len(train)
        users, items = model.user_embedding.weight, model.item_embedding.weight
        logits = users @ items.T + model.user_bias[:, None] + model.item_bias[None, :]
        r = torch.zeros(split.n_users, split.n_items)
        r[train[:, 0], train[:, 1]] = 1.0
        observed = r.sum(1) > 0  # users without a train pair have no batch to count their row in
        entries = (1 + 3.0 * r) * torch.nn.functional.softplus(logits) - 3.0 * r * logits
        expected = entries[observed].sum() + 0.1 / 2 * (users.pow(2).sum() + items.pow(2).sum())
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-3)
    # one user, two items, the first observed, all logits 0: (1 + 2) log 2 for it, log 2 for the other
    assert logistic_mf_loss(torch.zeros(1), torch.zeros(1, 2), torch.ones(1), 2.0).item() == \
        pytest.approx(4 * math.log(2))


@pytest.mark.slow  # as in the other families' paper tests: the blocks' equations and a step are default tests
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", PAPERS[model][0]), embedding_size=16, batch_size=128,
                       learning_rate=0.05)
    passes_the_gates_and_trains(spec, split_info, tmp_path)


def test_cml_scores_are_minus_distances_and_a_training_step_keeps_the_vectors_in_the_unit_ball(split_info,
                                                                                                 tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", CML_PAPER), embedding_size=8, negative_samples=4)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split)
    with torch.no_grad():
        model.user_embedding.weight.mul_(50.0)  # far outside the ball
    model.on_train_batch_end(None, None, 0)
    for table in (model.user_embedding.weight, model.item_embedding.weight):
        assert table.norm(dim=-1).max().item() <= 1.0 + 1e-5
    with torch.no_grad():
        scores = model.full_sort_scores(torch.tensor([2]))
        pair = model.score(torch.tensor([2]), torch.tensor([5]))
    expected = -(model.user_embedding.weight[2] - model.item_embedding.weight).norm(dim=-1)
    torch.testing.assert_close(scores[0], expected.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(pair[0], expected[5].detach(), rtol=1e-4, atol=1e-5)
