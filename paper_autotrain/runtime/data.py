"""Training batches from a split: tensors built once, one permutation and one vectorised
negative draw per epoch, batches handed to Lightning through a plain DataLoader."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sized

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader, IterableDataset

from paper_autotrain.runtime.sampling import UniformNegativeSampler

Batch = dict[str, torch.Tensor]
# losses over labelled instances (each positive and each sampled negative one): DMF's normalised cross entropy is
# one, so its batch of 256 holds 51 positives with 4 negatives each, as RecBole's DMF counts it
POINTWISE_LOSSES = ("bce", "mse", "normalized_ce")


def positives_per_batch(batch_size: int, loss: str, negative_samples: int) -> int:
    """How many train interactions one batch holds, as RecBole counts `train_batch_size`.

    Pairwise losses pair each positive with its k negatives (batch_size // k positives);
    pointwise losses spend the batch on the positive and its k negatives (batch_size // (1 + k)).
    """
    k = max(int(negative_samples), 1)
    per = batch_size // (1 + k) if loss in POINTWISE_LOSSES else batch_size // k
    return max(per, 1)


class TrainBatches(IterableDataset):
    """Yields ready batches {"users": [B], "pos_items": [B], "neg_items": [B, k]} for one epoch."""

    def __init__(self, train: np.ndarray, n_items: int, batch_size: int, negative_samples: int = 1,
                 seed: int = 0) -> None:
        super().__init__()
        self.train = np.asarray(train, dtype=np.int64).reshape(-1, 2)
        self.batch_size = int(batch_size)
        self.negative_samples = max(int(negative_samples), 1)
        self.rng = np.random.default_rng(seed)
        self.sampler = UniformNegativeSampler(self.train, n_items, self.rng)

    def __len__(self) -> int:
        return -(-len(self.train) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self.rng.permutation(len(self.train))
        users = torch.from_numpy(self.train[order, 0])
        pos_items = torch.from_numpy(self.train[order, 1])
        neg_items = torch.from_numpy(self.sampler.sample(self.train[order, 0], self.negative_samples))
        for start in range(0, len(order), self.batch_size):
            end = start + self.batch_size
            yield {"users": users[start:end], "pos_items": pos_items[start:end],
                   "neg_items": neg_items[start:end]}


def train_dataloader(train: np.ndarray, n_items: int, batch_size: int, loss: str,
                     negative_samples: int = 1, seed: int = 0) -> DataLoader:
    """A DataLoader over pre-built batches (batch_size=None: the dataset already batches)."""
    per_batch = positives_per_batch(batch_size, loss, negative_samples)
    return batch_loader(TrainBatches(train, n_items, per_batch, negative_samples, seed))


class UserBatches(IterableDataset):
    """ENMF's user-based batches (the `user_batches` regime): each epoch the users with a train item, shuffled,
    `batch_size` users a batch, each with its whole train row. A batch is {"users": [N], "pos_items": [N]} (its N
    train pairs, user by user), "row_users": [U] (its users) and "row_index": [N] (each pair's user's position in
    row_users): the pair keys the top-k gates read, and the users each counted once for the missing data."""

    def __init__(self, matrix: sp.csr_matrix, batch_size: int, seed: int = 0) -> None:
        super().__init__()
        self.indptr = np.asarray(matrix.indptr, dtype=np.int64)
        self.items = np.asarray(matrix.indices, dtype=np.int64)
        self.row_users = np.flatnonzero(np.diff(self.indptr))  # a user with no train item has no row to learn from
        self.batch_size = max(int(batch_size), 1)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.row_users) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self.row_users[self.rng.permutation(len(self.row_users))]
        for start in range(0, len(order), self.batch_size):
            yield self.batch(order[start:start + self.batch_size])

    def batch(self, users: np.ndarray) -> Batch:
        starts, lengths = self.indptr[users], self.indptr[users + 1] - self.indptr[users]
        row_index = np.repeat(np.arange(len(users)), lengths)
        offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return {"users": torch.from_numpy(users[row_index]),
                "pos_items": torch.from_numpy(self.items[starts[row_index] + offsets]),
                "row_users": torch.from_numpy(users), "row_index": torch.from_numpy(row_index)}


def user_batch_dataloader(matrix: sp.csr_matrix, batch_size: int, seed: int = 0) -> DataLoader:
    """A DataLoader over ENMF's user-based batches of `batch_size` users (`matrix`: the binary train matrix)."""
    return batch_loader(UserBatches(matrix, batch_size, seed))


def process_rank() -> tuple[int, int]:
    """(rank, world size) of this training process: (0, 1) unless torch.distributed runs (Lightning's DDP)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class RankShard(IterableDataset):
    """One rank's share of an epoch's batches under DDP.

    Every rank builds the same epoch (same seed, same order, same negatives) and keeps every world-th batch.
    Each rank must take the same number of steps (DDP synchronises every backward), so the last
    len % world batches of an epoch are left out. With one process this is the epoch unchanged.
    """

    def __init__(self, batches: IterableDataset, rank: Callable[[], tuple[int, int]] = process_rank) -> None:
        super().__init__()
        self.batches = batches
        self.rank = rank

    def __len__(self) -> int:
        _, world = self.rank()
        return len(self.batches) // world if isinstance(self.batches, Sized) else 0

    def __iter__(self) -> Iterator[Batch]:
        rank, world = self.rank()
        if world == 1:
            return iter(self.batches)
        return itertools.islice(self.batches, rank, world * len(self), world)


def batch_loader(batches: IterableDataset) -> DataLoader:
    """A DataLoader over a dataset that batches itself (batch_size=None), sharded across DDP ranks."""
    return DataLoader(RankShard(batches), batch_size=None, num_workers=0)


def evaluation_trigger() -> DataLoader:
    """A one-step loader: Lightning runs the validation loop, the module ranks all users itself."""
    return DataLoader([torch.zeros(1)], batch_size=None)
