"""Defaults for what a paper leaves open, user overrides, and block parameters that are not copies of them.

The defaults come from the block library (paper_autotrain.library): the family's (its scaffold's family.yaml) and
the blocks' (each param's `default` for the hyperparameter it reads). Only the learning rate by optimizer is this
stage's own (family_defaults.yaml).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, get_args

import yaml

from paper_autotrain.errors import UserError
from paper_autotrain.library import Base, BlockRule, load_library
from paper_autotrain.regimes import spec_regime
from paper_autotrain.schemas import (
    BLOCK_ONLY_HYPERPARAMETERS,
    CANONICAL_HYPERPARAMETERS,
    TRAINING_HYPERPARAMETERS,
    Block,
    Deviation,
    HyperParameter,
    Loss,
    MethodSpec,
)

log = logging.getLogger(__name__)

DEFAULTS_FILE = Path(__file__).with_name("family_defaults.yaml")
NEGATIVE_SAMPLES = "negative_samples"


@cache
def load_defaults() -> dict[str, Any]:
    return yaml.safe_load(DEFAULTS_FILE.read_text())


def needed_defaults(spec: MethodSpec) -> dict[str, Any]:
    """The hyperparameters training needs for this family and these blocks, with their default values."""
    return defaults_with_origin(spec)[0]


def defaults_with_origin(spec: MethodSpec) -> tuple[dict[str, Any], dict[str, tuple[Any, str]]]:
    """(every needed default, the ones derived from another hyperparameter with where they were read)."""
    needed = family_and_block_defaults(spec)
    derived = derived_defaults(spec, needed)
    return {**needed, **{key: value for key, (value, _) in derived.items()}}, derived


def family_and_block_defaults(spec: MethodSpec) -> dict[str, Any]:
    """The family's defaults, then each block's (they win: a block knows its own needs), the loss's own (BPR-max's
    regularisation weight), the learning rate by the optimizer."""
    base = load_library().base_for(spec.family)
    rules = block_rules(spec, base)
    needed = family_defaults(spec, base, rules)
    for rule in rules:
        needed.update(block_defaults(rule))
    needed.update((load_defaults().get("loss_defaults") or {}).get(spec.trained_loss, {}))
    optimizer = spec.hp("optimizer", needed.get("optimizer"))
    by_optimizer = {**load_defaults()["learning_rate_by_optimizer"], **base.learning_rate_by_optimizer}
    if "learning_rate" in needed and str(optimizer).lower() in by_optimizer:
        needed["learning_rate"] = by_optimizer[str(optimizer).lower()]
    return needed


def family_defaults(spec: MethodSpec, base: Base, rules: list[BlockRule]) -> dict[str, Any]:
    """The family's defaults less the block-only ones none of this spec's blocks reads (NARM's GRU reads
    gru_layers, not the family's n_layers: a default no part of the model uses is not listed as one), and less the
    ones nothing else reads (unread_hyperparameters: EASE's fit reads no learning rate). A custom part may read any
    of them: with one, all are kept."""
    defaults = dict(base.defaults.get(spec.family, {}))
    if any(block.block == "custom" for block in spec.architecture):
        return defaults
    read_here = {key for rule in rules for key in hyperparameters_read(rule)}
    unread = unread_hyperparameters(spec, base, rules)
    return {key: value for key, value in defaults.items()
            if (key not in BLOCK_ONLY_HYPERPARAMETERS or key in read_here) and key not in unread}


def unread_hyperparameters(spec: MethodSpec, base: Base, rules: list[BlockRule]) -> set[str]:
    """The training and family hyperparameters no part of this model reads: the training ones its regime does not
    read (Regime.training_hyperparameters: a fit reads none) unless a block does (iALS's sweeps read epochs, its
    lambda l2_reg); in a model fitted once every family default no block reads (its module reads none: EASE has no
    embeddings); negative_samples where nothing samples negatives (trains_without_negatives). None with a custom
    part (it may read any)."""
    if any(block.block == "custom" for block in spec.architecture):
        return set()
    found = spec_regime(spec)
    family = set(base.defaults.get(spec.family, {})) if found.fit else set()
    unread = (set(TRAINING_HYPERPARAMETERS) - set(found.training_hyperparameters)) | family
    unread -= {key for rule in rules for key in hyperparameters_read(rule)}
    return unread | ({NEGATIVE_SAMPLES} if trains_without_negatives(spec, rules) else set())


def trains_without_negatives(spec: MethodSpec, rules: list[BlockRule]) -> bool:
    """Whether the spec's loss is a block's own, trained on that block's batches with no sampled negatives (ENMF's
    whole-data loss on user batches); with another loss (a hand-edited BPR) the model samples them again."""
    return any(rule.trains_own_batches(spec.trained_loss) for rule in rules)


def hyperparameters_read(rule: BlockRule) -> set[str]:
    """Every hyperparameter a block reads: its params' own, the counts of its repeated lists (CosRec's n_layers
    blocks of hidden_size channels), the sources of its derived defaults, the others it names."""
    keys = set(rule.hyperparameter_defaults)
    for param in rule.params:
        source = param.default_from.hyperparameter if param.default_from else None
        keys.update(key for key in (param.hyperparameter, param.repeat, source) if key)
    return keys


def block_rules(spec: MethodSpec, base: Base) -> list[BlockRule]:
    return [base.blocks[block.block] for block in spec.architecture if block.block in base.blocks]


def block_defaults(rule: BlockRule) -> dict[str, Any]:
    """What a block needs: the hyperparameter each of its params reads, at the param's default (a repeated list's
    hyperparameter is left to the family), and the other hyperparameters it names."""
    linked = {param.hyperparameter: param.default for param in rule.params
              if param.hyperparameter is not None and param.repeat is None}
    return {**linked, **rule.hyperparameter_defaults}


def derived_defaults(spec: MethodSpec, needed: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    """Defaults a block reads from another hyperparameter (`default_from`: NeuMF's GMF width is the tower's last
    layer), from its final value (stated, overridden, or its default); each with where it was read."""
    derived = {}
    for rule in block_rules(spec, load_library().base_for(spec.family)):
        for param in rule.params:
            source = param.default_from
            values = spec.hp(source.hyperparameter, needed.get(source.hyperparameter)) if source else None
            if source is not None and isinstance(values, list) and -len(values) <= source.element < len(values):
                where = f"{source.hyperparameter}[{source.element}] (the {rule.name} block's default)"
                derived[param.hyperparameter] = (values[source.element], where)
    return derived


def fill_defaults(spec: MethodSpec) -> MethodSpec:
    hyperparameters = dict(spec.hyperparameters)
    unclear = list(spec.unclear)
    needed, derived = defaults_with_origin(spec)
    for key, value in needed.items():
        if key not in hyperparameters:
            hyperparameters[key] = HyperParameter(value=value, source="default", evidence=None)
            source = f"{derived[key][1]} = {value}" if key in derived else f"{spec.family} family default {value}"
            searched = any(note.startswith(f"{key}: the paper searches") for note in unclear)
            said = "searched without a stated choice (above)" if searched else "not stated in the paper"
            unclear.append(f"{key} {said}; using {source}")
    return spec.model_copy(update={"hyperparameters": hyperparameters, "unclear": unclear})


def apply_overrides(spec: MethodSpec, overrides: Mapping[str, Any], keep_stated: bool = False,
                    searching: bool = False) -> MethodSpec:
    """User values win over the paper and the defaults (source: user).

    Besides the canonical keys, a spec's own keys (e.g. an autoencoder's total_anneal_steps) may be set, and `loss`
    (with_loss: another loss than the paper's, e.g. RecBole's BPR beside a reference that cannot train the paper's).
    `keep_stated` (a hyperparameter search over what the paper leaves open): a value the paper states stays, the
    override is dropped and logged. `searching` (any hparams_search trial; a keep_stated search is one): a value no
    part of the model reads is dropped with a log line instead of refused.
    """
    overrides = dict(overrides)
    if LOSS_OVERRIDE in overrides:
        spec = with_loss(spec, str(overrides.pop(LOSS_OVERRIDE)))
    overrides = without_unread(spec, overrides, searching=searching or keep_stated)
    known = [*CANONICAL_HYPERPARAMETERS, *sorted((set(spec.hyperparameters) | set(needed_defaults(spec)))
                                                 - set(CANONICAL_HYPERPARAMETERS)), LOSS_OVERRIDE]
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise UserError(
            f"unknown hyperparameter(s) {', '.join(unknown)} in hparams; "
            f"choose from {', '.join(known)}"
        )
    hyperparameters = dict(spec.hyperparameters)
    for key, value in overrides.items():
        stated = hyperparameters.get(key)
        if keep_stated and stated is not None and stated.source == "paper":
            log.info("hparams.%s=%s not used: the paper states %s=%s (search.open_only)", key, value, key,
                     stated.value)
            continue
        hyperparameters[key] = HyperParameter(value=_plain(value), source="user", evidence=None)
    return spec.model_copy(update={"hyperparameters": hyperparameters})


def without_unread(spec: MethodSpec, overrides: dict[str, Any], searching: bool) -> dict[str, Any]:
    """The overrides less a training hyperparameter no part of the model reads (hparams.learning_rate for EASE,
    fitted once): refused with what the model does read, or, in a search sweeping every paper alike
    (hparams_search), dropped with a log line."""
    base = load_library().base_for(spec.family)
    every = unread_hyperparameters(spec, base, block_rules(spec, base))
    unread = sorted(set(overrides) & every)
    if not unread:
        return overrides
    own = sorted((set(spec.hyperparameters) | set(needed_defaults(spec))) - every) or ["none"]
    why = (f"{spec.display_name} is {regime_words(spec)}: nothing reads {', '.join(unread)} "
           f"(its own hyperparameters: {', '.join(own)})")
    if not searching:
        raise UserError(f"hparams.{unread[0]}: {why}; drop the override")
    log.info("hparams.%s not used: %s", ", hparams.".join(unread), why)
    return {key: value for key, value in overrides.items() if key not in unread}


def regime_words(spec: MethodSpec) -> str:
    """How the model trains, for a message: fitted once, or in its regime."""
    found = spec_regime(spec)
    how = "fitted once on the train split" if found.fit else "trained"
    return f"{how} (the {found.name} regime)"


LOSS_OVERRIDE = "loss"  # +hparams.loss=bpr: train another loss than the paper's (RecBole's, to compare like with like)


def with_loss(spec: MethodSpec, loss: str) -> MethodSpec:
    """The spec training `loss` instead of the one read from the paper; unclear and the fidelity deviations say so
    (the report then never calls it the paper's loss)."""
    known = get_args(Loss)
    if loss not in known:
        raise UserError(f"hparams.loss={loss!r} is not a loss; choose from {', '.join(known)}")
    if loss == spec.trained_loss:
        return spec
    said = f"loss: {loss} set by the user (hparams.loss); the loss read from the paper is {spec.trained_loss}"
    update: dict[str, Any] = {"unclear": [*spec.unclear, said]}
    if spec.fidelity is not None:
        deviation = Deviation(component="the paper's training loss", paper=f"loss: {spec.trained_loss}",
                              ours=f"{loss}, set by the user (hparams.loss)")
        update["fidelity"] = spec.fidelity.model_copy(update={"deviations": [*spec.fidelity.deviations, deviation]})
    return spec.with_trained_loss(loss).model_copy(update=update)


def _plain(value: Any) -> Any:
    """OmegaConf lists and dicts to plain Python, so the spec serialises as YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


def drop_copied_hyperparameters(spec: MethodSpec) -> MethodSpec:
    """Each value once: a block parameter that reads a hyperparameter (its manifest's `hyperparameter` link) is
    dropped from the block, so the hyperparameter (after defaults and overrides) is the one place it is set.

    Structural words (combine, activation, norm) and parameters no hyperparameter sets stay on the block.
    """
    base = load_library().base_for(spec.family)
    blocks = []
    for block in spec.architecture:
        rule = base.blocks.get(block.block)
        linked = {param.block_param for param in rule.params if param.hyperparameter} if rule else set()
        blocks.append(Block(block=block.block, **{k: v for k, v in block.params.items()
                                                  if k not in linked and v is not None}))
    return spec.model_copy(update={"architecture": blocks})
