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


def interaction_adjacency(train: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """The binary bipartite adjacency [[0, Y], [Y^T, 0]] of the train matrix Y (duplicates once) as a float32 torch
    sparse CSR tensor: A @ [V; U] is [Y U; Y^T V], every user's row of Y and every item's column times a weight
    table at once (DMF's first layers)."""
    train = np.asarray(train, dtype=np.int64).reshape(-1, 2)
    rows = np.concatenate([train[:, 0], train[:, 1] + n_users])
    cols = np.concatenate([train[:, 1] + n_users, train[:, 0]])
    n_nodes = n_users + n_items
    adjacency = sp.coo_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_nodes, n_nodes)).tocsr()
    adjacency.data[:] = 1.0
    coo = adjacency.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    with torch.sparse.check_sparse_tensor_invariants(enable=True):
        tensor = torch.sparse_coo_tensor(indices, torch.from_numpy(coo.data.astype(np.float32)), coo.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return tensor.coalesce().to_sparse_csr()


def adjacency_rows(adjacency: torch.Tensor, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The neighbours of `nodes` in a sparse CSR adjacency, as one flat index and each node's offset into it
    (F.embedding_bag's input and offsets): the rows of A @ X for a few nodes without touching the others."""
    crow, col = adjacency.crow_indices(), adjacency.col_indices()
    starts = crow[nodes]
    lengths = crow[nodes + 1] - starts
    offsets = torch.cumsum(lengths, 0) - lengths
    flat = torch.repeat_interleave(starts - offsets, lengths) + torch.arange(int(lengths.sum()), device=col.device)
    return col[flat], offsets


class _SymmetricMM(torch.autograd.Function):
    """A @ X for a constant symmetric A (sparse or dense), whose gradient w.r.t. X is A @ grad.

    Autograd's generic backward multiplies by A^T: for a sparse A it transposes A on every step (4-6x slower on
    CPU); for a dense one it reads A transposed (SpectralCF's [nodes, nodes] operator: 7.0 against 5.1 ms a
    product on one thread).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, operator: torch.Tensor,
                dense: torch.Tensor) -> torch.Tensor:
        ctx.operator = operator
        return _times(operator, dense)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, _times(ctx.operator, grad)


def _times(operator: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    return torch.mm(operator, dense) if operator.layout == torch.strided else torch.sparse.mm(operator, dense)


def symmetric_sparse_mm(adjacency: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """torch.sparse.mm(adjacency, dense) for a symmetric, constant adjacency (fast backward)."""
    return _SymmetricMM.apply(adjacency, dense)


def symmetric_mm(operator: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """operator @ dense for a symmetric, constant dense operator (its backward reads it untransposed)."""
    return _SymmetricMM.apply(operator, dense)


def kmeans(points: torch.Tensor, k: int, iterations: int = 25) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on the rows of `points` (Euclidean), NCL's prototypes (RecBole runs faiss.Kmeans): k-means++
    seeding (torch's generator, so the run's seed fixes it), then `iterations` rounds of assign-and-average; an
    emptied cluster keeps its centroid. k is capped at the number of rows.
    Returns (centroids [k, d], each row's nearest centroid [n])."""
    points = points.detach()
    centroids = kmeans_plus_plus(points, max(1, min(k, len(points))))
    for _ in range(iterations):
        assigned = torch.cdist(points, centroids).argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assigned, points)
        counts = torch.bincount(assigned, minlength=len(centroids)).unsqueeze(1)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
    return centroids, torch.cdist(points, centroids).argmin(dim=1)


def kmeans_plus_plus(points: torch.Tensor, k: int) -> torch.Tensor:
    """k seeds: the first a random row, each next one drawn with probability proportional to its squared distance
    to the nearest seed so far (a uniform draw once every row is a seed's copy)."""
    chosen = [int(torch.randint(len(points), (1,), device=points.device))]
    nearest = ((points - points[chosen[0]]) ** 2).sum(dim=1)
    for _ in range(k - 1):
        weights = nearest if float(nearest.sum()) > 0 else torch.ones_like(nearest)
        chosen.append(int(torch.multinomial(weights, 1)))
        nearest = torch.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(dim=1))
    return points[chosen].clone()


# The temperatures at which cosine_info_nce shifts the logits by the constant 1 / tau: every shifted logit lies in
# [-2 / tau, 0], so exp neither overflows nor, for 2 / tau <= 40, underflows float32 (its smallest normal is e^-87)
CONSTANT_SHIFT_MIN_TEMPERATURE = 0.05


def cosine_info_nce(anchors: torch.Tensor, others: torch.Tensor, index: torch.Tensor,
                    temperature: float) -> torch.Tensor:
    """-log(exp(s(a, o_index(a)) / tau) / sum_v exp(s(a, o_v) / tau)) for each anchor row a, s the cosine
    similarity (the InfoNCE of NCL's terms), [B]. A cosine is at most 1, so the log-sum-exp is taken with the
    constant shift 1 / tau folded into the matrix product instead of each row's maximum (logsumexp's): the same
    value, without the [B, N] passes of the maximum, the subtraction, the division and the positives' gather (whose
    backward zero-fills a [B, N] gradient); below CONSTANT_SHIFT_MIN_TEMPERATURE, logsumexp."""
    anchors = torch.nn.functional.normalize(anchors, dim=1)
    others = torch.nn.functional.normalize(others, dim=1)
    positives = (anchors * others[index]).sum(1) / temperature
    if temperature < CONSTANT_SHIFT_MIN_TEMPERATURE:
        return torch.logsumexp(anchors @ others.T / temperature, dim=1) - positives
    shift = 1.0 / temperature
    shifted = torch.addmm(anchors.new_tensor(-shift), anchors, others.T, alpha=shift)  # (s - 1) / tau
    return shifted.exp().sum(1).log() + shift - positives


def distance_correlation(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """dCor(X, Y) = dCov(X, Y) / sqrt(dCov(X, X) dCov(Y, Y)) of two [n, d] samples (Székely et al.), with the
    double-centred pairwise distance matrices; DGCF's independence regulariser between two intents' chunks."""
    def centred(table: torch.Tensor) -> torch.Tensor:
        squared = (table * table).sum(1, keepdim=True)
        distances = (squared - 2 * table @ table.T + squared.T).clamp(min=0.0).add(1e-8).sqrt()
        return distances - distances.mean(0, keepdim=True) - distances.mean(1, keepdim=True) + distances.mean()

    def covariance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((a * b).sum() / (len(a) ** 2)).clamp(min=0.0).add(1e-8).sqrt()

    a, b = centred(first), centred(second)
    return covariance(a, b) / ((covariance(a, a) * covariance(b, b)).clamp(min=0.0).sqrt() + 1e-10)


def orthogonal_matrix(size: int, scale: float = 1.0) -> torch.Tensor:
    """A random size x size orthogonal matrix times `scale` (Saxe et al.; GC-MC's decoder init), from torch's
    generator."""
    q, r = torch.linalg.qr(torch.randn(size, size))
    return scale * q * torch.sign(torch.diagonal(r))


def random_walk_laplacian(train: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """L = I - D^-1 A of the bipartite graph A = [[0, R], [R^T, 0]] (isolated nodes: L's row is I's)."""
    train = np.asarray(train, dtype=np.int64).reshape(-1, 2)
    n_nodes = n_users + n_items
    rows = np.concatenate([train[:, 0], train[:, 1] + n_users])
    cols = np.concatenate([train[:, 1] + n_users, train[:, 0]])
    adjacency = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_nodes, n_nodes)).tocsr()
    adjacency.data[:] = 1.0
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inverse = np.zeros_like(degree)
    inverse[degree > 0] = 1.0 / degree[degree > 0]
    return (sp.identity(n_nodes, format="csr") - sp.diags(inverse) @ adjacency).tocsr()


def spectral_filter(train: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """SpectralCF's dense operator U U^T + U Lambda U^T from the eigendecomposition L = U Lambda U^-1 of the
    random-walk Laplacian (its eigenvalues and eigenvectors are real: L is similar to a symmetric matrix; each
    eigenvector has unit norm, as numpy's and the authors' code's eig gives them)."""
    laplacian = torch.from_numpy(random_walk_laplacian(train, n_users, n_items).toarray())
    values, vectors = torch.linalg.eig(laplacian)
    values, vectors = values.real, vectors.real
    vectors = vectors / vectors.norm(dim=0, keepdim=True).clamp(min=1e-12)
    operator = vectors @ vectors.T + (vectors * values) @ vectors.T  # U (I + Lambda) U^T: symmetric
    return ((operator + operator.T) / 2).float()  # exactly, not up to rounding: its gradient is operator @ grad


def identity_plus_laplacian(train: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """RecBole's substitute for SpectralCF's operator: I + L, sparse."""
    operator = (sp.identity(n_users + n_items, format="csr")
                + random_walk_laplacian(train, n_users, n_items)).tocoo()
    indices = torch.from_numpy(np.vstack([operator.row, operator.col]).astype(np.int64))
    with torch.sparse.check_sparse_tensor_invariants(enable=True):
        return torch.sparse_coo_tensor(indices, torch.from_numpy(operator.data.astype(np.float32)),
                                       operator.shape).coalesce()
