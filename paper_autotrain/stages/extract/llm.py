"""The LLM extractor: the rules extractor first, then the LLM reads the paper with the rules' findings beside it.

A paper that fits in `chunk_chars` is sent whole (one call, a `PaperDraft`). A longer one is read section by
section: one call on the abstract and method pages (`MethodDraft`: name, family, loss, architecture, custom
parts) and one call per experiments chunk (`ExperimentDraft`: settings, datasets, metrics, reported numbers),
at most `max_sections` of them. Every answer is structured output validated by pydantic (the client re-asks
with the validation error). The drafts are then merged with the rules' spec by :mod:`.merge`, which checks
every quote against the paper text.

Prompt: templates/prompts/extract_spec.j2 (its `scope` variable says which draft is asked for).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel

from paper_autotrain.errors import UserError
from paper_autotrain.llm.client import LLMClient
from paper_autotrain.llm.prompts import render_prompt
from paper_autotrain.schemas import CANONICAL_HYPERPARAMETERS, MethodSpec, PaperDoc

from .drafts import DRAFTS, ExperimentDraft, MethodDraft
from .library import CUSTOM_BLOCK, TOPK_FAMILIES, library_by_family
from .merge import merge
from .quotes import PaperText
from .rules import extract as extract_with_rules
from .text import EXPERIMENT_HEADING, body_pages

log = logging.getLogger(__name__)

DEFAULT_CHUNK_CHARS = 24000
DEFAULT_MAX_SECTIONS = 4
PROMPT = "extract_spec"
PREFER = ("llm", "rules")
RULES_FIELDS = {
    "paper": ("model_name", "family", "task", "loss", "architecture", "custom", "hyperparameters", "datasets",
              "metrics", "reported", "baselines_in_paper"),
    "method": ("model_name", "family", "task", "loss", "architecture", "custom", "hyperparameters"),
    "experiments": ("hyperparameters", "datasets", "metrics", "reported", "baselines_in_paper"),
}


@dataclass(frozen=True)
class Chunk:
    scope: str  # "paper", "method" or "experiments"
    text: str
    part: int = 1
    parts: int = 1


@dataclass
class Plan:
    chunks: list[Chunk]
    notes: list[str] = field(default_factory=list)  # what the LLM did not read


def extract(doc: PaperDoc, cfg: Mapping[str, Any], client: LLMClient) -> MethodSpec:
    """A MethodSpec from the rules' reading corrected and completed by the LLM's, every quote checked."""
    prefer = str(cfg.get("prefer") or "llm")
    if prefer not in PREFER:
        raise UserError(f"extractor.prefer={prefer}: choose {' or '.join(PREFER)} (whose reading wins when both "
                        "quote the paper)")
    rules_spec = extract_with_rules(doc)
    plan = plan_chunks(doc, int(cfg.get("chunk_chars") or DEFAULT_CHUNK_CHARS),
                       int(cfg.get("max_sections") or DEFAULT_MAX_SECTIONS))
    method: MethodDraft | None = None
    experiments: list[ExperimentDraft] = []
    for chunk in plan.chunks:
        draft = ask(client, doc, chunk, rules_spec)
        if chunk.scope in ("paper", "method"):
            method = MethodDraft.model_validate(draft.model_dump(include=set(MethodDraft.model_fields)))
        if chunk.scope in ("paper", "experiments"):
            experiments.append(ExperimentDraft.model_validate(draft.model_dump(include=set(ExperimentDraft.model_fields))))
    log.info("extract: %d LLM call(s) on %s", len(plan.chunks), doc.meta.key)
    spec = merge(rules_spec, method, experiments, PaperText(doc), prefer=prefer)
    return spec.model_copy(update={"unclear": [*spec.unclear, *plan.notes]})


def ask(client: LLMClient, doc: PaperDoc, chunk: Chunk, rules_spec: MethodSpec) -> BaseModel:
    messages = render_prompt(
        PROMPT, scope=chunk.scope, part=chunk.part, parts=chunk.parts, title=doc.meta.title,
        paper_text=chunk.text, rules_yaml=rules_findings(rules_spec, chunk.scope),
        library=library_by_family(), slot_families=TOPK_FAMILIES, custom_block=CUSTOM_BLOCK,
        hyperparameters=CANONICAL_HYPERPARAMETERS,
    )
    return client.structured(f"extract.{chunk.scope}", messages, DRAFTS[chunk.scope])


def rules_findings(spec: MethodSpec, scope: str) -> str:
    """What the rules extractor found, as YAML for the prompt (only the fields this call is about)."""
    data = spec.model_dump(mode="json", include=set(RULES_FIELDS[scope]))
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110).strip()


# --- chunking ----------------------------------------------------------------------------------------

def plan_chunks(doc: PaperDoc, chunk_chars: int, max_sections: int) -> Plan:
    """The whole paper in one chunk when it fits; else its method part, then its experiments in chunks."""
    pages = [(number, f"=== {where} ===\n{text.strip()}") for number, text, where in body_pages(doc) if text.strip()]
    if sum(len(text) + 2 for _, text in pages) <= chunk_chars:
        return Plan([Chunk("paper", "\n\n".join(text for _, text in pages))])
    start = experiments_start(doc, [number for number, _ in pages])
    method_text = "\n\n".join(text for number, text in pages if number <= start)
    notes = []
    if len(method_text) > chunk_chars:
        notes.append(f"extract: the LLM read the first {chunk_chars} characters of the method pages (llm "
                     "extractor chunk_chars)")
    pieces = pack([text for number, text in pages if number >= start], chunk_chars)
    if len(pieces) > max_sections:
        notes.append(f"extract: the LLM read {max_sections} of {len(pieces)} chunks of the experiments "
                     "(extractor.max_sections); settings stated later were read by the rules only")
        pieces = pieces[:max_sections]
    chunks = [Chunk("method", method_text[:chunk_chars])]
    chunks += [Chunk("experiments", piece, i + 1, len(pieces)) for i, piece in enumerate(pieces)]
    return Plan(chunks, notes)


def experiments_start(doc: PaperDoc, numbers: list[int]) -> int:
    """The page (or section) where the experiments begin: a heading says so, else the middle of the paper."""
    for page in doc.pages:
        if page.label and EXPERIMENT_HEADING.search(page.label):
            return page.number
    for section in doc.sections:
        if EXPERIMENT_HEADING.search(section.title):
            return section.page
    return numbers[len(numbers) // 2] if numbers else 1


def pack(texts: list[str], limit: int) -> list[str]:
    """Consecutive texts joined into chunks of at most `limit` characters (a longer text is cut at spaces)."""
    chunks: list[str] = []
    current = ""
    for text in texts:
        for piece in cut(text, limit):
            if current and len(current) + 2 + len(piece) > limit:
                chunks.append(current)
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
    return [*chunks, current] if current else chunks


def cut(text: str, limit: int) -> list[str]:
    pieces = []
    while len(text) > limit:
        at = text.rfind(" ", 0, limit)
        at = at if at > limit // 2 else limit
        pieces.append(text[:at])
        text = text[at:].lstrip()
    return [*pieces, text] if text else pieces
