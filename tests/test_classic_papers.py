"""Classic general-family models read from fixture papers that describe them in prose (issue 19, wave 1): DMF (a
user's row and an item's column of the interaction matrix through two networks, the cosine of the two latent
vectors clipped below at mu, the normalised cross entropy), ENMF (h^T (p_u * q_v) trained by the whole-data loss over
every entry, computed by the rearranged sum) and ConvNCF (the outer product of the embeddings as a 2-D interaction
map through stride-2 convolutions, BPR). Each paper is read into its blocks, comes out `faithful` with RecBole's
class as the reference, renders and trains; the block equals the paper's equations on a tiny input; a paper that is
not the model is not read as it. None of the fixture papers is a real paper."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from paper_autotrain.data.split import load_split, write_split
from paper_autotrain.regimes import config_regime, resolve
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages import render
from paper_autotrain.stages.baselines import runner
from paper_autotrain.stages.baselines.references.topk import reference
from paper_autotrain.stages.extract.defaults import needed_defaults
from paper_autotrain.worker.batches import first_user_pairs
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import (
    assert_read_faithful,
    batch_loss_is_the_whole_states,
    passes_the_gates_and_trains,
    rendered,
    spec_of,
    with_values,
)
from tests.model_fixtures import adam_losses, synthetic_split

DMF_PAPER = [
    ["Deep Matrix Factorization Models for Recommender Systems",
     "Abstract. Recommender systems usually make personalized recommendation with user-item interaction ratings, "
     "implicit feedback and auxiliary information. We propose a novel matrix factorization model with a neural "
     "network architecture. First, we construct a user-item matrix with explicit ratings and non-preference implicit "
     "feedback. With this matrix as the input, we present a deep structure learning architecture to learn a common "
     "low dimensional space for the representations of users and items. We name the model Deep Matrix Factorization "
     "(DMF).",
     "1 INTRODUCTION",
     "Latent factor models map users and items into a shared space; their linear inner product limits what they "
     "can express. Neural networks have been applied to recommendation with great success."],
    ["3 OUR PROPOSED MODEL",
     "3.1 Deep Matrix Factorization",
     "From the interaction matrix Y, each user u_i is represented by the i-th row Y_i* of the matrix, the user's "
     "ratings across all items, and each item v_j by the j-th column Y_*j, its ratings across all users. The two "
     "vectors are fed into two multi-layer networks, one for the users and one for the items, which project them "
     "into a common low-dimensional latent space: p_i = f_N(... f_2(W_U2 (W_U1 Y_i*)) ...) and q_j = f_N(... "
     "f_2(W_V2 (W_V1 Y_*j)) ...). The first layer is linear, and each later layer l computes ReLU(W l_(i-1) + b).",
     "The prediction is the cosine similarity between the latent vectors of the user and the item: Y_hat_ij = "
     "cosine(p_i, q_j) = p_i^T q_j / (||p_i|| ||q_j||).",
     "3.2 Loss Function",
     "To use both the explicit ratings and the implicit feedback, we design a new loss based on binary cross entropy, "
     "the normalized cross entropy loss: L = - sum over (i, j) in Y+ and Y- of (Y_ij / max(R)) log Y_hat_ij + "
     "(1 - Y_ij / max(R)) log(1 - Y_hat_ij), where max(R) is the largest rating, which normalizes the ratings into "
     "[0, 1]. Since the cosine similarity can be negative, the prediction is clipped: Y_hat_ij = max(mu, Y_hat_ij), "
     "with mu = 1.0e-6. The negative instances Y- are sampled from the unobserved entries, with 4 negative instances "
     "for each positive instance."],
    ["4 EXPERIMENTS",
     "We evaluate DMF on MovieLens 1M and Amazon Music with HR@10 and NDCG@10. In DMF both networks have the hidden "
     "layers 256 -> 128 -> 64 units. The learning rate is set to 0.0001 and the batch size to 256; we optimize with "
     "Adam. The compared methods are ItemPop, eALS and NeuMF."],
]

ENMF_PAPER = [
    ["Efficient Neural Matrix Factorization without Sampling for Recommendation",
     "Abstract. Recommendation systems often learn from implicit feedback, which holds only positive examples. Most "
     "neural recommendation models learn with negative sampling, which is neither robust nor efficient. We propose "
     "ENMF, an Efficient Neural Matrix Factorization framework that learns neural recommendation models from the "
     "whole training data without sampling.",
     "1 INTRODUCTION",
     "Negative sampling draws a few unobserved items per positive one and converges slowly; learning from all the "
     "data has been too costly for neural models."],
    ["3 EFFICIENT NEURAL MATRIX FACTORIZATION",
     "3.1 Model",
     "Each user u and each item v have latent vectors p_u and q_v. The prediction is y_hat_uv = h^T (p_u ⊙ q_v), the "
     "element-wise product of the two vectors weighted by a learned prediction vector h. Dropout is applied to the "
     "user latent vectors during training.",
     "3.2 Efficient Whole-Data Learning",
     "On implicit data we minimize a weighted regression loss over all the entries of the interaction matrix, "
     "L = sum over u in B and v in V of c_uv (y_uv - y_hat_uv)^2, where c_uv is the weight of an entry: 1 for the "
     "observed entries and a uniform negative weight c0 for the missing data. Computed directly the loss costs "
     "O(|B| |V| d). We rearrange the sum over the missing data: since y_uv = 0 there, the loss equals, up to a "
     "constant, sum over u in B and v in V+ of ((1 - c0) y_hat_uv^2 - 2 y_hat_uv) + c0 sum_d sum_d' (h_d h_d') "
     "(sum over u in B of p_ud p_ud') (sum over v in V of q_vd q_vd'), which costs O((|B| + |V|) d^2). We use the "
     "user-based batch variant, where each batch holds a set of users with all their items."],
    ["4 EXPERIMENTS",
     "We evaluate ENMF on Ciao, Epinions and MovieLens with HR@10 and NDCG@10.",
     "In ENMF the latent dimension is 64 and the learning rate is 0.05; we optimize with Adagrad. The negative "
     "weight c0 is set to 0.1 and the dropout ratio is set to 0.7. The compared methods are BPR, NCF and eALS."],
]

CONVNCF_PAPER = [
    ["Outer Product-based Neural Collaborative Filtering",
     "Abstract. In this work, we propose ConvNCF, a new neural network architecture for collaborative "
     "filtering. Instead of a simple concatenation or element-wise product of the user and item "
     "embeddings, we use an outer product to explicitly model the pairwise correlations between the dimensions of "
     "the embedding space, and a convolutional neural network above it to learn high-order correlations.",
     "1 INTRODUCTION",
     "Matrix factorization models the interaction as the inner product of the embeddings, which assumes the "
     "embedding dimensions are independent of each other."],
    ["2 CONVOLUTIONAL NCF",
     "2.1 Outer Product",
     "Given the embeddings p_u and q_i of user u and item i, we compute the interaction map E = p_u q_i^T, the "
     "outer product of the two vectors, a K x K matrix whose entry e_kl = p_uk q_il holds the correlation between "
     "dimensions k and l.",
     "2.2 Convolutional Layers",
     "Above the interaction map we stack convolution layers. Each layer has 32 feature maps; its kernels are 2 x 2 "
     "with a stride of 2, followed by the ReLU activation, so each layer halves the size of the map. With an "
     "embedding size of 64, six layers reduce the 64 x 64 map to a 1 x 1 x 32 tensor, the vector g. The prediction "
     "layer gives the score y_hat_ui = w^T g + b.",
     "2.3 Learning",
     "We optimize the BPR loss over pairs of an observed item and a sampled unobserved item, with L2 regularization "
     "of the embeddings and the weights. We initialize the embeddings with those of MF trained with BPR, since "
     "pre-training speeds up the convergence."],
    ["3 EXPERIMENTS",
     "We evaluate ConvNCF on Yelp and Gowalla with HR@10 and NDCG@10.",
     "In ConvNCF the embedding size is 64, the number of feature maps in each convolution layer is 32 and the "
     "learning rate is 0.05; we optimize with Adagrad. The compared methods are ItemPop, MF-BPR and NeuMF."],
]

PAPERS = {
    "DMF": (DMF_PAPER, ["interaction_towers"], "bce", "DMF"),
    "ENMF": (ENMF_PAPER, ["embedding", "weighted_product_score"], "other", "ENMF"),
    "ConvNCF": (CONVNCF_PAPER, ["embedding", "outer_product_convolution"], "bpr", "ConvNCF"),
}


@pytest.fixture(scope="module")
def uneven_split_info(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    """The synthetic split with the users' train rows cut to 4-10 items, user 0's to none: histories of unequal
    lengths (a user batch of unequal rows; RecBole pads each history to the longest) and a user with no row."""
    folder = tmp_path_factory.mktemp("uneven")
    data = synthetic_split()
    train = data.train
    rank = np.concatenate([np.arange(n) for n in np.bincount(train[:, 0])])  # each pair's place in its user's row
    data = dataclasses.replace(data, train=train[rank < (4 + train[:, 0] % 7) * (train[:, 0] > 0)])
    write_split(data, folder, "synthetic")
    return SplitInfo(dataset="synthetic", split_id="uneven", path=str(folder), n_users=data.n_users,
                     n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                     protocol="synthetic")


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks, loss, recbole = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert spec.task == "topk"
    assert_read_faithful(spec, "general", model, blocks, loss, recbole)


def test_dmf_maps_its_stated_values_to_the_block_and_to_recboles_dmf(tmp_path):
    spec = spec_of(tmp_path, DMF_PAPER)
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"mlp_layers": [256, 128, 64], "score_clip": 1.0e-6, "score_function": "cosine"}
    assert spec.hp("negative_samples") == 4 and render.trained_loss(spec) == "normalized_ce"
    model, overrides, notes = reference(spec)
    assert (overrides["user_embedding_size"], overrides["user_hidden_size_list"]) == (256, [128, 64])
    assert overrides["item_hidden_size_list"] == [128, 64] and overrides["inter_matrix_type"] == "01"
    assert any("inner product" in note for note in notes)


def test_a_paper_with_id_embeddings_in_place_of_the_rows_is_not_read_as_dmf(tmp_path):
    """The same paper with the users' and items' ID embeddings as the networks' input: not DMF."""
    pages = [[text.replace("From the interaction matrix Y, each user u_i is represented by the i-th row Y_i* of the "
                           "matrix, the user's ratings across all items, and each item v_j by the j-th column Y_*j, "
                           "its ratings across all users. The two vectors are fed into two multi-layer networks, one "
                           "for the users and one for the items",
                           "Each user and each item has an ID embedding; the embeddings are fed into a multi-layer "
                           "network")
              .replace("Deep Matrix Factorization (DMF)", "Deep Factorization (DeepF)")
              .replace("Deep Matrix Factorization Models", "Deep Factorization Models")
              .replace("3.1 Deep Matrix Factorization", "3.1 Deep Factorization").replace("DMF", "DeepF")
              for text in page] for page in DMF_PAPER]
    spec = spec_of(tmp_path, pages)
    blocks = [block.block for block in spec.architecture]
    assert "interaction_towers" not in blocks and spec.reference != "DMF"


