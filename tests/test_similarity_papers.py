"""Item-similarity models read from fixture papers that describe them in prose: FISM (a user is the sum of its train
items' vectors p_j, normalised by n_u^-alpha, scored against the item's q_i, with user and item biases; the item
being estimated left out of its own estimate; squared error on sampled zeros). Each paper is read into its blocks,
comes out `faithful` with RecBole's class as the reference, renders, passes validate's gates and trains; the block
equals the paper's equation on a tiny input. None of the fixture papers is a real paper."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from paper_autotrain.data.split import load_split
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.similarity import smoothed_attention_sums
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages import render
from paper_autotrain.stages.baselines.references.topk import reference
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import assert_read_faithful, passes_the_gates_and_trains, rendered, spec_of, with_values
from tests.model_fixtures import adam_losses

FISM_PAPER = [
    ["FISM: Factored Item Similarity Models for Top-N Recommender Systems",
     "Abstract. The effectiveness of existing top-N recommendation methods decreases as the sparsity of the datasets "
     "increases. We propose a factored item similarity based method (FISM), which learns the item-item similarity "
     "matrix as the product of two low-dimensional latent factor matrices.",
     "1 INTRODUCTION",
     "Neighborhood-based methods compute item-item similarities from co-rated items, which fails on sparse data. "
     "Latent factor methods such as PureSVD factorize the user-item matrix."],
    ["3 FISM - FACTORED ITEM SIMILARITY METHODS",
     "3.1 Model",
     "In FISM the similarity between two items is the inner product of their latent vectors from two matrices P and "
     "Q. The recommendation score of user u for an unrated item i is the sum of the similarities between i and the "
     "items the user has rated: r_ui = b_u + b_i + (n_u^+)^-alpha sum over j in R_u^+ of p_j q_i^T, where R_u^+ "
     "is the set of items rated by u, n_u^+ is its size, and b_u and b_i are the user and item biases. The "
     "normalization constant (n_u^+)^-alpha controls the degree of agreement between the rated items that the score "
     "needs, with alpha a user specified parameter between 0 and 1.",
     "When the rating of a rated item is estimated during learning, the item itself is excluded from the sum, so "
     "that the value being estimated is not used for its own estimation: the score uses R_u^+ without i and "
     "(n_u^+ - 1)^-alpha.",
     "3.2 Learning",
     "We minimize the squared error loss 1/2 sum (r_ui - r_hat_ui)^2 over the rated items and a sample of the zero "
     "entries of the matrix, regularized by beta/2 (||P||^2 + ||Q||^2) and the squared norms of the biases. For every "
     "rated item we sample 3 negative items as zero entries. The matrices are learned with stochastic gradient "
     "descent."],
    ["4 EXPERIMENTS",
     "We evaluate on the ML100K, Netflix and Yahoo Music datasets with the hit rate (HR) and the average reciprocal "
     "hit rank (ARHR), against ItemKNN, PureSVD and BPRMF.",
     "The dimension of the latent factors is 32 and the learning rate is set to 0.0001. The normalization "
     "exponent alpha is set to 0.5."],
]

NAIS_PAPER = [
    ["NAIS: Neural Attentive Item Similarity Model for Recommendation",
     "Abstract. Item-to-item collaborative filtering is widely used in industry. We propose a neural network model "
     "named NAIS for item-based collaborative filtering. The key to our design is an attention network, which is "
     "capable of distinguishing which historical items in a user profile are more important for a prediction.",
     "1 INTRODUCTION",
     "Factored item similarity models represent a user by the sum of the embeddings of the historical items, assuming "
     "that all historical items of a user contribute equally to the prediction of a target item."],
    ["3 NEURAL ATTENTIVE ITEM SIMILARITY MODEL",
     "3.1 Model",
     "We represent the target item i by a vector p_i and each historical item j by a vector q_j, and predict "
     "y_ui = sum over j in R_u^+ without i of a_ij p_i^T q_j: the item-item similarity p_i^T q_j weighted by the "
     "attention weight a_ij, since the historical items have different contributions to the prediction. The item "
     "being estimated is excluded from the history. We parameterize the attention function f as a multi-layer "
     "perceptron with one hidden layer, f(p_i, q_j) = h^T ReLU(W (p_i * q_j) + b), fed with the element-wise product "
     "of the two vectors.",
     "The attention weights are normalized by a smoothed softmax, a_ij = exp(f(p_i, q_j)) / [sum over j of "
     "exp(f(p_i, q_j))]^beta, where beta is a smoothing exponent between 0 and 1 on the denominator of the softmax, "
     "because the length of the user histories varies a lot.",
     "3.2 Learning",
     "We minimize the log loss over the observed interactions and sampled negative instances, with L2 "
     "regularization of the parameters. For each positive instance we sample 4 negative instances. The item "
     "embeddings of NAIS are initialized with the embeddings learned by FISM, since pre-training helps the "
     "attention network converge."],
    ["4 EXPERIMENTS",
     "We evaluate on MovieLens and Pinterest with HR@10 and NDCG@10 against FISM, ItemKNN and MF-BPR.",
     "The embedding size is 16, the attention factor is 16 and the smoothing exponent beta is set to 0.5. The "
     "learning rate is set to 0.01."],
]

PAPERS = {
    "FISM": (FISM_PAPER, ["item_similarity"], "mse", "FISM"),
    "NAIS": (NAIS_PAPER, ["attentive_item_similarity"], "bce", "NAIS"),
}


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks, loss, recbole = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert spec.task == "topk"
    assert_read_faithful(spec, "general", model, blocks, loss, recbole)


def test_fism_maps_its_stated_values_to_the_block_and_to_recboles_fism(tmp_path):
    spec = spec_of(tmp_path, FISM_PAPER)
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 32, "alpha": 0.5}
    assert spec.hp("negative_samples") == 3 and spec.hp("optimizer") == "sgd"
    model, overrides, notes = reference(spec)
    assert overrides["embedding_size"] == 32 and overrides["alpha"] == 0.5 and overrides["reg_weights"] == [0.0, 0.0]
    assert overrides["train_neg_sample_args"]["sample_num"] == 3 and overrides["learner"] == "sgd"
    assert any("sigmoid applied twice" in note for note in notes)
    assert any("leaves it out" in note for note in notes)


def test_a_paper_without_the_factored_item_similarity_is_not_read_as_fism(tmp_path):
    """The same paper with user vectors in place of the history's item vectors: matrix factorisation, not FISM."""
    pages = [[text.replace("the item-item similarity matrix as the product of two low-dimensional latent factor "
                           "matrices", "user and item latent vectors")
              .replace("In FISM the similarity between two items is the inner product of their latent vectors from "
                       "two matrices P and Q. The recommendation score of user u for an unrated item i is the sum of "
                       "the similarities between i and the items the user has rated",
                       "The score of user u for item i is the inner product of the user's and the item's latent "
                       "vectors")
              .replace("item-item similarities from co-rated items", "similarities from co-rated items")
              .replace("FISM - FACTORED ITEM SIMILARITY METHODS", "FISM - FACTORED MODELS")
              for text in page] for page in FISM_PAPER]
    spec = spec_of(tmp_path, pages)
    blocks = [block.block for block in spec.architecture]
    assert "item_similarity" not in blocks
    assert composition_class("general", blocks, spec.loss) != "FISM"


