"""IMP-GCN's interest-aware message passing (the set-B paper has no RecBole class), read from a fixture paper that
describes it in prose: the first graph convolution over the whole user-item graph, the higher-order ones inside
subgraphs of users grouped by a subgraph generation module (an argmax over a small network on e_u^(0) + e_u^(1)),
an item's per-subgraph embeddings summed, the layers averaged, BPR. The propagation equals the paper's equations
computed by hand on a tiny graph (Eqs. 3-5 edge by edge, and the matrix form Eqs. 7-10), the grouping is the
network's argmax and takes no gradient, and the rendered model trains. The fixture paper is not a real paper."""

from __future__ import annotations

import math

import pytest
import torch

from paper_autotrain.data.split import load_split
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.runtime.graph import normalized_adjacency
from paper_autotrain.runtime.subgraphs import graph_edges, interest_aware_layers, subgraph_adjacency
from paper_autotrain.stages.extract.hparams import find_hyperparameters
from paper_autotrain.stages.extract.text import Sentence
from tests.fixture_papers import passes_the_gates_and_trains, rendered, spec_of, with_values
from tests.model_fixtures import adam_losses, train_pair_batch

GROUPED_PAPER = [
    ["Grouped Propagation for Collaborative Filtering",
     "Abstract. Deep graph convolution mixes the preferences of users who share nothing. We propose the Grouped "
     "Graph Network (GGN), which confines deep message passing to groups of like-minded users.",
     "1 INTRODUCTION",
     "Graph neural networks learn user and item embeddings from the interaction graph."],
    ["2 METHOD",
     "2.1 Propagation",
     "The first graph convolution layer aggregates the neighbours over the whole user-item graph, with symmetric "
     "normalization, as in light graph convolution. For the deeper layers, message passing runs only within the "
     "subgraph of each user: an item that users of several subgraphs interacted with has one embedding per subgraph, "
     "and its embeddings are summed over the subgraphs. Layer combination averages the embeddings of all layers, and "
     "the score is the inner product of the user and item embeddings.",
     "2.2 Subgraph Generation",
     "Users with common interests are placed in the same subgraph. The subgraph generation module fuses the ID "
     "embedding of a user with its first-layer embedding through a fully connected layer, and a two-layer network "
     "maps the result to one score per subgraph; the largest score is the user's subgraph.",
     "2.3 Optimization",
     "We optimise the BPR loss with Adam and L2 regularization."],
    ["3 EXPERIMENTS",
     "The embedding size is set to 16. We use GGN with 2 subgraphs and 4 layers, which is the best setting."],
]

# The same paper with no grouping of users: "subgraph" only in passing (a sampled neighbourhood), not a part of its
# model's propagation: the bare mention is not built, and nothing composes the grouped model.
PASSING_PAPER = [
    ["Plain Propagation for Collaborative Filtering",
     "Abstract. We propose the Plain Graph Network (PGN).",
     "1 INTRODUCTION",
     "Graph neural networks learn user and item embeddings from the interaction graph."],
    ["2 METHOD",
     "We discard feature transformation and non-linear activation: light graph convolution with symmetric "
     "normalization. Layer combination averages the embeddings of all layers. Users with similar interests form groups "
     "that like the same items. Each training batch samples a subgraph "
     "around its users, and the score is the inner product of the user and item embeddings. We optimise the BPR loss "
     "with Adam."],
]


def test_the_paper_is_read_into_subgraph_propagation(tmp_path):
    spec = spec_of(tmp_path, GROUPED_PAPER)
    assert (spec.family, spec.task, spec.loss) == ("graph", "topk", "bpr")
    assert [block.block for block in spec.architecture] == ["embedding", "subgraph_propagation", "dot_score"]
    assert spec.fidelity.verdict == "faithful", spec.fidelity.missing
    built = {component.name: component.block for component in spec.fidelity.components}
    assert built["subgraphs or interest groups of users"] == "subgraph_propagation"
    assert built["layer combination (weighted sum of every layer's embeddings)"] == "subgraph_propagation"
    assert spec.reference is None
    assert composition_class("graph", ["embedding", "subgraph_propagation", "dot_score"], "bpr") is None


def test_a_subgraph_named_in_passing_composes_nothing(tmp_path):
    spec = spec_of(tmp_path, PASSING_PAPER)
    assert [block.block for block in spec.architecture] == ["embedding", "light_propagation", "dot_score"]
    unbuilt = [component.name for component in spec.fidelity.components if component.block is None]
    assert unbuilt == ["subgraphs or interest groups of users"]


