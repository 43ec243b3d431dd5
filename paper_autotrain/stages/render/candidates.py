"""Ranking the LLM's drafts of a custom part by what they do on the data, never by what the LLM says of them.

The fill-in (:mod:`paper_autotrain.stages.render.fill`) may ask for several drafts of each custom part
(`extractor.candidates`). Every draft that passed all the gates is trained here on a short budget
(`extractor.candidate_epochs`) by the project's own training entry point, ``python -m
paper_autotrain.worker.train``, in a sandboxed subprocess like any generated code, and scored on the
VALID split by the project's evaluator. The test split is never looked at: the draft with the best
validation metric is the one rendered.
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from paper_autotrain.errors import UserError
from paper_autotrain.sandbox.process import SandboxLimits, run_sandboxed
from paper_autotrain.schemas import RunResult, SplitInfo

log = logging.getLogger(__name__)

TRAIN_MODULE = "paper_autotrain.worker.train"


@dataclass(frozen=True)
class CandidateSettings:
    """How many drafts of each custom part are written, and how the ones that pass the gates are ranked."""

    count: int = 1
    """extractor.candidates: drafts per custom part. 1 keeps the first draft that passes every gate, untrained."""
    epochs: int = 5
    """extractor.candidate_epochs: the short training budget of each draft, in epochs (no early stop before it)."""
    metric: str = "ndcg@10"
    """eval.main_metric: the validation metric of our evaluator the drafts are ranked by (higher is better)."""
    timeout_s: float = 900.0
    """extractor.candidate_timeout_s: the wall clock of one draft's short training."""
    accelerator: str = "cpu"
    """trainer.accelerator: where the drafts train, on one device."""
    memory_mb: int = 16384
    """trainer.memory_mb: the address-space cap of a CPU training subprocess (0: none)."""

    @classmethod
    def from_config(cls, extractor: Mapping[str, Any], trainer: Mapping[str, Any] | None = None,
                    evaluation: Mapping[str, Any] | None = None) -> CandidateSettings:
        """From the extractor, trainer and eval sections; a bad value is a one-line UserError."""
        trainer, evaluation = dict(trainer or {}), dict(evaluation or {})
        defaults = cls()
        try:
            settings = cls(count=int(extractor.get("candidates") or defaults.count),
                           epochs=int(extractor.get("candidate_epochs") or defaults.epochs),
                           metric=str(evaluation.get("main_metric") or defaults.metric).lower(),
                           timeout_s=float(extractor.get("candidate_timeout_s") or defaults.timeout_s),
                           accelerator=str(trainer.get("accelerator") or defaults.accelerator),
                           memory_mb=int(trainer.get("memory_mb", defaults.memory_mb) or 0))
        except (TypeError, ValueError) as exc:
            raise UserError(f"extractor.candidates and candidate_epochs must be numbers ({exc})") from None
        if settings.count < 1 or settings.epochs < 1 or settings.timeout_s <= 0:
            raise UserError(f"extractor.candidates={settings.count} and extractor.candidate_epochs={settings.epochs} "
                            "must be at least 1, extractor.candidate_timeout_s positive")
        return settings

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_command(model_dir: Path, split: SplitInfo, out_dir: Path, settings: CandidateSettings) -> list[str]:
    """The runtime's training entry point on a short budget: every epoch runs (patience = budget), one device."""
    overrides = {"max_epochs": settings.epochs, "patience": settings.epochs, "accelerator": settings.accelerator,
                 "devices": 1, "seed": 0, "csv_logger": "false"}
    command = [sys.executable, "-m", TRAIN_MODULE, "--model-dir", str(Path(model_dir).resolve()),
               "--split-dir", str(Path(split.path).resolve()), "--out", str(Path(out_dir).resolve())]
    for key, value in overrides.items():
        command += ["--set", f"trainer.{key}={value}"]
    return command


def score_candidate(model_dir: Path, split: SplitInfo, settings: CandidateSettings) -> dict[str, Any]:
    """Train one draft briefly in the sandbox and score it on the valid split.

    Returns {"value": the ranking metric, "valid": every valid metric, "epochs_run", "seconds"} or, when the run
    failed, {"value": None, "error": one line}. Never raises for what the draft's code does.
    """
    cpu_only = settings.accelerator.lower() == "cpu"
    limits = SandboxLimits(wall_s=settings.timeout_s, memory_mb=(settings.memory_mb or None) if cpu_only else None)
    with tempfile.TemporaryDirectory(prefix="candidate-") as folder:
        out = Path(folder)
        done = run_sandboxed(training_command(model_dir, split, out, settings), workdir=out, limits=limits)
        if not done.ok:
            return {"value": None, "error": f"short training failed: {done.one_line()}"}
        try:
            result = RunResult.model_validate_json((out / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            return {"value": None, "error": f"short training wrote no readable result.json ({type(exc).__name__})"}
    valid = {name: round(float(value), 6) for name, value in result.valid.items()}
    if settings.metric not in valid:
        return {"value": None, "error": f"the valid split has no {settings.metric} (has {', '.join(sorted(valid))})"}
    return {"value": valid[settings.metric], "valid": valid, "epochs_run": result.epochs_run,
            "seconds": round(done.seconds, 1)}


def best_candidate(scores: Sequence[Mapping[str, Any]]) -> int | None:
    """The index of the highest validation metric (the earliest draft on a tie); None when none was scored."""
    scored = [(index, float(score["value"])) for index, score in enumerate(scores)
              if score.get("value") is not None and math.isfinite(float(score["value"]))]
    if not scored:
        return None
    return max(scored, key=lambda pair: (pair[1], -pair[0]))[0]
