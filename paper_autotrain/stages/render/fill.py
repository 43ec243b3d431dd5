"""The render stage's code fill-in loop (not a stage of its own: only render calls it).

For each custom part of a spec the LLM writes the two bodies of the part's class in its slot (`__init__` and
`forward`; signatures and tensor shapes fixed by the slot's manifest, templates/slots/<slot>.yaml, the same loop
for every slot of every family). Each draft goes through the deterministic gates, in order, stopping at the first
that fails:

1. the part alone (`gates.check_snippet`): it parses, imports only allowed modules, calls nothing forbidden;
2. the whole rendered model (`gates.static_gates`): the same on model.py, and config.yaml names its class;
3. in a sandboxed subprocess on the real split (`gates.dynamic_gates`): it builds, shapes are right on a tiny
   batch (the model's, and every call of the part against its slot's shapes: worker/slot_shapes.py), the loss of
   one batch falls when overfitted, and the model never sees valid/test interactions.

Code is never run before the static gates passed. A failing gate's message goes back to the LLM
(templates/prompts/fill_repair.j2) for the next attempt, up to `attempts`; then the part is reported as failed
(StageError naming it) and never silently replaced. Every attempt and its gates go to fill_report.json.

Candidates (`extractor.candidates: k`, default 1): the LLM writes k drafts of each part, each with its own
attempts and repairs. With k = 1 the first draft that passes every gate is kept, untrained. With k > 1 every
draft that passed the gates is trained on a short budget (`extractor.candidate_epochs`) and scored on the
VALID split by the project's evaluator (:mod:`.candidates`); the best one is rendered, never
the one the LLM prefers. fill_report.json records every draft, its gates and its valid metric.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import paper_autotrain.stages.render.candidates as candidates
from paper_autotrain.artifacts import atomic_write_text
from paper_autotrain.errors import StageError
from paper_autotrain.llm import BudgetExceeded, LLMClient, LLMError, render_prompt
from paper_autotrain.sandbox import gates
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages.render.candidates import CandidateSettings

log = logging.getLogger(__name__)

DEFAULT_FILL_ATTEMPTS = 3  # llm.fill_attempts when the llm group sets none
FIRST_PROMPT, REPAIR_PROMPT = "fill_part", "fill_repair"
PURPOSE = "fill"
MODEL_FILES = ("model.py", "config.yaml")


class SlotFill(BaseModel):
    """The LLM's answer: the two method bodies of one part's slot."""

    model_config = ConfigDict(extra="forbid")
    init_body: str = Field(description="the body of __init__ after super().__init__(), unindented Python")
    forward_body: str = Field(description="the body of forward, unindented Python, ending in a return")


@dataclass(frozen=True)
class SlotJob:
    """One custom part to fill, as render describes it."""

    part: str
    prompt: Mapping[str, Any]  # variables of the fill prompts (the part, the model around it, the slot)
    class_source: Callable[[SlotFill], str]  # the part's class with a draft in its slot


@dataclass
class FillIn:
    """What the fill-in needs besides the spec: an LLM, the split the dynamic gates run on, and limits."""

    client: LLMClient
    split: SplitInfo
    report_path: Path  # generated/<key>/fill_report.json, written even when a part fails
    attempts: int = DEFAULT_FILL_ATTEMPTS
    gate_settings: Mapping[str, Any] = field(default_factory=dict)  # the validate section (gates.DEFAULTS else)
    candidates: CandidateSettings = field(default_factory=CandidateSettings)  # drafts per part and their ranking


RenderFiles = Callable[[dict[str, SlotFill]], dict[str, str]]


class NoDraft(StageError):
    """The LLM gave no answer for a draft (an error or the budget): the drafts already gated can still be ranked."""


@dataclass
class Draft:
    """One candidate of a part: the draft that passed every gate, or the last gate it failed."""

    candidate: int
    fill: SlotFill | None = None
    failure: gates.Gate | None = None
    attempts: int = 0


def fill_parts(jobs: list[SlotJob], render_files: RenderFiles,
               fill_in: FillIn) -> tuple[dict[str, SlotFill], dict[str, Any]]:
    """Code for every part that passed every gate, and the report of all attempts; StageError otherwise."""
    if fill_in.attempts < 1:
        raise StageError(f"render: fill_attempts={fill_in.attempts} must be at least 1")
    report: dict[str, Any] = {"attempts_allowed": fill_in.attempts, "candidates_per_part": fill_in.candidates.count,
                              "parts": []}
    if fill_in.candidates.count > 1:
        report["ranking"] = {"split": "valid", "metric": fill_in.candidates.metric,
                             "epochs": fill_in.candidates.epochs}
    fills: dict[str, SlotFill] = {}
    try:
        for job in jobs:
            entry: dict[str, Any] = {"part": job.part, "status": "failed", "attempts": []}
            report["parts"].append(entry)
            fills[job.part] = fill_one(job, fills, render_files, fill_in, entry)
            entry["status"] = "ok"
    finally:
        report["llm"] = usage_of(fill_in.client)
        atomic_write_text(fill_in.report_path, json.dumps(report, indent=2) + "\n")
    return fills, report


def fill_one(job: SlotJob, done: Mapping[str, SlotFill], render_files: RenderFiles, fill_in: FillIn,
             entry: dict[str, Any]) -> SlotFill:
    """The part's code: its only surviving draft, or (k > 1) the survivor with the best validation metric."""
    drafts: list[Draft] = []
    for candidate in range(1, fill_in.candidates.count + 1):
        try:
            drafts.append(draft_until_it_passes(job, done, render_files, fill_in, candidate, entry["attempts"]))
        except NoDraft:
            if not any(draft.fill for draft in drafts):
                raise
            log.warning("render: custom part %r: the LLM gave no draft %d; ranking the drafts so far", job.part,
                        candidate)
            break
    survivors = [draft for draft in drafts if draft.fill is not None]
    if not survivors:
        failure = drafts[-1].failure
        assert failure is not None
        raise StageError(f"render: custom part {job.part!r} failed the gates {sum(d.attempts for d in drafts)} "
                         f"time(s); last: gate '{failure['name']}' failed: {failure['detail']} "
                         "(every attempt: fill_report.json)")
    if fill_in.candidates.count == 1:
        assert survivors[0].fill is not None
        return survivors[0].fill
    return best_by_validation(job, done, render_files, fill_in, drafts, entry)


