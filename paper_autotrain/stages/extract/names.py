"""Canonical spellings of printed names."""

from __future__ import annotations

import re

from .lexicon import CUTOFF_METRICS, METRIC_NAMES


def canonical_metric(name: str, cutoff: str | None) -> str:
    """'recall', '20' -> 'Recall@20'; 'Hit Ratio', '10' -> 'HR@10'; 'logloss' -> 'Logloss'; 'F1', 'top−5' ->
    'F1@top-5'."""
    base = METRIC_NAMES.get(name.lower(), name)
    if cutoff and base in CUTOFF_METRICS:
        cutoff = re.sub(r"(?i)top\s*[-−–]\s*", "top-", cutoff)  # "F1@top−5" as "F1@top-5"
        return f"{base}@{cutoff}"
    return base
