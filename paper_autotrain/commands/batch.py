"""Paper lists: `python -m paper_autotrain papers=nightly [overrides]` runs every paper of conf/papers/nightly.yaml.

The list becomes one Hydra `--multirun` over `paper=` (so Hydra's launchers apply: joblib locally, submitit on
SLURM). Each job re-composes its config with the paper's own overrides and runs the pipeline, which records
the run in the ledger; a failing paper is logged and the sweep goes on. At the end the batch reads its runs
back from the ledger, writes the leaderboard, prints one line per failed or regressed paper and exits 1 if
there is any.

Override precedence, lowest first: the list's `overrides`, the paper's `overrides`, the command line.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from paper_autotrain.commands.config import EXIT_STAGE, EXIT_USER, check_overrides, compose_config, print_error
from paper_autotrain.commands.paper_list import (
    LIST_ARG,
    Job,
    PaperList,
    find_list_arg,
    list_path,
    load_list,
    merge_overrides,
    override_strings,
    plan_jobs,
)
from paper_autotrain.errors import UserError
from paper_autotrain.records.ledger import Ledger, RunRow, results_dir

log = logging.getLogger("paper_autotrain")


def main(args: Sequence[str]) -> int:
    """`python -m paper_autotrain papers=NAME [overrides]`: run the list, summarise, exit 1 on any failure."""
    from paper_autotrain.commands.config import enable_our_loggers
    from paper_autotrain.commands.run import hydra_main

    name = find_list_arg(args)
    assert name is not None
    command_line = [a for a in args if not LIST_ARG.match(a)]
    results: Path | None = None
    try:
        path, base = list_path(name)
        papers = load_list(path)
        stray = [a for a in command_line if a.startswith("-") or "=" not in a]
        if stray:
            raise UserError(f"papers={name} runs the list's papers with key=value overrides; drop {stray[0]} "
                            "(the list runs as a Hydra --multirun by itself)")
        check_overrides(command_line)
        jobs = plan_jobs(papers, base, command_line)
        for job in jobs:
            check_paper_overrides(job)
        shared = merge_overrides(override_strings(papers.overrides), command_line)
        results = results_dir(dict(compose_config(shared).get("paths") or {}))
        Ledger.under(results).create()  # every job records live into it, even one failing on bad input
    except UserError as exc:
        print_error(exc)
        return EXIT_USER
    except Exception as exc:  # noqa: BLE001 - an unusable ledger: the batch could not judge its papers
        print_error(f"cannot use the ledger under {results} ({type(exc).__name__}: {exc})")
        return EXIT_USER
    batch_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    sys.argv = [sys.argv[0], *multirun_args(jobs, path, batch_id, results, command_line)]
    log.info("batch %s: %d papers from %s", batch_id, len(jobs), path)
    try:
        hydra_main()
    except SystemExit as exc:  # Hydra gave up on the sweep itself (a job raised past run_job)
        if exc.code:
            print_error(f"the batch stopped early (exit {exc.code}); the papers run so far are in the ledger")
    except KeyboardInterrupt:
        print("interrupted; the papers run so far are in the ledger, rerun to resume", file=sys.stderr)
        return 130
    finally:
        enable_our_loggers()
    return summarize(jobs, papers, batch_id, results)


def check_paper_overrides(job: Job) -> None:
    try:
        check_overrides([f"paper={quote(job.source)}", *job.overrides])
    except UserError as exc:
        raise UserError(f"{job.key}: {exc}") from None


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def multirun_args(jobs: Sequence[Job], path: Path, batch_id: str, results: Path,
                  command_line: Sequence[str]) -> list[str]:
    """The Hydra command line of the batch: a sweep over the papers; each job adds its own overrides."""
    return ["--multirun", "paper=" + ",".join(quote(job.source) for job in jobs),
            f"+batch.id={batch_id}", f"+batch.list={quote(str(path))}",
            f"hydra.sweep.dir={quote(str(results / 'batches' / batch_id))}", *command_line]


def summarize(jobs: Sequence[Job], papers: PaperList, batch_id: str, results: Path) -> int:
    """Read the batch back from the ledger, write the leaderboard, print failures and regressions."""
    from paper_autotrain.records import leaderboard

    ledger = Ledger.under(results)
    try:
        rows = {row.paper_key: row for row in reversed(ledger.runs(batch=batch_id))}  # the latest per paper
        board = leaderboard.build(ledger, papers.tolerance)
        written = leaderboard.write(board, results, papers.tolerance)
    except Exception as exc:  # noqa: BLE001 - without the ledger nothing can be judged: fail the batch
        print_error(f"batch {batch_id}: cannot read the ledger under {results} ({type(exc).__name__}: {exc})")
        return EXIT_STAGE
    problems = [line for job in jobs if (line := failure_line(job, rows.get(job.key)))]
    keys = {job.key for job in jobs}
    problems += [f"regressed: {row.paper_key}: {row.reason}" for row in board if row.regressed and
                 row.paper_key in keys]
    for line in problems:
        print(line, file=sys.stderr)
    succeeded = sum(1 for job in jobs if (row := rows.get(job.key)) is not None and row.status == "ok")
    print(f"batch {batch_id}: {succeeded} of {len(jobs)} papers ok; leaderboard: {written[0]}")
    return EXIT_STAGE if problems else 0


def failure_line(job: Job, row: RunRow | None) -> str | None:
    """One line for a paper that did not reproduce; None when it did."""
    if row is None:
        return f"failed: {job.key}: no ledger record (the log above says why)"
    if row.status == "running":
        return f"failed: {job.key}: did not finish (the process ended without recording an outcome)"
    if row.status in ("failed", "gap"):
        stage = f" in {row.failure_stage}" if row.failure_stage else ""
        return f"failed: {job.key} [{row.failure_class}{stage}]: {row.failure_message}"
    return None
