"""`python -m paper_autotrain ledger runs [--paper KEY] [--limit N]`, `ledger history KEY` and `ledger search KEY`:
the run ledger as tables."""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paper_autotrain.artifacts import ArtifactStore
from paper_autotrain.commands import ledger_from, table
from paper_autotrain.commands.config import EXIT_USER, print_error
from paper_autotrain.errors import UserError
from paper_autotrain.records.ledger import Ledger, LedgerError, RunRow

RUN_HEADER = ("started", "run", "paper", "status", "class", "stage", "metric", "ours", "reference", "seconds",
              "llm tokens", "batch")
HISTORY_HEADER = ("started", "run", "job", "status", "class", "metric", "ours", "reference", "config", "code",
                  "seeds", "seconds", "settings that differ")
STAGE_HEADER = ("stage", "status", "seconds", "input hash")
SEARCH_HEADER = ("model", "role", "trials", "best trial", "valid", "test", "settings of the best trial")
FINISHED = ("ok", "gap", "approximation")  # run statuses whose jobs trained and compared
OURS = "ours"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m paper_autotrain ledger",
                                   description="The run ledger (<paths.results>/ledger.sqlite) as tables.")
    commands = root.add_subparsers(dest="command", required=True)
    runs = commands.add_parser("runs", help="runs, newest first")
    runs.add_argument("--paper", help="only this paper key (e.g. 2002.02126 or tinyprop)")
    runs.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    history = commands.add_parser("history", help="every run of one paper, oldest first, and its last run's stages")
    history.add_argument("key", help="the paper key")
    search = commands.add_parser("search", help="a hyperparameter search (hparams_search=optuna): each model at its "
                                 "best trial by validation, with that trial's test number")
    search.add_argument("key", help="the paper key")
    search.add_argument("--sweep", help="only the jobs of this sweep (their job ids start with it; default: all)")
    for sub in (runs, history, search):
        sub.add_argument("overrides", nargs="*", help="paths.root=DIR / paths.results=DIR: where the ledger is")
    return root


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:.4f}"


def _when(row: RunRow) -> str:
    return row.started[:19].replace("T", " ")


def runs_table(rows: Sequence[RunRow]) -> str:
    return table(RUN_HEADER, [
        (_when(r), r.run_id[:8], r.paper_key, r.status, r.failure_class, r.failure_stage, r.main_metric,
         _num(r.ours), _num(r.reference), None if r.seconds is None else f"{r.seconds:.1f}", r.llm_tokens,
         r.batch_id) for r in rows])


def history_text(ledger: Ledger, key: str) -> str:
    rows = ledger.history(key)
    if not rows:
        known = ", ".join(ledger.papers()) or "none yet"
        raise UserError(f"no runs of {key!r} in {ledger.path} (papers: {known})")
    differ = differing_settings(rows)
    lines = [f"{key}: {len(rows)} run(s)", table(HISTORY_HEADER, [
        (_when(r), r.run_id[:8], r.job, r.status, r.failure_class, r.main_metric, _num(r.ours), _num(r.reference),
         (r.config_hash or "")[:8], (r.code_hash or "")[:8], ",".join(map(str, r.seeds)),
         None if r.seconds is None else f"{r.seconds:.1f}", text) for r, text in zip(rows, differ, strict=True)])]
    last = rows[-1]
    if last.failure_message:
        lines.append(f"\nlast run: {last.failure_class}: {last.failure_message}")
    stages = ledger.stages(last.run_id)
    if stages:
        lines += [f"\nstages of the last run ({last.run_id[:8]}):", table(STAGE_HEADER, [
            (s.stage, s.status, None if s.seconds is None else f"{s.seconds:.2f}", (s.input_hash or "")[:12])
            for s in stages])]
    return "\n".join(lines)