@pytest.mark.parametrize(("sentence", "expected"), [
    # a compared model's count beside ours is not ours; a footnote mark after a noun; the name misspelt by a swap
    ("In this experiment, we used the LightGCN with 4 layers and IPM-GCN with 3 subgraphs6 and 6 layers, which are "
     "their optimal setting on Kindle Store.", {"n_layers": 6, "n_subgraphs": 3}),
    ("We compare with LightGCN with 4 layers.", {}),
    ("An overview of our IMP-GCN model with two subgraphs as illustration.", {}),  # the model, not its setting
    ("IMP-GCN2, IMP-GCN3 and IMP-GCN4 represent IMP-GCN with 2, 3, and 4 subgraphs.", {}),  # a grid
    ("We run IMP-GCN with three subgraphs.", {"n_subgraphs": 3}),
    ("We run PMI-GCN with 4 layers.", {}),  # not a swap of neighbouring letters
])
def test_counts_stated_for_the_own_model_by_name(sentence, expected):
    found, notes = find_hyperparameters([Sentence(page=7, text=sentence, order=0)], "IMP-GCN")
    got = {key: found[key].value for key in ("n_layers", "n_subgraphs") if key in found}
    assert got == expected
    assert any("Kindle Store" in note for note in notes) == ("Kindle Store" in sentence)


def tiny_graph() -> tuple[torch.Tensor, int, int, torch.Tensor]:
    """3 users, 4 items; users 0 and 2 in subgraph 0, user 1 in subgraph 1 (item 1 is in both)."""
    train = torch.tensor([[0, 0], [0, 1], [1, 1], [1, 2], [1, 3], [2, 0], [2, 3]])
    return train, 3, 4, torch.tensor([0, 1, 0])


def by_hand_elementwise(train: torch.Tensor, n_users: int, n_items: int, groups: torch.Tensor, layer0: torch.Tensor,
                        n_layers: int, n_subgraphs: int) -> list[torch.Tensor]:
    """Eqs. 3-5 edge by edge: e^(1) over the whole graph; e_is^(1) = e_i^(1); e_u^(k+1) = sum over u's items of
    w_ui e_{i,s(u)}^(k); e_is^(k+1) = sum over i's users in s of w_ui e_u^(k); e_i^(k) = sum_s e_is^(k)."""
    user_degree = torch.bincount(train[:, 0], minlength=n_users).float()
    item_degree = torch.bincount(train[:, 1], minlength=n_items).float()
    weight = {(u, i): 1 / math.sqrt(user_degree[u] * item_degree[i]) for u, i in train.tolist()}
    users, items = layer0[:n_users], layer0[n_users:]
    users1, items1 = torch.zeros_like(users), torch.zeros_like(items)
    for (u, i), w in weight.items():
        users1[u] += w * items[i]
        items1[i] += w * users[u]
    layers = [layer0, torch.cat([users1, items1])]
    user_state, copies = users1, [items1.clone() for _ in range(n_subgraphs)]
    for _ in range(2, n_layers + 1):
        new_users = torch.zeros_like(user_state)
        new_copies = [torch.zeros_like(items1) for _ in range(n_subgraphs)]
        for (u, i), w in weight.items():
            s = int(groups[u])
            new_users[u] += w * copies[s][i]
            new_copies[s][i] += w * user_state[u]
        user_state, copies = new_users, new_copies
        layers.append(torch.cat([user_state, sum(copies)]))
    return layers


