"""Extract: read a PaperDoc into a MethodSpec (the IR every later stage builds from).

`run(doc, cfg)` picks the extractor by `cfg["name"]`, fills what the paper leaves open from the
family defaults (source: default), applies `cfg["hparams"]` overrides (source: user) and keeps the
architecture's block parameters consistent with the final hyperparameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import MethodSpec, PaperDoc

from .defaults import apply_overrides, fill_defaults, sync_blocks
from .rules import extract as extract_with_rules

EXTRACTORS: dict[str, Callable[[PaperDoc], MethodSpec]] = {"rules": extract_with_rules}


def run(doc: PaperDoc, cfg: Mapping) -> MethodSpec:
    name = str(cfg.get("name", "rules"))
    if name not in EXTRACTORS:
        raise UserError(f"unknown extractor {name!r}; choose one of: {', '.join(sorted(EXTRACTORS))}")
    spec = EXTRACTORS[name](doc)
    spec = apply_overrides(spec, cfg.get("hparams") or {})
    spec = fill_defaults(spec)  # after the overrides: a default may depend on them (learning rate on optimizer)
    return sync_blocks(spec)


__all__ = ["run"]