def model_from(split_info: SplitInfo, folder: Path, pages: list[list[str]], **values: object) -> torch.nn.Module:
    spec = with_values(spec_of(folder / "paper", pages), embedding_size=8, **values)
    model_folder = rendered(spec, folder / "model")
    return build_model(model_folder, load_config(model_folder), load_split(split_info.path))


def fism_model(split_info: SplitInfo, folder: Path, **values: object) -> torch.nn.Module:
    return model_from(split_info, folder, FISM_PAPER, **values)


def fism_by_hand(model: torch.nn.Module, train: torch.Tensor, user: int, item: int) -> torch.Tensor:
    """b_u + b_i + |R_u \\ {i}|^-alpha * sum over j in R_u \\ {i} of p_j . q_i, the paper's equation term by term."""
    history = [int(j) for j in train[train[:, 0] == user, 1].unique() if int(j) != item]
    p, q = model.history_embedding.weight, model.target_embedding.weight
    total = sum((p[j] * q[item]).sum() for j in history) if history else torch.tensor(0.0)
    return model.user_bias[user] + model.item_bias[item] + max(len(history), 1) ** -model.alpha * total


def test_fism_scores_are_the_papers_equation_with_the_estimated_item_left_out(split_info, tmp_path):
    model = fism_model(split_info, tmp_path, alpha=0.5)
    with torch.no_grad():
        for table in (model.history_embedding.weight, model.target_embedding.weight):
            table.normal_()
        model.user_bias.normal_()
        model.item_bias.normal_()
    train = torch.as_tensor(load_split(split_info.path).train)
    user = int(train[0, 0])
    rated = int(train[0, 1])
    unrated = next(i for i in range(model.n_items) if i not in set(train[train[:, 0] == user, 1].tolist()))
    with torch.no_grad():
        pair = model.score(torch.tensor([user, user]), torch.tensor([rated, unrated]))
        row = model.full_sort_scores(torch.tensor([user]))[0]
        for got, item in ((pair[0], rated), (pair[1], unrated), (row[rated], rated), (row[unrated], unrated)):
            torch.testing.assert_close(got, fism_by_hand(model, train, user, item), rtol=1e-4, atol=1e-4)
        # the rated item's own p_i q_i is not in its estimate: changing p_i leaves its score alone
        model.history_embedding.weight[rated] += 10.0
        torch.testing.assert_close(model.score(torch.tensor([user]), torch.tensor([rated]))[0], pair[0],
                                   rtol=1e-4, atol=1e-4)