def model_from(split_info: SplitInfo, folder: Path, pages: list[list[str]], **values: object) -> torch.nn.Module:
    spec = with_values(spec_of(folder / "paper", pages), **values)
    model_folder = rendered(spec, folder / "model")
    return build_model(model_folder, load_config(model_folder), load_split(split_info.path))


def dmf_by_hand(model: torch.nn.Module, train: torch.Tensor, user: int, item: int) -> torch.Tensor:
    """max(mu, cos(p_u, q_i)) with p_u = tower(W_U1 Y_u*) and q_i = tower(W_V1 Y_*i) from the dense matrix Y."""
    matrix = torch.zeros(model.n_users, model.n_items)
    matrix[train[:, 0], train[:, 1]] = 1.0
    p = model.user_tower(matrix[user] @ model.user_input)
    q = model.item_tower(matrix[:, item] @ model.item_input)
    cosine = torch.dot(p, q) / (p.norm().clamp_min(1e-12) * q.norm().clamp_min(1e-12))  # a dead tower scores 0
    return torch.clamp_min(cosine, model.score_clip)


def test_dmf_scores_are_the_clipped_cosine_of_the_row_and_column_towers(split_info, tmp_path):
    model = model_from(split_info, tmp_path, DMF_PAPER, mlp_layers=[8, 6, 4])
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
        model.user_input.abs_()
        model.item_input.abs_()
    train = torch.as_tensor(load_split(split_info.path).train)
    users, items = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 7, 2])
    with torch.no_grad():
        pair = model.score(users, items)
        rows = model.full_sort_scores(users)
        for n, (user, item) in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
            expected = dmf_by_hand(model, train, user, item)
            torch.testing.assert_close(pair[n], expected, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(rows[n, item], expected, rtol=1e-4, atol=1e-5)
    assert float(rows.min()) >= model.score_clip * (1 - 1e-5)  # the cosine clipped below at mu
    assert float(pair.max()) > 0.01  # not every tower dead


def test_dmf_trains_the_normalised_cross_entropy(split_info, tmp_path):
    model = model_from(split_info, tmp_path, DMF_PAPER, mlp_layers=[8, 4])
    train = torch.as_tensor(load_split(split_info.path).train)
    users, pos = train[:16, 0], train[:16, 1]
    neg = torch.randint(0, model.n_items, (16, 4), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = model.loss({"users": users, "pos_items": pos, "neg_items": neg})
        scores = model.score(users.unsqueeze(1), torch.cat([pos.unsqueeze(1), neg], 1))
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1.0  # Y_ij / max(R): 1 for the observed entries, 0 for the sampled ones
    y = scores.clamp(1e-6, 1 - 1e-6)
    torch.testing.assert_close(loss, -(labels * y.log() + (1 - labels) * (1 - y).log()).mean())


@pytest.mark.parametrize("score_function", ["cosine", "inner_product"])
def test_dmf_batch_towers_give_the_full_encodings_loss_and_gradients(score_function, split_info, tmp_path):
    """Training runs only the batch's users and items through the towers (their rows and columns of Y): the loss and
    every gradient equal those of the whole encode's tables."""
    model = model_from(split_info, tmp_path, DMF_PAPER, mlp_layers=[8, 4], score_function=score_function,
                       l2_reg=0.01)
    train = torch.as_tensor(load_split(split_info.path).train)
    users, pos = train[:16, 0], train[:16, 1]
    neg = torch.randint(0, model.n_items, (16, 4), generator=torch.Generator().manual_seed(0))
    batch_loss_is_the_whole_states(model, users, pos, neg)


def test_dmf_with_recboles_inner_product_scores_p_dot_q_and_trains_bce_with_logits(split_info, tmp_path):
    """score_function inner_product (RecBole's DMF): y_hat = p_u^T q_i unnormalised, unclipped, and the loss is BCE
    with logits on it (1 for the positive, 0 for the sampled negatives)."""
    model = model_from(split_info, tmp_path, DMF_PAPER, mlp_layers=[8, 6, 4], score_function="inner_product")
    assert model.score_function == "inner_product"
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    train = torch.as_tensor(load_split(split_info.path).train)
    matrix = torch.zeros(model.n_users, model.n_items)
    matrix[train[:, 0], train[:, 1]] = 1.0
    users, items = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 7, 2])
    with torch.no_grad():
        pair, rows = model.score(users, items), model.full_sort_scores(users)
        for n, (user, item) in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
            p = model.user_tower(matrix[user] @ model.user_input)
            q = model.item_tower(matrix[:, item] @ model.item_input)
            torch.testing.assert_close(pair[n], torch.dot(p, q), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(rows[n, item], torch.dot(p, q), rtol=1e-4, atol=1e-5)
        assert float(pair.abs().max()) > 1.0  # not a cosine
        neg = torch.randint(0, model.n_items, (4, 3), generator=torch.Generator().manual_seed(0))
        loss = model.loss({"users": users, "pos_items": items, "neg_items": neg})
        logits = model.score(users.unsqueeze(1), torch.cat([items.unsqueeze(1), neg], 1))
    labels = torch.zeros_like(logits)
    labels[:, 0] = 1.0
    # log sigmoid(x) and log(1 - sigmoid(x)) = log sigmoid(-x), in their stable form (the logits are large here)
    log_sigmoid = torch.nn.functional.logsigmoid
    expected = -(labels * log_sigmoid(logits) + (1 - labels) * log_sigmoid(-logits)).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", PAPERS)
def test_a_few_steps_lower_the_loss_on_one_batch(model, split_info, tmp_path):
    torch.manual_seed(0)  # the initial weights, whatever the tests before drew
    built = model_from(split_info, tmp_path, PAPERS[model][0], embedding_size=4, mlp_layers=[16, 8], conv_channels=4)
    split = load_split(split_info.path)
    train = torch.as_tensor(split.train)
    batch = {"users": train[:64, 0], "pos_items": train[:64, 1],
             "neg_items": torch.randint(0, built.n_items, (64, 3), generator=torch.Generator().manual_seed(1))}
    if model == "ENMF":  # its regime's batch (user_batches): users, each with all its train pairs
        batch = first_user_pairs(split, {}, 8)
    losses = adam_losses(built, batch, steps=20, lr=0.02)
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.slow
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", PAPERS[model][0]), embedding_size=16, mlp_layers=[32, 16],
                       batch_size=256, learning_rate=0.01, optimizer="adam")
    passes_the_gates_and_trains(spec, split_info, tmp_path)


