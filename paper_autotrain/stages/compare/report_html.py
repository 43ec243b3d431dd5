"""report.html: the comparison as one self-contained page (inline CSS, inline SVG charts, no scripts).

The page structure lives in `templates/report/` (Jinja2, autoescaped: evidence quotes come from untrusted
PDFs); this module only computes what the templates draw: the table rows and the charts' geometry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from paper_autotrain import __version__
from paper_autotrain.paths import REPORT_TEMPLATES_DIR as REPORT_TEMPLATES
from paper_autotrain.stages.compare.formatting import display_metric
from paper_autotrain.stages.compare.protocol import NOT_READ

if TYPE_CHECKING:
    from paper_autotrain.stages.compare.report import Report
    from paper_autotrain.stages.compare.seeds import History

PAGE = "report.html.j2"
OURS_COLOR = "#d95f02"
REFERENCE_COLOR = "#1b9e77"
BASELINE_COLOR = "#7570b3"
SEED_COLORS = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
OTHER_COLORS = ("#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")  # the other baselines' curves


# --- axes ------------------------------------------------------------------------------------------------


@dataclass
class Tick:
    pos: float  # pixel position along its axis
    label: str


def nice_step(span: float, count: int) -> float:
    """A 1/2/5 x 10^n step that cuts `span` into about `count` parts."""
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def nice_range(low: float, high: float, count: int = 5) -> tuple[float, float, float]:
    """(low, high, step) widened to whole steps; a flat range gets some room around it."""
    if not math.isfinite(low) or not math.isfinite(high):
        return 0.0, 1.0, 0.2
    if high - low < 1e-12:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    step = nice_step(high - low, count)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def tick_label(value: float, step: float) -> str:
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{digits}f}"


def scale(value: float, low: float, high: float, start: float, end: float) -> float:
    return start + (value - low) / (high - low) * (end - start)


def ticks(low: float, high: float, step: float, start: float, end: float) -> list[Tick]:
    count = int(round((high - low) / step))
    return [Tick(round(scale(low + i * step, low, high, start, end), 1), tick_label(low + i * step, step))
            for i in range(count + 1)]


# --- the bar chart of the main metric ---------------------------------------------------------------------


@dataclass
class Bar:
    label: str
    value_text: str
    y: float
    height: float
    width: float
    err_low: float | None  # whisker ends in pixels (mean ± std); None with one seed
    err_high: float | None
    color: str


@dataclass
class BarChart:
    title: str
    width: int
    height: int
    left: int  # where the plot area starts (labels to its left)
    right: int
    top: int
    bottom: int
    bars: list[Bar]
    ticks: list[Tick]


BAR_ROW = 34
BAR_LEFT = 300
BAR_RIGHT = 640


def bar_chart(report: Report) -> BarChart | None:
    """Mean of the main metric per model, whiskers at ± the std over seeds; None when no model has a value."""
    main = report.main
    rows = [row for row in report.rows if row.mean(main) is not None]
    if not rows:
        return None
    high_end = max((row.mean(main) or 0.0) + (row.std(main) or 0.0) for row in rows)
    low_end = min((row.mean(main) or 0.0) - (row.std(main) or 0.0) for row in rows)
    low, high, step = nice_range(axis_start(low_end, high_end), max(high_end, 1e-9), 5)
    top, bottom = 36, 36 + BAR_ROW * len(rows)
    bars = []
    for i, row in enumerate(rows):
        mean, std = row.mean(main) or 0.0, row.std(main)
        color = OURS_COLOR if row is report.ours else REFERENCE_COLOR if row.is_reference else BASELINE_COLOR
        whisker = (None, None) if std is None else (
            scale(max(mean - std, low), low, high, BAR_LEFT, BAR_RIGHT),
            scale(min(mean + std, high), low, high, BAR_LEFT, BAR_RIGHT))
        text = f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}") + (
            difference_text(mean, report.reference.mean(main)) if row is report.ours and report.reference else "")
        bars.append(Bar(label=f"{row.model} ({'ours' if row is report.ours else 'RecBole'})", value_text=text,
                        y=top + i * BAR_ROW + 6, height=BAR_ROW - 12,
                        width=max(scale(mean, low, high, BAR_LEFT, BAR_RIGHT) - BAR_LEFT, 0.0),
                        err_low=whisker[0], err_high=whisker[1], color=color))
    seeds = f", mean ± std over {report.n_seeds} seeds" if report.n_seeds > 1 else ", one seed"
    axis = f"; axis from {tick_label(low, step)}" if low > 0 else ""
    return BarChart(title=f"Test {display_metric(main)} per model{seeds}{axis}", width=820, height=bottom + 40,
                    left=BAR_LEFT, right=BAR_RIGHT, top=top, bottom=bottom, bars=bars,
                    ticks=ticks(low, high, step, BAR_LEFT, BAR_RIGHT))


def axis_start(low_end: float, high_end: float) -> float:
    """Where the value axis starts: 0 when the values spread over much of their range, else a little below the
    lowest whisker, so that a 2% difference between ours and the reference is visible as one."""
    if low_end <= 0 or high_end <= 0 or low_end < 0.5 * high_end:
        return 0.0
    return max(0.0, low_end - 0.5 * (high_end - low_end) - 1e-12)


def difference_text(ours: float | None, reference: float | None) -> str:
    if ours is None or not reference:
        return ""
    return f" ({100.0 * (ours - reference) / reference:+.1f}% vs reference)"


# --- training curves --------------------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    color: str
    points: list[tuple[float, float]] = field(default_factory=list)
    dash: str = ""  # an SVG stroke-dasharray ("" = solid)
    width: float = 2.0
    kind: str = "seed"  # what the line is (ours, reference, baseline, seed): a class of its polyline

    @property
    def polyline(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass
class LineChart:
    title: str
    y_label: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend_x: float = 0.0  # where the legend's swatches start
    legend: list[Series] = field(default_factory=list)  # in legend order (default: the drawing order)
    kind: str = "seeds"  # a class of the chart's svg: seeds (ours per seed) or reproduction (ours and RecBole's)


LINE_BOX = (64, 380, 36, 236)  # left, right, top, bottom of the plot area
WIDE_WIDTH, WIDE_RIGHT = 640, 430  # the reproduction chart: the legend (model names) right of the plot area
Style = tuple[str, str, float, str]  # color, dash, width, kind


def line_chart(title: str, y_label: str, curves: Sequence[tuple[str, list[int], list[float]]],
               styles: Sequence[Style] | None = None, wide: bool = False) -> LineChart | None:
    """One line per (label, epochs, values); NaN values (an epoch without a score) are left out. `styles` gives
    each curve its colour, dash, width and kind (default: the seed palette, solid); `wide` leaves room for a
    legend of model names right of the plot."""
    styles = list(styles) if styles is not None else [
        (SEED_COLORS[i % len(SEED_COLORS)], "", 2.0, "seed") for i in range(len(curves))]
    finite = [(label, style, [(e, v) for e, v in zip(epochs, values, strict=False) if math.isfinite(v)])
              for (label, epochs, values), style in zip(curves, styles, strict=True)]
    finite = [(label, style, points) for label, style, points in finite if points]
    if not finite:
        return None
    left, right, top, bottom = LINE_BOX
    width = 400
    if wide:
        right, width = WIDE_RIGHT, WIDE_WIDTH
    all_points = [p for _, _, points in finite for p in points]
    last_epoch = max(e for e, _ in all_points)
    x_low, x_high, x_step = 1.0, float(max(last_epoch, 2)), max(1.0, nice_step(max(last_epoch - 1, 1), 6))
    y_low, y_high, y_step = nice_range(min(v for _, v in all_points), max(v for _, v in all_points), 4)
    series = [Series(label=label, color=color, dash=dash, width=line_width, kind=kind,
                     points=[(scale(e, x_low, x_high, left, right), scale(v, y_low, y_high, bottom, top))
                             for e, v in points])
              for label, (color, dash, line_width, kind), points in finite]
    x_values = [x_low + i * x_step for i in range(int((x_high - x_low) // x_step) + 1)]
    x_ticks = [Tick(round(scale(x, x_low, x_high, left, right), 1), f"{x:.0f}") for x in x_values]
    return LineChart(title=title, y_label=y_label, width=width, height=280, left=left, right=right, top=top,
                     bottom=bottom, series=series, x_ticks=x_ticks,
                     y_ticks=ticks(y_low, y_high, y_step, bottom, top),
                     legend_x=right + 12 if wide else right - 70, kind="reproduction" if wide else "seeds",
                     legend=series)


def history_charts(histories: dict[int, History]) -> list[LineChart]:
    """The monitored valid metric and the train loss per epoch, one line per seed."""
    if not histories:
        return []
    ordered = sorted(histories.items())
    monitor = ordered[0][1].monitor
    metric = display_metric(monitor.removeprefix("valid_"))
    charts = [
        line_chart(f"Valid {metric} per epoch", metric,
                   [(f"seed {seed}", h.epochs, h.valid) for seed, h in ordered]),
        line_chart("Train loss per epoch", "loss", [(f"seed {seed}", h.epochs, h.train_loss) for seed, h in ordered]),
    ]
    return [chart for chart in charts if chart is not None]


def reproduction_chart(report: Report) -> LineChart | None:
    """Ours and the reference's valid metric per epoch on one chart (solid, bold), the other baselines' dashed
    behind them: the run of one seed each (report.curve_runs), epochs counted from 1 on both sides. None when
    no run has a history."""
    from paper_autotrain.stages.compare.report import curve_runs

    runs = curve_runs(report)
    if not runs:
        return None
    others = iter(OTHER_COLORS * 4)
    curves, styles = [], []
    for row, _, history in runs:
        if row is report.ours:
            style: Style = (OURS_COLOR, "", 2.5, "ours")
        elif row.is_reference:
            style = (REFERENCE_COLOR, "", 2.5, "reference")
        else:
            style = (next(others), "5 4", 1.5, "baseline")
        who = "ours" if row is report.ours else "reference" if row.is_reference else "RecBole"
        curves.append((f"{row.model} ({who})", history.epochs, history.valid))
        styles.append(style)
    metric = display_metric(runs[0][2].monitor.removeprefix("valid_"))
    # drawn in reverse: the other baselines first, the reference, ours last (on top); the legend lists ours first
    chart = line_chart(f"Valid {metric} per epoch, seed {runs[0][1].seed}: ours and RecBole's", metric,
                       curves[::-1], styles[::-1], wide=True)
    if chart is not None:
        chart.legend = chart.series[::-1]
    return chart


# --- the page ---------------------------------------------------------------------------------------------


def environment(templates: Path = REPORT_TEMPLATES) -> jinja2.Environment:
    """Autoescaping on: evidence quotes, titles and model names are untrusted text from the paper."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def render(report: Report, templates: Path = REPORT_TEMPLATES) -> str:
    """The self-contained report page."""
    from paper_autotrain.stages.compare.report import (  # the Markdown report's sentences, said the same way here
        approximation_note,
        budget_line,
        curve_lines,
        environment_line,
        failure_lines,
        heading,
        protocol_line,
        ranking_title,
        reference_line_text,
        reference_notes,
        reported_value,
        seeds_line,
        under_training_lines,
    )

    page = environment(templates).get_template(PAGE)
    return page.render(
        report=report, spec=report.spec, split=report.split, version=__version__,
        heading=heading(report.spec), approximation=approximation_note(report.spec),
        table=report.table(), significance=report.significance_line(),
        seeds_line=seeds_line(report), protocol_line=protocol_line(report), ranking_title=ranking_title(report),
        budget=budget_line(report.spec, report.ours.runs[0], report.monitor)[2:],
        environment=environment_line(report), command=report.command, under_training=under_training_lines(report),
        reference=reference_line_text(report), reference_notes=reference_notes(report),
        failures=failure_lines(report), reported=[(r, reported_value(r)) for r in report.spec.reported],
        protocol=report.protocol(), protocol_read=report.protocol_read, protocol_not_read=NOT_READ,
        bar_chart=bar_chart(report), curves=history_charts(report.files.histories),
        reproduction=reproduction_chart(report), curve_lines=curve_lines(report),
        colors={"ours": OURS_COLOR, "reference": REFERENCE_COLOR, "baseline": BASELINE_COLOR},
    )
