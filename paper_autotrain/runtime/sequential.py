"""The base LightningModule and batches for sequential (next-item) models.

A generated sequential model fills a small contract:

- ``encode_sequence(histories, lengths, users)`` -> [B, d]: one vector per left-aligned, zero-padded history
  (the user ids are there for models with a user embedding, such as Caser);
- ``item_table()`` -> [n_items + 1, d]: the item vectors scores are taken against (row 0 is padding);
- optionally ``encode_positions(histories, lengths, users)`` -> [B, L, d], the output at every position of a
  causal encoder (position t has read items 0..t). Such a model trains in one pass per window of a sequence with
  a loss at every position (config ``data.train_positions: windows``), as SASRec and GRU4Rec are trained in their
  papers, instead of one pass per prefix.

This class owns the rest: the loss as the paper states it (softmax cross-entropy over all items; BCE or BPR with
uniformly sampled negatives, one draw per target and position; GRU4Rec's TOP1 and BPR-max over in-batch negatives),
and validation/test by full ranking of the next item with the project's evaluator, exactly as RecBole's sequential
models are scored on the same sequences (or, with eval.ranking=sampled-N, among the run's sampled candidates).

In-batch negatives (top1, bpr_max) are as GRU4Rec samples them: the negatives of a target are the other targets of
the same mini-batch (so popular items are drawn more often, and a batch of B targets gives each about B - 1), except
those that are the same item as the target. GRU4Rec's batches are session-parallel; ours are the prefixes or
windows below, so the mini-batch the negatives come from is a different random set of targets.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, IterableDataset

from paper_autotrain.data.evaluator import EvalResult
from paper_autotrain.data.sequential import SequenceSplit, evaluate_next_item
from paper_autotrain.runtime.data import batch_loader
from paper_autotrain.runtime.lookup import lookup
from paper_autotrain.runtime.losses import bpr_loss, bpr_max_loss, hinge_loss, make_optimizer, top1_loss
from paper_autotrain.runtime.phases import EvaluatedPhases

SEQUENCE_LOSSES = ("ce", "bce", "bpr", "top1", "bpr_max", "hinge")
SAMPLED_LOSSES = ("bce", "bpr", "hinge")  # uniformly drawn negatives (optim.negative_samples per target)
IN_BATCH_LOSSES = ("top1", "bpr_max")  # the mini-batch's other targets are the negatives
Batch = dict[str, torch.Tensor]


class SequenceBatches(IterableDataset):
    """Every training position of the split, shuffled each epoch; negatives drawn for BCE."""

    def __init__(self, split: SequenceSplit, batch_size: int, negative_samples: int = 0, seed: int = 0) -> None:
        super().__init__()
        users, positions = split.examples("train")
        self.histories, self.lengths, self.targets = split.batch(users, positions)
        self.users = torch.from_numpy(users).long()
        self.n_items = int(split.n_items)
        self.batch_size = int(batch_size)
        self.negative_samples = int(negative_samples)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.targets) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = torch.from_numpy(self.rng.permutation(len(self.targets)))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            batch = {"histories": self.histories[rows], "lengths": self.lengths[rows], "targets": self.targets[rows],
                     "users": self.users[rows]}
            if self.negative_samples:
                batch["neg_items"] = draw_negatives(self.rng, batch["targets"], self.negative_samples, self.n_items)
            yield batch


def draw_negatives(rng: np.random.Generator, targets: torch.Tensor, k: int, n_items: int) -> torch.Tensor:
    """[*targets.shape, k] uniform items 1..n_items other than the target (redrawn where they collide, as RecBole
    does); padding targets (0) get negatives too, the loss ignores them."""
    shape = (*targets.shape, k)
    negatives = torch.from_numpy(rng.integers(1, n_items + 1, size=shape))
    clash = negatives == targets.unsqueeze(-1)
    while clash.any():
        negatives[clash] = torch.from_numpy(rng.integers(1, n_items + 1, size=int(clash.sum())))
        clash = negatives == targets.unsqueeze(-1)
    return negatives


class WindowBatches(SequenceBatches):
    """Training windows (SequenceSplit.train_windows), shuffled each epoch; a target at every position.

    A batch holds about `batch_size` targets, as a batch of prefixes does, so an epoch makes about as many
    optimiser steps over the same targets; only the encoder's work shrinks (one pass per window, not per target).
    Shuffling and batching are SequenceBatches', over windows instead of prefixes.
    """

    def __init__(self, split: SequenceSplit, batch_size: int, stride: int, negative_samples: int = 0,
                 seed: int = 0) -> None:
        IterableDataset.__init__(self)
        self.users, self.histories, self.lengths, self.targets = split.train_windows(stride)
        n_targets = int((self.targets > 0).sum())
        self.batch_size = max(1, round(int(batch_size) * len(self.targets) / max(n_targets, 1)))  # windows a batch
        self.n_items = int(split.n_items)
        self.negative_samples = int(negative_samples)
        self.rng = np.random.default_rng(seed)


TRAIN_POSITIONS = ("prefixes", "windows")


def training_batches(split: SequenceSplit, config: dict, batch_size: int | None = None,
                     seed: int = 0) -> SequenceBatches | WindowBatches:
    """The batches config.yaml asks for: `data.train_positions` (prefixes or windows, with `data.window_stride`,
    half the history length by default), negatives when the loss samples them."""
    data, optim = config.get("data") or {}, config.get("optim") or {}
    size = int(batch_size or optim.get("batch_size", 2048))
    loss = str(config["model"].get("loss", "ce"))
    negatives = int(optim.get("negative_samples", 1)) if loss in SAMPLED_LOSSES else 0
    positions = str(data.get("train_positions", "prefixes"))
    if positions not in TRAIN_POSITIONS:
        raise ValueError(f"data.train_positions must be one of {TRAIN_POSITIONS}, got {positions!r}")
    if positions == "prefixes":
        return SequenceBatches(split, size, negatives, seed)
    stride = int(data.get("window_stride") or max(1, split.max_seq_length // 2))
    return WindowBatches(split, size, stride, negatives, seed)


def sequence_dataloader(split: SequenceSplit, batch_size: int, loss: str, negative_samples: int = 1,
                        seed: int = 0, config: dict | None = None) -> DataLoader:
    config = config or {"model": {"loss": loss}, "optim": {"negative_samples": negative_samples}}
    return batch_loader(training_batches(split, config, batch_size, seed))


class SequentialModule(EvaluatedPhases, L.LightningModule):
    """Next-item recommender scored by full ranking over all items (padding excluded, history not masked)."""

    def __init__(self, split: SequenceSplit, *, loss: str = "ce", learning_rate: float = 1e-3, l2_reg: float = 0.0,
                 negative_samples: int = 1, optimizer: str = "adam",
                 optimizer_settings: Mapping[str, float] | None = None, batch_size: int = 2048,
                 bpr_max_reg: float = 1.0, eval_batch_size: int = 1024, ks: Sequence[int] = (10, 20)) -> None:
        super().__init__()
        if loss not in SEQUENCE_LOSSES:
            raise ValueError(f"sequential loss must be one of {SEQUENCE_LOSSES}, got {loss!r}")
        self.split = split
        self.n_items = int(split.n_items)
        self.max_seq_length = int(split.max_seq_length)
        self.loss_name = loss
        self.learning_rate = float(learning_rate)
        self.l2_reg = float(l2_reg)
        self.negative_samples = int(negative_samples)
        self.bpr_max_reg = float(bpr_max_reg)  # BPR-max's score regularisation weight (lambda)
        self.margin = 0.5  # hinge: the margin; a scorer holding the loss (AttRec's metric score) sets its own
        self.optimizer_name = str(optimizer)
        self.optimizer_settings = dict(optimizer_settings or {})  # the paper's own (RMSProp's decay)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.ks = tuple(sorted({int(k) for k in ks} | {10}))
        self.last_results: dict[str, EvalResult] = {}

    # --- the contract generated models fill -------------------------------------------------------

    def encode_sequence(self, histories: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def item_table(self) -> torch.Tensor:
        raise NotImplementedError

    def encode_positions(self, histories: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """[B, L, d]: a causal encoder's output at every position (models trained on windows define it)."""
        raise NotImplementedError(f"{type(self).__name__} has no causal per-position encoder; "
                                  "train it with data.train_positions=prefixes")

    # --- scoring, loss, evaluation -----------------------------------------------------------------

    def full_sort_scores(self, histories: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """[B, n_items + 1] scores of every item as the next one."""
        return self.score_items(self.encode_sequence(histories, lengths, users), self.item_table())

    def candidate_scores(self, histories: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor,
                         items: torch.Tensor) -> torch.Tensor:
        """[B, C] scores of each history's candidate items [B, C] (sampled ranking): full_sort_scores' values at
        those columns, the state against the candidates' rows of the item table alone."""
        states = self.encode_sequence(histories, lengths, users)
        return self.score_pairs(states, lookup(self.item_table(), items))

    def pair_cost(self) -> float:
        """candidate_pair_cost where the model scores through score_items; a model with its own full_sort_scores
        (BERT4Rec's bias) keeps it (inf)."""
        own = type(self).full_sort_scores is SequentialModule.full_sort_scores
        return self.candidate_pair_cost if own else math.inf

    def score_items(self, states: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """[N, d] states against [M, d] item vectors -> [N, M] scores: inner products (a scorer that is not one,
        such as a plain distance, overrides this and score_pairs)."""
        return states @ table.T

    def score_pairs(self, states: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """[N, d] states against [N, k, d] item vectors of their own -> [N, k] scores: inner products."""
        return (states.unsqueeze(1) * rows).sum(-1)

    def training_states(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(states [N, d], targets [N], negatives [N, k] or None) of the batch's training targets: one per
        prefix, or, for a batch of windows (targets [B, L]), one per position with a target."""
        histories, lengths, users, targets = batch["histories"], batch["lengths"], batch["users"], batch["targets"]
        negatives = batch.get("neg_items")
        if targets.dim() == 1:
            return self.encode_sequence(histories, lengths, users), targets, negatives
        keep = targets > 0  # padding and targets an earlier window trained on carry no loss
        states = self.encode_positions(histories, lengths, users)[keep]
        return states, targets[keep], None if negatives is None else negatives[keep]

    def loss(self, batch: Batch) -> torch.Tensor:
        seq, targets, negatives = self.training_states(batch)
        table = self.item_table()
        if self.loss_name == "ce":
            return F.cross_entropy(self.score_items(seq, table), targets)
        if self.loss_name in IN_BATCH_LOSSES:
            scores = self.score_items(seq, lookup(table, targets))  # [N, N]: every state against every batch target
            mask = targets.unsqueeze(0) != targets.unsqueeze(1)  # the other targets, not the row's own item
            if self.loss_name == "top1":
                return top1_loss(scores.diagonal(), scores, mask)
            return bpr_max_loss(scores.diagonal(), scores, self.bpr_max_reg, mask)
        pos = self.score_pairs(seq, lookup(table, targets).unsqueeze(1)).squeeze(1)
        neg = self.score_pairs(seq, lookup(table, negatives))
        if self.loss_name == "bpr":  # RecBole's BPR for sequences: -log sigmoid(r_i - r_j), mean over the pairs
            return bpr_loss(pos, neg)
        if self.loss_name == "hinge":  # AttRec: [y_pos + margin - y_neg]_+ on distances y = -score
            return hinge_loss(pos, neg, self.margin)
        return -(F.logsigmoid(pos).mean() + F.logsigmoid(-neg).mean())

    def loss_floor(self, batch: Batch) -> float:
        """The least the loss can be on this batch (validate's overfit gate measures the fall towards it): TOP1's
        sigmoid(r_j^2) is at least 1/2 for every negative, so rows with a negative cannot go below 0.5; 0 else."""
        if self.loss_name != "top1":
            return 0.0
        targets = batch["targets"][batch["targets"] > 0]
        with_negatives = (targets.unsqueeze(0) != targets.unsqueeze(1)).any(-1)
        return 0.5 * float(with_negatives.float().mean()) if len(targets) else 0.0

    def evaluate(self, phase: str) -> EvalResult:
        with self.eval_mode():
            result = evaluate_next_item(self.full_sort_scores, self.split, phase, ks=self.ks,
                                        batch_size=self.eval_batch_size, device=self.device,
                                        candidates=self.candidates, candidate_score_fn=self.candidate_scores,
                                        candidate_pair_cost=self.pair_cost())
        self.last_results[phase] = result
        return result

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # sequential papers (and RecBole's models) put L2 in the optimiser as weight decay
        return make_optimizer(self.optimizer_name, self.parameters(), self.learning_rate, self.l2_reg,
                              self.optimizer_settings)