def recbole_model(name: str, overrides: dict, split_info: SplitInfo) -> tuple[torch.nn.Module, object]:
    """RecBole's class `name` built on the split's benchmark files as the baselines runner builds it."""
    import sys

    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, init_seed

    from paper_autotrain.stages.baselines import recbole_config

    runner._patch_numpy()
    config_dict = {**recbole_config(overrides, {"max_epochs": 1}), "data_path": split_info.path, "device": "cpu",
                   "use_gpu": False}
    sys.argv = sys.argv[:1]  # RecBole's Config parses --key=value from the command line
    config = Config(model=name, dataset=split_info.dataset, config_dict=config_dict)
    config["data_path"] = str(Path(split_info.path) / split_info.dataset)
    init_seed(0, True)
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    return get_model(name)(config, train_data._dataset), dataset


@pytest.mark.slow
def test_dmf_with_recboles_inner_product_is_recboles_dmf_loss_and_gradients(split_info, tmp_path):
    """score_function inner_product and RecBole's DMF (the reference's mapped config), given the same weights: the
    same loss on the same batch of positives with their sampled negatives (labels 1 and 0, max(R) = 1), the same
    gradients on every weight. So a gap between the two at the same budget is not the model or its data."""
    from recbole.data.interaction import Interaction

    from paper_autotrain.stages.baselines.ids import token_ids

    spec = with_values(spec_of(tmp_path / "paper", DMF_PAPER), mlp_layers=[16, 8, 4], score_function="inner_product")
    theirs, dataset = recbole_model("DMF", reference(spec)[1], split_info)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    ours = build_model(folder, load_config(folder), split)
    users_to = torch.from_numpy(token_ids(dataset, dataset.uid_field, split.user_tokens, strict=True)).long()
    items_to = torch.from_numpy(token_ids(dataset, dataset.iid_field, split.item_tokens, strict=True)).long()
    their_towers = [[m for m in tower.mlp_layers if isinstance(m, torch.nn.Linear)]
                    for tower in (theirs.user_fc_layers, theirs.item_fc_layers)]
    our_towers = [[m for m in tower if isinstance(m, torch.nn.Linear)] for tower in (ours.user_tower, ours.item_tower)]
    with torch.no_grad():  # our first layers are RecBole's linear layers' columns, in our id order
        ours.user_input.copy_(theirs.user_linear.weight.t()[items_to])
        ours.item_input.copy_(theirs.item_linear.weight.t()[users_to])
        for our_layers, their_layers in zip(our_towers, their_towers, strict=True):
            for mine, its in zip(our_layers, their_layers, strict=True):
                mine.weight.copy_(its.weight * 30.0)  # larger than N(0, 0.01): gradients well above rounding
                its.weight.copy_(mine.weight)
                mine.bias.copy_(its.bias)
    train = torch.as_tensor(split.train)
    users, items = train[:12, 0], train[:12, 1]
    negatives = torch.randint(0, ours.n_items, (12, 4), generator=torch.Generator().manual_seed(0))
    our_loss = ours.loss({"users": users, "pos_items": items, "neg_items": negatives})
    rows = torch.cat([items.unsqueeze(1), negatives], 1)  # RecBole's pointwise rows: each positive, its negatives
    labels = torch.zeros(12, 5)
    labels[:, 0] = 1.0
    their_loss = theirs.calculate_loss(Interaction({
        dataset.uid_field: users_to[users].repeat_interleave(5), dataset.iid_field: items_to[rows].reshape(-1),
        "label": labels.reshape(-1)}))
    torch.testing.assert_close(our_loss, their_loss)
    our_loss.backward()
    their_loss.backward()
    assert float(ours.user_input.grad.abs().max()) > 0.0
    torch.testing.assert_close(ours.user_input.grad, theirs.user_linear.weight.grad.t()[items_to])
    torch.testing.assert_close(ours.item_input.grad, theirs.item_linear.weight.grad.t()[users_to])
    for our_layers, their_layers in zip(our_towers, their_towers, strict=True):
        for mine, its in zip(our_layers, their_layers, strict=True):
            torch.testing.assert_close(mine.weight.grad, its.weight.grad)
            torch.testing.assert_close(mine.bias.grad, its.bias.grad)


