"""Settings printed in a table (a caption about parameters, settings or configuration): one row per dataset with a
column per setting ("Dataset | Mini-batch | Dropout | Learning rate"), or one row per setting with its value, its
value per dataset or per method ("Hyperparameter | Value", "Hyperparameter | ML-1M | Yelp", "Hyperparameter | BPRMF |
OurRec")."""

from __future__ import annotations

import re
from typing import Any

from paper_autotrain.recbole_models import normalised
from paper_autotrain.schemas import HyperParameter, Table

from .lexicon import METRIC_PATTERN
from .numbers import NUM, parse_number, plausible

# key -> a table header cell that names it (a settings table: "Dataset | Mini-batch | Dropout | Learning rate").
HEADER_KEYS: dict[str, str] = {
    "learning_rate": r"learning[- ]rate|lr",
    "batch_size": r"(?:mini-?)?batch(?:[- ]size)?",
    "dropout": r"dropout(?: rate| ratio| probability)?",
    "embedding_size": r"embedding (?:size|dim(?:ension)?)|latent dim(?:ension(?:ality)?)?",
    "l2_reg": r"L2(?: reg(?:ularization)?)?(?: coefficient| weight)?|weight decay",
    "n_layers": r"(?:#|number of )\s?layers",
    "n_heads": r"(?:#|number of )\s?heads",
    "hidden_size": r"hidden (?:size|units)",
    "max_seq_length": r"max(?:imum)? (?:seq(?:uence)? )?len(?:gth)?",
    "negative_samples": r"(?:#|number of )\s?negatives?(?: samples)?|negative samples",
    "epochs": r"(?:#|number of )\s?epochs|epochs",
}
SETTINGS_CAPTION = re.compile(r"param|setting|configur|hyper", re.I)
# a table of results over settings ("Table 4: Effect of the embedding size"), not of the settings used
SWEEP_CAPTION = re.compile(r"\b(?:effect|impact|influence|sensitivity|performance|varying|vs\.?|versus|w\.r\.t)"
                           r"|\bwith different\b", re.I)


def header_key(cell: str) -> str | None:
    text = re.sub(r"\s*\([^)]*\)$", "", cell.strip())  # "Learning rate (η)"
    text = re.sub(r"\s+[A-Za-zα-ω]$", "", text)  # "Learning rate η", "Number of layers L"
    return next((key for key, p in HEADER_KEYS.items() if re.fullmatch(p, text, re.I)), None)


def table_number(cell: str) -> float | int | None:
    """A cell's number as printed: "0.001", "1024", "1e-4", "10^-4", "1 × 10-4"; None for anything else."""
    text = cell.strip()
    return parse_number(text) if re.fullmatch(NUM, text) else None


def _value_columns(header: list[str], datasets: list[str], model_name: str) -> list[tuple[int, str | None]] | None:
    """The columns of a row-per-setting table that hold the paper's method's values: its one value column, one
    column per dataset (with the dataset's name), or the method's own column among the methods'; None otherwise."""
    if len(header) == 2:
        return None if re.search(METRIC_PATTERN, header[1]) else [(1, None)]  # "Setting | Recall@20": results
    names = [normalised(cell) for cell in header[1:]]
    known = {normalised(d) for d in datasets}
    if names and all(name in known for name in names):
        return [(c, header[c].strip()) for c in range(1, len(header))]
    own = [c for c in range(1, len(header)) if model_name and normalised(header[c]) == normalised(model_name)]
    return [(own[0], None)] if len(own) == 1 else None


def _rows_per_setting(table: Table, where: str, datasets: list[str], model_name: str, skip: set[str]
                      ) -> dict[str, HyperParameter]:
    """Values from a table with one row per setting ("Learning rate | 0.001", "Batch size | 1024 | 2048")."""
    if SWEEP_CAPTION.search(table.caption):
        return {}
    header = table.rows[0]
    rows = [row for row in table.rows[1:] if row and header_key(row[0])]
    columns = _value_columns(header, datasets, model_name) if len(rows) >= 2 else None
    found: dict[str, HyperParameter] = {}
    for row in rows if columns else []:
        key = header_key(row[0])
        values = [table_number(row[c]) if c < len(row) else None for c, _ in columns or []]
        if key is None or key in skip or key in found or any(v is None or not plausible(key, v) for v in values):
            continue
        named = [name for _, name in columns or []]
        cells = ", ".join(f"{name} {row[c].strip()}" if name else row[c].strip() for c, name in columns or [])
        value = by_dataset(named, values) if all(named) else values[0]
        found[key] = HyperParameter(value=value, source="paper", evidence=f"{where}, {row[0].strip()}: {cells}")
    return found


def by_dataset(names: list[str], values: list[Any]) -> Any:
    """One value when every dataset has the same, else `{dataset: value}` in the paper's order."""
    return values[0] if len(set(values)) == 1 else dict(zip(names, values, strict=True))


def find_table_hyperparameters(
    tables: list[Table], datasets: list[str], skip: set[str], model_name: str = ""
) -> tuple[dict[str, HyperParameter], list[str]]:
    """Values from a settings table (a caption about parameters or settings) with one row per dataset, or one row
    per setting (`_rows_per_setting`). A value that differs by dataset is taken from the first dataset's row and
    noted, as in the text; where a dataset has several rows (per loss, per variant) its first row is taken and
    noted."""
    found: dict[str, HyperParameter] = {}
    notes: list[str] = []
    known = {normalised(d) for d in datasets}
    for table in tables:
        if not SETTINGS_CAPTION.search(table.caption) or len(table.rows) < 2:
            continue
        header = table.rows[0]
        columns = {c: key for c, cell in enumerate(header) if (key := header_key(cell)) and key not in skip}
        label = re.match(r"(?:Table|TABLE)\s+\w+", table.caption)
        where = f"{table.where}: {label.group(0) if label else 'table'}"
        if not columns and not any(header_key(cell) for cell in header):
            per_setting = _rows_per_setting(table, where, datasets, model_name, skip | set(found))
            found.update(per_setting)
            notes += [f"{key} differs by dataset in the paper ({entry.evidence}); a run uses its dataset's value "
                      "(the first where none is its dataset)"
                      for key, entry in per_setting.items() if entry.per_dataset]
            continue
        if not columns:
            continue
        data = [row for row in table.rows[1:] if row and row[0].strip()]
        keyed = normalised(data[0][0]) in known if data else False
        if len(data) > 1 and not keyed:
            continue  # rows are not datasets: a sweep or per-variant table, not one setting
        first_rows: dict[str, list[str]] = {}
        for row in data:
            first_rows.setdefault(row[0].strip(), row)
        for col, key in columns.items():
            values = {name: table_number(row[col]) for name, row in first_rows.items() if col < len(row)}
            if not values or any(v is None for v in values.values()) or key in found:
                continue
            if not all(plausible(key, v) for v in values.values()):
                continue
            cells = ", ".join(f"{name} {row[col].strip()}" for name, row in first_rows.items())
            evidence = f"{where}, {header[col]}: {cells}"
            found[key] = HyperParameter(value=by_dataset(list(values), list(values.values())), source="paper",
                                        evidence=evidence)
            if len(set(values.values())) > 1:
                notes.append(f"{key} differs by dataset in the paper ({evidence}); a run uses its dataset's value "
                             "(the first where none is its dataset)")
        if len(first_rows) < len(data) and columns:
            notes.append(
                f"{where} lists several rows per dataset; the first row of each dataset was taken "
                f"({', '.join(sorted({header_key(header[c]) or header[c] for c in columns}))})"
            )
    return found, notes
