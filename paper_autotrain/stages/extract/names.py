"""Canonical spellings of printed names."""

from __future__ import annotations

from .lexicon import CUTOFF_METRICS, METRIC_NAMES


def canonical_metric(name: str, cutoff: str | None) -> str:
    """'recall', '20' -> 'Recall@20'; 'Hit Ratio', '10' -> 'HR@10'; 'logloss' -> 'Logloss'."""
    base = METRIC_NAMES.get(name.lower(), name)
    if cutoff and base in CUTOFF_METRICS:
        return f"{base}@{cutoff}"
    return base
