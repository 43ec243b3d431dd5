"""The paper's own numbers from its main results table.

Two layouts are read: methods as rows (datasets and metrics in the header rows) and methods as
columns (datasets and metrics in the leading cells of each row). A table where the method's label
occurs more than once (per-layer or per-variant results) is skipped: precision over recall.
"""

from __future__ import annotations

import re

from paper_autotrain.schemas import Reported, Table

from .lexicon import DATASET_PATTERNS, KNOWN_MODELS, LOWER_IS_BETTER, METRIC_PATTERN, METRIC_QUALIFIER
from .names import canonical_metric

PANEL = re.compile(r"^\([a-z]\)\s+(?P<name>\S.{0,40})$")
MARKS = "*†‡§¶"  # significance marks printed after a number ("0.1830*", "0.1554†")
# A number with its marks, optionally its spread ("0.61±0.02") and its relative change: "0.5853 (+15.55%)",
# "0.61 +2.1%" (not "+3.9%", an improvement row's cell).
NUMBER_CELL = re.compile(
    rf"^[-+]?(?P<n>\d*\.\d+|\d+)[{MARKS}]*(?:±\d*\.?\d+)?(?:\s*\([+-]?\d*\.?\d+%\)|\s*[+-]\d*\.?\d+%)?[{MARKS}]*$"
)
# The method's row label may say it is the paper's: "LightGCN (ours)"
OWN_SUFFIX = re.compile(r"\s*\((?:ours|proposed)\)\s*$", re.I)
# The method's number printed as a percentage ("18.30%"): the value is kept as printed, with "%" as its unit.
# A signed one ("+3.9%") is an improvement, never the method's number.
PERCENT_CELL = re.compile(rf"^(?P<n>\d*\.\d+|\d+)[{MARKS}]*%[{MARKS}]*$")
PERCENT_HEADER = re.compile(r"\s*(?:\(\s*%\s*\)|%)\s*$")  # "Recall@20 (%)"
PERCENT_CAPTION = re.compile(r"\(\s*(?:in\s+)?%\s*\)|\bin %|\bin percent(?:ages?)?\b", re.I)


