"""Extract: read a PaperDoc into a MethodSpec (the IR every later stage builds from).

`run(doc, cfg, client)` picks the extractor by `cfg["name"]` (rules, or llm with an LLM client), fills what
the paper leaves open from the family defaults (source: default), applies `cfg["hparams"]` overrides
(source: user) and keeps the architecture's block parameters consistent with the final hyperparameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import MethodSpec, PaperDoc

from .defaults import apply_overrides, drop_copied_hyperparameters, fill_defaults
from .rules import extract as extract_with_rules
from .topic import check_topic

if TYPE_CHECKING:
    from paper_autotrain.llm.client import LLMClient

EXTRACTORS = ("rules", "llm")
NO_BACKEND = ("extractor=llm needs an LLM backend: add llm=openai (with OPENAI_API_KEY set) or "
              "llm=compatible llm.base_url=http://HOST:PORT/v1 llm.model=NAME")


def run(doc: PaperDoc, cfg: Mapping, client: LLMClient | None = None) -> MethodSpec:
    name = str(cfg.get("name", "rules"))
    if name not in EXTRACTORS:
        raise UserError(f"unknown extractor {name!r}; choose one of: {', '.join(sorted(EXTRACTORS))}")
    if cfg.get("require_recsys", True):
        check_topic(doc)
    if name == "llm":
        if client is None:
            raise UserError(NO_BACKEND)
        from .llm import extract as extract_with_llm  # the LLM client library loads only when asked for

        spec = extract_with_llm(doc, cfg, client)
    else:
        spec = extract_with_rules(doc)
    spec = apply_overrides(spec, cfg.get("hparams") or {}, keep_stated=bool(cfg.get("hparams_open_only")),
                           searching=bool(cfg.get("hparams_search")))
    spec = fill_defaults(spec)  # after the overrides: a default may depend on them (learning rate on optimizer)
    # validated once more: every path (rules, the LLM merge, the overrides) writes the loss the vocabulary's way
    return MethodSpec.model_validate(drop_copied_hyperparameters(spec).model_dump())


__all__ = ["run"]