def dense_laplacians(train: torch.Tensor, n_users: int, n_items: int, groups: torch.Tensor, n_subgraphs: int
                     ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """L of the whole graph and L_s: L with the entries of the users outside subgraph s removed (Sec. 2.3)."""
    whole = normalized_adjacency(train.numpy(), n_users, n_items).to_dense()
    members = [torch.cat([groups == s, torch.ones(n_items, dtype=torch.bool)]).float() for s in range(n_subgraphs)]
    # an entry (u, i) or (i, u) stays in L_s when u is in s (every item is in every mask; L has no item-item entry)
    return whole, [whole * m[:, None] * m[None, :] for m in members]


@pytest.mark.parametrize("n_layers", [1, 2, 3, 4])
def test_propagation_is_the_papers_equations_by_hand(n_layers):
    train, n_users, n_items, groups = tiny_graph()
    layer0 = torch.randn(n_users + n_items, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    users, items, weights = graph_edges(train.numpy(), n_users, n_items)
    whole = normalized_adjacency(train.numpy(), n_users, n_items)
    subgraphs = subgraph_adjacency(users, items, weights, groups, n_users, n_items, 2)
    layer1 = torch.sparse.mm(whole.double(), layer0)
    got = interest_aware_layers(whole.double(), subgraphs.double(), layer0, layer1, n_layers, n_users, 2)
    expected = by_hand_elementwise(train, n_users, n_items, groups, layer0, n_layers, 2)
    assert len(got) == n_layers + 1
    for mine, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(mine, theirs)
    # the matrix form, Eqs. 7-10: E^(k) = L sum_s L_s^(k-1) E^(0)
    dense, per_subgraph = dense_laplacians(train, n_users, n_items, groups, 2)
    dense, per_subgraph = dense.double(), [m.double() for m in per_subgraph]
    assert torch.allclose(sum(per_subgraph), dense)  # the subgraphs' edges partition the graph's
    matrix = interest_aware_layers(whole.double(), subgraphs.double(), layer0, layer1, n_layers, n_users, 2,
                                   form="matrix")
    for k, mine in enumerate(matrix[2:], start=2):
        inside = sum(torch.linalg.matrix_power(m, k - 1) for m in per_subgraph) @ layer0
        torch.testing.assert_close(mine, dense @ inside)
    if n_layers >= 2:  # the second layer is LightGCN's in both forms
        torch.testing.assert_close(got[2], dense @ dense @ layer0)
        torch.testing.assert_close(matrix[2], got[2])
    if n_layers >= 3:  # from the third on, the subgraphs cut user 1 off users 0 and 2
        assert not torch.allclose(got[3], dense @ dense @ dense @ layer0)


def test_one_subgraph_is_lightgcn():
    train, n_users, n_items, _ = tiny_graph()
    layer0 = torch.randn(n_users + n_items, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    whole = normalized_adjacency(train.numpy(), n_users, n_items).double()
    subgraphs = subgraph_adjacency(*graph_edges(train.numpy(), n_users, n_items), torch.zeros(n_users, dtype=int),
                                   n_users, n_items, 1).double()
    layers = interest_aware_layers(whole, subgraphs, layer0, torch.sparse.mm(whole, layer0), 4, n_users, 1)
    expected = layer0
    for layer in layers:
        torch.testing.assert_close(layer, expected)
        expected = torch.sparse.mm(whole, expected)


def _model(spec, split_info, folder):
    from paper_autotrain.worker.loading import build_model, load_config

    model_folder = rendered(spec, folder)
    return build_model(model_folder, load_config(model_folder), load_split(split_info.path))


def test_the_model_groups_users_by_the_networks_argmax_and_averages_the_layers(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", GROUPED_PAPER), n_layers=3, n_subgraphs=3)
    model = _model(spec, split_info, tmp_path / "model")
    split = load_split(split_info.path)
    layer0 = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    whole = normalized_adjacency(split.train, model.n_users, model.n_items)
    layer1 = torch.sparse.mm(whole, layer0)
    (w1, b1), (w2, b2), (w3, b3) = [(m.weight, m.bias) for m in model.subgraph_generation if hasattr(m, "weight")]
    leaky = torch.nn.functional.leaky_relu
    features = leaky((layer0 + layer1)[:model.n_users] @ w1.T + b1, 0.2)  # Eq. 13
    groups = (leaky(features @ w2.T + b2, 0.2) @ w3.T + b3).argmax(1)  # Eq. 14
    torch.testing.assert_close(model.user_subgraphs(layer0, layer1), groups)
    assert len(groups.unique()) > 1  # the Xavier start with zero biases splits the users
    with torch.no_grad():
        user_table, item_table = model.encode()
    layers = by_hand_elementwise(torch.as_tensor(split.train), model.n_users, model.n_items, groups, layer0, 3, 3)
    final = torch.stack(layers).mean(0)
    torch.testing.assert_close(torch.cat([user_table, item_table]), final, rtol=1e-4, atol=1e-6)


def test_the_rendered_model_trains_and_the_grouping_takes_no_gradient(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", GROUPED_PAPER), n_layers=3, n_subgraphs=2)
    model = _model(spec, split_info, tmp_path / "model")
    grouping = [p.detach().clone() for p in model.subgraph_generation.parameters()]
    batch = train_pair_batch(split_info.path, negatives=1, n_items=model.n_items)
    torch.manual_seed(0)
    losses = adam_losses(model, batch, steps=15, lr=0.01)
    assert all(math.isfinite(x) for x in losses) and sum(losses[-3:]) < sum(losses[:3])
    for before, after in zip(grouping, model.subgraph_generation.parameters(), strict=True):
        assert torch.equal(before, after) and after.grad is None


@pytest.mark.slow
def test_the_model_passes_the_gates_and_trains(split_info, tmp_path):
    spec = with_values(spec_of(tmp_path / "paper", GROUPED_PAPER), n_layers=3, n_subgraphs=2)
    passes_the_gates_and_trains(spec, split_info, tmp_path)
