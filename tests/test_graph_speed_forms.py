"""The graph blocks' faster forms against the forms they replaced (issue 20's speed target): the same values and
gradients on a tiny synthetic split. Each `*_before` function is the block's earlier code, kept here as the
reference the rewrite must reproduce."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paper_autotrain.data.split import load_split
from paper_autotrain.runtime import cosine_info_nce, symmetric_sparse_mm
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.worker.loading import build_model, load_config
from tests.fixture_papers import rendered, spec_of, with_values
from tests.test_graph_papers import SGL_PAPER
from tests.test_graph_ssl_papers import DGCF_PAPER, GCMC_PAPER, SPECTRALCF_PAPER


def built(pages: list[list[str]], split_info: SplitInfo, folder, **values: object) -> nn.Module:
    folder = rendered(with_values(spec_of(folder / "paper", pages), **values), folder / "model")
    torch.manual_seed(0)
    return build_model(folder, load_config(folder), load_split(split_info.path)).train()


def values_and_gradients(output: torch.Tensor, parameters: list[torch.Tensor]) -> list[torch.Tensor]:
    """The output and the gradients of a fixed random projection of it w.r.t. `parameters`."""
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(1), dtype=output.dtype)
    return [output.detach(), *torch.autograd.grad((output * weights).sum(), parameters)]


def assert_same(new: list[torch.Tensor], old: list[torch.Tensor]) -> None:
    for got, expected in zip(new, old, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


# --- DGCF: disentangled_propagation -------------------------------------------------------------------------

def dgcf_layer_before(model: nn.Module, table: torch.Tensor, scores: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """disentangling_layer as it was: the L2-normalisations and tanh taken per edge, every iteration's update."""
    heads, tails = model.edge_heads, model.edge_tails
    chunks = table.view(len(table), model.n_factors, -1)
    tail_chunks = chunks[tails]
    for _ in range(model.n_iterations):
        weights = torch.softmax(scores, dim=1)
        degree = torch.zeros(len(table), model.n_factors).index_add(0, heads, weights)
        inv_sqrt = degree.clamp(min=1e-8).rsqrt()
        laplacian = weights * inv_sqrt[heads] * inv_sqrt[tails]
        out = torch.zeros_like(chunks).index_add(0, heads, laplacian.unsqueeze(-1) * tail_chunks)
        agreement = (nn.functional.normalize(out[heads], dim=-1)
                     * torch.tanh(nn.functional.normalize(tail_chunks, dim=-1))).sum(-1)
        scores = scores + agreement
    return out.reshape(len(table), -1), scores


def test_dgcfs_routing_gives_the_earlier_per_edge_forms_values_and_gradients(split_info, tmp_path):
    model = built(DGCF_PAPER, split_info, tmp_path, embedding_size=12, n_factors=3, n_iterations=2, n_layers=2)
    parameters = [model.user_embedding.weight, model.item_embedding.weight]
    new = values_and_gradients(torch.cat(model.encode()), parameters)
    layer = total = torch.cat(parameters)
    scores = torch.ones(len(model.edge_heads), model.n_factors)
    for _ in range(2):
        layer, scores = dgcf_layer_before(model, layer, scores)
        total = total + layer
    assert_same(new, values_and_gradients(total, parameters))


# --- GC-MC: rating_graph_convolution ------------------------------------------------------------------------

def gcmc_encoder_before(model: nn.Module) -> torch.Tensor:
    """rating_convolution as it was: node dropout scaled on the [nodes, width] table, the levels concatenated."""
    rate = model.node_dropout_rate
    messages = []
    for index, weights in enumerate(model.rating_weights):
        keep = torch.rand(len(weights), 1) >= rate
        messages.append(symmetric_sparse_mm(getattr(model, f"rating_graph_{index}"), weights * keep / (1.0 - rate)))
    hidden = model.hidden_dropout(torch.relu(torch.cat(messages, dim=1)))
    return torch.cat([model.dense_user(hidden[:model.n_users]), model.dense_item(hidden[model.n_users:])])


