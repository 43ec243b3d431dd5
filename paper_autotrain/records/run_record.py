"""The pipeline's hook into the ledger: one RunRecorder per `pipeline.run`, fed by `pipeline.step`.

Recording never makes a run fail: a ledger error is logged as a warning and recording stops for that run.
A run that fails still gets its row, with its failure class. The one exception keeps "nothing half-written"
true: a run that fails on bad input (UserError) while there is no ledger yet leaves no ledger file behind.
Where the ledger exists at the start (always in a batch: the batch creates it), rows are written live, so
`ledger runs` shows a paper as `running` while it trains.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from paper_autotrain import __version__
from paper_autotrain.artifacts import ArtifactStore, hash_obj, hash_tree
from paper_autotrain.errors import UserError, stage_of
from paper_autotrain.llm.records import read_log
from paper_autotrain.paths import PACKAGE_DIR
from paper_autotrain.records.failures import INFRASTRUCTURE, REPRODUCTION_GAP, classify, reproduction_gap
from paper_autotrain.records.ledger import APPROXIMATION, Ledger, StageRow
from paper_autotrain.schemas import MethodSpec, RunResult
from paper_autotrain.sources.refs import paper_key, parse_source

log = logging.getLogger("paper_autotrain")

DEFAULT_GAP_TOLERANCE = 0.05
# Config sections that say where files go or how the run was typed, not what is computed: left out of the config
# hash (`command` restates the other settings as a command line).
NOT_HASHED = ("paths", "batch", "hydra", "command")


@functools.cache
def code_hash() -> str:
    """The package's code, templates and configs (all package data; once per process: the code does not change
    under a run)."""
    return hash_obj([__version__, hash_tree(PACKAGE_DIR)])


def config_hash(cfg: Mapping[str, Any]) -> str:
    return hash_obj(recorded_config(cfg))


def recorded_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of a run's config: everything its config hash covers."""
    return {k: v for k, v in cfg.items() if k not in NOT_HASHED}


def seeds_of(cfg: Mapping[str, Any]) -> list[int]:
    seeds = cfg.get("seeds")
    if isinstance(seeds, list | tuple) and seeds:
        return [int(s) for s in seeds]
    return [int(cfg.get("seed") or 0)]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def record_key(source: str) -> str:
    """The paper key (as the pipeline derives it), also for a SOURCE too broken to have one: its stem."""
    try:
        return paper_key(parse_source(source))
    except UserError:
        return Path(source).stem.lower() or source


def first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:500]


class RunRecorder:
    """Collects one run's stages and outcome and writes them to the ledger."""

    def __init__(self, ledger: Ledger, cfg: Mapping[str, Any], source: str, key: str, until_stage: str) -> None:
        self.ledger = ledger
        self.cfg = cfg
        self.source = source
        self.run_id = uuid.uuid4().hex
        self.started = datetime.now(UTC)
        self._clock = time.perf_counter()
        self.stages: list[StageRow] = []
        self.live = False
        self.broken = False
        batch = dict(cfg.get("batch") or {})
        self.gap_tolerance = float(batch.get("gap_tolerance", DEFAULT_GAP_TOLERANCE))
        self.start_fields: dict[str, Any] = {
            "paper_key": key, "source": source, "batch_id": batch.get("id"), "until_stage": until_stage,
            "started": self.started.isoformat(timespec="microseconds"), "status": "running",
        }

    @classmethod
    def begin(cls, results: Path, cfg: Mapping[str, Any], source: str, key: str, until_stage: str) -> RunRecorder:
        """A recorder for a run starting now; its row is written at once when the ledger already exists."""
        recorder = cls(Ledger.under(results), cfg, source, key, until_stage)
        recorder._guarded(recorder._fill_identity)
        if recorder.ledger.exists():
            recorder.live = recorder._write({})
        return recorder

    def _fill_identity(self) -> None:
        self.start_fields.update(config_hash=config_hash(self.cfg), code_hash=code_hash(),
                                 package_version=__version__, seeds=seeds_of(self.cfg),
                                 config=recorded_config(self.cfg), job=self.cfg.get("job"))

    # --- the hooks ---------------------------------------------------------------------------------

    def stage(self, stage: str, status: str, seconds: float | None, input_hash: str | None) -> None:
        """`pipeline.step` reports a stage: ok (ran), skipped (up to date) or failed."""
        row = StageRow(self.run_id, stage, status, None if seconds is None else round(seconds, 3),
                       status == "skipped", input_hash)
        self.stages.append(row)
        if self.live:
            self._write({}, [row])

    def succeeded(self, store: ArtifactStore) -> None:
        fields: dict[str, Any] = {"status": "ok"}
        self._guarded(lambda: fields.update(outcome_numbers(store, self.cfg)))
        built = any(row.stage == "render" for row in self.stages)  # until=extract builds no model
        fields.update(finished_status(fields, self.gap_tolerance, built))
        self._guarded(lambda: fields.update(llm_usage(store.results / "llm_calls.jsonl", self.started)))
        self._finish(fields)

    def failed(self, exc: BaseException, store: ArtifactStore | None) -> None:
        if not self.live and isinstance(exc, UserError) and not self.ledger.exists():
            log.debug("ledger: a first run that failed on bad input is not recorded (nothing half-written)")
            return
        stage = stage_of(exc)
        interrupted = not isinstance(exc, Exception)
        fields: dict[str, Any] = {
            "status": "failed", "failure_stage": stage,
            "failure_class": INFRASTRUCTURE if interrupted else classify(exc, self.source, stage),
            "failure_message": f"interrupted ({type(exc).__name__})" if interrupted else first_line(exc),
        }
        if stage and not any(row.stage == stage for row in self.stages):
            self.stages.append(StageRow(self.run_id, stage, "failed"))
        if store is not None:  # what the failed run left (a broken artifact may be why it failed: no warning)
            self._guarded(lambda: fields.update(outcome_numbers(store, self.cfg)), logging.DEBUG)
            self._guarded(lambda: fields.update(llm_usage(store.results / "llm_calls.jsonl", self.started)),
                          logging.DEBUG)
        self._finish(fields)

    # --- writing -----------------------------------------------------------------------------------

    def _finish(self, fields: dict[str, Any]) -> None:
        fields.update(finished=now_iso(), seconds=round(time.perf_counter() - self._clock, 3))
        self._write(fields, self.stages)

    def _write(self, fields: Mapping[str, Any], stages: list[StageRow] | None = None) -> bool:
        """One ledger write; after a failed one, this run records nothing more (one warning, not one a stage)."""
        if self.broken:
            return False
        written = self._guarded(lambda: self.ledger.record(self.run_id, {**self.start_fields, **fields},
                                                           stages or []))
        self.broken = not written
        return written

    def _guarded(self, action: Callable[[], Any], level: int = logging.WARNING) -> bool:
        """Run `action`; a failure is logged (a warning by default), never the run's failure."""
        try:
            action()
            return True
        except Exception as err:  # noqa: BLE001 - recording must never make a run fail
            log.log(level, "ledger: %s: %s: %s (the run goes on)", self.start_fields.get("paper_key"),
                    type(err).__name__, first_line(err))
            return False


