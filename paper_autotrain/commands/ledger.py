"""`python -m paper_autotrain ledger runs [--paper KEY] [--limit N]` and `ledger history KEY`: the run ledger as
tables."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from paper_autotrain.commands import ledger_from, table
from paper_autotrain.commands.config import EXIT_USER, print_error
from paper_autotrain.errors import UserError
from paper_autotrain.records.ledger import Ledger, LedgerError, RunRow

RUN_HEADER = ("started", "run", "paper", "status", "class", "stage", "metric", "ours", "reference", "seconds",
              "llm tokens", "batch")
HISTORY_HEADER = ("started", "run", "job", "status", "class", "metric", "ours", "reference", "config", "code",
                  "seeds", "seconds", "settings that differ")
STAGE_HEADER = ("stage", "status", "seconds", "input hash")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m paper_autotrain ledger",
                                   description="The run ledger (<paths.results>/ledger.sqlite) as tables.")
    commands = root.add_subparsers(dest="command", required=True)
    runs = commands.add_parser("runs", help="runs, newest first")
    runs.add_argument("--paper", help="only this paper key (e.g. 2002.02126 or tinyprop)")
    runs.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    history = commands.add_parser("history", help="every run of one paper, oldest first, and its last run's stages")
    history.add_argument("key", help="the paper key")
    for sub in (runs, history):
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


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    try:
        ledger = ledger_from(args.overrides)
        if args.command == "runs":
            rows = ledger.runs(paper=args.paper, limit=max(args.limit, 1))
            print(runs_table(rows) if rows else f"no runs{f' of {args.paper}' if args.paper else ''} in {ledger.path}")
        else:
            print(history_text(ledger, args.key))
    except (UserError, LedgerError, sqlite3.Error) as exc:
        print_error(exc)
        return EXIT_USER
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
