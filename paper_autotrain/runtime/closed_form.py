"""The base module of models fitted once on the train split (the `fit` regime): EASE, SLIM, ItemKNN, iALS.

A generated model of this regime fills one of two methods:

- ``fit_weights(matrix)`` -> the [n_items, n_items] item-item weights W from the binary user x item train matrix
  (a scipy CSR matrix): EASE's closed form, SLIM's coordinate descent, ItemKNN's top-k cosine neighbours; a user's
  scores are then their train row times W (`x_u W`), which this class computes;
- or ``fit_tables(matrix)``: fits the model's own tables in place (iALS's user and item factors, by alternating
  least squares into its embedding tables), which its blocks score (x_u^T y_i), together with its own
  diagnostic ``loss(batch)``.

This class owns the rest: `fit()` fits once on the train split (no epochs, no optimiser; the worker calls it
instead of Lightning's loop), and the project's evaluator ranks the scores like every top-k model's. W is a
buffer and the tables are parameters, so the checkpoint and `paper_autotrain.load` keep them.
The weight functions below are the papers' equations, each testable on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import torch

from paper_autotrain.data.split import SplitData
from paper_autotrain.runtime.autoencoder import dense_rows
from paper_autotrain.runtime.module import TopKModule


class ClosedFormModule(TopKModule):
    """Scores x_u W with item-item weights W fitted once on the train matrix (fit_weights), or by its own tables
    fitted once (fit_tables)."""

    def __init__(self, split: SplitData, *, eval_batch_size: int = 1024, ks: Sequence[int] = (10, 20),
                 **unused: Any) -> None:
        # learning_rate, batch_size, negative_samples...: config.yaml's optim section has no use in a fit
        super().__init__(split, eval_batch_size=eval_batch_size, ks=ks)
        self.train_matrix = split.matrix("train")
        if self.item_item:  # a factor model (fit_tables) keeps no n_items^2 buffer
            self.register_buffer("item_weights", torch.zeros(self.n_items, self.n_items))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    # --- the contract generated models fill (one of the two) ----------------------------------------

    def fit_weights(self, matrix: sp.csr_matrix) -> torch.Tensor:
        raise NotImplementedError

    def fit_tables(self, matrix: sp.csr_matrix) -> None:
        raise NotImplementedError

    @property
    def item_item(self) -> bool:
        """Scored x_u W by item-item weights (the model fills fit_weights), not by its own fitted tables."""
        return type(self).fit_tables is ClosedFormModule.fit_tables

    # --- fitting and scoring ---------------------------------------------------------------------

    @torch.no_grad()
    def fit(self) -> None:
        """W (or the model's own tables) from the train matrix, once (what the epochs of other models do)."""
        if not self.item_item:
            self.fit_tables(self.train_matrix)
            self.fitted.fill_(True)
            return
        weights = torch.as_tensor(np.asarray(self.fit_weights(self.train_matrix)), dtype=torch.float32)
        if tuple(weights.shape) != (self.n_items, self.n_items):
            raise ValueError(f"fit_weights gave shape {tuple(weights.shape)}, expected {(self.n_items,) * 2}")
        self.item_weights.copy_(weights)
        self.fitted.fill_(True)

    def encode(self) -> torch.Tensor:
        """The users' train rows, dense [n_users, n_items]: computed once per evaluation (and kept by the export)."""
        return dense_rows(self.train_matrix, np.arange(self.n_users)).to(self.item_weights.device)

    def full_sort_with(self, state: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        return state[users] @ self.item_weights

    def score_with(self, state: torch.Tensor, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        users, items = torch.broadcast_tensors(users, items)
        return (state[users] * self.item_weights[:, items].movedim(0, -1)).sum(-1)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The squared reconstruction error of the batch users' train rows, ||x_u - x_u W||^2 summed over items,
        mean over users: what EASE and SLIM minimise without their penalties (ItemKNN minimises nothing). Not
        trained on: a diagnostic the gates check is finite."""
        rows = dense_rows(self.train_matrix, batch["users"].cpu().numpy()).to(self.item_weights.device)
        return (rows - rows @ self.item_weights).pow(2).sum(-1).mean()

    def configure_optimizers(self) -> None:
        return None

    def n_parameters(self) -> int:
        """The fitted weights that are not zero (no parameter is trained: W is a buffer); a factor model's tables."""
        if not self.item_item:
            return sum(p.numel() for p in self.parameters())
        return int(torch.count_nonzero(self.item_weights))


def fit_on_train(model: ClosedFormModule) -> None:
    """The fit regime's training (regimes.py `fit`): the model's weights from the train split, once."""
    with torch.no_grad():
        model.fit()


# --- the papers' weights ---------------------------------------------------------------------------------

def gram(matrix: sp.spmatrix) -> np.ndarray:
    """X^T X, dense float64: item co-occurrence counts on a binary matrix."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    return np.asarray((matrix.T @ matrix).toarray())


def ease_weights(matrix: sp.spmatrix, l2: float) -> torch.Tensor:
    """EASE (Steck 2019, Eq. 8): P = (X^T X + lambda I)^-1, B = I - P diag(1 / diag(P)), so B_ij = -P_ij / P_jj
    off the diagonal and B_jj = 0 (the constraint diag(B) = 0)."""
    if l2 <= 0:
        raise ValueError(f"EASE's L2 weight lambda must be > 0 (X^T X alone is singular), got {l2}")
    g = gram(matrix)
    g[np.diag_indices_from(g)] += l2
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return torch.from_numpy(b)


def cosine_knn_weights(matrix: sp.spmatrix, k: int, shrink: float) -> torch.Tensor:
    """Item-based top-k (Sarwar et al. 2001): cosine similarity of the items' user columns with shrinkage,
    s_ij = x_i . x_j / (||x_i|| ||x_j|| + shrink), no self-similarity, and for each item j only its k most
    similar items i kept (column j of W). Scores x_u W sum the similarities of the user's items to j."""
    g = gram(matrix)
    norms = np.sqrt(np.diag(g))
    similarity = g / (norms[:, None] * norms[None, :] + shrink + 1e-6)  # 1e-6: an item no user has
    np.fill_diagonal(similarity, 0.0)
    keep = min(max(int(k), 1), similarity.shape[0])
    cut = np.argpartition(-similarity, keep - 1, axis=0)[:keep]  # each column's k largest
    weights = np.zeros_like(similarity)
    columns = np.arange(similarity.shape[1])[None, :]
    weights[cut, columns] = similarity[cut, columns]
    return torch.from_numpy(weights)


def slim_weights(matrix: sp.spmatrix, l1: float, l2: float, max_sweeps: int = 100, tol: float = 1e-5,
                 nonnegative: bool = True, method: str = "exact") -> torch.Tensor:
    """SLIM (Ning & Karypis 2011, Eq. 4): for every item column j, min_w 1/2 ||a_j - A w_j||^2 + beta/2 ||w_j||^2
    + lambda ||w_j||_1 subject to w_j >= 0 and w_jj = 0, by cyclic coordinate descent, every column at once.

    With the Gram matrix G = A^T A and each column's residual correlations G[:, j] - G w_j, coordinate k of every
    column moves to S(corr_k + G_kk w_kj, lambda) / (G_kk + beta) (S: the soft threshold, clipped at 0 when
    `nonnegative`), w_jj stays 0, and the correlations take the rank-one change of the columns that moved. Stops
    when a sweep lowers the objective (every column's, summed) by less than `tol` times its value, or after
    `max_sweeps` sweeps. method "exact" (the default, where w >= 0 and beta > 0) solves each column to its exact
    minimiser instead (slim_columns_exact): the point coordinate descent converges to, in far less time."""
    if l1 < 0 or l2 < 0:
        raise ValueError(f"SLIM's penalties must be >= 0, got lambda={l1}, beta={l2}")
    g = gram(matrix)
    if method == "exact" and nonnegative and l2 > 0:  # the exact minimiser, column by column (slim_columns_exact)
        return torch.from_numpy(slim_columns_exact(g, l1, l2))
    diagonal = np.diag(g).copy()
    weights = np.zeros_like(g)  # transposed: weights[j] is column j of W, so a column's update is one row
    residual = g.copy()  # residual[j, k] = (G[:, j] - G w_j)[k] (G is symmetric)
    objective = slim_objective(g, weights, residual, l1, l2)
    for _ in range(max(int(max_sweeps), 1)):
        for k in np.flatnonzero(diagonal > 0):  # an item no user has keeps every coordinate at 0
            rho = residual[:, k] + diagonal[k] * weights[:, k]
            if nonnegative:
                new = np.maximum(rho - l1, 0.0)
            else:
                new = np.sign(rho) * np.maximum(np.abs(rho) - l1, 0.0)
            new /= diagonal[k] + l2
            new[k] = 0.0
            delta = new - weights[:, k]
            moved = np.flatnonzero(delta)
            if moved.size == 0:
                continue
            residual[moved] -= np.outer(delta[moved], g[k])
            weights[moved, k] = new[moved]
        previous, objective = objective, slim_objective(g, weights, residual, l1, l2)
        if previous - objective <= tol * objective:
            break
    return torch.from_numpy(weights.T.copy())


INITIAL_FREE = 0.35  # the share of a column's candidate coordinates _nonnegative_qp first solves for (ML-100K:
# about 210 of 690 end positive)


def slim_columns_exact(g: np.ndarray, l1: float, l2: float, max_pivots: int = 1000) -> np.ndarray:
    """SLIM's nonnegative weights, each column exactly (to float64 precision), from the Gram matrix G of a
    nonnegative A (beta = l2 > 0): column j minimises 1/2 w^T (G + beta I) w - (G[:, j] - lambda)^T w over w >= 0,
    w_j = 0 (SLIM's objective less its constant). A coordinate k with G_kj <= lambda is 0 at the optimum (every
    entry of G + beta I and of w is >= 0, so its gradient (G w)_k + beta w_k - G_kj + lambda is >= 0 at w_k = 0); on
    the others, block principal pivoting (Kim & Park 2011): solve the KKT system on a guessed free set, move every
    coordinate that breaks a condition (a negative free weight, a negative gradient at a zero weight) to the other
    set, fall back to moving one when that stops shrinking the count; a few pivots, each a Cholesky solve of the
    free set's block. The same minimiser as coordinate descent run to convergence (tests), in a few seconds."""
    n = g.shape[0]
    weights = np.zeros_like(g)
    q = g + l2 * np.eye(n)
    for j in range(n):
        c = g[:, j] - l1
        c[j] = 0.0
        candidates = np.flatnonzero(c > 0)
        if candidates.size:
            weights[candidates, j] = _nonnegative_qp(q[np.ix_(candidates, candidates)], c[candidates], max_pivots)
    return weights


def _nonnegative_qp(q: np.ndarray, c: np.ndarray, max_pivots: int, guess: float = INITIAL_FREE) -> np.ndarray:
    """argmin 1/2 w^T Q w - c^T w over w >= 0 for a positive definite Q, by block principal pivoting; the first free
    set is the `guess` share of the coordinates with the largest c_k / Q_kk (the pivots correct it)."""
    n = len(c)
    free = np.zeros(n, dtype=bool)
    free[np.argsort(-c / np.diag(q))[:max(1, int(np.ceil(guess * n)))]] = True
    tolerance = 1e-12 * max(1.0, float(np.abs(c).max()))
    fewest, chances = n + 1, 3
    w = np.zeros(n)
    for _ in range(max_pivots):
        w = np.zeros(n)
        chosen = np.flatnonzero(free)
        if chosen.size:
            w[chosen] = scipy.linalg.solve(q[np.ix_(chosen, chosen)], c[chosen], assume_a="pos", check_finite=False)
        gradient = w[chosen] @ q[chosen] - c  # Q is symmetric: its rows (contiguous) in place of its columns
        broken = np.where(free, w < -tolerance, gradient < -tolerance)
        count = int(broken.sum())
        if count == 0:
            return np.maximum(w, 0.0)
        if count < fewest:
            fewest, chances = count, 3
        elif chances > 0:
            chances -= 1
        else:  # the count stopped shrinking: move only the last broken coordinate (finite, Murty's rule)
            last = np.flatnonzero(broken)[-1]
            broken = np.zeros(n, dtype=bool)
            broken[last] = True
        free ^= broken
    raise RuntimeError(f"SLIM's column solve did not settle in {max_pivots} pivots")


def slim_objective(g: np.ndarray, weights: np.ndarray, residual: np.ndarray, l1: float, l2: float) -> float:
    """SLIM's objective summed over the columns, from the Gram matrix G, the weights (transposed: row j is w_j) and
    the residual correlations r_j = G[:, j] - G w_j: 1/2 ||a_j - A w_j||^2 = 1/2 (G_jj - G_j . w_j - w_j . r_j)."""
    squared = 0.5 * (np.trace(g) - np.sum(g.T * weights) - np.sum(weights * residual))
    return float(squared + 0.5 * l2 * np.sum(weights ** 2) + l1 * np.abs(weights).sum())
