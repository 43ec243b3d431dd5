"""Subcommands of `python -m paper_autotrain`, one module each (`ledger`, `leaderboard`), each with `main(argv)`.

They take the same `paths.*` overrides as a run (e.g. `paths.root=/scratch/run`), so they read the ledger the
pipeline writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from paper_autotrain.errors import UserError
from paper_autotrain.records.ledger import Ledger, results_dir


def ledger_from(overrides: Sequence[str], must_exist: bool = True) -> Ledger:
    """The ledger under `paths.results` of the config composed with `overrides` (key=value)."""
    from paper_autotrain.commands.config import compose_config

    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise UserError(f"unexpected argument {bad[0]!r}; settings are key=value, e.g. paths.root=DIR")
    ledger = Ledger.under(results_dir(dict(compose_config(list(overrides)).get("paths") or {})))
    if must_exist and not ledger.exists():
        raise UserError(f"no ledger at {ledger.path} yet: run a paper first (or pass paths.root=... / "
                        "paths.results=... where one ran)")
    return ledger


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns."""
    cells = [[str(h) for h in header], *[["–" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def short_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