def draft_until_it_passes(job: SlotJob, done: Mapping[str, SlotFill], render_files: RenderFiles, fill_in: FillIn,
                          candidate: int, attempts: list[dict[str, Any]]) -> Draft:
    """One candidate: a first draft, then repairs with the failing gate's message, up to `fill_in.attempts`."""
    outcome = Draft(candidate=candidate)
    previous: SlotFill | None = None
    for attempt in range(1, fill_in.attempts + 1):
        try:
            draft = ask(fill_in, job, attempt, previous, outcome.failure, candidate)
        except (LLMError, BudgetExceeded) as exc:
            attempts.append({"candidate": candidate, "attempt": attempt, "error": str(exc)})
            raise NoDraft(f"render: custom part {job.part!r}: the LLM gave no code ({exc})") from None
        results = run_gates(job, draft, render_files({**done, job.part: draft}), fill_in)
        outcome.failure, outcome.attempts = gates.first_failure(results), attempt
        attempts.append({"candidate": candidate, "attempt": attempt, "init_body": draft.init_body,
                         "forward_body": draft.forward_body, "gates": results, "passed": outcome.failure is None})
        if outcome.failure is None:
            log.info("render: custom part %r draft %d passed every gate at attempt %d", job.part, candidate, attempt)
            outcome.fill = draft
            return outcome
        log.info("render: custom part %r draft %d attempt %d failed gate %s: %s", job.part, candidate, attempt,
                 outcome.failure["name"], outcome.failure["detail"])
        previous = draft
    return outcome


