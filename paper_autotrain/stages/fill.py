"""The render stage's code fill-in loop (not a stage of its own: only render calls it).

For each custom part of a spec the LLM writes the two bodies of the part's fixed slot
(templates/slots/custom_part.py.j2: `__init__` and `forward`, signatures and tensor shapes fixed). Each draft
goes through the deterministic gates, in order, stopping at the first that fails:

1. the part alone (`gates.check_snippet`): it parses, imports only allowed modules, calls nothing forbidden;
2. the whole rendered model (`gates.static_gates`): the same on model.py, and config.yaml names its class;
3. in a sandboxed subprocess on the real split (`gates.dynamic_gates`): it builds, shapes are right on a tiny
   batch, the loss of one batch falls when overfitted, and the model never sees valid/test interactions.

Code is never run before the static gates passed. A failing gate's message goes back to the LLM
(templates/prompts/fill_repair.j2) for the next attempt, up to `attempts`; then the part is reported as failed
(StageError naming it) and never silently replaced. Every attempt and its gates go to fill_report.json.

TODO(candidates): k drafts per part, each trained on a short budget and ranked by the validation NDCG@10 of
the project's evaluator (never by the LLM's opinion). Today the first draft that passes every gate is kept.
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

from paper_autotrain import gates
from paper_autotrain.artifacts import atomic_write_text
from paper_autotrain.errors import StageError
from paper_autotrain.llm import BudgetExceeded, LLMClient, LLMError, render_prompt
from paper_autotrain.schemas import SplitInfo

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


def fill_parts(jobs: list[SlotJob], render_files: Callable[[dict[str, SlotFill]], dict[str, str]],
               fill_in: FillIn) -> tuple[dict[str, SlotFill], dict[str, Any]]:
    """Code for every part that passed every gate, and the report of all attempts; StageError otherwise."""
    if fill_in.attempts < 1:
        raise StageError(f"render: fill_attempts={fill_in.attempts} must be at least 1")
    report: dict[str, Any] = {"attempts_allowed": fill_in.attempts, "parts": []}
    fills: dict[str, SlotFill] = {}
    try:
        for job in jobs:
            entry: dict[str, Any] = {"part": job.part, "status": "failed", "attempts": []}
            report["parts"].append(entry)
            fills[job.part] = fill_one(job, fills, render_files, fill_in, entry["attempts"])
            entry["status"] = "ok"
    finally:
        report["llm"] = usage_of(fill_in.client)
        atomic_write_text(fill_in.report_path, json.dumps(report, indent=2) + "\n")
    return fills, report


def fill_one(job: SlotJob, done: Mapping[str, SlotFill], render_files: Callable[[dict[str, SlotFill]], dict[str, str]],
             fill_in: FillIn, attempts: list[dict[str, Any]]) -> SlotFill:
    previous: SlotFill | None = None
    failure: gates.Gate | None = None
    for attempt in range(1, fill_in.attempts + 1):
        try:
            draft = ask(fill_in.client, job, attempt, previous, failure)
        except (LLMError, BudgetExceeded) as exc:
            attempts.append({"attempt": attempt, "error": str(exc)})
            raise StageError(f"render: custom part {job.part!r}: the LLM gave no code ({exc})") from None
        results = run_gates(job, draft, render_files({**done, job.part: draft}), fill_in)
        failure = gates.first_failure(results)
        attempts.append({"attempt": attempt, "init_body": draft.init_body, "forward_body": draft.forward_body,
                         "gates": results, "passed": failure is None})
        if failure is None:
            log.info("render: custom part %r passed every gate at attempt %d", job.part, attempt)
            return draft
        log.info("render: custom part %r attempt %d failed gate %s: %s", job.part, attempt, failure["name"],
                 failure["detail"])
        previous = draft
    assert failure is not None
    raise StageError(f"render: custom part {job.part!r} failed the gates {fill_in.attempts} time(s); last: gate "
                     f"'{failure['name']}' failed: {failure['detail']} (every attempt: fill_report.json)")


def ask(client: LLMClient, job: SlotJob, attempt: int, previous: SlotFill | None,
        failure: gates.Gate | None) -> SlotFill:
    if previous is None or failure is None:
        messages = render_prompt(FIRST_PROMPT, **job.prompt)
    else:
        messages = render_prompt(REPAIR_PROMPT, **job.prompt, attempt=attempt, previous=previous,
                                 gate={"name": failure["name"], "detail": failure["detail"]})
    return client.structured(PURPOSE, messages, SlotFill)


def run_gates(job: SlotJob, draft: SlotFill, files: Mapping[str, str], fill_in: FillIn) -> list[gates.Gate]:
    """The part alone, then the model's source, then (only when both passed) the sandboxed dynamic checks."""
    results = [{**gate, "scope": "part"} for gate in gates.check_snippet(job.class_source(draft))]
    if gates.first_failure(results) is not None:
        return results
    with tempfile.TemporaryDirectory(prefix="fill-") as folder:
        model_dir = Path(folder)
        for name in MODEL_FILES:
            (model_dir / name).write_text(files[name], encoding="utf-8")
        results += [{**gate, "scope": "model"} for gate in gates.static_gates(files["model.py"], model_dir)]
        if gates.first_failure(results) is None:  # only code that passed the static gates ever runs
            dynamic = gates.dynamic_gates(model_dir, fill_in.split, fill_in.gate_settings)
            results += [{**gate, "scope": "model"} for gate in dynamic]
    return results


def usage_of(client: LLMClient) -> dict[str, Any]:
    usage = client.usage
    return {"calls": client.calls, "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens, "cost_usd": usage.cost_usd}