# --- what a run produced ----------------------------------------------------------------------------


def finished_status(numbers: Mapping[str, Any], tolerance: float, built: bool = True) -> dict[str, Any]:
    """The status of a run that went through. A partial spec never gets the gap verdict (it compares ours with
    the paper's model, which an approximation is not): `approximation` when the run `built` its model, else
    `ok` (it only read the paper). Otherwise `gap` when the main metric is short of the RecBole reference
    beyond `tolerance`, else `ok`. `{}` leaves the status `ok`."""
    if numbers.get("missing") is not None:
        return {"status": APPROXIMATION} if built else {}
    gap = reproduction_gap(numbers.get("ours"), numbers.get("reference"), numbers.get("main_metric") or "",
                           tolerance)
    return {} if gap is None else {"status": "gap", "failure_class": REPRODUCTION_GAP, "failure_message": gap}


def outcome_numbers(store: ArtifactStore, cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The run's numbers, read from its artifacts: the spec, `train/results.json` (one run per seed; an older
    train folder has `result.json` only) and `baselines/results.json`. With several seeds a number is the mean
    over them, as in report.csv. `missing` (the components the spec's model leaves out) is there only when the
    spec is partial."""
    from paper_autotrain.stages.compare import main_metric  # scipy: only once a run has something to read

    spec_path = store.generated / "spec.yaml"
    if not spec_path.is_file():
        return {}
    spec = MethodSpec.model_validate(yaml.safe_load(spec_path.read_text(encoding="utf-8")))
    metric = main_metric(spec, dict(cfg.get("eval") or {}))
    numbers: dict[str, Any] = {"model_name": spec.display_name, "main_metric": metric,
                               "paper_reported": paper_reported(spec, metric)}
    if spec.approximation:
        numbers["missing"] = spec.fidelity.missing
    train_dir = store.stage_dir("train")
    ours = read_runs(train_dir / "results.json") or read_runs(train_dir / "result.json")
    if ours:
        test_metrics = {name: mean_of(ours, name) for name in ours[0].test}
        numbers.update(dataset=ours[0].dataset, ours=test_metrics.get(metric), metrics=test_metrics)
    others = read_runs(store.stage_dir("baselines") / "results.json")
    references = [r for r in others if r.status == "ok" and r.config.get("reference")]
    if references:
        numbers.update(reference=mean_of(references, metric), reference_model=references[0].model)
    return numbers


def read_runs(path: Path) -> list[RunResult]:
    """The RunResults in a JSON file holding one or a list; [] when the file is not there."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [RunResult.model_validate(r) for r in (data if isinstance(data, list) else [data])]


def mean_of(runs: list[RunResult], metric: str) -> float | None:
    values = [r.test[metric] for r in runs if metric in r.test]
    return sum(values) / len(values) if values else None


def paper_reported(spec: MethodSpec, metric: str) -> str | None:
    """The paper's own number for the main metric (else its first reported number), with its dataset: on the
    paper's data and protocol, so shown beside ours, never compared with it."""
    from paper_autotrain.stages.compare import display_metric

    if not spec.reported:
        return None
    wanted = display_metric(metric).lower()
    chosen = next((r for r in spec.reported if r.metric.lower() == wanted), spec.reported[0])
    variant = f", {chosen.variant}" if chosen.variant else ""
    return f"{chosen.value}{chosen.unit or ''} {chosen.metric} on {chosen.dataset}{variant}"


def llm_usage(path: Path, since: datetime) -> dict[str, Any]:
    """Tokens and cost of the live LLM calls this run made (the call log is shared by all runs of a paper;
    cached and replayed answers cost nothing)."""
    tokens, cost, cost_known, calls = 0, 0.0, True, 0
    since = since.replace(microsecond=since.microsecond // 1000 * 1000)  # the log keeps milliseconds
    for record in read_log(path):
        try:
            when = datetime.fromisoformat(str(record.get("time")))
        except ValueError:
            continue
        if when < since or record.get("cached"):
            continue
        calls += 1
        tokens += int(record.get("prompt_tokens") or 0) + int(record.get("completion_tokens") or 0)
        if record.get("cost_usd") is None:
            cost_known = False
        else:
            cost += float(record["cost_usd"])
    if not calls:
        return {}
    return {"llm_tokens": tokens, "llm_cost_usd": round(cost, 6) if cost_known else None}
