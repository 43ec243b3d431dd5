"""Loading a rendered model folder: its config.yaml (with --set overrides) and its model class."""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from paper_autotrain.regimes import base_modules, config_regime

MODEL_META_KEYS = ("name", "class_name", "loss")
FLOAT_PATTERN = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
OPTIM_KEYS = ("optimizer", "optimizer_settings", "learning_rate", "batch_size", "l2_reg", "negative_samples",
              "bpr_max_reg")


def load_config(model_dir: str | Path) -> dict[str, Any]:
    with open(Path(model_dir) / "config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    if not isinstance(config, dict) or "model" not in config:
        raise ValueError(f"{model_dir}/config.yaml has no 'model' section")
    return config


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of `config` with each "dotted.key=value" set; values are parsed as YAML scalars."""
    result = copy.deepcopy(dict(config))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"override {item!r} is not of the form key=value")
        *parents, leaf = key.strip().split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
        node[leaf] = parse_value(raw)
    return result


def parse_value(raw: str) -> Any:
    """A YAML scalar, with 1e-2-style floats read as numbers (YAML 1.1 would keep them strings)."""
    if not raw.strip():
        return None
    value = yaml.safe_load(raw)
    if isinstance(value, str) and FLOAT_PATTERN.fullmatch(value.strip()):
        return float(value)
    return value


def load_model_class(model_dir: str | Path, class_name: str) -> type:
    """Import model_dir/model.py by path (it is not on sys.path) and return `class_name`."""
    path = Path(model_dir).resolve() / "model.py"
    module_name = f"generated_model_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    bases = base_modules()  # every regime's runtime base class
    if not (isinstance(cls, type) and issubclass(cls, bases)):
        names = " or ".join(base.__name__ for base in bases)
        raise ImportError(f"{path} defines no {names} subclass named {class_name!r}")
    return cls


def model_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments: the block parameters of `model`, the `optim` values, evaluation knobs."""
    params = {k: v for k, v in config["model"].items() if k not in MODEL_META_KEYS}
    optim = {k: v for k, v in (config.get("optim") or {}).items() if k in OPTIM_KEYS}
    data = config.get("data") or {}
    evaluation = {k: data[k] for k in ("eval_batch_size", "ks") if k in data}
    default_loss = config_regime(config).default_loss
    if default_loss is not None:  # the base module applies the loss the paper names itself
        params["loss"] = config["model"].get("loss", default_loss)
    return {**params, **optim, **evaluation}


def build_model(model_dir: str | Path, config: Mapping[str, Any], split: Any) -> Any:
    cls = load_model_class(model_dir, str(config["model"]["class_name"]))
    return cls(split, **model_kwargs(config))
