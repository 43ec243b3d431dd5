"""Graph collaborative-filtering models read from fixture papers that describe them in prose (NGCF, ...): each paper
is read into its model's blocks, comes out `faithful` with RecBole's class of it as the reference, renders, passes
validate's gates and trains a few epochs on a synthetic split. The fixture papers are written the way papers describe
their methods; none is a real paper."""

from __future__ import annotations

import pytest
import torch

from paper_autotrain.data.split import load_split
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.stages import render
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import (
    batch_loss_is_the_whole_states,
    passes_the_gates_and_trains,
    rendered,
    spec_of,
    with_block_params,
    with_values,
)

SETTINGS = ("We use the Gowalla, Yelp2018 and Amazon-book datasets and report Recall@20 and NDCG@20. "
            "Table 2 reports the overall performance.")

NGCF_PAPER = [
    ["Neural Graph Collaborative Filtering",
     "Abstract. Learning vector representations of users and items lies at the core of modern recommender "
     "systems. We develop a new recommendation framework Neural Graph Collaborative Filtering (NGCF), which "
     "exploits the user-item graph structure by propagating embeddings on it, injecting the collaborative signal "
     "into the embedding process in an explicit manner.",
     "1 INTRODUCTION",
     "Matrix factorization projects the ID of a user or an item to an embedding vector. Graph neural networks "
     "propagate information over the user-item graph, but existing recommenders use the interactions only to "
     "define the objective function."],
    ["2 METHODOLOGY",
     "There are three components in the framework: an embedding layer that offers and initializes user "
     "embeddings and item embeddings, multiple embedding propagation layers that refine the embeddings by "
     "injecting high-order connectivity relations, and the prediction layer.",
     "2.1 Embedding Propagation Layers",
     "For a connected user-item pair (u, i), we define the message from i to u as W1 e_i + W2 (e_i * e_u), where "
     "W1 and W2 are trainable weight matrices of each layer and * denotes the element-wise product. The "
     "element-wise product makes the message dependent on the affinity between e_i and e_u, passing more messages "
     "from similar items. We aggregate the messages propagated from the neighbourhood of u together with the "
     "self-connection of u and apply the LeakyReLU activation function. In matrix form, the representations of "
     "the l-th layer are E(l) = LeakyReLU((L + I) E(l-1) W1(l) + L E(l-1) * E(l-1) W2(l)), where "
     "L = D^-1/2 A D^-1/2 is the Laplacian matrix of the user-item graph.",
     "2.2 Model Prediction",
     "After propagating with L layers, we obtain multiple representations for user u. We concatenate the "
     "representations of all layers to constitute the final embedding of a user, and do the same for items. "
     "Finally, we conduct the inner product to estimate the user's preference towards the target item.",
     "2.3 Optimization",
     "We optimize the pairwise BPR loss, which assumes that observed interactions should be assigned higher "
     "prediction values than unobserved ones, with L2 regularization on the model parameters.",
     "Message and Node Dropout. We adopt message dropout and node dropout to prevent overfitting. Message dropout "
     "randomly drops out the outgoing messages with a probability p1. Node dropout randomly blocks a particular "
     "node and discards all its outgoing messages: for the l-th propagation layer we randomly drop (M + N)p2 nodes "
     "of the Laplacian matrix. Dropout is only used in training."],
    ["3 EXPERIMENTS", SETTINGS,
     "Parameter Settings. The embedding size is fixed to 64 for all models. We optimize all models with the Adam "
     "optimizer and the batch size is 1024. The learning rate is 0.0001 and the coefficient of L2 "
     "normalization is 1e-5. The message dropout ratio is 0.1. The node dropout ratio is tuned in "
     "{0.0, 0.1, ..., 0.8}. The depth of NGCF is set to 3."],
]

