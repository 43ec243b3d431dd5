"""Implicit-feedback matrix factorisation by alternating least squares (Hu, Koren & Volinsky 2008: iALS).

Every entry of the train matrix R counts: the preference p_ui = 1[r_ui > 0] is fitted by x_u^T y_i with the
confidence c_ui = 1 + alpha r_ui (Eq. 2; or 1 + alpha log(1 + r_ui / eps), Eq. 6), minimising Eq. 3,

    sum_{u,i} c_ui (p_ui - x_u^T y_i)^2 + lambda (sum_u ||x_u||^2 + sum_i ||y_i||^2).

With the item factors Y fixed the cost is quadratic in each x_u, minimised by Eq. 4,
x_u = (Y^T C^u Y + lambda I)^-1 Y^T C^u p(u), and Y^T C^u Y = Y^T Y + Y^T (C^u - I) Y: Y^T Y once per half-sweep,
C^u - I and C^u p(u) non-zero on the user's n_u observed items only (the paper's speed-up, linear in the non-zeros).
The items' step is the same on R^T (Eq. 5). A sweep recomputes every user's factors, then every item's.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import torch

CONFIDENCE_FORMS = ("linear", "log")


def confidence_excess(values: np.ndarray, alpha: float, form: str = "linear", epsilon: float = 1e-8) -> np.ndarray:
    """c_ui - 1 of observed values r_ui > 0: alpha r (Eq. 2's c = 1 + alpha r) or alpha log(1 + r / eps) (Eq. 6)."""
    if form == "linear":
        return alpha * values
    if form == "log":
        return alpha * np.log1p(values / epsilon)
    raise ValueError(f"confidence form {form!r}: choose one of {', '.join(CONFIDENCE_FORMS)}")


def observed(matrix: sp.spmatrix) -> sp.csr_matrix:
    """The matrix as float64 CSR with only its entries r > 0 stored (p = 1 exactly there)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    matrix.data[matrix.data < 0] = 0.0
    matrix.eliminate_zeros()
    return matrix


def least_squares_rows(fixed: np.ndarray, matrix: sp.csr_matrix, alpha: float, l2: float, form: str = "linear",
                       epsilon: float = 1e-8) -> np.ndarray:
    """One half-sweep (Eq. 4): each row u's factors x_u = (Y^T Y + Y^T (C^u - I) Y + lambda I)^-1 Y^T C^u p(u),
    given the other side's factors Y = `fixed` [n_cols, f]; C^u p(u) = c_uj on the observed j, 0 elsewhere."""
    f = fixed.shape[1]
    base = fixed.T @ fixed + l2 * np.eye(f)  # Y^T Y + lambda I: once for every row
    solved = np.zeros((matrix.shape[0], f))
    excess = confidence_excess(matrix.data, alpha, form, epsilon)
    for row in range(matrix.shape[0]):
        span = slice(matrix.indptr[row], matrix.indptr[row + 1])
        if span.start == span.stop:
            continue  # no observation: p(u) = 0, so x_u = 0
        y = fixed[matrix.indices[span]]
        c_minus_one = excess[span]
        system = base + (y.T * c_minus_one) @ y  # + Y^T (C^u - I) Y over the n_u observed items
        solved[row] = scipy.linalg.solve(system, y.T @ (1.0 + c_minus_one), assume_a="pos", check_finite=False)
    return solved


def implicit_als(matrix: sp.spmatrix, item_factors: np.ndarray, alpha: float, l2: float, sweeps: int,
                 form: str = "linear", epsilon: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """(X, Y) after `sweeps` sweeps from the starting item factors Y (float64): users from Y, then items from X."""
    if l2 < 0 or alpha < 0:
        raise ValueError(f"iALS needs lambda >= 0 and alpha >= 0, got lambda={l2}, alpha={alpha}")
    rows = observed(matrix)
    columns = rows.T.tocsr()
    items = np.array(item_factors, dtype=np.float64)
    users = np.zeros((rows.shape[0], items.shape[1]))
    for _ in range(max(int(sweeps), 0)):
        users = least_squares_rows(items, rows, alpha, l2, form, epsilon)
        items = least_squares_rows(users, columns, alpha, l2, form, epsilon)
    return users, items


def implicit_als_objective(matrix: sp.spmatrix, users: np.ndarray, items: np.ndarray, alpha: float, l2: float,
                           form: str = "linear", epsilon: float = 1e-8) -> float:
    """Eq. 3 without forming the m x n scores: sum over every entry of s_ui^2 (p = 0, c = 1) is
    trace(X^T X Y^T Y); each observed entry then adds c (1 - s)^2 - s^2."""
    rows = observed(matrix).tocoo()
    scores = np.einsum("kf,kf->k", users[rows.row], items[rows.col])
    c = 1.0 + confidence_excess(rows.data, alpha, form, epsilon)
    everywhere = float(np.sum((users.T @ users) * (items.T @ items)))
    on_observed = float(np.sum(c * (1.0 - scores) ** 2 - scores ** 2))
    return everywhere + on_observed + l2 * float(np.sum(users ** 2) + np.sum(items ** 2))


def weighted_squared_rows(matrix: sp.csr_matrix, users: torch.Tensor, user_table: torch.Tensor,
                          item_table: torch.Tensor, alpha: float, form: str = "linear", epsilon: float = 1e-8
                          ) -> torch.Tensor:
    """Eq. 3's error on the whole rows of `users`: sum_i c_ui (p_ui - x_u^T y_i)^2, mean over the users (a fitted
    model's diagnostic loss; the fit minimises it summed over every row, with the L2 term)."""
    index = users.cpu().numpy()
    rows = torch.from_numpy(np.asarray(matrix[index].toarray(), dtype=np.float64)).to(item_table)
    positive = rows > 0
    excess = torch.from_numpy(confidence_excess(rows.clamp(min=0).cpu().numpy(), alpha, form, epsilon)).to(rows)
    scores = user_table[users] @ item_table.T
    return ((1.0 + excess) * (positive.to(scores.dtype) - scores).pow(2)).sum(-1).mean()
