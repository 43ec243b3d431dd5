"""The RecBole class of the paper's own model (`spec.reference`), with the spec's hyperparameters mapped.

The reference is the paper's model, never what the rendered blocks happen to resemble: a spec read from a paper
names it (`reference`, from the model's name or the paper's title). When the blocks build that very class, the
mapping its data regime names (regimes.py `reference_mapping`: `reference(spec) -> (model, overrides, notes)`)
maps every hyperparameter, notes naming each stated value RecBole's class has no place for; otherwise (an
approximation) the class is trained with the settings every class reads, and a note says so. A spec written by
hand without a fidelity inventory claims no paper: its reference is the class its blocks make.
"""

from __future__ import annotations

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.regimes import family_training_regime, resolve
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.baselines.references.common import Reference, SpecMapping


def reference_with_notes(spec: MethodSpec) -> Reference | None:
    """The RecBole class of the paper's model, its config overrides, and what was not mapped (None: no class)."""
    built = composition_class(spec.family, [b.block for b in spec.architecture], spec.trained_loss)
    target = built if spec.fidelity is None else spec.reference
    if target is None:
        return None
    if target == built:
        return resolve(family_training_regime(spec.family).reference_mapping)(spec)
    return paper_class(spec, target, built)


def paper_class(spec: MethodSpec, model: str, built: str | None) -> Reference:
    """RecBole's class of the paper's model when our blocks build something else: the shared settings only."""
    m = SpecMapping(spec)
    m.optimisation(negatives=family_training_regime(spec.family).negative_sampling)
    m.put("embedding_size", m.scalar("embedding_size", integral=True))
    ours = f"RecBole's {built}" if built else "no RecBole class"
    m.notes.append(f"our model is an approximation of {spec.display_name} (its blocks make {ours}); RecBole's "
                   f"{model} is the paper's model, trained with its own defaults beyond the learning rate, batch "
                   "size, optimiser and embedding size")
    return m.result(model)


def recbole_reference(spec: MethodSpec) -> tuple[str, dict] | None:
    """The RecBole model equivalent to the spec's architecture, with the spec's hyperparameters."""
    found = reference_with_notes(spec)
    return None if found is None else (found[0], found[1])
