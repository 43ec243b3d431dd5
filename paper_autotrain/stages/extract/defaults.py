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
from typing import Any

import yaml

from paper_autotrain.errors import UserError
from paper_autotrain.library import Base, BlockRule, load_library
from paper_autotrain.schemas import CANONICAL_HYPERPARAMETERS, Block, HyperParameter, MethodSpec

log = logging.getLogger(__name__)

DEFAULTS_FILE = Path(__file__).with_name("family_defaults.yaml")


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
    """The family's defaults, then each block's (they win: a block knows its own needs), the learning rate by
    the optimizer."""
    base = load_library().base_for(spec.family)
    needed = dict(base.defaults.get(spec.family, {}))
    for rule in block_rules(spec, base):
        needed.update(block_defaults(rule))
    optimizer = spec.hp("optimizer", needed.get("optimizer"))
    by_optimizer = {**load_defaults()["learning_rate_by_optimizer"], **base.learning_rate_by_optimizer}
    if "learning_rate" in needed and str(optimizer).lower() in by_optimizer:
        needed["learning_rate"] = by_optimizer[str(optimizer).lower()]
    return needed


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
            unclear.append(f"{key} not stated in the paper; using {source}")
    return spec.model_copy(update={"hyperparameters": hyperparameters, "unclear": unclear})


def apply_overrides(spec: MethodSpec, overrides: Mapping[str, Any], keep_stated: bool = False) -> MethodSpec:
    """User values win over the paper and the defaults (source: user).

    Besides the canonical keys, a spec's own keys (e.g. an autoencoder's total_anneal_steps) may be set.
    `keep_stated` (a hyperparameter search over what the paper leaves open): a value the paper states stays, the
    override is dropped and logged.
    """
    known = [*CANONICAL_HYPERPARAMETERS, *sorted((set(spec.hyperparameters) | set(needed_defaults(spec)))
                                                 - set(CANONICAL_HYPERPARAMETERS))]
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