def best_by_validation(job: SlotJob, done: Mapping[str, SlotFill], render_files: RenderFiles, fill_in: FillIn,
                       drafts: list[Draft], entry: dict[str, Any]) -> SlotFill:
    """Train every surviving draft briefly, score it on the valid split, keep the best (ties: the earlier)."""
    settings = fill_in.candidates
    records: list[dict[str, Any]] = []
    for draft in drafts:
        record: dict[str, Any] = {"candidate": draft.candidate, "passed_gates": draft.fill is not None}
        if draft.fill is None:
            assert draft.failure is not None
            record.update(failed_gate=draft.failure["name"], value=None)
        else:
            with tempfile.TemporaryDirectory(prefix="fill-candidate-") as folder:
                model_dir = write_model(render_files({**done, job.part: draft.fill}), Path(folder))
                record.update(candidates.score_candidate(model_dir, fill_in.split, settings))
            log.info("render: custom part %r draft %d: valid %s = %s", job.part, draft.candidate, settings.metric,
                     record["value"] if record.get("value") is not None else record.get("error"))
        records.append(record)
    entry["candidates"] = records
    best = candidates.best_candidate(records)
    if best is None:
        errors = "; ".join(f"draft {r['candidate']}: {r['error']}" for r in records if r.get("error"))
        raise StageError(f"render: custom part {job.part!r}: no draft that passed the gates finished its short "
                         f"training ({errors}) (every draft: fill_report.json)")
    entry["chosen"] = records[best]["candidate"]
    chosen = drafts[best].fill
    assert chosen is not None
    log.info("render: custom part %r: draft %d kept (valid %s %.4f)", job.part, entry["chosen"], settings.metric,
             records[best]["value"])
    return chosen


def ask(fill_in: FillIn, job: SlotJob, attempt: int, previous: SlotFill | None, failure: gates.Gate | None,
        candidate: int = 1) -> SlotFill:
    draft = {"candidate": candidate, "candidates": fill_in.candidates.count}  # tells k drafts apart (and the cache)
    if previous is None or failure is None:
        messages = render_prompt(FIRST_PROMPT, **job.prompt, **draft)
    else:
        messages = render_prompt(REPAIR_PROMPT, **job.prompt, **draft, attempt=attempt, previous=previous,
                                 gate={"name": failure["name"], "detail": failure["detail"]})
    return fill_in.client.structured(PURPOSE, messages, SlotFill)


def run_gates(job: SlotJob, draft: SlotFill, files: Mapping[str, str], fill_in: FillIn) -> list[gates.Gate]:
    """The part alone, then the model's source, then (only when both passed) the sandboxed dynamic checks."""
    results = [{**gate, "scope": "part"} for gate in gates.check_snippet(job.class_source(draft))]
    if gates.first_failure(results) is not None:
        return results
    with tempfile.TemporaryDirectory(prefix="fill-") as folder:
        model_dir = write_model(files, Path(folder))
        results += [{**gate, "scope": "model"} for gate in gates.static_gates(files["model.py"], model_dir)]
        if gates.first_failure(results) is None:  # only code that passed the static gates ever runs
            dynamic = gates.dynamic_gates(model_dir, fill_in.split, fill_in.gate_settings)
            results += [{**gate, "scope": "model"} for gate in dynamic]
    return results


def write_model(files: Mapping[str, str], folder: Path) -> Path:
    """model.py and config.yaml of a draft in `folder`, where the gates and the short training read them."""
    for name in MODEL_FILES:
        (folder / name).write_text(files[name], encoding="utf-8")
    return folder


def usage_of(client: LLMClient) -> dict[str, Any]:
    usage = client.usage
    return {"calls": client.calls, "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens, "cost_usd": usage.cost_usd}
