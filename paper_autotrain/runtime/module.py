"""The base LightningModule every generated top-k model subclasses.

The generated subclass fills a small contract:

- ``encode()`` -> whatever the scoring needs computed once per step (e.g. propagated tables);
- ``batch_state(users, items)`` -> (state, user index, item index) a training step scores with (optional: the
  whole ``encode()`` by default);
- ``score_with(state, users, items)`` -> scores of broadcastable user/item index tensors;
- ``full_sort_with(state, users)`` -> [B, n_items] (optional: a generic pairwise version exists; one that does a
  pair's work for every item states ``candidate_pair_cost``, and sampled ranking then scores few candidates alone
  through ``score_with``, as it does for the generic version);
- ``loss(batch)`` -> the training loss of one batch from :mod:`paper_autotrain.runtime.data`;
- ``configure_optimizers()``.

This class owns the rest: the training step's logging and validation/test by full ranking with
the project's single evaluator, so generated models are scored exactly like the baselines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch

from paper_autotrain.data.evaluator import EvalResult, full_sort_evaluate
from paper_autotrain.data.split import SplitData
from paper_autotrain.runtime.phases import EvaluatedPhases

MONITOR = "valid/ndcg@10"
# User-item pairs per chunk of a pairwise full sort. On CPU the [chunk, n_items, width] intermediates should stay
# near the cache size: at 2^15 pairs NeuMF's full sort (MLP 128-64) ran 1.9x faster than at 2^18 on one thread.
# On a GPU, larger chunks keep the device busy.
PAIRS_PER_CHUNK = {"cpu": 1 << 15, "cuda": 1 << 20}


class TopKModule(EvaluatedPhases, L.LightningModule):
    """Top-k recommender scored by full ranking over all items (train items masked)."""

    monitor = MONITOR  # the valid metric early stopping and checkpointing follow

    def __init__(self, split: SplitData, *, learning_rate: float = 1e-3, l2_reg: float = 0.0,
                 negative_samples: int = 1, optimizer: str = "adam",
                 optimizer_settings: Mapping[str, float] | None = None, batch_size: int = 2048,
                 eval_batch_size: int = 1024, ks: Sequence[int] = (10, 20)) -> None:
        super().__init__()
        self.split = split
        self.n_users = int(split.n_users)
        self.n_items = int(split.n_items)
        self.learning_rate = float(learning_rate)
        self.l2_reg = float(l2_reg)
        self.negative_samples = int(negative_samples)
        self.optimizer_name = str(optimizer)
        self.optimizer_settings = dict(optimizer_settings or {})  # the paper's own (RMSProp's decay)
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size)
        self.ks = tuple(sorted({int(k) for k in ks} | {10}))  # @10 is always there: MONITOR needs it
        self.last_results: dict[str, EvalResult] = {}
        self._scoring_state: Any = None
        self._has_scoring_state = False

    # --- the contract generated models fill -------------------------------------------------------

    def encode(self) -> Any:
        """What scoring needs, computed once per training step or per evaluation."""
        return None

    def batch_state(self, users: torch.Tensor, items: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """A training batch's state and the batch's user and item indices into it: here the whole encode() and the
        ids themselves; a model whose block computes its state for the batch's rows alone overrides it (the same
        values for those rows)."""
        return self.encode(), users, items

    def score_with(self, state: Any, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def full_sort_with(self, state: Any, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for each user, by scoring user-item pairs in chunks."""
        items = torch.arange(self.n_items, device=users.device)
        chunks = [self.score_with(state, part.unsqueeze(1), items.unsqueeze(0))
                  for part in self.user_chunks(users)]
        return torch.cat(chunks)

    def user_chunks(self, users: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Users in groups small enough that [group, n_items, d] intermediates stay bounded."""
        pairs = PAIRS_PER_CHUNK.get(users.device.type, PAIRS_PER_CHUNK["cpu"])
        return users.split(max(1, pairs // max(self.n_items, 1)))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    # --- scoring API -----------------------------------------------------------------------------

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of (user, item) pairs (shapes broadcast)."""
        return self.score_with(self.encode(), users, items)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.score(users, items)

    def full_sort_scores(self, users: torch.Tensor) -> torch.Tensor:
        """[B, n_items] scores; reuses the state encoded once for the current evaluation."""
        state = self._scoring_state if self._has_scoring_state else self.encode()
        return self.full_sort_with(state, users.to(self.device))

    def candidate_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, C] scores of each user's candidate items [B, C] (sampled ranking), through score_with in chunks of
        about PAIRS_PER_CHUNK pairs; the state encoded once for the current evaluation is reused."""
        state = self._scoring_state if self._has_scoring_state else self.encode()
        users, items = users.to(self.device), items.to(self.device)
        pairs = PAIRS_PER_CHUNK.get(users.device.type, PAIRS_PER_CHUNK["cpu"])
        step = max(1, pairs // max(items.shape[1], 1))
        return torch.cat([self.score_with(state, part.unsqueeze(1), columns)
                          for part, columns in zip(users.split(step), items.split(step), strict=True)])

    def pair_cost(self) -> float:
        """candidate_pair_cost; 1 for the generic full sort (the same score_with work a pair either way)."""
        return 1.0 if type(self).full_sort_with is TopKModule.full_sort_with else self.candidate_pair_cost

    # --- training and evaluation -----------------------------------------------------------------

    def evaluate(self, phase: str) -> EvalResult:
        """Full-sort evaluation of `phase` ("valid" or "test") with the project's evaluator."""
        with self.eval_mode():
            try:
                self._scoring_state = self.encode()
                self._has_scoring_state = True
                result = full_sort_evaluate(self.full_sort_scores, self.split, phase, ks=self.ks,
                                            batch_size=self.eval_batch_size, device=self.device,
                                            candidates=self.candidates, candidate_score_fn=self.candidate_scores,
                                            candidate_pair_cost=self.pair_cost())
            finally:
                self._scoring_state = None
                self._has_scoring_state = False
        self.last_results[phase] = result
        return result
