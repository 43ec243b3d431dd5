"""The paper's own numbers from its results tables.

The method is found by its name in a row label or a column header: as printed ("LightGCN", "FmFM(ours)",
"IMP-GCN*"), as "Ours", or, when no table prints the name itself, by a variant of it ("CMN-2", "I-AutoRec",
"NGCF-3"). Two layouts are read: methods as rows (datasets and metrics in the header rows above, however many,
spanning groups of columns) and methods as columns (metrics and datasets in the leading cells of each row, or in
section rows between groups of rows). Numbers keep their significance marks, spreads and improvements out of the
value; a percentage keeps "%" as its unit. Training and validation columns are left out (test numbers only).

When the method's label occurs several times in one table (one row per backbone, per number of layers), its best
number per dataset and metric is taken and the variant it came from is recorded; a variant matching the setting
the paper states (the number of layers) is preferred. The first table with the method's numbers is the main one;
later tables add only datasets and metrics it does not have (a second dataset's table). Without any such table,
the best numbers of a table whose caption attributes its rows to the method (settings or variants of it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paper_autotrain.schemas import Reported, Table

from .lexicon import DATASET_PATTERNS, KNOWN_MODELS, LOWER_IS_BETTER, METRIC_PATTERN, METRIC_QUALIFIER
from .names import canonical_metric
from .text import name_key

PANEL = re.compile(r"^\([a-z]\)\s+(?P<name>\S.{0,40})$")
MARKS = "*†‡§¶"  # significance marks printed after a number ("0.1830*", "0.1554†")
# A number with its marks, optionally its spread ("0.61±0.02") and its relative change: "0.5853 (+15.55%)",
# "0.61 +2.1%" (not "+3.9%", an improvement row's cell).
NUMBER_CELL = re.compile(
    rf"^[-+]?(?P<n>\d*\.\d+|\d+)[{MARKS}]*(?:±\d*\.?\d+)?(?:\s*\([+-]?\d*\.?\d+%\)|\s*[+-]\d*\.?\d+%)?[{MARKS}]*$"
)
# The method's row label may say it is the paper's: "LightGCN (ours)", "FmFM(ours)"
OWN_SUFFIX = re.compile(r"\s*\((?:ours|proposed)\)\s*$", re.I)
OURS = re.compile(r"^(?:ours|our (?:model|method|approach)|proposed(?: (?:model|method))?)$", re.I)
# The method's number printed as a percentage ("18.30%"): the value is kept as printed, with "%" as its unit.
# A signed one ("+3.9%") is an improvement, never the method's number.
PERCENT_CELL = re.compile(rf"^(?P<n>\d*\.\d+|\d+)[{MARKS}]*%[{MARKS}]*$")
PERCENT_HEADER = re.compile(r"\s*(?:\(\s*%\s*\)|%)\s*$")  # "Recall@20 (%)"
PERCENT_CAPTION = re.compile(r"\(\s*(?:in\s+)?%\s*\)|\bin %|\b(?:in|by|as) percent(?:ages?)?\b", re.I)
# A header naming the split a column was measured on: only the test columns are the paper's results.
NOT_TEST_SPLIT = re.compile(r"^\(?(?:train(?:ing)?|valid(?:ation)?|dev(?:elopment)?)(?: set)?\)?$", re.I)
# A header giving the cut-off of the metrics under it: "TopK = 20", "Top-K=50", "K = 10", "@20", "Top-20"
CUTOFF = re.compile(r"^(?:top[- ]?k|k|n)\s*=\s*(?P<k>\d{1,3})$|^@\s*(?P<a>\d{1,3})$|^top[- ]?(?P<t>\d{1,3})$", re.I)
WITHOUT = re.compile(r"^(?:without|w/o|no)\b", re.I)
BEST_BASELINE = re.compile(r"compared (?:to|with|against) the (?:best|strongest) baseline", re.I)
# Which tables are read, in turn, until one gives numbers: (by a variant of the name, the label occurs several
# times). The name printed once first; a table listing several variants of the method last.
TIERS = ((False, False), (False, True), (True, False), (True, True))
MAX_VARIANT_EXTRA = 3  # "CMN-2", "I-AutoRec", "CML+F": the method's name with a short mark


def _clean(cell: str) -> str:
    return cell.replace(" ", "").replace("\u2217", "*")


def _number(cell: str) -> float | None:
    match = NUMBER_CELL.match(_clean(cell))
    return float(match.group("n")) if match else None


def _value(cell: str) -> float | None:
    """A number of the method's own row or column: `_number`, or an unsigned percentage."""
    value = _number(cell)
    if value is not None:
        return value
    match = PERCENT_CELL.match(_clean(cell))
    return float(match.group("n")) if match else None