SIMPLEX_PAPER = [
    ["SimpleX: A Simple and Strong Baseline for Collaborative Filtering",
     "Abstract. Collaborative filtering models have three parts: the interaction encoder, the loss function and "
     "negative sampling. Most work focuses on the encoder. We propose the cosine contrastive loss (CCL) and "
     "incorporate it into a simple unified collaborative filtering model, dubbed SimpleX. SimpleX, trained with "
     "CCL and a large negative sampling ratio, is a strong baseline.",
     "1 INTRODUCTION",
     "Many graph-based models are trained with the BPR loss and one sampled negative per positive pair, which "
     "hides the effect of the loss function and of the number of negative samples."],
    ["2 SIMPLEX",
     "2.1 Cosine Contrastive Loss",
     "Given a positive user-item pair (u, i) and a set N of randomly sampled negative items, the cosine "
     "contrastive loss is L(u, i) = (1 - y_ui) + w / |N| sum_j max(0, y_uj - m), where y_ui is the cosine "
     "similarity between the representations of user u and item i. The margin m filters out the negative "
     "samples that are already far from the user, and the negative weight w balances the positive and the "
     "negative parts of the loss when the number of negative samples is large.",
     "2.2 Model",
     "SimpleX follows a two-tower design. User and item IDs are mapped to user embeddings and item embeddings. "
     "The behaviour aggregation layer aggregates the embeddings of the items that the user has interacted with "
     "into a single vector p_u by average pooling over the user's interaction sequence. The aggregated vector "
     "is fused with the user embedding by a weighted sum, h_u = g e_u + (1 - g) V p_u, where V is a learnable "
     "matrix that maps the item space to the user space and g is the fusion weight. We apply dropout on h_u "
     "during training. The preference of user u for item i is the cosine similarity between h_u and e_i."],
    ["3 EXPERIMENTS",
     "We use the Amazon-Books, Yelp2018 and Gowalla datasets and report Recall@20 and NDCG@20. "
     "Table 3 reports the results.",
     "Settings. The embedding size is 64. We optimize SimpleX with Adam and the learning rate is 0.001. The "
     "batch size is 512. The dropout ratio is 0.1. The margin and the negative weight are tuned on the "
     "validation data."],
]

SGL_PAPER = [
    ["Self-supervised Graph Learning for Recommendation",
     "Abstract. Representation learning on the user-item graph has moved from shallow embeddings to graph "
     "convolution networks, which still suffer from sparse supervision, skewed degrees and noisy interactions. We "
     "explore self-supervised learning on the user-item graph: an auxiliary self-supervised task supplements the "
     "supervised recommendation task and reinforces node representation learning via self-discrimination. We term "
     "the new learning paradigm Self-supervised Graph Learning (SGL).",
     "1 INTRODUCTION",
     "Graph convolution networks learn user and item representations on the user-item graph with the pairwise "
     "BPR loss."],
    ["2 METHODOLOGY",
     "2.1 Graph Encoder",
     "Each user and item has an ID embedding. The graph encoder propagates the embeddings on the user-item graph "
     "with light graph convolution: each layer is a symmetrically normalized sum over the neighbours, with no "
     "feature transformation and no non-linear activation. The final representation is the mean of the "
     "embeddings of all layers, and the preference score is the inner product of the final user and item "
     "representations, trained with the pairwise BPR loss.",
     "2.2 Data Augmentation on Graph Structure",
     "We generate two augmented views of the graph for each epoch with one of three operators. Node dropout "
     "discards each node with its connected edges with the probability rho. Edge dropout drops out the edges of "
     "the graph with the dropout ratio rho. Random walk applies edge dropout with a different mask at each layer. "
     "The same graph encoder is applied to both views.",
     "2.3 Contrastive Learning",
     "We treat the two views of the same node as the positive pair and the views of any different nodes as "
     "negative pairs, and adopt the InfoNCE loss with the temperature tau over the cosine similarity of the "
     "views, for the users and for the items of a batch. The self-supervised loss is added to the BPR loss with "
     "the weight lambda_1, together with L2 regularization."],
    ["3 EXPERIMENTS",
     "We use the Yelp2018, Amazon-Book and Alibaba-iFashion datasets and report Recall@20 and NDCG@20. Table 3 "
     "reports the overall performance.",
     "Settings. The embedding size is fixed to 64. We optimize SGL with Adam, the learning rate is 0.001 and "
     "the batch size is 2048. The number of layers is set to 3. The regularization coefficient is 1e-4. We use "
     "edge dropout; the ratio rho, the temperature tau and the weight lambda_1 are tuned on the validation data."],
]

