"""Runs grouped by model over seeds, and the files beside them (per-user test values, training history).

A row of the report is one model: the mean over its seeds, the sample standard deviation (ddof=1) when it
has more than one, and the seeds it ran with. The per-user values and the per-epoch histories (ours, and the
baselines' as their runner records them, in the same layout) are read from the train and baselines stages'
folders; a missing file is simply absent (the report then says what it lacks).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paper_autotrain.schemas import RunResult

RunKey = tuple[str, str, int]  # (role, model, seed)


def run_key(result: RunResult) -> RunKey:
    return (result.role, result.model, int(result.seed))


@dataclass
class ModelRow:
    """One model's ok runs, one per seed, ordered by seed."""

    runs: list[RunResult]

    @property
    def model(self) -> str:
        return self.runs[0].model

    @property
    def role(self) -> str:
        return self.runs[0].role

    @property
    def is_reference(self) -> bool:
        return bool(self.runs[0].config.get("reference"))

    @property
    def seeds(self) -> list[int]:
        return [int(r.seed) for r in self.runs]

    def values(self, metric: str) -> list[float]:
        return [r.test[metric] for r in self.runs if metric in r.test]

    def mean(self, metric: str) -> float | None:
        values = self.values(metric)
        return float(np.mean(values)) if values else None

    def std(self, metric: str) -> float | None:
        """Sample standard deviation over seeds; None with fewer than two."""
        values = self.values(metric)
        return float(np.std(values, ddof=1)) if len(values) > 1 else None

    def mean_of(self, attribute: str) -> float | None:
        values = [getattr(r, attribute) for r in self.runs if getattr(r, attribute) is not None]
        return float(np.mean(values)) if values else None


def group_by_model(results: Sequence[RunResult]) -> list[ModelRow]:
    """Ok runs grouped by (role, model) in first-seen order; failed runs are left out."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for result in results:
        if result.status == "ok":
            groups.setdefault((result.role, result.model), []).append(result)
    return [ModelRow(sorted(runs, key=lambda r: r.seed)) for runs in groups.values()]


# --- files beside the runs ------------------------------------------------------------------------------


@dataclass
class PerUser:
    """Test values per evaluated user, as our evaluator returns them (`ndcg@10` -> array, aligned with users)."""

    users: np.ndarray
    values: dict[str, np.ndarray]

    @classmethod
    def read(cls, path: Path) -> PerUser:
        with np.load(path) as data:
            users = np.asarray(data["users"])
            values = {name.replace("_at_", "@"): np.asarray(data[name], dtype=np.float64)
                      for name in data.files if name != "users"}
        return cls(users=users, values=values)


HISTORY_FIXED = ("epoch", "train_loss", "train_s", "eval_s")  # the other column is the monitored valid metric


@dataclass
class History:
    """A run's epochs from its history.csv: ours (paper_autotrain/worker/history.py) or a RecBole baseline's
    (stages/baselines/runner.py, same columns, epochs counted from 1 on both sides)."""

    monitor: str  # e.g. "valid_ndcg@10"
    epochs: list[int]
    train_loss: list[float]
    valid: list[float]

    @classmethod
    def read(cls, path: Path) -> History:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            monitor = next((f for f in reader.fieldnames or () if f not in HISTORY_FIXED), "valid")
            rows = list(reader)
        return cls(monitor=monitor, epochs=[int(float(r["epoch"])) for r in rows],
                   train_loss=[_number(r.get("train_loss")) for r in rows],
                   valid=[_number(r.get(monitor)) for r in rows])


def _number(text: str | None) -> float:
    try:
        value = float(text) if text not in (None, "") else math.nan
    except ValueError:
        value = math.nan
    return value


@dataclass
class RunFiles:
    """What the report reads beside the RunResults: per-user test values by run, our history by seed, the
    baselines' histories by run."""

    per_user: dict[RunKey, PerUser] = field(default_factory=dict)
    histories: dict[int, History] = field(default_factory=dict)
    baseline_histories: dict[RunKey, History] = field(default_factory=dict)

    @classmethod
    def read(cls, per_user: Mapping[RunKey, Path], histories: Mapping[int, Path],
             baseline_histories: Mapping[RunKey, Path] | None = None) -> RunFiles:
        """Read the files that exist; a missing one is left out."""
        return cls(per_user={key: PerUser.read(path) for key, path in per_user.items() if Path(path).is_file()},
                   histories={seed: History.read(path) for seed, path in histories.items() if Path(path).is_file()},
                   baseline_histories={key: History.read(path) for key, path in (baseline_histories or {}).items()
                                       if Path(path).is_file()})