def _unit(table: Table, values: list[tuple[str, str, float, str]]) -> str | None:
    """'%' when the method's numbers (dataset, metric, value, cell) are printed as percentages, in their cells or by
    the caption or a header ('Recall@20 (%)') of a table whose numbers are not fractions."""
    if values and all(PERCENT_CELL.match(_clean(cell)) for *_, cell in values):
        return "%"
    headers = any(PERCENT_HEADER.search(cell) and re.search(METRIC_PATTERN, cell, re.I) for row in table.rows
                  for cell in row)
    if (PERCENT_CAPTION.search(table.caption) or headers) and values and all(v >= 1 for _, _, v, _ in values):
        return "%"
    return None


def _cutoff(label: str) -> str | None:
    match = CUTOFF.match(label.strip())
    return next((g for g in match.groups() if g), None) if match else None


def _metric(cell: str, metrics: list[str], cutoff: str | None = None) -> str | None:
    """The metric a header cell names; a bare 'recall' takes the cut-off of its column group ('TopK = 20') or the
    paper's only Recall@K; a qualified header ('Offline AUC') keeps its printed name when the paper lists it so."""
    cell = PERCENT_HEADER.sub("", cell)
    qualified = re.fullmatch(rf"({METRIC_QUALIFIER})\s+{METRIC_PATTERN}", cell.strip(), re.I)
    if qualified:
        name = f"{qualified.group(1)} {canonical_metric(qualified.group(2), qualified.group(3))}"
        return name if name in metrics else None
    match = re.fullmatch(METRIC_PATTERN, cell.strip(), re.I)
    if not match:
        return None
    name = canonical_metric(match.group(1), match.group(2) or cutoff)
    if "@" in name or name not in {m.split("@")[0] for m in metrics}:
        return name
    same_base = [m for m in metrics if m.split("@")[0] == name]
    return same_base[0] if len(same_base) == 1 else None


def _dataset(cell: str, datasets: list[str]) -> str | None:
    text = cell.strip()
    if not text:
        return None
    for name in datasets:
        if name_key(name) == name_key(text):
            return name
        if len(name_key(text)) >= 4 and name_key(name).endswith(name_key(text)):
            return text  # "Games" in a results table for "Amazon Games" in the statistics table
    if any(re.fullmatch(p, text) for p in DATASET_PATTERNS):
        return text
    return None


# --- where the method is -------------------------------------------------------------------------------------------

def _is_own(cell: str, own: str) -> bool:
    text = OWN_SUFFIX.sub("", cell.strip()).rstrip(MARKS + "\u2217")
    return bool(own) and name_key(text) == own or bool(OURS.match(text))


def _variant_of(cell: str, own: str) -> bool:
    """'CMN-2', 'NGCF-3', 'I-AutoRec', 'CML+F', 'IMP-GCN𝑠': the method's name with a short mark before or after."""
    plain = name_key(OWN_SUFFIX.sub("", cell))
    if not own or len(own) < 3 or plain == own or len(cell.strip()) > len(own) + 8:
        return False
    extra = None
    if plain.startswith(own):
        extra = plain.removeprefix(own)
    elif plain.endswith(own):
        extra = plain.removesuffix(own)
    return extra is not None and 0 < len(extra) <= MAX_VARIANT_EXTRA and not any(
        name_key(name) == plain for name in KNOWN_MODELS
    )


def _positions(table: Table, own: str, tier: tuple[bool, bool]) -> list[tuple[int, int]]:
    """Where the method's label is: its name (or a variant of it, `tier[0]`), once or, `tier[1]`, several times."""
    variants, several = tier
    test = (lambda cell: _variant_of(cell, own)) if variants else (lambda cell: _is_own(cell, own))
    found = [(r, c) for r, row in enumerate(table.rows) for c, cell in enumerate(row) if cell.strip() and test(cell)]
    return found if (len(found) > 1) == several else []


# --- reading the numbers -------------------------------------------------------------------------------------------

@dataclass
class _Entry:
    dataset: str
    metric: str
    value: float
    cell: str
    variant: str | None = None


@dataclass
class _Context:
    datasets: list[str]
    metrics: list[str]
    caption_dataset: str | None  # the one dataset the caption (or the panel) names
    caption_metric: str | None  # the one metric the caption names