def test_enmf_maps_its_stated_values_and_builds_the_papers_user_based_batches(tmp_path):
    spec = spec_of(tmp_path, ENMF_PAPER)
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 64, "missing_weight": 0.1, "dropout": 0.7, "dropout_scope": "both",
                      "padding_item": "absent"}
    assert render.trained_loss(spec) == "whole_data" and spec.hp("optimizer") == "adagrad"
    # the user-based batches are a component the block builds (its regime), not a deviation
    assert not spec.fidelity.deviations
    assert {c.name: c.block for c in spec.fidelity.components}[
        "user-based mini-batches (each batch a set of users with all their items)"] == "weighted_product_score"
    assert spec.hp("batch_size") == 256  # users a batch: the paper states none, the authors' code's default
    model, overrides, notes = reference(spec)
    assert (overrides["negative_weight"], overrides["dropout_prob"], overrides["embedding_size"]) == (0.1, 0.7, 64)
    assert overrides["train_neg_sample_args"] is None and overrides["learner"] == "adagrad"
    # RecBole's ENMF batches users (its UserDataLoader) as ours does: the same count of users a batch
    assert overrides["train_batch_size"] == 256
    assert any("whole train row" in note for note in notes)
    # RecBole's two deviations from the paper listed, each with the block word that gives it
    assert any("padding item" in note and "padding_item live gives RecBole's" in note for note in notes)
    assert any("dropout_scope positive gives RecBole's" in note for note in notes)
    words = reference(with_values(spec, dropout_scope="positive", padding_item="live"))[2]
    assert any("Ours has it too (padding_item live)" in note for note in words)
    folder = rendered(spec, tmp_path / "model")
    assert load_config(folder)["data"]["regime"] == "user_batches"
    # the block's batches of users come with its own loss: trained with BPR (a hand edit), it takes pairs
    bpr = rendered(spec.with_trained_loss("bpr"), tmp_path / "bpr")
    assert load_config(bpr)["data"]["regime"] == "topk"