def flat_settings(config: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """`{trainer: {max_epochs: 5}}` -> `{"trainer.max_epochs": 5}`; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in (config or {}).items():
        if isinstance(value, Mapping):
            flat |= flat_settings(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differing_settings(rows: Sequence[RunRow]) -> list[str | None]:
    """Per run, the settings whose values are not the same in every run that recorded its config (`key=value`,
    comma separated): what a sweep varied. Runs from before configs were recorded get None."""
    flats = [flat_settings(r.config) if r.config is not None else None for r in rows]
    known = [f for f in flats if f is not None]
    keys = sorted({k for f in known for k in f if len({repr(g.get(k)) for g in known}) > 1})
    return [None if f is None else ", ".join(f"{k}={f.get(k)}" for k in keys) or "-" for f in flats]


@dataclass(frozen=True)
class Trial:
    """One model in one finished sweep job: its validation and test main metric (means over seeds)."""

    job: str
    model: str
    role: str
    valid: float
    test: float | None
    settings: str


def mean(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def job_trials(folder: Path, row: RunRow, settings: str) -> list[Trial]:
    """Every model's main metric in one job's folder: ours (train/) and each RecBole model (baselines/)."""
    metric = row.main_metric or "ndcg@10"
    by_model: dict[tuple[str, str], list[dict]] = {}
    for stage, file in (("train", "results.json"), ("baselines", "results.json")):
        path = folder / stage / file
        if not path.is_file():
            continue
        for run in json.loads(path.read_text(encoding="utf-8")):
            ours = stage == "train"
            role = "ours" if ours else ("reference" if (run.get("config") or {}).get("reference") else "baseline")
            by_model.setdefault((OURS if ours else str(run["model"]), role), []).append(run)
    trials = []
    for (model, role), runs in by_model.items():
        valid = mean([(r.get("valid") or {}).get(metric) for r in runs])
        if valid is not None:
            trials.append(Trial(row.job or "", model, role, valid,
                                mean([(r.get("test") or {}).get(metric) for r in runs]), settings))
    return trials


def job_folder(ledger: Ledger, key: str, job: str) -> Path:
    """A sweep job's results folder, as the artifact store lays it out beside the ledger."""
    results = ledger.path.parent
    return ArtifactStore(results, results, results, key, job=job).results


def search_text(ledger: Ledger, key: str, sweep: str | None = None) -> str:
    """Each model at its best trial by validation (the test number of that trial beside it): ours and the
    reference searched over the same trials' values, the other baselines at their fixed settings."""
    rows = [r for r in ledger.history(key) if r.job and (sweep is None or r.job.startswith(sweep))]
    if not rows:
        raise UserError(f"no sweep jobs of {key!r} in {ledger.path}: run `python -m paper_autotrain PAPER "
                        "hparams_search=optuna` first")
    settings = dict(zip((r.run_id for r in rows), differing_settings(rows), strict=True))
    finished = [r for r in rows if r.status in FINISHED]
    trials = [t for r in finished
              for t in job_trials(job_folder(ledger, key, str(r.job)), r, settings[r.run_id] or "-")]
    if not trials:
        raise UserError(f"none of the {len(rows)} sweep job(s) of {key!r} finished with results to compare")
    best: dict[str, Trial] = {}
    count: dict[str, int] = {}
    for trial in trials:
        count[trial.model] = count.get(trial.model, 0) + 1
        if trial.model not in best or trial.valid > best[trial.model].valid:
            best[trial.model] = trial
    order = sorted(best.values(), key=lambda t: ({"ours": 0, "reference": 1}.get(t.role, 2), t.model))
    metric = finished[0].main_metric or "ndcg@10"
    lines = [f"{key}: {len(finished)} finished trial(s) of {len(rows)}; each model at its best trial by valid "
             f"{metric} (test of that trial beside it)",
             table(SEARCH_HEADER, [(t.model, t.role, count[t.model], t.job, _num(t.valid), _num(t.test), t.settings)
                                   for t in order])]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    try:
        ledger = ledger_from(args.overrides)
        if args.command == "runs":
            rows = ledger.runs(paper=args.paper, limit=max(args.limit, 1))
            print(runs_table(rows) if rows else f"no runs{f' of {args.paper}' if args.paper else ''} in {ledger.path}")
        elif args.command == "search":
            print(search_text(ledger, args.key, args.sweep))
        else:
            print(history_text(ledger, args.key))
    except (UserError, LedgerError, sqlite3.Error) as exc:
        print_error(exc)
        return EXIT_USER
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