def _numeric_row(row: list[str], after: int) -> bool:
    return sum(_value(cell) is not None for cell in row[after + 1 :]) >= 1


def _assign(cells: list[tuple[int, str]], columns: list[int]) -> dict[int, str]:
    """Header labels over value columns: one each, a group each (a dataset over its metrics), else the nearest."""
    if not cells or not columns:
        return {}
    if len(cells) == len(columns):
        return {col: label for col, (_, label) in zip(columns, cells, strict=True)}
    if len(columns) % len(cells) == 0:
        span = len(columns) // len(cells)
        return {col: cells[k // span][1] for k, col in enumerate(columns)}
    return {col: min(cells, key=lambda cell: (abs(cell[0] - col), cell[0]))[1] for col in columns}


def _rows_layout(table: Table, row_index: int, label_col: int, ctx: _Context) -> list[_Entry]:
    """Method as a row: each of its numbers takes the labels of the header rows above its column."""
    row = table.rows[row_index]
    columns = [c for c in range(label_col + 1, len(row)) if _value(row[c]) is not None]
    if not columns:
        return []
    first_data = next((r for r, other in enumerate(table.rows) if _numeric_row(other, label_col)), row_index)
    labels: dict[int, list[str]] = {c: [] for c in columns}
    kept = list(columns)
    for header_row in reversed(table.rows[:first_data]):
        cells = [(c, cell.strip()) for c, cell in enumerate(header_row) if c > label_col and cell.strip()]
        assigned = _assign(cells, kept)
        for col, label in assigned.items():
            labels[col].append(label)
        kept = [c for c in kept if not NOT_TEST_SPLIT.match(assigned.get(c, ""))]
    out = []
    for col in kept:
        entry = _column_entry(labels[col], row[col], ctx)
        if entry is not None:
            out.append(entry)
    return _without_repeats(out)


def _column_entry(labels: list[str], cell: str, ctx: _Context) -> _Entry | None:
    cutoff = next((k for label in labels if (k := _cutoff(label))), None)
    metric = next((m for label in labels if (m := _metric(label, ctx.metrics, cutoff))), None)
    dataset = next((d for label in labels if (d := _dataset(label, ctx.datasets))), None)
    if metric is None and ctx.caption_metric and dataset is not None:
        metric = ctx.caption_metric  # "(c) Comparison ... on MovieLens and Netflix", the paper's one metric
    if dataset is None:
        dataset = ctx.caption_dataset
    if metric is None or dataset is None or any(WITHOUT.match(label) for label in labels):
        return None
    value = _value(cell)
    return None if value is None else _Entry(dataset, metric, value, cell.strip())


def _without_repeats(entries: list[_Entry]) -> list[_Entry]:
    """A dataset and metric read twice from one row or column (groups of columns or rows by a setting that is not a
    dataset: sparse and dense users, one row per layer count): kept only when the readings agree, since which one
    is the method's result is not said."""
    values: dict[tuple[str, str], set[float]] = {}
    for entry in entries:
        values.setdefault((entry.dataset, entry.metric), set()).add(entry.value)
    out, seen = [], set()
    for entry in entries:
        key = (entry.dataset, entry.metric)
        if len(values[key]) == 1 and key not in seen:
            seen.add(key)
            out.append(entry)
    return out


def _columns_layout(table: Table, header_row: int, col: int, ctx: _Context) -> list[_Entry]:
    """Method as a column: rows carry a metric and a dataset in their leading cells, or take them from a section
    row above them ('Recall@50' across the table); a dataset printed once for a group of rows labels the group."""
    entries: list[tuple[int, str, float, str, str | None]] = []  # (row, metric, value, cell, its own dataset)
    labels: list[tuple[int, str]] = []  # datasets printed once for a group of rows (in its middle)
    section_metric: str | None = None
    for r, row in enumerate(table.rows[header_row + 1 :]):
        value = _value(row[col]) if col < len(row) else None
        lead = [cell for cell in row[:col] if cell.strip()]
        if value is None and not _numeric_row(row, -1):
            filled = [cell for cell in row if cell.strip()]
            section_metric = next((m for cell in filled if (m := _metric(cell, ctx.metrics))), section_metric)
            labels += [(r, d) for cell in filled if (d := _dataset(cell, ctx.datasets))][:1]
            continue
        cutoff = next((k for cell in lead if (k := _cutoff(cell))), None)
        metric = next((m for cell in lead if (m := _metric(cell, ctx.metrics, cutoff))), None)
        dataset = next((d for cell in lead if (d := _dataset(cell, ctx.datasets))), None)
        if dataset:
            labels.append((r, dataset))
        metric = metric or section_metric or ctx.caption_metric
        if metric and value is not None:
            entries.append((r, metric, value, row[col].strip(), dataset))
    groups: list[list[tuple[int, str, float, str, str | None]]] = []
    for entry in entries:
        previous = groups[-1] if groups else []
        if not previous or any(e[1] == entry[1] for e in previous) or (
            entry[4] and previous[-1][4] and entry[4] != previous[-1][4]
        ):
            groups.append([])
        groups[-1].append(entry)
    out = []
    for group in groups:
        first, last = group[0][0], group[-1][0]
        inside = {d for r, d in labels if first <= r <= last}
        if not inside and ctx.caption_dataset:
            inside = {ctx.caption_dataset}
        if len(inside) != 1 and len(groups) == 1 and len(ctx.datasets) == 1:
            inside = {ctx.datasets[0]}
        if len(inside) != 1:
            continue
        dataset = inside.pop()
        out += [_Entry(dataset, metric, value, cell) for _, metric, value, cell, _ in group]
    return _without_repeats(out)


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


def _named_once(text: str, names: list[str], find) -> str | None:
    found = {name for name in names if find(name, text)}
    return found.pop() if len(found) == 1 else None


def _context(table: Table, datasets: list[str], metrics: list[str], panel: str | None = None,
             extra: list[str] | None = None) -> _Context:
    def in_caption(name: str, text: str) -> bool:
        return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.I) is not None

    caption_metrics = {canonical_metric(m.group(1), m.group(2)) for m in re.finditer(METRIC_PATTERN, table.caption)}
    return _Context(
        datasets=[panel] if panel else [*datasets, *(extra or [])],
        metrics=metrics,
        caption_dataset=panel or (datasets[0] if len(datasets) == 1 else _named_once(table.caption, datasets,
                                                                                       in_caption)),
        caption_metric=next(iter(caption_metrics)) if len(caption_metrics) == 1 else None,
    )


def _variant_label(table: Table, r: int, c: int, layout: str) -> str:
    """What tells one occurrence of the method from another: its own label, with the group label of its rows
    (a backbone printed once beside a block of rows) when the label is the same."""
    cell = table.rows[r][c].strip()
    if layout == "columns":
        return cell
    nearest = None
    for distance in range(len(table.rows)):
        for other in (r - distance, r + distance):
            if 0 <= other < len(table.rows):
                lead = [x.strip() for x in table.rows[other][:c] if x.strip()]
                if lead and _value(lead[0]) is None:
                    nearest = lead[0]
                    break
        if nearest:
            break
    return f"{nearest} {cell}" if nearest else cell


def _read_at(table: Table, r: int, c: int, ctx: _Context) -> tuple[list[_Entry], str]:
    rows = _rows_layout(table, r, c, ctx)
    if rows:
        return rows, "rows"
    return _columns_layout(table, r, c, ctx), "columns"


def _entries(table: Table, positions: list[tuple[int, int]], ctx: _Context, preferred: str | None) -> list[_Entry]:
    """The method's numbers at each position; several positions: the best per dataset and metric, or the
    preferred variant's."""
    readings = []
    for r, c in positions:
        entries, layout = _read_at(table, r, c, ctx)
        if entries:
            readings.append((_variant_label(table, r, c, layout), entries))
    if len(readings) == 1:
        return readings[0][1]
    if preferred is not None:
        chosen = [entries for label, entries in readings if name_key(label).endswith(preferred)]
        if len(chosen) == 1:
            return [_with_variant(e, next(label for label, x in readings if x is chosen[0])) for e in chosen[0]]
    best: dict[tuple[str, str], _Entry] = {}
    for label, entries in readings:
        for entry in entries:
            lower = entry.metric.split("@")[0] in LOWER_IS_BETTER
            old = best.get((entry.dataset, entry.metric))
            if old is None or (entry.value < old.value if lower else entry.value > old.value):
                best[(entry.dataset, entry.metric)] = _with_variant(entry, label)
    return list(best.values())


def _with_variant(entry: _Entry, label: str) -> _Entry:
    return _Entry(entry.dataset, entry.metric, entry.value, entry.cell, variant=label)


def _values_in(
    table: Table, own: str, datasets: list[str], metrics: list[str], tier: tuple[bool, bool], preferred: str | None,
    extra: list[str] | None = None,
) -> list[_Entry]:
    panels = _panels(table)
    if any(name for name, _ in panels):
        return [
            entry
            for name, panel in panels
            if name
            for entry in _entries(panel, _positions(panel, own, tier), _context(panel, [name], metrics, name),
                                  preferred)
        ]
    positions = _positions(table, own, tier)
    return _entries(table, positions, _context(table, datasets, metrics, extra=extra), preferred) if positions else []


def _attributed(table: Table, model_name: str) -> bool:
    """The caption says the table is the method's: it names the method, or its rows are compared to
    the best baseline (variants of the method) and none of them is a known compared model."""
    if model_name and re.search(rf"(?<![\w-]){re.escape(model_name)}(?![\w-])", table.caption):
        return True
    if not BEST_BASELINE.search(table.caption):
        return False
    known = {name_key(name) for name in KNOWN_MODELS}
    return not any(row and name_key(row[0]) in known for row in table.rows)


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


def _reported(table: Table, entries: list[_Entry], model_name: str) -> list[Reported]:
    label = table_label(table)
    unit = _unit(table, [(e.dataset, e.metric, e.value, e.cell) for e in entries])
    return [
        Reported(
            dataset=e.dataset,
            metric=e.metric,
            value=e.value,
            unit=unit,
            variant=e.variant,
            table=label,
            evidence=f"{table.where}: {label}, {e.variant or model_name} row/column, {e.dataset} {e.metric}: {e.cell}",
        )
        for e in entries
    ]


NOT_A_METHOD = re.compile(
    r"improv|gain|\bimpr\b|%|\bbest\b|average|\bavg\b|\bdelta\b|^\W*$"
    r"|^(?:none|all|mean|sum|max|min|default|full|random|base|baseline|proposed|model|method)$", re.I
)


def compared_methods(tables: list[Table], model_name: str) -> list[str]:
    """The other methods of the tables that print the paper's method: the labels beside its row (down its column)
    or beside its column (along its header row) that carry numbers too. They name the baselines the paper
    describes, whether or not the lexicon knows them."""
    own = name_key(model_name)
    names: list[str] = []
    for table in tables:
        positions = next((found for tier in TIERS if (found := _positions(table, own, tier))), [])
        for r, c in positions[:1]:
            if _numeric_row(table.rows[r], c):  # the method is a row: the other rows' labels in its column
                labels = [row[c] for k, row in enumerate(table.rows)
                          if k != r and c < len(row) and _numeric_row(row, c)]
            else:  # the method is a column: the other columns' headers in its row
                below = table.rows[r + 1 :]
                labels = [cell for k, cell in enumerate(table.rows[r]) if k != c and any(
                    k < len(row) and _value(row[k]) is not None for row in below)]
            for label in labels:
                name = OWN_SUFFIX.sub("", label.strip()).rstrip(MARKS)
                if (re.match(r"[A-Za-z]", name) and len(name) <= 30 and not NOT_A_METHOD.search(name)
                        and not _is_own(name, own) and not _variant_of(name, own)
                        and re.fullmatch(METRIC_PATTERN, name, re.I) is None):
                    names.append(name)
    return list(dict.fromkeys(names))


def find_reported(
    tables: list[Table], model_name: str, datasets: list[str], metrics: list[str], preferred: str | None = None,
    also: list[str] | None = None,
) -> list[Reported]:
    """Numbers of the method from the first table that prints its name beside numbers, with the datasets and
    metrics later such tables add; by a variant of its name when no table prints the name itself; else its best
    numbers from the first table whose caption names it (rows are its settings). `preferred`: the mark of the
    variant the paper's stated settings point to ("2" for two layers), used when the method occurs several
    times in a table. `also`: other names the paper gives datasets, read in a table's cells after `datasets`."""
    own = name_key(model_name)
    extra = [name for name in also or [] if not any(name_key(name) == name_key(d) for d in datasets)]
    for tier in TIERS:
        reported: list[Reported] = []
        seen: set[tuple[str, str]] = set()
        for table in tables:
            entries = _values_in(table, own, datasets, metrics, tier, preferred, extra)
            new = [e for e in entries if (e.dataset, e.metric) not in seen]
            if not new:
                continue
            seen |= {(e.dataset, e.metric) for e in new}
            reported += _reported(table, new, model_name)
        if reported:
            return reported
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
