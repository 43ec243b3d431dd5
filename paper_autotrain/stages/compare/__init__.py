"""Compare: the reproduced model beside the baselines and beside what the paper reports.

Every number in the tables comes from our evaluator (RunResult.test); the paper's own numbers
are copied from the spec and kept in a block of their own, since dataset and protocol differ.
With several seeds a row is the mean ± sample std over that model's seeds; our model is tested
against the best baseline on per-user values of the main metric (`significance.py`).
Writes `report.md` (people), `report.csv` (tools) and `report.html` (self-contained, with charts).

A spec whose fidelity verdict is partial (built with fidelity=allow_partial) is an approximation: every
report names it `approximation: <the components it leaves out>`, and nothing in it claims a reproduction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from paper_autotrain.schemas import MethodSpec, RunResult, SplitInfo
from paper_autotrain.stages.compare import report_html
from paper_autotrain.stages.compare.formatting import DISPLAY, display_metric
from paper_autotrain.stages.compare.report import (
    Report,
    build,
    csv_report,
    main_metric,
    markdown_report,
    summary_line,
)
from paper_autotrain.stages.compare.seeds import History, ModelRow, PerUser, RunFiles, run_key

SUMMARY_FILE = "summary.txt"  # the run in one line: what the command prints at the end

__all__ = ["SUMMARY_FILE", "DISPLAY", "History", "ModelRow", "PerUser", "Report", "RunFiles", "build", "display_metric",
           "main_metric", "run", "run_key"]


def run(spec: MethodSpec, reproduced: RunResult | Sequence[RunResult], baselines: Sequence[RunResult],
        split: SplitInfo, cfg: Mapping, files: RunFiles | None = None) -> dict[str, str]:
    """The report files, by name: `report.md` for people, `report.csv` (long format) for tools, `report.html`
    (self-contained: table, charts, spec) for a browser, `summary.txt` (one line) for the terminal. `reproduced`
    is our model's run, or one run per seed."""
    report = build(spec, reproduced, baselines, split, cfg, files)
    return {
        "report.md": markdown_report(report),
        "report.csv": csv_report(report),
        "report.html": report_html.render(report),
        SUMMARY_FILE: summary_line(report) + "\n",
    }
