"""The RecBole model that implements a spec's architecture, with the spec's hyperparameters mapped.

One module per family; each exposes `reference(spec) -> (model, overrides, notes) | None`, where notes
name every stated value RecBole's implementation has no place for. The reproduced model is compared
with "the same model, as RecBole implements it, with the same hyperparameters".
"""

from __future__ import annotations

from collections.abc import Callable

from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.references import autoencoder, context, sequential, topk
from paper_autotrain.stages.references.common import Reference

FAMILY_REFERENCES: dict[str, Callable[[MethodSpec], Reference | None]] = {
    "general": topk.reference,
    "graph": topk.reference,
    "sequential": sequential.reference,
    "autoencoder": autoencoder.reference,
    "context": context.reference,
}


def reference_with_notes(spec: MethodSpec) -> Reference | None:
    """The RecBole model for the spec's architecture, its config overrides, and what was not mapped."""
    mapper = FAMILY_REFERENCES.get(spec.family, topk.reference)
    return mapper(spec)


def recbole_reference(spec: MethodSpec) -> tuple[str, dict] | None:
    """The RecBole model equivalent to the spec's architecture, with the spec's hyperparameters."""
    found = reference_with_notes(spec)
    return None if found is None else (found[0], found[1])