def test_enmf_lists_no_negative_samples_its_whole_data_loss_never_reads(tmp_path):
    """A family default nothing consumes is not listed (spec, config.yaml): ENMF's whole-data loss on user batches
    samples no negatives. Trained with BPR (a hand edit) it samples them from pairs, and negative_samples is back."""
    spec = spec_of(tmp_path, ENMF_PAPER)
    assert "negative_samples" not in spec.hyperparameters
    assert not any("negative_samples" in line for line in spec.unclear)
    assert "negative_samples" not in needed_defaults(spec)
    assert "negative_samples" not in load_config(rendered(spec, tmp_path / "model"))["optim"]
    bpr = spec.with_trained_loss("bpr")
    assert needed_defaults(bpr)["negative_samples"] == 1
    assert load_config(rendered(bpr, tmp_path / "bpr"))["optim"]["negative_samples"] == 1


def test_a_paper_with_negative_sampling_is_not_read_as_enmf(tmp_path):
    """The same model trained on sampled negatives (no whole-data loss, no rearrangement): not ENMF."""
    pages = [[text.replace(" without sampling", " with sampling").replace("Efficient Neural Matrix Factorization",
                                                                         "Sampled Neural Matrix Factorization")
              .replace("ENMF", "SNMF").replace("from the whole training data", "from sampled data")
              .replace("3.2 Efficient Whole-Data Learning", "3.2 Learning") for text in page]
             for page in ENMF_PAPER[:1]]
    pages.append(["3 SAMPLED NEURAL MATRIX FACTORIZATION", "3.1 Model", ENMF_PAPER[1][2], "3.2 Learning",
                  "We minimize the binary cross entropy loss over the observed entries and 4 sampled negative items "
                  "for each of them."])
    pages.append(ENMF_PAPER[2][:1])
    spec = spec_of(tmp_path, pages)
    assert "weighted_product_score" not in [block.block for block in spec.architecture]
    assert spec.reference != "ENMF" and spec.loss == "bce"


