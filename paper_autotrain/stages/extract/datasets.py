"""The datasets of a paper's experiments, named as the paper prints them.

Read, in turn, from: the paper's statistics tables (one row or column per dataset beside counts of users, items,
interactions; a caption about the datasets), known corpus names and 'Dataset' columns in its tables, and known
corpus names its experiments mention. A results table that gives the method's numbers later names the datasets
of the main experiments (see rules.extract).
"""

from __future__ import annotations

import re
from collections import Counter

from paper_autotrain.schemas import Table

from .lexicon import DATASET_PATTERNS
from .text import Sentence, name_key

DATASET_HEADER = re.compile(r"^(?:data ?sets?|data)$", re.I)
DATASET_NAME = re.compile(r"^[A-Za-z][\w.*/&'+ -]{1,30}$")
# What a statistics table counts, in its header cells ("#Users", "Interactions", "Sparsity", "avg. #act.")
STAT_LABEL = re.compile(
    r"#|\b(?:users?|items?|interactions?|ratings?|sparsity|density|actions?|records?|sessions?|clicks?|events?"
    r"|samples|instances|features?|fields?|domain|rows|dims|check-?ins?|reviews?|ent\.|entropy|artists|songs"
    r"|movies|books|tags|pos:neg|size)\b",
    re.I,
)
STAT_CAPTION = re.compile(r"statistic|\bdata ?sets?\b|\bdata\b|attributes", re.I)
SPLIT_NAME = re.compile(r"^(?:train(?:ing)?|valid(?:ation)?|dev|test(?:ing)?)(?: (?:set|data))?$", re.I)
NUMBER = re.compile(r"\d")
# "the same Spotify listening history dataset", "the Epinions dataset": a capitalised name, a few describing words
# and "dataset" (not a verb between: "Netflix released a dataset")
NAME = r"[A-Z][\w.&-]*[A-Za-z0-9](?:[ -][A-Z0-9][\w.&-]*){0,2}"
NAMED_DATASET = re.compile(
    rf"\b(?P<n>{NAME}(?:(?:,\s+|\s+and\s+|,\s+and\s+){NAME})*) (?P<w>(?:[a-z][a-z-]* ){{0,3}})(?:data ?sets?)\b"
)
NOT_NAMES = frozenset({
    "the", "this", "that", "these", "those", "our", "each", "both", "all", "two", "three", "four", "five", "several",
    "large", "real", "public", "benchmark", "experimental", "synthetic", "training", "test", "validation", "other",
    "different", "same", "new", "original", "full", "small", "popular", "standard", "we", "in", "on", "for", "a", "an",
    "table", "figure", "section", "statistics", "real-world", "such", "any", "every", "most", "many", "which",
})
NOT_DESCRIBING = frozenset({"a", "an", "the", "is", "was", "are", "were", "and", "or", "of", "in", "on", "to", "from"})


def named_in_prose(experiments: list[Sentence]) -> list[str]:
    """Dataset names the experiments print before 'dataset': 'the same Spotify listening history dataset'."""
    found = []
    for sentence in experiments:
        for match in NAMED_DATASET.finditer(sentence.text):
            words = match.group("w").split()
            if any(w in NOT_DESCRIBING or w.endswith("ed") for w in words):
                continue
            names = [n for n in re.split(r",\s+and\s+|,\s+|\s+and\s+", match.group("n")) if n]
            for k, name in enumerate(names):
                if name.split()[0].lower() in NOT_NAMES:
                    continue
                if SPLIT_NAME.match(name) or STAT_LABEL.search(name) or re.search(r"data", name, re.I):
                    continue
                plain_word = re.fullmatch(r"[A-Z][a-z]+", name) is not None
                if plain_word and k == 0 and not sentence.text[: match.start()].strip(" (•-–"):
                    continue  # a sentence's first word ("Unlike explicit datasets, ...")
                found.append(name)
    return found