def test_fism_trains_the_papers_squared_error_on_sampled_zeros(split_info, tmp_path):
    model = fism_model(split_info, tmp_path / "plain")
    train = torch.as_tensor(load_split(split_info.path).train)
    users, pos = train[:16, 0], train[:16, 1]
    neg = torch.randint(0, model.n_items, (16, 3), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = model.loss({"users": users, "pos_items": pos, "neg_items": neg})
        scores = model.score(users.unsqueeze(1), torch.cat([pos.unsqueeze(1), neg], 1))
    targets = torch.zeros_like(scores)
    targets[:, 0] = 1.0
    torch.testing.assert_close(loss, ((scores - targets) ** 2).mean())
    assert render.trained_loss(spec_of(tmp_path / "paper", FISM_PAPER)) == "mse"


@pytest.mark.parametrize("model", PAPERS)
def test_a_few_steps_lower_the_loss_on_one_batch(model, split_info, tmp_path):
    built = model_from(split_info, tmp_path, PAPERS[model][0])
    train = torch.as_tensor(load_split(split_info.path).train)
    batch = {"users": train[:64, 0], "pos_items": train[:64, 1],
             "neg_items": torch.randint(0, built.n_items, (64, 3), generator=torch.Generator().manual_seed(1))}
    losses = adam_losses(built, batch, steps=20, lr=0.05)
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.slow
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", PAPERS[model][0]), embedding_size=16, batch_size=256,
                       learning_rate=0.01, optimizer="adam")
    passes_the_gates_and_trains(spec, split_info, tmp_path)