def enmf_with_batches(split_info: SplitInfo, folder: Path, users_a_batch: int, **values: object):
    """ENMF from its fixture paper with small values, and an epoch of its regime's training batches."""
    spec = with_values(spec_of(folder / "paper", ENMF_PAPER), batch_size=users_a_batch, **values)
    model_folder = rendered(spec, folder / "model")
    config, split = load_config(model_folder), load_split(split_info.path)
    model = build_model(model_folder, config, split)
    return model, list(resolve(config_regime(config).training_batches)(split, config, 0))


def test_enmf_user_batches_over_an_epoch_give_the_whole_matrix_loss_and_its_gradients(uneven_split_info, tmp_path):
    """An epoch of user-based batches (each user once, with every train item) sums, in value and in every gradient,
    to sum_uv c_uv (y_uv - y_hat_uv)^2 computed by brute force on the dense matrix (c = 1 observed, c0 missing) less
    its constant |R|, plus the L2 term once."""
    model, batches = enmf_with_batches(uneven_split_info, tmp_path, 3, embedding_size=6, dropout=0.0,
                                       missing_weight=0.3, l2_reg=0.01)
    with torch.no_grad():
        model.prediction_weight.normal_()
    pairs = torch.unique(torch.as_tensor(load_split(uneven_split_info.path).train).reshape(-1, 2), dim=0)
    seen = torch.cat([torch.stack([b["users"], b["pos_items"]], 1) for b in batches])
    assert torch.equal(torch.unique(seen, dim=0), pairs) and len(seen) == len(pairs)  # every train pair once
    row_users = torch.cat([b["row_users"] for b in batches])
    assert torch.equal(row_users.sort().values, torch.unique(pairs[:, 0])) and len(batches) > 3
    parameters = [model.user_embedding.weight, model.item_embedding.weight, model.prediction_weight]
    epoch = sum(model.loss(b) * len(b["row_users"]) for b in batches)
    epoch_grads = torch.autograd.grad(epoch, parameters)
    p, q, h = model.user_embedding.weight, model.item_embedding.weight, model.prediction_weight[0]
    scores = (p * h) @ q.T  # y_hat_uv = h^T (p_u * q_v)
    observed = torch.zeros(model.n_users, model.n_items)
    observed[pairs[:, 0], pairs[:, 1]] = 1.0
    weights = torch.where(observed > 0, 1.0, 0.3)
    weights[torch.bincount(pairs[:, 0], minlength=model.n_users) == 0] = 0.0  # a user with no train item: no row
    dense = (weights * (observed - scores) ** 2).sum() - len(pairs) + 0.01 / 2 * (p.pow(2).sum() + q.pow(2).sum())
    dense_grads = torch.autograd.grad(dense, parameters)
    torch.testing.assert_close(epoch, dense, rtol=1e-4, atol=1e-3)
    for ours, brute in zip(epoch_grads, dense_grads, strict=True):
        assert float(brute.abs().max()) > 1e-3
        torch.testing.assert_close(ours, brute, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_scores(torch.arange(model.n_users)), scores)
        torch.testing.assert_close(model.score(torch.tensor([2]), torch.tensor([5]))[0], scores[2, 5])


def test_enmf_dropout_draws_one_mask_per_user_and_scope_positive_leaves_the_missing_data_term_whole(
        uneven_split_info, tmp_path):
    """Dropout draws one mask per user of the batch, shared by its pairs; dropout_scope both (default): the
    dropped-out user vectors in both terms of the loss; positive (RecBole's ENMF): in the observed entries' term
    only, the missing-data term on the vectors before dropout."""
    from paper_autotrain.runtime.losses import whole_data_loss

    model, batches = enmf_with_batches(uneven_split_info, tmp_path, 4, embedding_size=6, dropout=0.5,
                                       missing_weight=0.3)
    assert model.dropout_scope == "both"
    model.train()
    batch = batches[0]
    users, items = batch["row_users"], batch["pos_items"]
    assert len(items) > len(users)  # users with several train items: their pairs share the user's mask
    whole, table, h = model.user_embedding.weight[users], model.item_embedding.weight, model.prediction_weight[0]
    losses = {}
    for scope in ("both", "positive"):
        model.dropout_scope = scope
        torch.manual_seed(3)
        losses[scope] = model.loss(batch)
        torch.manual_seed(3)  # the same dropout mask, drawn by hand: one row per user
        dropped = model.user_dropout(whole)
        pos_scores = (dropped[batch["row_index"]] * table[items] * h).sum(-1)
        missing = dropped if scope == "both" else whole
        expected = whole_data_loss(pos_scores, missing, table, h, 0.3) / len(users)
        torch.testing.assert_close(losses[scope], expected)
    assert not torch.isclose(losses["both"], losses["positive"])