PAPERS = {
    "NGCF": (NGCF_PAPER, ["embedding", "ngcf_propagation", "dot_score"], "graph", "bpr"),
    "SimpleX": (SIMPLEX_PAPER, ["embedding", "behaviour_aggregation", "cosine_score"], "general", "ccl"),
    "SGL": (SGL_PAPER, ["embedding", "light_propagation", "graph_view_contrast", "dot_score"], "graph", "bpr"),
}


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks, family, loss = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.trained_loss, spec.model_name) == (family, "topk", loss, model)
    assert [block.block for block in spec.architecture] == blocks
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == model == composition_class(family, blocks, spec.trained_loss)
    assert not spec.custom
    found = reference_with_notes(spec)
    assert found is not None and found[0] == model


def test_ngcf_reads_each_part_from_its_method_section_and_the_stated_values_reach_both_sides(tmp_path):
    spec = spec_of(tmp_path, NGCF_PAPER)
    built = {component.name: component.block for component in spec.fidelity.components}
    for part in ("per-layer weight matrices (feature transformation in propagation)",
                 "non-linear propagation (activation after each graph layer)",
                 "layer concatenation (concatenating every layer's embeddings)",
                 "element-wise (bi-)interaction messages between neighbours",
                 "message, node or edge dropout"):
        assert built[part] == "ngcf_propagation", part
    assert built["inner-product preference score"] == "dot_score"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 64, "n_layers": 3, "message_dropout": 0.1, "node_dropout": 0.0}
    assert spec.hyperparameters["message_dropout"].source == "paper" and "dropout" not in spec.hyperparameters
    assert spec.hyperparameters["node_dropout"].source == "default"
    assert any(note.startswith("node_dropout: the paper searches {0.0, 0.1, ..., 0.8}") for note in spec.unclear)
    source = render.run(spec, {})["model.py"]
    assert "self.ngcf_activation(w1(layer + neighbours) + w2(neighbours * layer))" in source
    assert "final = torch.cat(layers, dim=1)" in source and "normalize(" not in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "NGCF"
    assert overrides["embedding_size"] == 64 and overrides["hidden_size_list"] == [64, 64, 64]
    assert overrides["message_dropout"] == 0.1 and overrides["node_dropout"] == 0.0
    assert overrides["reg_weight"] == 1e-5 and overrides["learning_rate"] == 0.0001
    assert overrides["train_batch_size"] == 1024
    assert any("L2-normalises each layer's output" in note for note in notes)
    assert not any(note.startswith("node dropout") for note in notes)  # 0: nothing differs


def test_ngcf_propagation_is_the_papers_matrix_form_and_node_dropout_silences_whole_nodes(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", NGCF_PAPER), embedding_size=8, n_layers=2)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split).eval()
    laplacian = model.adjacency.to_dense()
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    layer, layers = ego, [ego]
    for w1, w2 in zip(model.ngcf_w1, model.ngcf_w2, strict=True):
        eye = torch.eye(len(ego))
        layer = torch.nn.functional.leaky_relu(
            (laplacian + eye) @ layer @ w1.weight.T + (laplacian @ layer) * layer @ w2.weight.T, 0.2)
        layers.append(layer)
    expected = torch.cat(layers, dim=1)
    with torch.no_grad():
        users, items = model.encode()
    assert users.shape == (split.n_users, 8 * 3)
    torch.testing.assert_close(torch.cat([users, items]), expected, rtol=1e-4, atol=1e-5)
    model.train()
    model.node_dropout = 0.25
    table = torch.ones(len(ego), 4)
    dropped = model.drop_nodes(table)
    silent = (dropped == 0).all(dim=1)
    assert int(silent.sum()) == round(len(ego) * 0.25)
    torch.testing.assert_close(dropped[~silent], torch.full_like(dropped[~silent], 1 / 0.75))


@pytest.mark.slow  # as in the other families' paper tests: the blocks' equations and a step are default tests
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, split_info, tmp_path):
    # SGL: on this 40-user split its InfoNCE (against every node) slows the BPR fall the overfit gate checks; on
    # ML-100K the gates pass at the default ssl_weight 0.05 (measured)
    values = {"NGCF": {"node_dropout": 0.1}, "SimpleX": {"negative_samples": 8}, "SGL": {"ssl_weight": 0.01}}[model]
    spec = with_values(spec_of(tmp_path / "paper", PAPERS[model][0]), embedding_size=16, batch_size=128,
                       learning_rate=0.01, **values)
    passes_the_gates_and_trains(spec, split_info, tmp_path)


