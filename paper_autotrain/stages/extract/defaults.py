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
        needed.update(table.get("family_blocks", {}).get(spec.family, {}).get(block.block, {}))  # e.g. a CTR MLP
    optimizer = spec.hp("optimizer", needed.get("optimizer"))
    by_optimizer = {**table.get("learning_rate_by_optimizer", {}),
                    **table.get("family_learning_rate_by_optimizer", {}).get(spec.family, {})}
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
    """User values win over the paper and the defaults (source: user).

    Besides the canonical keys, a spec's own keys (e.g. an autoencoder's total_anneal_steps) may be set.
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
        elif block.block == "item_embedding":
            params["dim"] = hp("embedding_size")
        elif block.block == "self_attention_encoder":
            params.update(layers=hp("n_layers"), heads=hp("n_heads"), dropout=hp("dropout"))
            if hp("hidden_size") is not None:
                params["inner_size"] = hp("hidden_size")
        elif block.block == "field_embedding":
            params["dim"] = hp("embedding_size")
        elif block.block == "cross_network":
            params["layers"] = hp("n_layers")
        elif block.block == "gru_encoder":
            params.update(hidden_size=hp("hidden_size"), layers=hp("n_layers"), dropout=hp("dropout"))
        elif block.block == "caser_encoder":
            params.update(dropout=hp("dropout"), vertical_filters=hp("n_v"), horizontal_filters=hp("n_h"))
        elif block.block == "user_row_input":
            params["dropout"] = hp("dropout")
        elif block.block in ("variational_encoder", "denoising_encoder"):
            params.update(layers=encoder_layers(spec), latent=hp("embedding_size"))
            if block.block == "variational_encoder":
                params.update(total_anneal_steps=hp("total_anneal_steps"), anneal_cap=hp("anneal_cap"),
                              noise_std=hp("noise_std"))
        elif block.block == "cdae_encoder":
            params["latent"] = hp("embedding_size")
        blocks.append(Block(block=block.block, **{k: v for k, v in params.items() if v is not None}))
    return spec.model_copy(update={"architecture": blocks})


def encoder_layers(spec: MethodSpec) -> list[int] | None:
    """An autoencoder's hidden layers: n_layers (default 1) of hidden_size, as "I -> 600 -> K" reads.

    A stated n_layers of 0 (no hidden layer) keeps one: the renderer needs a non-empty list.
    """
    hidden, count = spec.hp("hidden_size"), spec.hp("n_layers")
    if not isinstance(hidden, int):
        return None
    return [hidden] * (count if isinstance(count, int) and count > 0 else 1)
