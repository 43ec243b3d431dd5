"""Why a paper failed, in one of five classes, so that a nightly run says where to look.

`infrastructure` is the world's fault (network, out of memory, a sandbox killed for time); the other classes
name the part of the chain that could not do its job: reading the paper (`extraction`), writing and checking
the code (`generation`), training our model or the baselines (`training`); and `reproduction_gap` is a run
that finished but whose main metric falls short of the RecBole reference by more than the tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from paper_autotrain.errors import stage_of

INFRASTRUCTURE, EXTRACTION, GENERATION, TRAINING, REPRODUCTION_GAP = (
    "infrastructure", "extraction", "generation", "training", "reproduction_gap")
FAILURE_CLASSES = (INFRASTRUCTURE, EXTRACTION, GENERATION, TRAINING, REPRODUCTION_GAP)

STAGE_CLASS = {
    "fetch": INFRASTRUCTURE, "parse": EXTRACTION, "extract": EXTRACTION, "render": GENERATION,
    "validate": GENERATION, "train": TRAINING, "baselines": TRAINING, "compare": TRAINING,
}
# Exception types (anywhere in the cause chain) that mean the machine or the network let the run down.
INFRASTRUCTURE_TYPES = frozenset({
    "MemoryError", "OutOfMemoryError", "ConnectionError", "TimeoutError", "TimeoutExpired", "FetchError",
    "Retryable", "TransportError", "APIConnectionError", "APITimeoutError", "URLError", "gaierror",
})
# The one-line messages of the sandbox, the trainer and the LLM client for the same situations.
INFRASTRUCTURE_MARKERS = (
    "out of memory", "memory limit of", "cannot allocate memory", "timed out after", "wall-clock timeout",
    "cpu time limit", "cannot reach", "did not answer within", "connection refused", "network is unreachable",
    "temporary failure in name resolution",
)
# Metrics where a smaller value is the better one (every other metric we report grows with quality).
LOWER_IS_BETTER = frozenset({"logloss"})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_infrastructure(exc: BaseException) -> bool:
    """Network, memory and time-limit failures, recognised by type (cause chain included) or by message."""
    for err in _chain(exc):
        if any(cls.__name__ in INFRASTRUCTURE_TYPES for cls in type(err).__mro__):
            return True
        if any(marker in str(err).lower() for marker in INFRASTRUCTURE_MARKERS):
            return True
    return False


def is_local_document(source: str) -> bool:
    """A SOURCE that names a file or folder on this machine which is there."""
    text = source.strip()
    return not text.lower().startswith("arxiv:") and "://" not in text and Path(text).expanduser().exists()


def classify(exc: BaseException, source: str, stage: str | None = None) -> str:
    """The failure class of `exc`, raised in `stage` (default: the stage tagged on it) while running `source`.

    A fetch failure is infrastructure (the paper could not be obtained) except for a local document that is
    there but is not a readable paper: that is the reading side's problem (extraction). A failure before any
    stage ran (a missing local file, no GPU) is infrastructure too.
    """
    stage = stage or stage_of(exc)
    if is_infrastructure(exc):
        return INFRASTRUCTURE
    if stage == "fetch" and is_local_document(source):
        return EXTRACTION
    return STAGE_CLASS.get(stage or "", INFRASTRUCTURE)


def relative_change(new: float, old: float, metric: str) -> float | None:
    """(new - old) / |old|, signed so that negative always means worse; None when `old` is zero."""
    if not old:
        return None
    change = (new - old) / abs(old)
    return -change if metric.split("@")[0].lower() in LOWER_IS_BETTER else change


def reproduction_gap(ours: float | None, reference: float | None, metric: str, tolerance: float) -> str | None:
    """A one-line description when `ours` falls short of the RecBole `reference` by more than `tolerance`
    (relative); None when within tolerance or when either number is missing."""
    if ours is None or reference is None:
        return None
    change = relative_change(ours, reference, metric)
    if change is None or change >= -tolerance:
        return None
    return (f"{metric} {ours:.4f} is {-100 * change:.1f}% worse than the RecBole reference's {reference:.4f} "
            f"(tolerance {100 * tolerance:g}%)")