def loss_and_grads(model: torch.nn.Module, loss, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`loss()` on `model` after torch.manual_seed(seed) (the dropout mask), and every parameter's gradient."""
    model.zero_grad()
    torch.manual_seed(seed)
    value = loss()
    value.backward()
    return value.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


def test_enmf_user_batch_loss_is_recboles_enmf_loss_and_gradients(uneven_split_info, tmp_path):
    """RecBole's ENMF (the reference's mapped config), given our weights, on the same batch of users. The paper's
    form (dropout 0 here) against RecBole with its padding item's row zeroed: its loss (a sum over the batch) is
    ours times the batch's users, with the same gradients. With RecBole's words (dropout_scope positive,
    padding_item live with q_0 its live Xavier row 0) against RecBole's ENMF as shipped, dropout 0.5 with the same
    mask: the same loss and the same gradients, q_0's too; the padded slots are RecBole's, and the word changes the
    loss where q_0 is nonzero."""
    from recbole.data.interaction import Interaction

    from paper_autotrain.stages.baselines.ids import token_ids

    values = {"embedding_size": 6, "missing_weight": 0.3, "batch_size": 5}
    paper_spec = with_values(spec_of(tmp_path / "paper", ENMF_PAPER), dropout=0.0, **values)
    words_spec = with_values(paper_spec, dropout=0.5, dropout_scope="positive", padding_item="live")
    assert reference(paper_spec)[0] == "ENMF"
    theirs, dataset = recbole_model("ENMF", reference(words_spec)[1], uneven_split_info)
    split = load_split(uneven_split_info.path)
    ours = {}
    for name, spec in (("paper", paper_spec), ("words", words_spec)):
        folder = rendered(spec, tmp_path / name)
        ours[name] = build_model(folder, load_config(folder), split).train()
    paper, words = ours["paper"], ours["words"]
    assert paper.padding_item is None and words.padding_item is not None and words.dropout_scope == "positive"
    users_to = torch.from_numpy(token_ids(dataset, dataset.uid_field, split.user_tokens, strict=True)).long()
    items_to = torch.from_numpy(token_ids(dataset, dataset.iid_field, split.item_tokens, strict=True)).long()
    live_padding = theirs.item_embedding.weight[0].detach().clone()
    assert float(live_padding.abs().max()) > 0  # RecBole re-draws the padding row after nn.Embedding zeroed it
    with torch.no_grad():
        theirs.user_embedding.weight[users_to] = paper.user_embedding.weight
        theirs.item_embedding.weight[items_to] = paper.item_embedding.weight
        theirs.H_i.weight.copy_(paper.prediction_weight * 3.0)  # larger than Xavier's draw: gradients above rounding
        paper.prediction_weight.copy_(theirs.H_i.weight)
        for name in ("user_embedding.weight", "item_embedding.weight", "prediction_weight"):
            words.get_parameter(name).copy_(paper.get_parameter(name))
        words.padding_item.copy_(live_padding)
        theirs.item_embedding.weight[0] = 0.0
    config = load_config(rendered(words_spec, tmp_path / "words"))
    batch = next(iter(resolve(config_regime(config).training_batches)(split, config, 0)))
    rows = Interaction({dataset.uid_field: users_to[batch["row_users"]]})
    size = len(batch["row_users"])
    histories = theirs.history_item_matrix[users_to[batch["row_users"]]]  # padded with item 0 to the longest

    def same(our_model: torch.nn.Module) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        ours_loss, ours_grads = loss_and_grads(our_model, lambda: our_model.loss(batch) * size, 7)
        their_loss, their_grads = loss_and_grads(theirs, lambda: theirs.calculate_loss(rows), 7)
        torch.testing.assert_close(ours_loss, their_loss, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ours_grads["user_embedding.weight"], their_grads["user_embedding.weight"][users_to])
        torch.testing.assert_close(ours_grads["item_embedding.weight"], their_grads["item_embedding.weight"][items_to])
        torch.testing.assert_close(ours_grads["prediction_weight"], their_grads["H_i.weight"])
        if our_model.padding_item is not None:
            torch.testing.assert_close(ours_grads["padding_item"], their_grads["item_embedding.weight"][0])
        return ours_loss, ours_grads

    theirs.dropout.p = 0.0
    same(paper)
    theirs.dropout.p = 0.5
    with torch.no_grad():
        theirs.item_embedding.weight[0] = live_padding
    shipped, grads = same(words)
    # q_0 learns from the missing data alone (the padded slots' lookups pass it no gradient: padding_idx)
    assert float(grads["padding_item"].abs().max()) > 1e-4
    padded = (histories == 0).sum(1).float()
    assert float(padded.min()) > 0  # every history here is shorter than the longest: it counts the padding item
    torch.testing.assert_close(words.padded_slots[batch["row_users"]], padded)
    with torch.no_grad():  # q_0 zeroed: the padding word adds nothing, RecBole with its row zeroed the same
        words.padding_item.zero_()
        theirs.item_embedding.weight[0] = 0.0
    zeroed, _ = same(words)
    assert abs(float(shipped - zeroed)) > 1e-2 * abs(float(zeroed))


def test_convncf_maps_its_stated_values_and_lists_its_mf_pre_training_as_a_deviation(tmp_path):
    spec = spec_of(tmp_path, CONVNCF_PAPER)
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 64, "conv_channels": 32, "dropout": 0.0, "embedding_init": "xavier_normal"}
    assert [d.component for d in spec.fidelity.deviations] == [
        "pre-training of the model's parts before joint training"]
    assert "ConvNCF" in spec.fidelity.deviations[0].ours
    model, overrides, notes = reference(spec)
    assert overrides["cnn_channels"] == [1] + [32] * 6 and overrides["cnn_kernels"] == [2] * 6
    assert overrides["cnn_strides"] == [2] * 6 and overrides["train_method"] == "no_pretrain"
    assert any("pre-train" in note for note in notes)


