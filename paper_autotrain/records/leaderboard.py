"""The leaderboard: per paper, its latest full run from the ledger, beside the RecBole reference and the paper.

`results/leaderboard.md` and `results/leaderboard.html` (templates/leaderboard/). A paper is flagged as a
regression when its main metric dropped by more than the tolerance (relative) since its previous finished
run, or when it reproduced in its previous run and now fails. Only full runs (through compare) count: a run
that stopped early on purpose (`until=parse`) says nothing about the reproduction.

An approximation (a model that leaves out parts of the paper's method) is shown as `approximation: <what it
leaves out>`. It never counts as reproduced, and its metric is compared only with an earlier approximation's:
a reproduction and an approximation are different models, so one is never a regression from the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from paper_autotrain import __version__
from paper_autotrain.artifacts import atomic_write_text
from paper_autotrain.paths import LEADERBOARD_TEMPLATES_DIR
from paper_autotrain.records.failures import relative_change
from paper_autotrain.records.ledger import APPROXIMATION, Ledger, RunRow, approximation_label

OUTPUTS = ("leaderboard.md", "leaderboard.html")
FINISHED = ("ok", "gap", APPROXIMATION)  # runs that went through compare and have our number


@dataclass(frozen=True)
class BoardRow:
    """One paper on the leaderboard."""

    latest: RunRow
    previous: RunRow | None
    """The run before the latest one that finished with a number (the baseline of `change`)."""
    change: float | None
    """Relative change of our main metric since `previous`; negative is worse."""
    regressed: bool
    reason: str | None
    runs: int

    @property
    def paper_key(self) -> str:
        return self.latest.paper_key

    @property
    def status(self) -> str:
        """The latest run's status as the board shows it: an approximation names what it leaves out."""
        row = self.latest
        return approximation_label(row.missing) if row.status == APPROXIMATION else row.status

    @property
    def gap(self) -> float | None:
        """Ours relative to the RecBole reference (negative: below it)."""
        row = self.latest
        if row.ours is None or row.reference is None:
            return None
        return relative_change(row.ours, row.reference, row.main_metric or "")


def build(ledger: Ledger, tolerance: float) -> list[BoardRow]:
    """One row per paper with at least one full run, papers in key order."""
    rows = []
    for paper in ledger.papers():
        full = [r for r in ledger.history(paper) if r.finished_the_chain and r.status != "running"]
        if full:
            rows.append(board_row(full, tolerance))
    return rows


def board_row(full_runs: Sequence[RunRow], tolerance: float) -> BoardRow:
    """The latest of a paper's full runs (oldest first), judged against the ones before it."""
    latest, earlier = full_runs[-1], list(full_runs[:-1])
    previous = next((r for r in reversed(earlier) if r.status in FINISHED and r.ours is not None
                     and r.approximation == latest.approximation), None)  # like with like only
    change = None
    if previous is not None and latest.ours is not None and previous.ours is not None:
        change = relative_change(latest.ours, previous.ours, latest.main_metric or "")
    reasons = []
    if change is not None and change < -tolerance:
        metric = (latest.main_metric or "metric").upper()
        reasons.append(f"{metric} {previous.ours:.4f} -> {latest.ours:.4f} ({100 * change:+.1f}%, tolerance "
                       f"{100 * tolerance:g}%) since the run of {previous.started[:16]}")
    if earlier and earlier[-1].status == "ok" and latest.status in ("failed", "gap") and not latest.approximation:
        reasons.append(f"reproduced in the previous run ({earlier[-1].started[:16]}), now "
                       f"{latest.failure_class or 'failed'}: {latest.failure_message or 'no message'}")
    return BoardRow(latest=latest, previous=previous, change=change, regressed=bool(reasons),
                    reason="; ".join(reasons) or None, runs=len(full_runs))


# --- writing ------------------------------------------------------------------------------------------


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f}%"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(LEADERBOARD_TEMPLATES_DIR),
                             undefined=jinja2.StrictUndefined, autoescape=jinja2.select_autoescape(["html.j2"]),
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(percent=_percent, number=_number, cell=lambda v: "–" if v in (None, "") else
                       str(v).replace("|", "\\|").replace("\n", " "))
    return env


def approximations(rows: Sequence[BoardRow]) -> list[BoardRow]:
    """The papers whose latest full run is an approximation, not a reproduction."""
    return [row for row in rows if row.latest.status == APPROXIMATION]


def render(rows: Sequence[BoardRow], tolerance: float) -> dict[str, str]:
    """The leaderboard files, by name."""
    env = _environment()
    context = {"rows": rows, "tolerance": tolerance, "version": __version__,
               "regressions": [r for r in rows if r.regressed], "approximations": approximations(rows),
               "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    return {name: env.get_template(f"{name}.j2").render(**context) for name in OUTPUTS}


def write(rows: Sequence[BoardRow], results: Path, tolerance: float) -> list[Path]:
    """Write leaderboard.md and leaderboard.html into `results` (atomically); return their paths."""
    written = []
    for name, text in render(rows, tolerance).items():
        atomic_write_text(Path(results) / name, text)
        written.append(Path(results) / name)
    return written
