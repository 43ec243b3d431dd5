"""How metric names and numbers are printed, the same in every report format."""

from __future__ import annotations

DISPLAY = {"recall": "Recall", "ndcg": "NDCG", "hit": "Hit", "mrr": "MRR", "precision": "Precision", "auc": "AUC",
           "logloss": "LogLoss"}
NONE = "–"  # a value that does not exist (a failed or unrecorded one)


def display_metric(name: str) -> str:
    """`ndcg@10` -> `NDCG@10`."""
    base, _, k = name.partition("@")
    return f"{DISPLAY.get(base, base)}@{k}" if k else DISPLAY.get(base, base)


def fmt(value: float | None, digits: int = 4) -> str:
    return NONE if value is None else f"{value:.{digits}f}"