def test_nais_maps_its_stated_values_and_lists_its_fism_pre_training_as_a_deviation(tmp_path):
    spec = spec_of(tmp_path, NAIS_PAPER)
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 16, "attention_size": 16, "beta": 0.5, "alpha": 0.0}
    assert spec.hp("negative_samples") == 4 and spec.hp("learning_rate") == 0.01
    assert [d.component for d in spec.fidelity.deviations] == [
        "pre-training of the model's parts before joint training"]
    assert "FISM" in spec.fidelity.deviations[0].ours
    model, overrides, notes = reference(spec)
    assert (model, overrides["weight_size"], overrides["beta"], overrides["algorithm"]) == ("NAIS", 16, 0.5, "prod")
    assert any("item bias" in note for note in notes)


def test_nais_reads_an_attention_network_fed_with_the_concatenation(tmp_path):
    pages = [[text.replace("fed with the element-wise product of the two vectors",
                           "fed with the concatenation of the target and historical item vectors")
              .replace("W (p_i * q_j)", "W [p_i; q_j]")
              for text in page] for page in NAIS_PAPER]
    spec = spec_of(tmp_path, pages)
    assert spec.fidelity.verdict == "faithful"
    assert spec.architecture[0].params.get("attention") == "concat"
    assert "W [p_i; q_j] + b = W_p p_i + W_q q_j + b" in render.run(spec, {})["model.py"]
    assert reference(spec)[1]["algorithm"] == "concat"


def nais_by_hand(model: torch.nn.Module, train: torch.Tensor, user: int, item: int) -> torch.Tensor:
    """sum over j in R_u without i of a_ij p_i . q_j with a_ij = exp(f_ij) / (sum_j exp(f_ij))^beta and
    f_ij = h . ReLU(W (p_i * q_j) + b), term by term."""
    history = [int(j) for j in train[train[:, 0] == user, 1].unique() if int(j) != item]
    p, q = model.target_embedding.weight[item], model.history_embedding.weight
    layer, h = model.attention_layer, model.attention_vector
    concat = layer.in_features == 2 * p.shape[0]  # the attention network fed with [p_i; q_j]
    f = torch.stack([(h * torch.relu(layer(torch.cat([p, q[j]]) if concat else p * q[j]))).sum() for j in history])
    weights = torch.exp(f) / torch.exp(f).sum() ** model.beta
    return sum(weights[n] * (p * q[j]).sum() for n, j in enumerate(history))


CONCAT_PAGES = [[text.replace("fed with the element-wise product of the two vectors",
                              "fed with the concatenation of the target and historical item vectors")
                 .replace("W (p_i * q_j)", "W [p_i; q_j]") for text in page] for page in NAIS_PAPER]


@pytest.mark.parametrize("pages", [NAIS_PAPER, CONCAT_PAGES], ids=["prod", "concat"])
def test_nais_scores_are_the_papers_smoothed_attention_with_the_estimated_item_left_out(pages, split_info, tmp_path):
    """Pairs, a training batch's shape (each user against its positive and negatives) and the full sort all give
    the attention term by term."""
    model = model_from(split_info, tmp_path, pages, attention_size=4, beta=0.7)
    with torch.no_grad():
        for table in (model.history_embedding.weight, model.target_embedding.weight):
            table.normal_()
        model.attention_vector.normal_()
    train = torch.as_tensor(load_split(split_info.path).train)
    user, rated = int(train[0, 0]), int(train[0, 1])
    unrated = next(i for i in range(model.n_items) if i not in set(train[train[:, 0] == user, 1].tolist()))
    with torch.no_grad():
        pair = model.score(torch.tensor([user, user]), torch.tensor([rated, unrated]))
        row = model.full_sort_scores(torch.tensor([user]))[0]
        for got, item in ((pair[0], rated), (pair[1], unrated), (row[rated], rated), (row[unrated], unrated)):
            torch.testing.assert_close(got, nais_by_hand(model, train, user, item), rtol=1e-4, atol=1e-4)
        users = torch.unique(train[:, 0])[:3]
        items = torch.tensor([[rated, unrated, 1], [2, 3, rated], [0, unrated, 4]])
        batch = model.score(users.unsqueeze(1), items)
        for b, u in enumerate(users.tolist()):
            for k, item in enumerate(items[b].tolist()):
                torch.testing.assert_close(batch[b, k], nais_by_hand(model, train, u, item), rtol=1e-4, atol=1e-4)


