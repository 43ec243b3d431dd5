"""Graph models of issue 20's second wave read from fixture papers that describe them in prose (NCL, ...): each is
read into its model's blocks, comes out `faithful` with RecBole's class of it as the reference, renders, passes
validate's gates and trains on a synthetic split; each block is checked against a hand computation of the paper's
equations. The fixture papers are written the way papers describe their methods; none is a real paper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paper_autotrain.data.split import load_split
from paper_autotrain.recbole_models import composition_class, recbole_class
from paper_autotrain.runtime import distance_correlation, identity_plus_laplacian, kmeans
from paper_autotrain.stages import render
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import (
    passes_the_gates_and_trains,
    rendered,
    spec_of,
    with_block_params,
    with_values,
)

SETTINGS = ("We use the Gowalla, Yelp2018 and Amazon-book datasets and report Recall@20 and NDCG@20. "
            "Table 2 reports the overall performance.")

NCL_PAPER = [
    ["Improving Graph Collaborative Filtering with Neighborhood-enriched Contrastive Learning",
     "Abstract. Graph neural network (GNN) based collaborative filtering methods propagate user and item "
     "representations on the user-item interaction graph, but suffer from sparse interaction data. We propose "
     "a contrastive learning approach, named Neighborhood-enriched Contrastive Learning (NCL), which explicitly "
     "incorporates the potential neighbors of a node into contrastive pairs: structural neighbors from the "
     "graph and semantic neighbors from the representation space.",
     "1 INTRODUCTION",
     "Existing graph contrastive methods build views by random perturbation of the graph, ignoring the "
     "correlations between a node and its neighbors."],
    ["2 METHODOLOGY",
     "2.1 Graph Collaborative Filtering Backbone",
     "Each user and item has an ID embedding. We propagate the embeddings on the user-item graph with light graph "
     "convolution: each layer is a symmetrically normalized sum over the neighbours, with no feature "
     "transformation and no non-linear activation. The final representation is the mean of the embeddings of all "
     "layers, the preference score is the inner product of the final user and item representations, and the "
     "model is trained with the pairwise BPR loss.",
     "2.2 Contrastive Learning with Structural Neighbors",
     "Since the user-item graph is bipartite, the output of an even layer of the graph encoder aggregates the "
     "homogeneous structural neighbors of a node: the representation of a user at layer 2 gathers the users that "
     "share items with it. We treat the embedding of a node at layer 2 and its own layer-0 embedding as a "
     "positive pair and the embeddings of other users as negatives, and minimize the InfoNCE loss with the "
     "temperature tau over cosine similarities, for users and for items with the weight alpha.",
     "2.3 Contrastive Learning with Semantic Neighbors",
     "Semantic neighbors are nodes with similar representations that are not connected in the graph. We learn "
     "the prototypes of users and items by clustering their embeddings with the k-means algorithm in an "
     "expectation-maximization framework: in the E-step the prototypes are estimated by clustering, in the "
     "M-step the model is optimized. The prototype-contrastive objective pulls a node's embedding towards its own "
     "prototype against the other prototypes with the InfoNCE loss.",
     "2.4 Optimization",
     "The structural and the prototype-contrastive losses are added to the BPR loss with the weights lambda_1 and "
     "lambda_2, together with L2 regularization."],
    ["3 EXPERIMENTS",
     "We use the MovieLens-1M, Yelp, Amazon Books, Gowalla and Alibaba-iFashion datasets and report Recall@10 "
     "and NDCG@10. Table 2 reports the overall performance.",
     "Settings. The embedding size is fixed to 64. We optimize NCL with Adam, the learning rate is 0.001 and the "
     "batch size is 4096. The number of layers is set to 3. The regularization coefficient is 1e-4. The weights "
     "lambda_1 and lambda_2, the temperature tau and the number of prototypes k are tuned on the validation data."],
]

DGCF_PAPER = [
    ["Disentangled Graph Collaborative Filtering",
     "Abstract. Learning informative representations of users and items from interaction data is crucial to "
     "collaborative filtering. Graph neural network based methods propagate embeddings on the user-item graph but "
     "model a uniform relationship between users and items, ignoring the diversity of user intents. We propose "
     "Disentangled Graph Collaborative Filtering (DGCF), which disentangles the user and item representations "
     "into the factors of user intents.",
     "1 INTRODUCTION",
     "A user interacts with items for different intents, such as passing time or shopping for others."],
    ["2 METHODOLOGY",
     "2.1 Intent-Aware Embeddings",
     "Each user and item has an ID embedding, which we split into K chunks, one chunk per latent intent.",
     "2.2 Graph Disentangling Module",
     "For each intent k we build an intent-aware graph whose edge weights S_k(u, i) are uniform at first. At "
     "each of the T iterations, the scores of an edge are normalized over the intents with a softmax, each intent "
     "graph is normalized by the degrees of its nodes into its Laplacian matrix, and the k-th chunks of the "
     "neighbors' embeddings are propagated over it. The score S_k(u, i) is then updated by the affinity between "
     "the propagated user chunk and the tanh of the item chunk. This iterative routing refines the intent graphs "
     "layer after layer, and the final representation sums the representations of all layers.",
     "2.3 Independence Modeling",
     "To make the intents distinct, we adopt the distance correlation between the chunks of every two intents as "
     "a regularizer, and the preference score is the inner product of the final user and item representations.",
     "2.4 Optimization",
     "We optimize the pairwise BPR loss together with the independence loss weighted by lambda and L2 "
     "regularization."],
    ["3 EXPERIMENTS", SETTINGS,
     "Settings. The embedding size is fixed to 64. We optimize DGCF with Adam, the learning rate is 0.001 and the "
     "batch size is 2048. The number of layers is set to 1. The regularization coefficient is 1e-3. The number of "
     "intents K is 4 and the number of "
     "iterations T is 2; the weight lambda is tuned on the validation data."],
]

GCMC_PAPER = [
    ["Graph Convolutional Matrix Completion",
     "Abstract. We consider matrix completion for recommender systems from the point of view of link prediction "
     "on graphs. Interaction data such as movie ratings can be represented by a bipartite user-item graph with "
     "labeled edges denoting observed ratings. We propose a graph auto-encoder framework based on differentiable "
     "message passing on the bipartite interaction graph.",
     "1 INTRODUCTION",
     "Matrix completion is a link prediction problem on the bipartite user-item graph."],
    ["2 METHOD",
     "2.1 Graph Convolutional Encoder",
     "We call our model GC-MC. We assign a specific transformation for each rating level: the message from "
     "item j to user i under rating r is W_r x_j / c_ij, where W_r is a rating-level-specific weight matrix, "
     "x_j the one-hot feature vector of the node and c_ij = sqrt(|N_i| |N_j|) a normalization constant. The "
     "messages of each rating type are summed over the neighbors and accumulated over the rating types into a "
     "single vector by stacking, followed "
     "by a ReLU, to give the hidden representation h_i. The final user embedding u_i is then obtained by a dense "
     "layer, u_i = W h_i, and likewise for items. We apply node dropout to the input features and regular "
     "dropout to the hidden units.",
     "2.2 Bilinear Decoder",
     "We use a bilinear decoder and treat each rating level as a separate class: the probability of rating r is "
     "a softmax over u_i^T Q_r v_j, where Q_r is a trainable matrix per rating level. To share parameters, each "
     "Q_r is a linear combination of basis matrices P_s. The predicted rating is the expectation over the "
     "rating levels.",
     "2.3 Model Training",
     "We minimize the negative log likelihood of the predicted ratings, the cross entropy between the predicted "
     "distribution over the rating classes and the observed rating."],
    ["3 EXPERIMENTS",
     "We use the MovieLens-100K, MovieLens-1M, Flixster and Douban datasets and report RMSE. Table 2 reports the "
     "results.",
     "Settings. We optimize with Adam and the learning rate is 0.01. The dropout rate is 0.7. The encoder has "
     "500 hidden units and the dense layer 75 units, and the decoder uses 2 basis weight matrices."],
]

SPECTRALCF_PAPER = [
    ["Spectral Collaborative Filtering",
     "Abstract. Despite the popularity of collaborative filtering, cold-start remains hard: a user with few "
     "interactions has little to learn from. We propose SpectralCF, a deep recommendation model that learns from "
     "the spectral domain of the user-item bipartite graph, revealing the connectivity information of the graph "
     "with a spectral convolution operation that works directly on it.",
     "1 INTRODUCTION",
     "Graph signal processing defines convolution on graphs through the graph Fourier transform."],
    ["2 METHOD",
     "2.1 Spectral Convolution on the Bipartite Graph",
     "The user-item bipartite graph has the adjacency matrix A and the random walk Laplacian matrix "
     "L = I - D^-1 A. Its eigen-decomposition is L = U Lambda U^-1, where U holds the eigenvectors and Lambda the "
     "eigenvalues. A convolution filter g(Lambda) in the spectral domain is approximated by a first-order "
     "polynomial of the eigenvalues with shared coefficients, which gives the spectral convolution "
     "X_new = sigmoid((U U^T + U Lambda U^T) X Theta), where X holds the C-dimensional vectors of the users and "
     "items and Theta is a C x C filter matrix, followed by a logistic sigmoid activation.",
     "2.2 Multi-layer Model",
     "We stack K spectral convolution layers, each with its own filter matrix. The user and item embeddings of "
     "all layers are concatenated into the final representations, and the preference score is the inner "
     "product of the final user and item representations.",
     "2.3 Optimization",
     "We optimize the pairwise BPR loss with L2 regularization on the parameters."],
    ["3 EXPERIMENTS",
     "We use the MovieLens-1M, HetRec and Amazon Instant Video datasets and report Recall@20 and MAP@20. Table 2 "
     "reports the overall performance.",
     "Settings. The dimension of the embeddings C is 16 and the number of layers K is set to 3. We optimize "
     "SpectralCF with Adam, the learning rate is 0.001 and the batch size is 1024. The regularization "
     "coefficient is 0.001."],
]

PAPERS = {
    "NCL": (NCL_PAPER, ["embedding", "light_propagation", "neighbour_contrast", "dot_score"], "graph", "bpr"),
    "DGCF": (DGCF_PAPER, ["embedding", "disentangled_propagation", "dot_score"], "graph", "bpr"),
    "GCMC": (GCMC_PAPER, ["rating_graph_convolution", "bilinear_decoder"], "graph", "other"),
    "SpectralCF": (SPECTRALCF_PAPER, ["embedding", "spectral_convolution", "dot_score"], "graph", "bpr"),
}


@pytest.mark.parametrize("model", PAPERS)
def test_the_paper_is_read_into_its_blocks_and_is_faithful_with_recboles_class_as_reference(model, tmp_path):
    pages, blocks, family, loss = PAPERS[model]
    spec = spec_of(tmp_path, pages)
    assert (spec.family, spec.task, spec.trained_loss) == (family, "topk", loss)
    assert recbole_class(spec.model_name) == model  # GC-MC as the paper prints it
    assert [block.block for block in spec.architecture] == blocks
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    assert spec.reference == model == composition_class(family, blocks, spec.trained_loss)
    assert not spec.custom
    found = reference_with_notes(spec)
    assert found is not None and found[0] == model


GATE_VALUES = {"NCL": {"num_prototypes": 5}, "DGCF": {}, "GCMC": {"gcn_output_dim": 32, "dropout": 0.1},
               "SpectralCF": {}}


@pytest.mark.slow  # ~20 s a model on the loaded 2-core machine
@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_passes_the_gates_and_trains(model, split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", PAPERS[model][0]), embedding_size=16, batch_size=128,
                       learning_rate=0.01, **GATE_VALUES[model])
    passes_the_gates_and_trains(spec, split_info, tmp_path)


@pytest.mark.parametrize("model", PAPERS)
def test_the_model_from_the_paper_takes_a_training_step(model, split_info, tmp_path):
    """The default suite's end-to-end check (the gates and two epochs are the slow test above): the rendered model
    builds on a split, its loss is finite and one Adam step changes it."""
    spec = with_values(spec_of(tmp_path / "paper", PAPERS[model][0]), embedding_size=16, **GATE_VALUES[model])
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    torch.manual_seed(0)
    model_ = build_model(folder, load_config(folder), split)
    train = torch.as_tensor(split.train)[:64]
    batch = {"users": train[:, 0], "pos_items": train[:, 1], "neg_items": torch.randint(split.n_items, (64, 1))}
    optimizer = torch.optim.Adam(model_.parameters(), lr=0.01)
    first = model_.loss(batch)
    optimizer.zero_grad()
    first.backward()
    optimizer.step()
    assert torch.isfinite(first) and float(model_.loss(batch).detach()) != float(first.detach())


def test_ncl_reads_both_neighbour_terms_and_maps_them_to_recboles_ncl(tmp_path):
    spec = spec_of(tmp_path, NCL_PAPER)
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["structural and semantic (prototype) neighbours as contrastive pairs of a node"] == \
        "neighbour_contrast"
    assert built["contrastive or self-supervised auxiliary objective"] == "neighbour_contrast"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 64, "n_layers": 3, "structure_weight": 1e-7, "prototype_weight": 8e-8,
                      "contrast_temperature": 0.1, "num_prototypes": 1000, "structure_hops": 1,
                      "item_contrast_weight": 1.0}
    assert spec.hp("l2_reg") == 1e-4 and spec.hp("batch_size") == 4096
    source = render.run(spec, {})["model.py"]
    assert "loss = bpr_loss(scores[:, 0], scores[:, 1:])\n        loss = loss + self.neighbour_contrast(" in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "NCL"
    assert overrides["ssl_reg"] == 1e-7 and overrides["proto_reg"] == 8e-8 and overrides["ssl_temp"] == 0.1
    assert overrides["num_clusters"] == 1000 and overrides["hyper_layers"] == 1 and overrides["alpha"] == 1.0
    assert overrides["m_step"] == 1 and overrides["n_layers"] == 3 and overrides["reg_weight"] == 1e-4
    assert any("faiss" in note for note in notes)


def test_a_contrastive_graph_paper_without_neighbours_or_prototypes_is_not_read_as_ncl(tmp_path):
    pages = [[text for text in page if "Semantic" not in text and "structural neighbors" not in text
              and "Structural Neighbors" not in text] for page in NCL_PAPER]
    spec = spec_of(tmp_path, pages)
    assert "neighbour_contrast" not in [block.block for block in spec.architecture]


def test_kmeans_finds_separated_clusters_and_caps_k():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    points = torch.cat([centre + 0.1 * torch.randn(20, 2) for centre in centres])
    found, assigned = kmeans(points, 3)
    groups = [set(assigned[20 * i:20 * (i + 1)].tolist()) for i in range(3)]
    assert all(len(group) == 1 for group in groups) and len(set.union(*groups)) == 3
    for group, centre in zip(groups, centres, strict=True):
        torch.testing.assert_close(found[next(iter(group))], centre, atol=0.1, rtol=0)
    assert kmeans(points[:4], 10)[0].shape == (4, 2)


def test_ncl_terms_are_the_papers_infonce_on_layer_two_and_on_the_prototypes(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", NCL_PAPER), embedding_size=8, num_prototypes=4,
                       structure_weight=0.5, prototype_weight=0.25, item_contrast_weight=0.7)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split)
    assert model.user_centroids.shape == (4, 8) and model.user_cluster.shape == (split.n_users,)
    users, items = torch.tensor([0, 3, 3]), torch.tensor([1, 2, 5])
    adjacency = model.adjacency.to_dense()
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    layer2 = adjacency @ adjacency @ ego
    eu, ei = ego[:split.n_users], ego[split.n_users:]
    cu, ci = layer2[:split.n_users], layer2[split.n_users:]

    def infonce(anchor: torch.Tensor, positive: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
        cos = torch.nn.functional.cosine_similarity
        top = torch.exp(cos(anchor, positive, dim=0) / 0.1)
        return -torch.log(top / torch.exp(cos(anchor.unsqueeze(0), others, dim=1) / 0.1).sum())

    structure = sum(infonce(cu[u], eu[u], eu) for u in users) + \
        0.7 * sum(infonce(ci[i], ei[i], ei) for i in items)
    prototype = sum(infonce(eu[u], model.user_centroids[model.user_cluster[u]], model.user_centroids) for u in users) \
        + sum(infonce(ei[i], model.item_centroids[model.item_cluster[i]], model.item_centroids) for i in items)
    with torch.no_grad():
        torch.testing.assert_close(model.neighbour_contrast(users, items), 0.5 * structure + 0.25 * prototype,
                                   rtol=1e-4, atol=1e-4)
    # the prototypes are each node's nearest (normalised) k-means centroid, found anew at each epoch's start
    before = model.user_centroids.clone()
    with torch.no_grad():
        model.user_embedding.weight.mul_(-1.0)
    model.on_train_epoch_start()
    assert not torch.allclose(model.user_centroids, before)
    torch.testing.assert_close(model.user_centroids.norm(dim=1), torch.ones(4))


def test_dgcf_reads_intents_routing_and_independence_and_maps_them_to_recboles_dgcf(tmp_path):
    spec = spec_of(tmp_path, DGCF_PAPER)
    built = {component.name: component.block for component in spec.fidelity.components}
    for part in ("intent-aware graphs with iterative routing (per-intent edge scores refined by the chunks' agreement)",
                 "independence of the intent (factor) chunks (distance correlation)",
                 "disentangled or causal embeddings (interest and conformity)"):
        assert built[part] == "disentangled_propagation", part
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"embedding_size": 64, "n_layers": 1, "n_factors": 4, "n_iterations": 2,
                      "independence_weight": 0.01}
    assert spec.hp("l2_reg") == 1e-3
    source = render.run(spec, {})["model.py"]
    assert "pairs = [(k, j) for k in range(self.n_factors) for j in range(k + 1, self.n_factors)]" in source
    model, overrides, notes = reference_with_notes(spec)
    assert model == "DGCF"
    assert (overrides["n_factors"], overrides["n_iterations"], overrides["n_layers"]) == (4, 2, 1)
    assert overrides["cor_weight"] == 0.01 and overrides["reg_weight"] == 1e-3
    assert any(note.startswith("independence: RecBole's DGCF") for note in notes)


def test_a_graph_paper_without_intents_is_not_read_as_dgcf(tmp_path):
    pages = [[text for text in page if "intent" not in text.lower()] for page in DGCF_PAPER]
    spec = spec_of(tmp_path, pages)
    assert "disentangled_propagation" not in [block.block for block in spec.architecture]


def test_distance_correlation_is_szekelys_and_one_for_a_linear_copy():
    torch.manual_seed(0)
    first, second = torch.randn(50, 4), torch.randn(50, 4)

    def centred(table: torch.Tensor) -> torch.Tensor:
        distances = torch.cdist(table.double(), table.double())
        return distances - distances.mean(0) - distances.mean(1, keepdim=True) + distances.mean()

    def dcov(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (centred(a) * centred(b)).mean().sqrt()

    expected = dcov(first, second) / (dcov(first, first) * dcov(second, second)).sqrt()
    torch.testing.assert_close(distance_correlation(first, second).double(), expected, atol=2e-4, rtol=0)
    torch.testing.assert_close(distance_correlation(first, 3 * first + 1), torch.tensor(1.0), atol=1e-4, rtol=0)
    assert float(distance_correlation(first, second)) < float(distance_correlation(first, first + 0.3 * second))


def test_dgcf_routing_is_the_papers_iteration_on_dense_intent_graphs(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", DGCF_PAPER), embedding_size=8, n_factors=2, n_iterations=2)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split).eval()
    n_nodes = split.n_users + split.n_items
    connected = torch.zeros(n_nodes, n_nodes, dtype=torch.bool)
    for user, item in torch.as_tensor(split.train).tolist():
        connected[user, split.n_users + item] = connected[split.n_users + item, user] = True
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    chunks = ego.chunk(2, dim=1)
    scores = [connected.float(), connected.float()]  # S_k(u, i) = 1 on every edge
    for _ in range(2):
        total = torch.logsumexp(torch.stack(scores), dim=0)
        outs = []
        for k in range(2):
            weights = torch.where(connected, torch.exp(scores[k] - total), 0.0)  # softmax over the intents
            inv_sqrt = weights.sum(1).clamp(min=1e-8).rsqrt()
            outs.append(inv_sqrt[:, None] * weights * inv_sqrt[None, :] @ chunks[k])
        for k in range(2):
            agreement = torch.nn.functional.normalize(outs[k], dim=1) @ \
                torch.tanh(torch.nn.functional.normalize(chunks[k], dim=1)).T
            scores[k] = scores[k] + torch.where(connected, agreement, 0.0)
    expected = ego + torch.cat(outs, dim=1)  # one layer; the final table sums E(0) and E(1)
    with torch.no_grad():
        users, items = model.encode()
    torch.testing.assert_close(torch.cat([users, items]), expected, rtol=1e-4, atol=1e-5)


def test_gcmc_reads_its_encoder_decoder_and_loss_and_runs_as_recboles_gcmc_on_implicit_data(tmp_path):
    spec = spec_of(tmp_path, GCMC_PAPER)
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["graph convolution per rating level (rating-specific weights, accumulated)"] == \
        "rating_graph_convolution"
    assert built["bilinear decoder over the rating classes (the softmax likelihood of each rating class)"] == \
        "bilinear_decoder"
    assert built["message, node or edge dropout"] == "rating_graph_convolution"
    assert any(note.startswith("task: the paper's experiments predict ratings") for note in spec.unclear)
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values == {"gcn_output_dim": 500, "embedding_size": 64, "dropout": 0.7, "dense_weights": "separate",
                      "num_basis": 2, "rank_by": "expected_rating"}
    assert spec.hp("l2_reg") == 0.0 and spec.hp("learning_rate") == 0.01
    source = render.run(spec, {})["model.py"]
    assert "loss = bce_loss(logits[:, 0], logits[:, 1:])" in source  # the two classes' cross entropy
    model, overrides, notes = reference_with_notes(spec)
    assert model == "GCMC"
    assert overrides["gcn_output_dim"] == 500 and overrides["dropout_prob"] == 0.7
    assert overrides["num_basis_functions"] == 2 and overrides["accum"] == "stack" and overrides["class_num"] == 2
    assert any(note.startswith("ranking: RecBole's GCMC") for note in notes)
    assert any(note.startswith("dense layer: RecBole's GCMC") for note in notes)
    recboles = with_block_params(with_block_params(spec, "bilinear_decoder", rank_by="observed_logit"),
                                 "rating_graph_convolution", dense_weights="shared")
    assert not any(note.startswith(("ranking:", "dense layer:")) for note in reference_with_notes(recboles)[2])
    # its batches count (positive, negative) pairs, ours rows: the same positives a step
    assert spec.hp("batch_size") == 2048 and overrides["train_batch_size"] == 1024


def test_a_graph_paper_without_rating_level_weights_is_not_read_as_gcmc(tmp_path):
    pages = [[text.replace("We assign a specific transformation for each rating level: the", "The")
              .replace("where W_r is a rating-level-specific weight matrix", "where W_r is a weight matrix")
              for text in page] for page in GCMC_PAPER]
    spec = spec_of(tmp_path, pages)
    assert "rating_graph_convolution" not in [block.block for block in spec.architecture]


def test_gcmc_encoder_and_decoder_are_the_papers_equations(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", GCMC_PAPER), gcn_output_dim=12, embedding_size=6, dropout=0.0)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split).eval()
    n_users = split.n_users
    rating = torch.zeros(n_users, split.n_items)
    for user, item in torch.as_tensor(split.train).tolist():
        rating[user, item] = 1.0
    user_degree, item_degree = rating.sum(1), rating.sum(0)
    norm = rating / (user_degree[:, None] * item_degree[None, :]).clamp(min=1).sqrt()  # 1 / c_ij on the edges
    weights = model.rating_weights[0].detach()
    hidden_users = torch.relu(norm @ weights[n_users:])  # sum over the items j of u: W x_j / c_uj
    hidden_items = torch.relu(norm.T @ weights[:n_users])
    users = hidden_users @ model.dense_user.weight.detach().T
    items = hidden_items @ model.dense_item.weight.detach().T
    with torch.no_grad():
        state = model.encode()
        torch.testing.assert_close(state[0], users, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(state[1], items, rtol=1e-4, atol=1e-5)
        q = [sum(model.decoder_mix.weight[r, s] * model.decoder_basis[s] for s in range(2)) for r in range(2)]
        logits = torch.stack([users[3] @ q[r] @ items.T for r in range(2)], dim=-1)  # u^T Q_r v, every item
        probability = torch.softmax(logits, dim=-1)[:, 1]  # p(observed): the expected rating
        scores = model.full_sort_scores(torch.tensor([3]))[0]
        torch.testing.assert_close(torch.sigmoid(scores), probability, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(model.score_with(state, torch.tensor([3]), torch.tensor([5])),
                                   scores[5:6], rtol=1e-4, atol=1e-5)


class GeneralRecBoleStub:
    """What RecBole's GCMC reads of its config and dataset, for building it on our split's own ids (no padding)."""

    def __init__(self, split, **values) -> None:
        self.split = split
        self.config = {"USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "NEG_PREFIX": "neg_",
                       "device": "cpu", **values}

    def num(self, field: str) -> int:
        return self.split.n_users if field == "user_id" else self.split.n_items

    def inter_matrix(self, form: str = "coo"):
        import scipy.sparse as sp

        train = np.asarray(self.split.train)
        return sp.coo_matrix((np.ones(len(train)), (train[:, 0], train[:, 1])),
                             shape=(self.split.n_users, self.split.n_items))


def test_gcmc_with_recboles_two_choices_is_recboles_gcmc_module_with_the_same_weights(split_info, tmp_path):
    """With rank_by observed_logit, dense_weights shared and RecBole's weights copied in, our GC-MC's full ranking
    and pair scores equal RecBole's GCMC's (the class-1 logit), and its loss (the two classes' cross entropy) and
    every gradient equal RecBole's under dropout 0.5 with the same seed: the node and hidden dropout draw their masks
    in the same order from torch's generator. The paper's ranking (the log-odds) and one dense layer each differ."""
    from recbole.data.interaction import Interaction
    from recbole.model.general_recommender.gcmc import GCMC

    spec = with_values(spec_of(tmp_path / "paper", GCMC_PAPER), gcn_output_dim=12, embedding_size=6, dropout=0.5)
    spec = with_block_params(with_block_params(spec, "bilinear_decoder", rank_by="observed_logit"),
                             "rating_graph_convolution", dense_weights="shared")
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    torch.manual_seed(0)
    np.random.seed(0)  # RecBole's orthogonal basis init draws from numpy
    ours = build_model(folder, load_config(folder), split)
    stub = GeneralRecBoleStub(split, accum="stack", gcn_output_dim=12, embedding_size=6, dropout_prob=0.5,
                              sparse_feature=True, class_num=2, num_basis_functions=2)
    theirs = GCMC(stub.config, stub)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    encoder, decoder = theirs.GcEncoder, theirs.BiDecoder
    with torch.no_grad():
        encoder.weights_u[0].mul_(20.0)  # beyond its init's scale, so the scores and gradients are well above rounding
        encoder.dense_layer_u.weight.mul_(5.0)
        ours.rating_weights[0].copy_(encoder.weights_u[0])  # its one-hot features' rows: users, then items
        ours.dense_user.weight.copy_(encoder.dense_layer_u.weight)
        for mine, its in zip(ours.decoder_basis, decoder.weights, strict=True):
            mine.copy_(its)
        ours.decoder_mix.weight.copy_(decoder.dense_layer.weight)
    ours.eval()
    theirs.eval()
    users, items = torch.arange(6), torch.arange(6, 12)
    with torch.no_grad():
        theirs_full = theirs.full_sort_predict(Interaction({"user_id": users})).view(len(users), -1)
        torch.testing.assert_close(ours.full_sort_scores(users), theirs_full, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(ours.score(users, items),
                                   theirs.predict(Interaction({"user_id": users, "item_id": items})),
                                   rtol=1e-4, atol=1e-5)
        ours.rank_by = "expected_rating"  # the paper's ranking (the default) is not the class-1 logit
        assert not torch.allclose(ours.full_sort_scores(users), theirs_full, rtol=1e-3, atol=1e-3)
        ours.rank_by = "observed_logit"
    train = torch.as_tensor(split.train)
    pos = train[:16]
    neg = torch.randint(0, split.n_items, (16, 1), generator=torch.Generator().manual_seed(0))
    ours.train()
    theirs.train()
    torch.manual_seed(5)
    our_loss = ours.loss({"users": pos[:, 0], "pos_items": pos[:, 1], "neg_items": neg})
    torch.manual_seed(5)
    their_loss = theirs.calculate_loss(Interaction({"user_id": pos[:, 0], "item_id": pos[:, 1],
                                                    "neg_item_id": neg[:, 0]}))
    torch.testing.assert_close(our_loss, their_loss)
    (our_loss + their_loss).backward()
    assert float(ours.rating_weights[0].grad.abs().max()) > 0.1
    pairs = [(ours.rating_weights[0], encoder.weights_u[0]), (ours.dense_user.weight, encoder.dense_layer_u.weight),
             (ours.decoder_mix.weight, decoder.dense_layer.weight),
             *zip(ours.decoder_basis, decoder.weights, strict=True)]
    for mine, its in pairs:
        torch.testing.assert_close(mine.grad, its.grad, rtol=1e-4, atol=1e-5)


def test_gcmcs_two_class_cross_entropy_under_adam_leaves_the_sum_of_the_class_mixes_at_its_init(split_info,
                                                                                                 tmp_path):
    """The gradients of the two classes' cross entropy w.r.t. the two logits are opposite, so Adam moves the class
    mixes a_1s and a_0s by opposite steps and a_1s + a_0s stays as drawn: RecBole's ranking logit u^T Q_1 v is half
    the trained log-odds plus u^T (sum_s (a_1s + a_0s) P_s) v / 2, a term whose weights are the initial draw's."""
    spec = with_values(spec_of(tmp_path / "paper", GCMC_PAPER), gcn_output_dim=12, embedding_size=6, dropout=0.3)
    folder = rendered(with_block_params(spec, "bilinear_decoder", rank_by="observed_logit"), tmp_path / "model")
    split = load_split(split_info.path)
    torch.manual_seed(0)
    model = build_model(folder, load_config(folder), split).train()
    initial = model.decoder_mix.weight.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    train = torch.as_tensor(split.train)
    for step in range(15):
        rows = train[torch.randint(len(train), (64,), generator=torch.Generator().manual_seed(step))]
        loss = model.loss({"users": rows[:, 0], "pos_items": rows[:, 1], "neg_items": torch.randint(split.n_items,
                                                                                                   (64, 1))})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    mix = model.decoder_mix.weight.detach()
    assert float((mix - initial).abs().min()) > 0.02  # every a_rs moved (by 0.058 or more here)
    torch.testing.assert_close(mix.sum(0), initial.sum(0), rtol=0, atol=1e-5)
    model.eval()
    with torch.no_grad():
        users, items = model.encode()
        fixed = sum(mix.sum(0)[s] * model.decoder_basis[s] for s in range(len(model.decoder_basis)))
        log_odds = model.class_logits(users[:4, None], items[None]).diff(dim=-1)[..., 0]
        torch.testing.assert_close(model.full_sort_scores(torch.arange(4)),
                                   (log_odds + users[:4] @ fixed @ items.T) / 2, rtol=1e-4, atol=1e-5)


def test_gcmcs_dense_weights_separate_gives_users_and_items_their_own_layer(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", GCMC_PAPER), gcn_output_dim=12, embedding_size=6)
    split = load_split(split_info.path)
    counts = {}
    for words in ("separate", "shared"):
        folder = rendered(with_block_params(spec, "rating_graph_convolution", dense_weights=words), tmp_path / words)
        model = build_model(folder, load_config(folder), split)
        assert (model.dense_item is model.dense_user) == (words == "shared")
        counts[words] = sum(p.numel() for p in model.parameters())
    assert counts["separate"] - counts["shared"] == 12 * 6


def test_spectralcf_reads_its_spectral_convolution_and_maps_to_recboles_spectralcf(tmp_path):
    spec = spec_of(tmp_path, SPECTRALCF_PAPER)
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["spectral graph convolution"] == "spectral_convolution"
    assert built["spectral filter from the eigenvectors of the graph Laplacian (U U^T + U Lambda U^T)"] == \
        "spectral_convolution"
    values = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert values["n_layers"] == 3
    assert spec.hp("l2_reg") == 1e-3 and spec.hp("batch_size") == 1024
    model, overrides, notes = reference_with_notes(spec)
    assert model == "SpectralCF" and overrides["n_layers"] == 3 and overrides["reg_weight"] == 1e-3
    assert any(note.startswith("operator: RecBole's SpectralCF propagates with I + L") for note in notes)


def test_spectralcf_filter_is_the_papers_eigen_operator_and_recboles_is_i_plus_l(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", SPECTRALCF_PAPER), embedding_size=4, n_layers=2)
    folder = rendered(spec, tmp_path / "model")
    split = load_split(split_info.path)
    model = build_model(folder, load_config(folder), split).eval()
    n_nodes = split.n_users + split.n_items
    adjacency = torch.zeros(n_nodes, n_nodes, dtype=torch.float64)
    for user, item in torch.as_tensor(split.train).tolist():
        adjacency[user, split.n_users + item] = adjacency[split.n_users + item, user] = 1.0
    degree = adjacency.sum(1)
    laplacian = torch.eye(n_nodes, dtype=torch.float64) - adjacency / degree.clamp(min=1)[:, None]
    values, vectors = torch.linalg.eig(laplacian)
    # U Lambda U^-1 is L (the decomposition the operator is built from)
    torch.testing.assert_close((vectors @ torch.diag(values) @ torch.linalg.inv(vectors)).real, laplacian,
                               atol=1e-6, rtol=0)
    u = vectors.real / vectors.real.norm(dim=0, keepdim=True)
    operator = (u @ u.T + u @ torch.diag(values.real) @ u.T).float()
    torch.testing.assert_close(model.spectral_operator, operator, atol=1e-4, rtol=1e-4)
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    layer, layers = ego, [ego]
    for theta in model.spectral_filters:
        layer = torch.sigmoid(operator @ layer @ theta.detach())
        layers.append(layer)
    with torch.no_grad():
        users, items = model.encode()
    torch.testing.assert_close(torch.cat([users, items]), torch.cat(layers, dim=1), rtol=1e-3, atol=1e-4)
    # RecBole's substitute, the block's `operator: identity_plus_laplacian`
    recbole = identity_plus_laplacian(split.train, split.n_users, split.n_items).to_dense().double()
    torch.testing.assert_close(recbole, torch.eye(n_nodes, dtype=torch.float64) + laplacian, atol=1e-6, rtol=0)
