"""`python -m paper_autotrain leaderboard [--papers NAME | --tolerance 0.05] [--fail-on-regression]`: write
`<paths.results>/leaderboard.md` and `.html` from the ledger; exit 1 on a regression when asked to."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence

from paper_autotrain.commands import ledger_from, paper_list, short_path
from paper_autotrain.commands.config import EXIT_STAGE, EXIT_USER, print_error
from paper_autotrain.errors import UserError
from paper_autotrain.records import leaderboard
from paper_autotrain.records.ledger import LedgerError

DEFAULT_TOLERANCE = 0.05


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m paper_autotrain leaderboard",
                                   description="Write leaderboard.md and leaderboard.html from the run ledger.")
    root.add_argument("--tolerance", type=float, default=None,
                      help="flag a paper whose main metric dropped by more than this (relative) since its previous "
                           f"run (default: the --papers list's tolerance, else {DEFAULT_TOLERANCE:g})")
    root.add_argument("--papers", metavar="NAME",
                      help="take the tolerance from this paper list (conf/papers/NAME.yaml or a .yaml path)")
    root.add_argument("--fail-on-regression", action="store_true", help="exit 1 when any paper is flagged")
    root.add_argument("overrides", nargs="*", help="paths.root=DIR / paths.results=DIR: where the ledger is")
    return root


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    try:
        tolerance = chosen_tolerance(args.tolerance, args.papers)
        ledger = ledger_from(args.overrides)
        rows = leaderboard.build(ledger, tolerance)
        written = leaderboard.write(rows, ledger.path.parent, tolerance)
    except (UserError, LedgerError, sqlite3.Error) as exc:
        print_error(exc)
        return EXIT_USER
    regressions = [row for row in rows if row.regressed]
    for row in regressions:
        print(f"regressed: {row.paper_key}: {row.reason}", file=sys.stderr)
    approximations = len(leaderboard.approximations(rows))  # finished, but not reproductions: said, not failed
    print(f"leaderboard: {len(rows)} paper(s), {len(regressions)} regression(s)"
          + (f", {approximations} approximation(s)" if approximations else "") + ": "
          + ", ".join(short_path(p) for p in written))
    return EXIT_STAGE if regressions and args.fail_on_regression else 0


def chosen_tolerance(given: float | None, papers: str | None) -> float:
    """--tolerance when given, else the paper list's (the one its batch runs flagged with), else the default."""
    if given is not None:
        if not 0 <= given <= 1:
            raise UserError(f"--tolerance {given:g}: expected a fraction between 0 and 1, e.g. 0.05")
        return given
    if papers is not None:
        return paper_list.load_list(paper_list.list_path(papers)[0]).tolerance
    return DEFAULT_TOLERANCE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
