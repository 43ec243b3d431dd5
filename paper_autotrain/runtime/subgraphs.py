"""Propagation inside subgraphs of users (IMP-GCN, Liu et al. 2021): each user belongs to one subgraph, an item to
every subgraph holding one of its users, with its own embedding in each.

The subgraphs' union is one bipartite graph over the users and one copy of each item per subgraph (item i's copy
in subgraph s is node n_users + i * n_subgraphs + s); an interaction (u, i) joins u to i's copy in u's subgraph
with the whole graph's weight 1/sqrt(|N_u| |N_i|) (the paper filters the Laplacian's entries of the users outside
a subgraph, it does not renormalise). One product with it propagates every subgraph at once, at LightGCN's cost.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from paper_autotrain.runtime.graph import normalized_adjacency_scipy, symmetric_sparse_mm


def graph_edges(train: np.ndarray, n_users: int, n_items: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(users [E], items [E], weights [E]): each train interaction once with its entry of the whole graph's
    L = D^-1/2 A D^-1/2, 1/sqrt(|N_u| |N_i|)."""
    coo = normalized_adjacency_scipy(train, n_users, n_items)
    user_side = coo.row < n_users
    users = torch.from_numpy(coo.row[user_side].astype(np.int64))
    items = torch.from_numpy(coo.col[user_side].astype(np.int64) - n_users)
    return users, items, torch.from_numpy(coo.data[user_side].astype(np.float32))


def subgraph_adjacency(users: torch.Tensor, items: torch.Tensor, weights: torch.Tensor, groups: torch.Tensor,
                       n_users: int, n_items: int, n_subgraphs: int) -> torch.Tensor:
    """The symmetric sparse adjacency of the subgraphs' union (the module docstring), for `groups` [n_users], each
    user's subgraph: [n_users + n_items * n_subgraphs] squared, sparse CSR."""
    copies = n_users + items * n_subgraphs + groups[users]
    rows = torch.cat([users, copies])
    cols = torch.cat([copies, users])
    size = n_users + n_items * n_subgraphs
    tensor = torch.sparse_coo_tensor(torch.stack([rows, cols]), torch.cat([weights, weights]), (size, size))
    with warnings.catch_warnings():  # "sparse CSR support is in beta" is not news to act on
        warnings.simplefilter("ignore", UserWarning)
        return tensor.coalesce().to_sparse_csr()


def item_copies(table: torch.Tensor, n_users: int, n_subgraphs: int) -> torch.Tensor:
    """[n_users + n_items, d] -> [n_users + n_items * n_subgraphs, d]: every item's row in each subgraph."""
    return torch.cat([table[:n_users], table[n_users:].repeat_interleave(n_subgraphs, dim=0)])


def summed_copies(table: torch.Tensor, n_users: int, n_subgraphs: int) -> torch.Tensor:
    """[n_users + n_items * n_subgraphs, d] -> [n_users + n_items, d]: an item's rows summed over its subgraphs
    (Eq. 5); a user has one row (it belongs to one subgraph)."""
    items = table[n_users:]
    return torch.cat([table[:n_users], items.reshape(-1, n_subgraphs, items.shape[1]).sum(1)])


def interest_aware_layers(adjacency: torch.Tensor, subgraphs: torch.Tensor, layer0: torch.Tensor,
                          layer1: torch.Tensor, n_layers: int, n_users: int, n_subgraphs: int,
                          form: str = "elementwise") -> list[torch.Tensor]:
    """E^(0), ..., E^(K) of IMP-GCN, each [n_users + n_items, d]; E^(1) = L E^(0) (`layer1`, on the whole graph).

    elementwise (Eqs. 3-5): the high-order layers start from the first-order embeddings, e_is^(1) = e_i^(1) in every
      subgraph, and propagate inside the subgraphs: E^(k) = sum_s L_s^(k-1) E^(1), k >= 2.
    matrix (Eqs. 7-10, the paper's matrix form): k - 1 layers inside the subgraphs from E^(0), then one on the whole
      graph: E^(k) = L sum_s L_s^(k-1) E^(0).
    Both equal LightGCN's E^(2) (the subgraphs' edges partition the graph's)."""
    layers = [layer0, layer1][: n_layers + 1]
    state = item_copies(layer1 if form == "elementwise" else layer0, n_users, n_subgraphs)
    for _ in range(2, n_layers + 1):
        state = symmetric_sparse_mm(subgraphs, state)
        combined = summed_copies(state, n_users, n_subgraphs)
        layers.append(combined if form == "elementwise" else symmetric_sparse_mm(adjacency, combined))
    return layers