def _plain(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _number(cell: str) -> float | None:
    match = NUMBER_CELL.match(cell.replace(" ", "").replace("\u2217", "*"))
    return float(match.group("n")) if match else None


def _value(cell: str) -> float | None:
    """A number of the method's own row or column: `_number`, or an unsigned percentage."""
    value = _number(cell)
    if value is not None:
        return value
    match = PERCENT_CELL.match(cell.replace(" ", "").replace("\u2217", "*"))
    return float(match.group("n")) if match else None


def _unit(table: Table, values: list[tuple[str, str, float, str]]) -> str | None:
    """'%' when the method's numbers are printed as percentages, in their cells or by the caption or a header
    ('Recall@20 (%)') of a table whose numbers are not fractions."""
    if values and all(PERCENT_CELL.match(cell.replace(" ", "").replace("\u2217", "*")) for *_, cell in values):
        return "%"
    headers = any(PERCENT_HEADER.search(cell) and re.search(METRIC_PATTERN, cell, re.I) for row in table.rows
                  for cell in row)
    if (PERCENT_CAPTION.search(table.caption) or headers) and values and all(v >= 1 for _, _, v, _ in values):
        return "%"
    return None


def _metric(cell: str, metrics: list[str]) -> str | None:
    """The metric a header cell names; a bare 'recall' takes the paper's only Recall@K; a qualified
    header ('Offline AUC') keeps its printed name when the paper's metrics list it so."""
    cell = PERCENT_HEADER.sub("", cell)
    qualified = re.fullmatch(rf"({METRIC_QUALIFIER})\s+{METRIC_PATTERN}", cell.strip(), re.I)
    if qualified:
        name = f"{qualified.group(1)} {canonical_metric(qualified.group(2), qualified.group(3))}"
        return name if name in metrics else None
    match = re.fullmatch(METRIC_PATTERN, cell.strip(), re.I)
    if not match:
        return None
    name = canonical_metric(match.group(1), match.group(2))
    if "@" in name or name not in {m.split("@")[0] for m in metrics}:
        return name
    same_base = [m for m in metrics if m.split("@")[0] == name]
    return same_base[0] if len(same_base) == 1 else None


def _dataset(cell: str, datasets: list[str]) -> str | None:
    text = cell.strip()
    if not text:
        return None
    for name in datasets:
        if _plain(name) == _plain(text):
            return name
        if len(_plain(text)) >= 4 and _plain(name).endswith(_plain(text)):
            return text  # "Games" in a results table for "Amazon Games" in the statistics table
    if any(re.fullmatch(p, text) for p in DATASET_PATTERNS):
        return text
    return None


def _label_positions(table: Table, model_name: str) -> list[tuple[int, int]]:
    own = _plain(model_name)
    return [
        (r, c)
        for r, row in enumerate(table.rows)
        for c, cell in enumerate(row)
        if own and _plain(OWN_SUFFIX.sub("", cell)) == own
    ]


def _rows_layout(
    table: Table, row_index: int, label_col: int, datasets: list[str], metrics: list[str]
) -> list[tuple[str, str, float, str]]:
    """Method as a row: each numeric cell takes the dataset and metric of the header rows above it."""
    row = table.rows[row_index]
    value_cols = [c for c in range(label_col + 1, len(row)) if _value(row[c]) is not None]
    header = table.rows[:row_index]
    metric_cells: list[tuple[int, str]] = []
    dataset_cells: list[tuple[int, str]] = []
    for header_row in header:
        found_m = [(c, m) for c, cell in enumerate(header_row) if (m := _metric(cell, metrics))]
        found_d = [(c, d) for c, cell in enumerate(header_row) if (d := _dataset(cell, datasets))]
        if len(found_m) > len(metric_cells):
            metric_cells = found_m
        if len(found_d) > len(dataset_cells):
            dataset_cells = found_d
    if not metric_cells or len(metric_cells) != len(value_cols):
        return []
    out = []
    groups = len(dataset_cells)
    if groups and len(metric_cells) % groups == 0:
        per_group = len(metric_cells) // groups
        for k, (col, metric) in enumerate(zip(value_cols, (m for _, m in metric_cells), strict=True)):
            out.append((dataset_cells[k // per_group][1], metric, _value(row[col]), row[col]))
    elif not groups and len(datasets) == 1:
        for col, (_, metric) in zip(value_cols, metric_cells, strict=True):
            out.append((datasets[0], metric, _value(row[col]), row[col]))
    return out


def _columns_layout(
    table: Table, header_row: int, col: int, datasets: list[str], metrics: list[str]
) -> list[tuple[str, str, float, str]]:
    """Method as a column: rows carry a metric label; datasets label groups of rows (ends of a repeat)."""
    rows = table.rows[header_row + 1 :]
    entries: list[tuple[int, str, float, str]] = []  # (row, metric, value, cell)
    labels: list[tuple[int, str]] = []
    for r, row in enumerate(rows):
        lead = row[:col]
        metric = next((m for cell in lead if (m := _metric(cell, metrics))), None)
        dataset = next((d for cell in lead if (d := _dataset(cell, datasets))), None)
        if dataset:
            labels.append((r, dataset))
        if metric and col < len(row) and (value := _value(row[col])) is not None:
            entries.append((r, metric, value, row[col]))
    groups: list[list[tuple[int, str, float, str]]] = []
    for entry in entries:
        if not groups or any(e[1] == entry[1] for e in groups[-1]):
            groups.append([])
        groups[-1].append(entry)
    out = []
    for group in groups:
        first, last = group[0][0], group[-1][0]
        inside = {d for r, d in labels if first <= r <= last}
        if len(inside) != 1 and len(groups) == 1 and len(datasets) == 1:
            inside = {datasets[0]}
        if len(inside) != 1:
            continue
        dataset = inside.pop()
        out += [(dataset, metric, value, cell) for _, metric, value, cell in group]
    return out


def table_label(table: Table) -> str:
    match = re.match(r"(Table|TABLE)\s+(\w+)", table.caption)
    return f"Table {match.group(2)}" if match else f"table at {table.where}"


def _panels(table: Table) -> list[tuple[str | None, Table]]:
    """Sub-tables of a table printed as panels, "(a) ML-20M", "(b) Netflix", each named by its dataset."""
    panels: list[tuple[str | None, list[list[str]]]] = [(None, [])]
    for row in table.rows:
        filled = [cell for cell in row if cell.strip()]
        match = PANEL.match(filled[0]) if len(filled) == 1 else None
        if match:
            panels.append((match.group("name").strip(), []))
        else:
            panels[-1][1].append(row)
    return [(name, table.model_copy(update={"rows": rows})) for name, rows in panels if rows]


def _values_in(
    table: Table, model_name: str, datasets: list[str], metrics: list[str]
) -> list[tuple[str, str, float, str]]:
    positions = _label_positions(table, model_name)
    if len(positions) != 1:
        return []
    r, c = positions[0]
    return _rows_layout(table, r, c, datasets, metrics) or _columns_layout(table, r, c, datasets, metrics)


WITHOUT = re.compile(r"^(?:without|w/o|no)\b", re.I)
BEST_BASELINE = re.compile(r"compared (?:to|with|against) the (?:best|strongest) baseline", re.I)


def _metric_header(table: Table, metrics: list[str]) -> tuple[int, list[tuple[int, str]]]:
    """The row with the most metric cells, and those cells."""
    best: tuple[int, list[tuple[int, str]]] = (-1, [])
    for r, row in enumerate(table.rows):
        cells = [(c, m) for c, cell in enumerate(row) if (m := _metric(cell, metrics))]
        if len(cells) > len(best[1]):
            best = (r, cells)
    return best


def _column_groups(table: Table, header_row: int, cells: list[tuple[int, str]]) -> list[str | None]:
    """The label of each metric column's group ("With Pre-training" | "Without Pre-training", or one
    dataset per group): a metric that repeats starts a new group; the labels are the filled cells, in
    order, of the nearest row above the header with one cell per group."""
    group_of: list[int] = []
    group, seen = 0, set()
    for _, metric in cells:
        if metric in seen:
            group, seen = group + 1, set()
        seen.add(metric)
        group_of.append(group)
    for row in reversed(table.rows[:header_row]):
        above = [cell.strip() for cell in row if cell.strip()]
        if len(above) == group_of[-1] + 1 and group_of[-1] > 0:
            return [above[g] for g in group_of]
    return [None] * len(cells)


def _attributed(table: Table, model_name: str) -> bool:
    """The caption says the table is the method's: it names the method, or its rows are compared to
    the best baseline (variants of the method) and none of them is a known compared model."""
    if model_name and re.search(rf"(?<![\w-]){re.escape(model_name)}(?![\w-])", table.caption):
        return True
    if not BEST_BASELINE.search(table.caption):
        return False
    known = {_plain(name) for name in KNOWN_MODELS}
    return not any(row and _plain(row[0]) in known for row in table.rows)


def _caption_sweep(
    table: Table, model_name: str, datasets: list[str], metrics: list[str]
) -> list[tuple[str, str, float, str, str]]:
    """A table the caption attributes to the method whose rows are settings or variants of it (a sweep
    over factors, a with/without comparison, one row per loss): the method's best number per dataset
    and metric, leaving out groups of columns labelled 'without ...' (an ablation). Datasets label
    groups of columns or panels of rows."""
    if not _attributed(table, model_name):
        return []
    header_row, cells = _metric_header(table, metrics)
    if not cells:
        return []
    groups = _column_groups(table, header_row, cells)
    kept = [(c, m, g) for (c, m), g in zip(cells, groups, strict=True) if not (g and WITHOUT.match(g))]
    row_label = next((row[0].strip() for row in reversed(table.rows[: header_row + 1]) if row and row[0].strip()), "")
    best: dict[tuple[str, str], tuple[float, str, str]] = {}
    panel = datasets[0] if len(datasets) == 1 else None
    for row in table.rows[header_row + 1 :]:
        filled = [cell.strip() for cell in row if cell.strip()]
        if len(filled) == 1 and (name := _dataset(filled[0], datasets)):
            panel = name
            continue
        for c, metric, group in kept:
            dataset = (_dataset(group, datasets) if group else None) or panel
            value = _number(row[c]) if c < len(row) else None
            if dataset is None or value is None:
                continue
            lower = metric.split("@")[0] in LOWER_IS_BETTER
            old = best.get((dataset, metric))
            if old is None or (value < old[0] if lower else value > old[0]):
                setting = f"{row_label} {row[0].strip()}".strip()
                where = ", ".join(x for x in (group if group != dataset else None, setting) if x)
                best[(dataset, metric)] = (value, row[c].strip(), f"best over the table's rows: {where}")
    return [(d, m, v, cell, variant) for (d, m), (v, cell, variant) in best.items()]


def find_reported(
    tables: list[Table], model_name: str, datasets: list[str], metrics: list[str]
) -> list[Reported]:
    """Numbers of the method from the first table that lists it once (per panel) beside numbers; else
    its best numbers from the first table whose caption names it (rows are its settings)."""
    for table in tables:
        panels = _panels(table)
        if any(name for name, _ in panels):
            values = [
                v for name, panel in panels if name for v in _values_in(panel, model_name, [name], metrics)
            ]
        else:
            values = _values_in(table, model_name, datasets, metrics)
        if not values:
            continue
        label = table_label(table)
        unit = _unit(table, values)
        return [
            Reported(
                dataset=dataset,
                metric=metric,
                value=value,
                unit=unit,
                table=label,
                evidence=f"{table.where}: {label}, {model_name} row/column, {dataset} {metric}: {cell}",
            )
            for dataset, metric, value, cell in values
        ]
    for table in tables:
        sweep = _caption_sweep(table, model_name, datasets, metrics)
        if not sweep:
            continue
        label = table_label(table)
        return [
            Reported(
                dataset=dataset,
                metric=metric,
                value=value,
                variant=variant,
                table=label,
                evidence=f"{table.where}: {label} ({table.caption[:60]}), {dataset} {metric}: {cell}",
            )
            for dataset, metric, value, cell, variant in sweep
        ]
    return []