def test_simplex_reads_its_loss_and_aggregation_and_the_values_reach_both_sides(tmp_path):
    spec = spec_of(tmp_path, SIMPLEX_PAPER)
    assert (spec.loss, spec.loss_name) == ("other", "ccl")  # the vocabulary's word, and the loss by name
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["behaviour aggregation of the user's interacted items, fused with its embedding"] == \
        "behaviour_aggregation"
    assert built["cosine contrastive loss (margin on the negatives' cosine, negative weight)"] == "cosine_score"
    assert built["cosine similarity score"] == "cosine_score"
    assert not any(name.startswith("contrastive or self-supervised") for name in built)  # CCL is no auxiliary task
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 64, "history_len": 50, "fusion_weight": 0.5, "dropout": 0.1,
                      "margin": 0.5, "negative_weight": 10.0}
    assert spec.hp("negative_samples") == 100 and spec.hyperparameters["margin"].source == "default"
    source = render.run(spec, {})["model.py"]
    assert "loss = ccl_loss(scores[:, 0], scores[:, 1:], self.margin, self.negative_weight)" in source
    assert "weights = mask.to(history.dtype)" in source  # average pooling
    model, overrides, notes = reference_with_notes(spec)
    assert model == "SimpleX"
    assert overrides["margin"] == 0.5 and overrides["negative_weight"] == 10.0 and overrides["gamma"] == 0.5
    assert overrides["history_len"] == 50 and overrides["dropout_prob"] == 0.1 and overrides["aggregator"] == "mean"
    # both sides count a batch as RecBole does: batch_size rows, each positive once per negative (512 // 100 pairs)
    assert overrides["train_neg_sample_args"] == {"distribution": "uniform", "sample_num": 100}
    assert overrides["train_batch_size"] == 512 and notes == []


