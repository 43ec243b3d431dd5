"""Validation and test steps shared by every base module: rank with our evaluator, log the means."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch

from paper_autotrain.data.candidates import SampledCandidates
from paper_autotrain.data.evaluator import EvalResult


class EvaluatedPhases:
    """Mixin for a LightningModule whose `evaluate(phase)` scores a whole phase at once."""

    candidates: SampledCandidates | None = None
    """the run's sampled candidates (eval.ranking=sampled-N, set by the worker); None: full ranking"""
    candidate_pair_cost: float = math.inf
    """under sampled ranking, what scoring one candidate pair alone (the model's candidate_scores) costs in pairs of
    its full sort (whose work for a user is n_items pairs): a batch's candidates are scored alone when its most
    candidates a user times this is under n_items, else by the full sort then kept (the same values either way).
    A block whose full sort does a pair's work for every pair states its measured ratio (CMN's memory hops 2,
    ConvNCF's convolutions 2, NeuMF's towers 4; docs/measurements.md, "Sampled ranking scores only the
    candidates"); the generic pairwise full sort is 1. Unstated (inf): the full sort always, as for a matrix
    product of user and item vectors (the dot-product scorers, SASRec's state against the item table: 25-37 on
    ML-100K at d 64, where one BLAS product over every item beats gathering the candidates' rows), or NAIS's full
    sort grouped by item pairs (about 70)"""

    def pair_cost(self) -> float:
        """candidate_pair_cost, which a base class may set for its generic full sort."""
        return self.candidate_pair_cost

    def evaluate(self, phase: str) -> EvalResult:
        raise NotImplementedError

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        # no self.log here: it cost ~15% of a small model's step; EpochHistory logs the epoch's mean loss
        return self.loss(batch)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """On CPU the batch is already where it must be: skip Lightning's walk over the collection."""
        if device.type == "cpu":
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)  # type: ignore[misc]

    @contextlib.contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Evaluation mode without gradients, and the previous mode back afterwards."""
        was_training = self.training  # type: ignore[attr-defined]
        self.eval()  # type: ignore[attr-defined]
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)  # type: ignore[attr-defined]

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._log_phase("valid")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._log_phase("test")

    def _log_phase(self, phase: str) -> None:
        result = self.evaluate(phase)
        self.log_dict({f"{phase}/{name}": value for name, value in result.mean.items()},  # type: ignore[attr-defined]
                      on_step=False, on_epoch=True, batch_size=1)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())  # type: ignore[attr-defined]
