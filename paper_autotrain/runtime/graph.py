"""The normalised user-item graph LightGCN propagates over."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch


def normalized_adjacency_scipy(train: np.ndarray, n_users: int, n_items: int) -> sp.coo_matrix:
    """A_hat = D^-1/2 A D^-1/2 of the bipartite graph A = [[0, R], [R^T, 0]] (isolated nodes stay 0)."""
    train = np.asarray(train, dtype=np.int64).reshape(-1, 2)
    n_nodes = n_users + n_items
    rows = np.concatenate([train[:, 0], train[:, 1] + n_users])
    cols = np.concatenate([train[:, 1] + n_users, train[:, 0]])
    ones = np.ones(len(rows), np.float64)
    adjacency = sp.coo_matrix((ones, (rows, cols)), shape=(n_nodes, n_nodes)).tocsr()
    adjacency.data[:] = 1.0  # duplicate interactions count once
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    scale = sp.diags(inv_sqrt)
    return (scale @ adjacency @ scale).tocoo()


def normalized_adjacency(train: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """A_hat as a float32 torch sparse CSR tensor, built once from train interactions."""
    coo = normalized_adjacency_scipy(train, n_users, n_items)
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    with torch.sparse.check_sparse_tensor_invariants(enable=True):
        tensor = torch.sparse_coo_tensor(indices, values, coo.shape)
    with warnings.catch_warnings():  # "sparse CSR support is in beta" is not news to act on
        warnings.simplefilter("ignore", UserWarning)
        return tensor.coalesce().to_sparse_csr()


class _SymmetricSparseMM(torch.autograd.Function):
    """A @ X for a constant symmetric sparse A, whose gradient w.r.t. X is A @ grad.

    Autograd's generic sparse.mm backward transposes A on every step (4-6x slower on CPU).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, adjacency: torch.Tensor,
                dense: torch.Tensor) -> torch.Tensor:
        ctx.adjacency = adjacency
        return torch.sparse.mm(adjacency, dense)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, torch.sparse.mm(ctx.adjacency, grad)


def symmetric_sparse_mm(adjacency: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """torch.sparse.mm(adjacency, dense) for a symmetric, constant adjacency (fast backward)."""
    return _SymmetricSparseMM.apply(adjacency, dense)
