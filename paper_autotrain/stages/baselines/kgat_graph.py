"""RecBole's KGAT without DGL: the one place it uses DGL, its starting attention matrix, built from the COO graph.

RecBole's KGAT asks its dataset for the collaborative knowledge graph as a DGL graph (`ckg_graph(form="dgl")`) only
to build the starting attention matrix A_in in `init_graph`: for each relation r (1 .. n_relations - 1; 0 pads) the
sub-graph of r's edges in the whole node space, row-normalised (D_r^-1 A_r, a row without r-edges stays 0), summed
over the relations. Every later step (`update_attentive_A`, the propagation) uses torch tensors of the COO form.
DGL 2.1.0, the newest wheel for this Python, supports torch <= 2.2 and fails at import beside torch 2.13, so where
DGL cannot be imported the runner builds RecBole's KGAT through `kgat_without_dgl`: the same class, its graph handed
over in the COO form RecBole's dataset also makes (`_create_ckg_sparse_matrix`: the same edges in the same order as
its `_create_ckg_graph`), and A_in computed from it with scipy as `init_graph` computes it from DGL's adjacency
matrix (DGL's `adjacency_matrix(transpose=False)`: row = source, column = destination, one entry per edge).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch


def dgl_importable() -> bool:
    return importlib.util.find_spec("dgl") is not None


def relation_normalised_adjacency(graph: sp.coo_matrix, n_relations: int) -> torch.Tensor:
    """sum_r D_r^-1 A_r over the relations 1 .. n_relations - 1 of a COO graph whose values are relation ids, as a
    sparse [n_nodes, n_nodes] float tensor (RecBole KGAT's `init_graph`)."""
    rows, cols, relations = graph.row, graph.col, np.asarray(graph.data).astype(np.int64)
    total = sp.coo_matrix(graph.shape, dtype=np.float64)
    for relation in range(1, n_relations):
        keep = relations == relation
        adjacency = sp.coo_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=graph.shape)
        degree = np.asarray(adjacency.sum(1)).flatten()
        with np.errstate(divide="ignore"):
            inverse = np.where(degree > 0, 1.0 / degree, 0.0)
        total = total + sp.diags(inverse).dot(adjacency)
    total = total.tocoo()
    indices = torch.from_numpy(np.vstack([total.row, total.col]).astype(np.int64))
    return torch.sparse_coo_tensor(indices, torch.from_numpy(total.data).float(), graph.shape)


def kgat_without_dgl(kgat_class: type) -> type:
    """RecBole's KGAT class with its DGL graph replaced by the COO graph (module docstring)."""

    class KGATWithoutDGL(kgat_class):
        def __init__(self, config: Any, dataset: Any) -> None:
            ckg_graph = dataset.ckg_graph

            def coo_for_dgl(form: str = "coo", value_field: str | None = None) -> Any:
                return ckg_graph(form="coo" if form == "dgl" else form, value_field=value_field)

            dataset.ckg_graph = coo_for_dgl  # for the constructor only: self.ckg becomes the COO graph
            try:
                super().__init__(config, dataset)
            finally:
                del dataset.ckg_graph

        def init_graph(self) -> torch.Tensor:
            return relation_normalised_adjacency(self.ckg, self.n_relations).to(self.device)

    KGATWithoutDGL.__name__ = KGATWithoutDGL.__qualname__ = kgat_class.__name__
    return KGATWithoutDGL


def recbole_model_class(name: str) -> type:
    """RecBole's class of a model name; KGAT without DGL where DGL cannot be imported."""
    from recbole.utils import get_model

    model_class = get_model(name)
    if name == "KGAT" and not dgl_importable():
        return kgat_without_dgl(model_class)
    return model_class