def test_simplex_scores_are_cosines_of_the_fused_user_and_the_item(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", SIMPLEX_PAPER), embedding_size=8, history_len=5)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split).eval()
    train = torch.as_tensor(split.train)
    for user in (0, 7):
        items = model.history[user][model.history_mask[user]]
        assert 0 < len(items) <= 5 and set(items.tolist()) <= set(train[train[:, 0] == user, 1].tolist())
    with torch.no_grad():
        users, items = model.encode()
        pooled = model.item_embedding.weight[model.history[3][model.history_mask[3]]].mean(0)
        fused = 0.5 * model.user_embedding.weight[3] + 0.5 * model.behaviour_map(pooled)
        torch.testing.assert_close(users[3], fused)
        scores = model.full_sort_scores(torch.tensor([3]))
    expected = torch.nn.functional.cosine_similarity(fused.unsqueeze(0), model.item_embedding.weight.detach())
    torch.testing.assert_close(scores[0], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("aggregator", ["mean", "user_attention"])
def test_simplex_trains_on_the_batch_users_pooling_with_the_whole_states_loss_and_gradients(aggregator, split_info,
                                                                                           tmp_path):
    """A training step pools the histories of the batch's users alone (batch_state): the CCL loss and every gradient
    equal those of the whole encode's tables (dropout 0: its draws are per row)."""
    spec = with_values(spec_of(tmp_path / "paper", SIMPLEX_PAPER), embedding_size=8, history_len=5, dropout=0.0,
                       l2_reg=0.01)
    folder = rendered(with_block_params(spec, "behaviour_aggregation", aggregator=aggregator), tmp_path / "model")
    model = build_model(folder, load_config(folder), load_split(split_info.path)).train()
    train = torch.as_tensor(load_split(split_info.path).train)
    rows = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:24]
    users, pos = torch.cat([train[rows, 0], train[rows[:4], 0]]), torch.cat([train[rows, 1], train[rows[:4], 1]])
    neg = torch.randint(0, model.n_items, (len(users), 6), generator=torch.Generator().manual_seed(0))
    assert len(users.unique()) < len(users)  # repeated users among them
    batch_loss_is_the_whole_states(model, users, pos, neg)


def test_an_aggregation_the_block_does_not_build_from_the_paper_stays_named_unbuilt(tmp_path):
    """SimpleX's attention aggregators are the block's `aggregator` word, but the rules read none from a method
    section: a paper that aggregates by self-attention is partial, naming the part, never built as mean pooling."""
    pages = [[text.replace("by average pooling over", "by self-attention over") for text in page]
             for page in SIMPLEX_PAPER]
    spec = spec_of(tmp_path, pages)
    assert spec.fidelity.verdict == "partial"
    assert spec.fidelity.missing == ["self-attention over the item sequence"]


def test_sgl_reads_its_views_and_contrastive_task_and_adds_the_term_through_the_loss_section(tmp_path):
    spec = spec_of(tmp_path, SGL_PAPER)
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["contrastive or self-supervised auxiliary objective"] == "graph_view_contrast"
    assert built["message, node or edge dropout"] == "graph_view_contrast"
    assert built["light graph convolution (normalised neighbour sum, no feature transformation or non-linearity)"] == \
        "light_propagation"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 64, "n_layers": 3, "ssl_weight": 0.05, "ssl_temperature": 0.5,
                      "drop_ratio": 0.1}
    assert spec.hp("l2_reg") == 1e-4 and spec.hp("batch_size") == 2048
    source = render.run(spec, {})["model.py"]
    # the auxiliary term joins the BPR loss where custom loss terms do (the family's `loss` section)
    assert "loss = bpr_loss(scores[:, 0], scores[:, 1:])\n        loss = loss + self.ssl_weight * " in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "SGL"
    assert overrides["n_layers"] == 3 and overrides["reg_weight"] == 1e-4 and overrides["ssl_weight"] == 0.05
    assert overrides["ssl_tau"] == 0.5 and overrides["drop_ratio"] == 0.1 and overrides["type"] == "ED"
    assert any("sums its BPR and InfoNCE" in note for note in notes)


def test_sgl_views_drop_edges_anew_each_epoch_and_the_infonce_is_the_papers(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", SGL_PAPER), embedding_size=8, drop_ratio=0.2)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split)
    kept = int(len(split.train) * 0.8)
    first = model.views[0][0]
    assert len(model.views[0]) == 3 and all(graph is first for graph in model.views[0])  # one graph, every layer
    assert first._nnz() == 2 * kept and model.adjacency._nnz() == 2 * len(split.train)
    model.on_train_epoch_start()
    assert not torch.equal(model.views[0][0].to_dense(), first.to_dense())
    users, items = torch.tensor([0, 3, 3]), torch.tensor([1, 2, 5])
    with torch.no_grad():
        (u1, i1), (u2, i2) = model.view_tables(model.views[0]), model.view_tables(model.views[1])
        expected = 0.0
        for anchors, others, index in ((u1[users], u2, users), (i1[items], i2, items)):
            cos = torch.nn.functional.cosine_similarity(anchors.unsqueeze(1), others.unsqueeze(0), dim=-1) / 0.5
            expected += (-torch.log(torch.exp(cos.gather(1, index[:, None])[:, 0]) / torch.exp(cos).sum(1))).mean()
        torch.testing.assert_close(model.view_contrast(users, items), expected, rtol=1e-4, atol=1e-5)