def _name_like(cell: str) -> bool:
    text = cell.strip()
    return bool(DATASET_NAME.match(text)) and not SPLIT_NAME.match(text) and not STAT_LABEL.search(text) and not (
        DATASET_HEADER.match(text)
    )


def _numeric(cell: str) -> bool:
    return bool(NUMBER.search(cell)) and re.fullmatch(r"[\d.,%~:KMBkmb± -]+", cell.strip()) is not None


def statistics_datasets(table: Table) -> list[str]:
    """Dataset names of a statistics table: the row labels under a header of counts ('Dataset | #Users |
    #Items'), or the column headers beside row labels of counts ('| CiteULike | BookCX' over '# Users | ...')."""
    rows = [row for row in table.rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        return []
    first_data = next((r for r, row in enumerate(rows) if sum(_numeric(c) for c in row[1:]) >= 2), None)
    if first_data is None:
        return []
    header_cells = [cell for row in rows[:first_data] for cell in row]
    has_dataset_header = any(DATASET_HEADER.match(cell.strip()) for cell in header_cells)
    if not (STAT_CAPTION.search(table.caption) or has_dataset_header):
        return []
    if sum(bool(STAT_LABEL.search(cell)) for cell in header_cells) >= 2:
        names = [row[0].strip() for row in rows[first_data:] if row and sum(_numeric(c) for c in row[1:]) >= 1]
        names = [name for name in names if _name_like(name)]
        if len(names) >= 1:
            return names
    column = [row[0] for row in rows if row]
    if sum(bool(STAT_LABEL.search(cell)) for cell in column) >= 2:
        top = rows[0][1:]
        names = [cell.strip() for cell in top if _name_like(cell)]
        if len(names) >= 1:
            return names
    return []


def dataset_column(table: Table) -> list[str]:
    """Names under a 'Dataset' header cell (a statistics or settings table), or beside it in its row."""
    names: list[str] = []
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row):
            if not DATASET_HEADER.match(cell.strip()):
                continue
            below = [other[c].strip() for other in table.rows[r + 1 :] if c < len(other)]
            beside = [other.strip() for other in row[c + 1 :]]
            filled = [name for name in below if name] or [name for name in beside if name]
            if filled and all(DATASET_NAME.match(name) for name in filled) and not any(
                SPLIT_NAME.match(name) for name in filled
            ):
                names += filled
    return names


def ordered_unique(names: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name_key(name), name)
    return list(seen.values())


def detect_datasets(
    tables: list[Table], experiments: list[Sentence], sentences: list[Sentence] | None = None,
    more_tables: list[Table] | None = None,
) -> list[str]:
    """Datasets of the statistics tables (`tables`, then `more_tables`: those read back from the page text), else
    those named in the tables (a known name, or a cell under a 'Dataset' header), else those mentioned at least
    twice in the experiments, else those the experiments mention once and the paper at least twice (a paper
    without an experiments heading: a figure title, the abstract)."""
    for group in (tables, more_tables or []):
        stats = [name for t in group for name in statistics_datasets(t)]
        if stats:
            return ordered_unique(stats)
    in_tables = [
        cell.strip()
        for t in tables
        for row in t.rows
        for cell in row
        if any(re.fullmatch(p, cell.strip()) for p in DATASET_PATTERNS)
    ] + [name for t in tables for name in dataset_column(t)]
    if in_tables:
        return ordered_unique(in_tables)

    def mentions(part: list[Sentence]) -> Counter[str]:
        return Counter(m.group(0) for s in part for p in DATASET_PATTERNS for m in re.finditer(p, s.text))

    in_experiments = mentions(experiments)
    twice = [name for name, n in in_experiments.items() if n >= 2]
    prose = named_in_prose(experiments)
    if prose:
        return ordered_unique([*prose, *twice])
    if twice or not sentences:
        return ordered_unique(twice)
    in_paper = mentions(sentences)
    return ordered_unique([name for name in in_experiments if in_paper[name] >= 2])
