"""Uniform negative sampling, vectorised: no per-sample Python on the training path."""

from __future__ import annotations

import numpy as np

MAX_RESAMPLE_ROUNDS = 1000
DENSE_MASK_MAX_CELLS = 1 << 26  # a user x item bool table up to 64 MB; beyond it, binary search over sorted keys


class UniformNegativeSampler:
    """Draws items uniformly among those a user has NOT interacted with in train.

    Candidates are drawn for a whole epoch at once; collisions with a train positive are found in a
    dense user x item table (one gather; small catalogues) or by a binary search over the sorted keys
    ``user * n_items + item``, and only those are redrawn. Both give the same draws.
    """

    def __init__(self, train: np.ndarray, n_items: int, rng: np.random.Generator) -> None:
        self.n_items = int(n_items)
        self.rng = rng
        train = np.asarray(train, dtype=np.int64).reshape(-1, 2)
        self.positive_keys = np.unique(train[:, 0] * self.n_items + train[:, 1])
        self._dense = self._dense_table()
        self._saturated = self._saturated_users()

    def _dense_table(self) -> np.ndarray | None:
        """Flat bool table over (user, item) for users 0..max train user, when it is small enough."""
        if len(self.positive_keys) == 0:
            return None
        cells = (int(self.positive_keys[-1]) // self.n_items + 1) * self.n_items
        if cells > DENSE_MASK_MAX_CELLS:
            return None
        table = np.zeros(cells, dtype=bool)
        table[self.positive_keys] = True
        return table

    def _saturated_users(self) -> np.ndarray:
        """Users who interacted with every item: no negative exists for them."""
        users_of_keys = self.positive_keys // self.n_items
        per_user = np.bincount(users_of_keys) if len(users_of_keys) else np.zeros(0, np.int64)
        return np.flatnonzero(per_user >= self.n_items)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Bool mask of the same shape: whether (user, item) is a train interaction."""
        keys = users.astype(np.int64) * self.n_items + items
        if len(self.positive_keys) == 0:
            return np.zeros(keys.shape, dtype=bool)
        if self._dense is not None:  # a user past the table has no train interactions
            inside = keys < len(self._dense)
            return self._dense[np.where(inside, keys, 0)] & inside
        pos = np.searchsorted(self.positive_keys, keys)
        pos = np.minimum(pos, len(self.positive_keys) - 1)
        return self.positive_keys[pos] == keys

    def sample(self, users: np.ndarray, k: int = 1) -> np.ndarray:
        """Int64 [len(users), k] negatives, uniform over each user's non-train items."""
        users = np.asarray(users, dtype=np.int64)
        if np.isin(users, self._saturated).any():
            raise ValueError("a user has interacted with every item; no negative item can be sampled")
        grid = np.broadcast_to(users[:, None], (len(users), k))
        items = self.rng.integers(0, self.n_items, size=grid.shape, dtype=np.int64)
        bad = self.is_positive(grid, items)
        for _ in range(MAX_RESAMPLE_ROUNDS):
            if not bad.any():
                return items
            items[bad] = self.rng.integers(0, self.n_items, size=int(bad.sum()), dtype=np.int64)
            bad[bad] = self.is_positive(grid[bad], items[bad])
        raise RuntimeError(f"negative sampling did not converge in {MAX_RESAMPLE_ROUNDS} rounds")