def test_convncf_trains_through_the_same_convolutions_as_it_scores(split_info, tmp_path):
    """Training computes each 2 x 2 stride-2 convolution as a matrix product over the disjoint blocks; scoring runs
    the Conv2d layers: the same scores, and the gradients reach every convolution."""
    model = model_from(split_info, tmp_path, CONVNCF_PAPER, embedding_size=8, conv_channels=3)
    users, items = torch.tensor([[0], [3]]), torch.tensor([[1, 4], [2, 7]])
    with torch.no_grad():
        scored = model.score(users, items)
    trained = model.score(users, items)
    torch.testing.assert_close(trained, scored, rtol=1e-5, atol=1e-6)
    trained.sum().backward()
    assert all(layer.weight.grad is not None for layer in model.convolutions if isinstance(layer, torch.nn.Conv2d))


def test_convncf_embedding_init_standard_normal_draws_the_tables_from_n01(split_info, tmp_path):
    """embedding_init standard_normal (RecBole's ConvNCF keeps nn.Embedding's N(0, 1)); the default stays Xavier
    normal, whose variance is 2 / (rows + columns)."""
    torch.manual_seed(0)
    xavier = model_from(split_info, tmp_path / "x", CONVNCF_PAPER, embedding_size=8, conv_channels=2)
    normal = model_from(split_info, tmp_path / "n", CONVNCF_PAPER, embedding_size=8, conv_channels=2,
                        embedding_init="standard_normal")
    for table in (normal.user_embedding.weight.detach(), normal.item_embedding.weight.detach()):
        assert abs(float(table.mean())) < 0.2 and 0.8 < float(table.std()) < 1.2
    rows, columns = xavier.item_embedding.weight.shape
    xavier_std = (2.0 / (rows + columns)) ** 0.5
    assert float(xavier.item_embedding.weight.detach().std()) == pytest.approx(xavier_std, rel=0.25)


def test_a_paper_with_an_element_wise_product_in_place_of_the_outer_product_is_not_read_as_convncf(tmp_path):
    pages = [[text.replace("Instead of a simple concatenation or element-wise product of the user and item embeddings, "
                           "we use an outer product to explicitly model the pairwise correlations between the "
                           "dimensions of the embedding space, and a convolutional neural network above it to learn "
                           "high-order correlations.", "We feed the element-wise product of the embeddings to a "
                           "multi-layer perceptron.")
              .replace("ConvNCF", "ProdNCF").replace("Outer Product-based", "Product-based") for text in page]
             for page in CONVNCF_PAPER[:1]]
    pages.append(["2 PRODUCT NCF", "2.1 Model", "Given the embeddings p_u and q_i of user u and item i, we feed their "
                  "element-wise product to a multi-layer perceptron with ReLU hidden layers; the prediction layer "
                  "gives the score.", CONVNCF_PAPER[1][6]])
    pages.append(CONVNCF_PAPER[2][:1])
    spec = spec_of(tmp_path, pages)
    assert "outer_product_convolution" not in [block.block for block in spec.architecture]
    assert spec.reference != "ConvNCF"


def convncf_by_hand(model: torch.nn.Module, user: int, item: int) -> torch.Tensor:
    """E = p_u q_i^T, each 2 x 2 stride-2 convolution with ReLU written as sums over the 2 x 2 blocks, w^T g + b."""
    p, q = model.user_embedding.weight[user], model.item_embedding.weight[item]
    maps = torch.outer(p, q).unsqueeze(0)  # [channels_in, side, side]
    for layer in model.convolutions:
        if not isinstance(layer, torch.nn.Conv2d):
            continue
        side = maps.shape[1] // 2
        out = torch.zeros(layer.out_channels, side, side)
        for c in range(layer.out_channels):
            for row in range(side):
                for col in range(side):
                    window = maps[:, 2 * row:2 * row + 2, 2 * col:2 * col + 2]
                    out[c, row, col] = (layer.weight[c] * window).sum() + layer.bias[c]
        maps = torch.relu(out)
    g = maps.reshape(-1)
    return (model.prediction_layer.weight[0] * g).sum() + model.prediction_layer.bias[0]


def test_convncf_scores_are_the_outer_product_map_through_the_convolutions(split_info, tmp_path):
    model = model_from(split_info, tmp_path, CONVNCF_PAPER, embedding_size=8, conv_channels=3)
    assert sum(isinstance(layer, torch.nn.Conv2d) for layer in model.convolutions) == 3  # 8 -> 4 -> 2 -> 1
    model.eval()
    model.pairs_per_chunk = 5  # the chunks join up in order
    with torch.no_grad():
        pair = model.score(torch.tensor([[0], [3]]), torch.tensor([[1, 4], [2, 7]]))
        rows = model.full_sort_scores(torch.tensor([0, 3]))
        for n, user in enumerate((0, 3)):
            for m, item in enumerate(((1, 4), (2, 7))[n]):
                expected = convncf_by_hand(model, user, item)
                torch.testing.assert_close(pair[n, m], expected, rtol=1e-4, atol=1e-5)
                torch.testing.assert_close(rows[n, item], expected, rtol=1e-4, atol=1e-5)
