"""Deterministic gates a rendered model must pass before it trains (the gates live in paper_autotrain.sandbox.gates).

Static gates (in process, on the source): it parses, imports only allowed modules, calls nothing
forbidden, and config.yaml names its class. Dynamic gates (in a sandboxed subprocess, through
:mod:`paper_autotrain.worker.probe`): it builds on the real split, shapes are right on a tiny batch, the
loss of one fixed batch falls when overfitted, and the model never sees validation or test interactions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from paper_autotrain.errors import StageError
from paper_autotrain.sandbox import gates
from paper_autotrain.sandbox.process import mentions_out_of_memory
from paper_autotrain.schemas import SplitInfo

log = logging.getLogger(__name__)

DEFAULTS = gates.DEFAULTS


def run(model_dir: Path, split: SplitInfo, cfg: Mapping) -> dict:
    """A JSON-able report of every gate; StageError (one line) naming the first gate that failed."""
    settings = {**DEFAULTS, **dict(cfg or {})}
    model_dir = Path(model_dir)
    source_path = model_dir / "model.py"
    if not source_path.exists():
        raise StageError(f"validate: {source_path} does not exist")
    results = gates.static_gates(source_path.read_text(encoding="utf-8"), model_dir)
    if gates.first_failure(results) is None:
        results += gates.dynamic_gates(model_dir, split, settings)
    failed = gates.first_failure(results)
    report = {"model_dir": str(model_dir), "split_id": split.split_id, "ok": failed is None, "gates": results}
    if failed is not None:
        raise StageError(f"validate: gate '{failed['name']}' failed: {failed['detail']}{memory_hint(failed)}")
    log.info("validate: %d gates passed for %s", len(results), model_dir)
    return report


def memory_hint(failed: Mapping) -> str:
    """What to change when the probe ran out of memory (the model's sizes, or the probe's limit)."""
    if not mentions_out_of_memory(str(failed.get("detail", ""))):
        return ""
    return " (out of memory in the gates' probe: lower the model's sizes, or raise validate.memory_mb)"