def test_gcmcs_encoder_gives_the_earlier_forms_values_and_gradients_with_the_same_dropout_draws(split_info, tmp_path):
    model = built(GCMC_PAPER, split_info, tmp_path, gcn_output_dim=12, embedding_size=6, dropout=0.5)
    parameters = [*model.rating_weights, model.dense_user.weight, model.dense_item.weight]
    torch.manual_seed(3)
    new = values_and_gradients(torch.cat(model.encode()), parameters)
    torch.manual_seed(3)
    assert_same(new, values_and_gradients(gcmc_encoder_before(model), parameters))


# --- NCL: neighbour_contrast's InfoNCE ----------------------------------------------------------------------

def info_nce_before(anchors: torch.Tensor, others: torch.Tensor, index: torch.Tensor, temperature: float
                    ) -> torch.Tensor:
    """contrast_sum's terms as they were: logsumexp over the [B, N] logits, the positive gathered from them."""
    logits = nn.functional.normalize(anchors, dim=1) @ nn.functional.normalize(others, dim=1).T / temperature
    return torch.logsumexp(logits, dim=1) - logits.gather(1, index.unsqueeze(1)).squeeze(1)


@pytest.mark.parametrize("temperature", [0.1, 1.0, 0.01])  # 0.01: below the constant shift's range, logsumexp
def test_the_cosine_info_nce_gives_the_logsumexp_forms_values_and_gradients(temperature):
    generator = torch.Generator().manual_seed(0)
    anchors = torch.randn(7, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    others = torch.randn(9, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    index = torch.randint(9, (7,), generator=generator)
    parameters = [anchors, others]
    assert_same(values_and_gradients(cosine_info_nce(anchors, others, index, temperature), parameters),
                values_and_gradients(info_nce_before(anchors, others, index, temperature), parameters))


# --- SGL: graph_view_contrast's InfoNCE -----------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [0.5, 0.01])  # 0.5: the paper's; 0.01: cosine_info_nce's logsumexp path
def test_sgls_view_contrast_gives_the_logsumexp_forms_values_and_gradients(temperature, split_info, tmp_path):
    """view_contrast through runtime.cosine_info_nce against the block's earlier InfoNCE (info_nce_before's terms,
    mean over the batch), on the two views' propagated tables."""
    # in float64: at tau 0.01 the loss (~1e-4) is a difference of terms near 100, whose float32 roundings differ
    model = built(SGL_PAPER, split_info, tmp_path, embedding_size=6, ssl_temperature=temperature).double()
    model.views = tuple([graph.double() for graph in view] for view in model.views)
    parameters = [model.user_embedding.weight, model.item_embedding.weight]
    users, items = torch.tensor([0, 3, 3, 5]), torch.tensor([1, 2, 5, 0])
    new = values_and_gradients(model.view_contrast(users, items), parameters)
    (users_1, items_1), (users_2, items_2) = model.view_tables(model.views[0]), model.view_tables(model.views[1])
    old = (info_nce_before(users_1[users], users_2, users, temperature).mean()
           + info_nce_before(items_1[items], items_2, items, temperature).mean())
    assert_same(new, values_and_gradients(old, parameters))


# --- SpectralCF: spectral_convolution -----------------------------------------------------------------------

def test_spectralcfs_propagation_gives_autograds_values_and_gradients_through_its_symmetric_operator(split_info,
                                                                                                       tmp_path):
    model = built(SPECTRALCF_PAPER, split_info, tmp_path, embedding_size=4, n_layers=2)
    operator = model.spectral_operator
    assert torch.equal(operator, operator.T)  # what lets the backward multiply by the operator itself
    parameters = [model.user_embedding.weight, model.item_embedding.weight, *model.spectral_filters]
    new = values_and_gradients(torch.cat(model.encode()), parameters)
    layer = torch.cat(parameters[:2])
    layers = [layer]
    for theta in model.spectral_filters:  # the block's earlier form: autograd's product by the operator
        layer = torch.sigmoid(operator @ layer @ theta)
        layers.append(layer)
    assert_same(new, values_and_gradients(torch.cat(layers, dim=1), parameters))
