"""Family defaults for what a paper leaves open, user overrides, and block parameters kept in step."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import CANONICAL_HYPERPARAMETERS, Block, HyperParameter, MethodSpec

DEFAULTS_FILE = Path(__file__).with_name("family_defaults.yaml")


@cache
def load_defaults() -> dict[str, Any]:
    return yaml.safe_load(DEFAULTS_FILE.read_text())


def needed_defaults(spec: MethodSpec) -> dict[str, Any]:
    """The hyperparameters training needs for this family and these blocks, with their default values."""
    table = load_defaults()
    needed = dict(table["families"].get(spec.family, {}))
    for block in spec.architecture:
        needed.update(table["blocks"].get(block.block, {}))
    optimizer = spec.hp("optimizer", needed.get("optimizer"))
    by_optimizer = table.get("learning_rate_by_optimizer", {})
    if "learning_rate" in needed and str(optimizer).lower() in by_optimizer:
        needed["learning_rate"] = by_optimizer[str(optimizer).lower()]
    return needed


def fill_defaults(spec: MethodSpec) -> MethodSpec:
    hyperparameters = dict(spec.hyperparameters)
    unclear = list(spec.unclear)
    for key, value in needed_defaults(spec).items():
        if key not in hyperparameters:
            hyperparameters[key] = HyperParameter(value=value, source="default", evidence=None)
            unclear.append(f"{key} not stated in the paper; using {spec.family} family default {value}")
    return spec.model_copy(update={"hyperparameters": hyperparameters, "unclear": unclear})


def apply_overrides(spec: MethodSpec, overrides: Mapping[str, Any]) -> MethodSpec:
    """User values win over the paper and the defaults (source: user)."""
    unknown = sorted(set(overrides) - set(CANONICAL_HYPERPARAMETERS))
    if unknown:
        raise UserError(
            f"unknown hyperparameter(s) {', '.join(unknown)} in hparams; "
            f"choose from {', '.join(CANONICAL_HYPERPARAMETERS)}"
        )
    hyperparameters = dict(spec.hyperparameters)
    for key, value in overrides.items():
        hyperparameters[key] = HyperParameter(value=_plain(value), source="user", evidence=None)
    return spec.model_copy(update={"hyperparameters": hyperparameters})


def _plain(value: Any) -> Any:
    """OmegaConf lists and dicts to plain Python, so the spec serialises as YAML."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


def sync_blocks(spec: MethodSpec) -> MethodSpec:
    """Block parameters follow the final hyperparameters (after defaults and overrides)."""
    hp = spec.hp
    blocks = []
    for block in spec.architecture:
        params = dict(block.params)
        if block.block == "embedding":
            params["dim"] = hp("embedding_size")
        elif block.block == "light_propagation":
            params.update(layers=hp("n_layers"), combine=params.get("combine", "mean"))
        elif block.block == "gmf":
            layers = hp("mlp_layers")
            params["dim"] = layers[-1] if layers else hp("embedding_size")
        elif block.block == "mlp_tower":
            params.update(
                layers=list(hp("mlp_layers") or []),
                activation=params.get("activation", "relu"),
                dropout=float(hp("dropout", 0.0) or 0.0),
            )
        blocks.append(Block(block=block.block, **params))
    return spec.model_copy(update={"architecture": blocks})