def nais_scores_both_ways(model: torch.nn.Module, users: torch.Tensor) -> list[tuple[torch.Tensor, list]]:
    """(scores, gradients of a fixed random weighting of them) of the full sort by item pairs and of the same pairs
    through attended_history (each user's history gathered, the sums in log space)."""
    every_item = torch.arange(model.n_items)
    weighting = torch.randn(len(users), model.n_items, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    results = []
    for scores_of in (model.attended_every_item, lambda u: model.attended_history(u.unsqueeze(1), every_item)):
        model.zero_grad()
        scores = scores_of(users)
        (scores * weighting).sum().backward()
        results.append((scores.detach(), [p.grad.clone() for p in model.parameters()]))
    return results


@pytest.mark.parametrize("pages", [NAIS_PAPER, CONCAT_PAGES], ids=["prod", "concat"])
def test_nais_full_sort_by_item_pairs_equals_the_per_user_attention(pages, split_info, tmp_path, monkeypatch):
    """The full sort groups the sums by (target, history item) pair: the same values and gradients in float64; a
    user whose sums underflow there (NaN) is scored by the per-user path."""
    model = model_from(split_info, tmp_path, pages, attention_size=4, beta=0.7, alpha=0.3).double()
    with torch.no_grad():
        for table in (model.history_embedding.weight, model.target_embedding.weight):
            table.normal_()
        model.attention_vector.normal_()
        model.attention_layer.bias.normal_()
    users = torch.arange(model.n_users)
    (new, new_grads), (old, old_grads) = nais_scores_both_ways(model, users)
    assert torch.isfinite(new).all() and bool((new != 0).any())
    torch.testing.assert_close(new, old, rtol=1e-10, atol=1e-12)
    for got, expected in zip(new_grads, old_grads, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)
    generated = sys.modules[type(model).__module__]
    by_pairs = generated.smoothed_attention_sums

    def underflowing_user_2(*args: object, **kwargs: object) -> torch.Tensor:
        sums = by_pairs(*args, **kwargs)
        sums[2, 0] = float("nan")
        return sums

    monkeypatch.setattr(generated, "smoothed_attention_sums", underflowing_user_2)
    with torch.no_grad():
        torch.testing.assert_close(model.attended_every_item(users), old, rtol=1e-10, atol=1e-12)


def test_smoothed_attention_sums_by_hand():
    """Two targets against a union of three history items: a row holding the target leaves it out (and counts one
    item less), a row whose only item is the target sums nothing; a denominator that underflows is NaN."""
    logits = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], dtype=torch.float64)  # [target, history item]
    similarity = torch.tensor([[1.0, 2.0, -3.0], [0.5, -1.0, 4.0]], dtype=torch.float64)
    targets, items = torch.tensor([3, 7]), torch.tensor([3, 5, 9])
    members = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    beta, alpha = 0.6, 0.5
    got = smoothed_attention_sums(logits, similarity, targets, items, members, beta, alpha)
    expected = torch.zeros(3, 2, dtype=torch.float64)
    for row in range(3):
        for t, target in enumerate(targets.tolist()):
            js = [j for j in range(3) if members[row, j] and int(items[j]) != target]
            if js:
                e = torch.exp(logits[t, js])
                expected[row, t] = len(js) ** -alpha * (e * similarity[t, js]).sum() / e.sum() ** beta
    assert expected[1, 0] == 0 and expected[1, 1] != 0
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    far = torch.tensor([[0.0, -1000.0]], dtype=torch.float64)  # the second row's item 1000 below the first's
    sums = smoothed_attention_sums(far, torch.ones_like(far), torch.tensor([0]), torch.tensor([1, 2]),
                                   torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64), beta, 0.0)
    assert sums[0, 0] == 1.0 and sums[1, 0].isnan()
