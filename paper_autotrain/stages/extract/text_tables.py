"""Tables rebuilt from a page's text when the PDF reader printed them one cell a line.

A two-column PDF often comes out of the text layer as a stream of short lines, one table cell each: a header
("Dataset", "Metric", "POP", "BPRMF", ...), then rows of a label or two and a run of numbers. A table wider than
a column may be cut in two: the first columns with the row labels, and further on the remaining columns under
their own header with numbers only (as many rows as the first part). The parse stage finds tables by their
caption in the page layout and misses these; this module reads them back from `Page.text` so the results and
statistics tables can still be read. Nothing here guesses a value: a block whose rows do not line up is dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from paper_autotrain.schemas import PaperDoc, Table

CAPTION_LINE = re.compile(r"^(?:Table|TABLE)\s+(?P<label>\d{1,2}|[IVX]{1,5})\s*[:.]")
MARKS = "*†‡§¶∗"
NUMBER_LINE = re.compile(
    rf"^[-+]?(?:\d{{1,3}}(?:,\d{{3}})+|\d+|\d*\.\d+)(?:\.\d+)?[KMB]?[{MARKS}]*\s*%?[{MARKS}]*"
    r"(?:\s*±\s*\d*\.?\d+)?(?:\s*\(\s*[+-]?\d*\.?\d+\s*%\s*\))?$"
)
MISSING = frozenset({"-", "–", "—", "NA", "N/A", "n/a", "/", "×"})
PANEL_LINE = re.compile(r"^\([a-h]\)$")  # "(a)": a sub-table's label, between sub-tables
MAX_LABEL_CHARS = 40
MAX_LABEL_WORDS = 6
MIN_ROWS = 2


def _kind(line: str) -> str:
    """'num' (a number cell or a missing-value mark), 'label' (a short cell) or 'prose'."""
    text = line.strip()
    if NUMBER_LINE.match(text.replace(" ", "")) and re.search(r"\d", text) or text in MISSING:
        return "num"
    if CAPTION_LINE.match(text) or PANEL_LINE.match(text):
        return "prose"
    if len(text) > MAX_LABEL_CHARS or len(text.split()) > MAX_LABEL_WORDS:
        return "prose"
    return "label"


@dataclass
class _Block:
    start: int  # line index of the first cell
    end: int  # line index after the last cell
    cells: list[tuple[str, str]] = field(default_factory=list)  # (kind, text)


def _blocks(lines: list[str]) -> list[_Block]:
    """Maximal runs of label and number lines holding at least two runs of numbers."""
    blocks: list[_Block] = []
    current: _Block | None = None
    for i, line in enumerate(lines):
        kind = _kind(line)
        if kind == "prose" or not line.strip():
            if current is not None:
                blocks.append(current)
                current = None
            continue
        if current is None:
            current = _Block(start=i, end=i)
        current.cells.append((kind, line.strip()))
        current.end = i + 1
    if current is not None:
        blocks.append(current)
    return [b for b in blocks if len(_runs(b.cells)) >= 3 or _headless_shape(_runs(b.cells))
            or _one_row_shape(_runs(b.cells))]


def _one_row_shape(runs: list[tuple[str, list[str]]]) -> bool:
    """A header (a stub cell and one cell per column) over a single row: its label, then its numbers."""
    return (len(runs) == 2 and runs[0][0] == "label" and runs[1][0] == "num" and len(runs[1][1]) >= 2
            and len(runs[0][1]) == len(runs[1][1]) + 2)


def _headless_shape(runs: list[tuple[str, list[str]]]) -> bool:
    """A header over a long run of numbers (the right-hand part of a cut table)."""
    return (len(runs) == 2 and runs[0][0] == "label" and runs[1][0] == "num" and len(runs[0][1]) >= 2
            and len(runs[1][1]) >= MIN_ROWS * len(runs[0][1]))


def _runs(cells: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    runs: list[tuple[str, list[str]]] = []
    for kind, text in cells:
        if runs and runs[-1][0] == kind:
            runs[-1][1].append(text)
        else:
            runs.append((kind, [text]))
    return runs


@dataclass
class _Parsed:
    header: list[str]  # header labels, top to bottom, left to right
    rows: list[tuple[list[str], list[str]]]  # (row labels, numbers)
    width: int  # numbers per row
    start: int
    end: int


def _parse(block: _Block) -> _Parsed | None:
    """Header labels and rows (labels, numbers) of a block; a label run over as many numbers as it has labels
    times the rows so far continues the table to the right (a table cut where the page's columns meet)."""
    runs = _runs(block.cells)
    if len(runs) < 2 or runs[0][0] != "label" or runs[1][0] != "num":
        return None
    head = runs[0][1]  # the header, then the first row's labels
    rows: list[tuple[list[str], list[str]]] = [([], runs[1][1])]
    more: list[str] = []  # the header of the columns continued to the right
    pending: list[str] = []
    for kind, texts in runs[2:]:
        if kind == "label":
            pending = texts
            continue
        if len(rows) >= MIN_ROWS and len(pending) >= 2 and len(texts) == len(pending) * len(rows):
            step = len(pending)
            more += pending
            rows = [(labels, numbers + texts[k * step : (k + 1) * step]) for k, (labels, numbers) in enumerate(rows)]
        else:
            rows.append((pending, texts))
        pending = []
    if len(rows) < MIN_ROWS:
        if _one_row_shape(runs):
            return _Parsed(header=head[:-1], rows=[([head[-1]], rows[0][1])], width=len(rows[0][1]),
                           start=block.start, end=block.end)
        return _headless(head, runs)
    width = Counter(len(numbers) for _, numbers in rows).most_common(1)[0][0]
    if len(rows[-1][1]) > width:  # a section number ("4.3") right after the table
        rows[-1] = (rows[-1][0], rows[-1][1][:width])
    if any(len(numbers) > width for _, numbers in rows) or sum(len(n) == width for _, n in rows) < MIN_ROWS:
        return None
    counts = [len(labels) for labels, _ in rows[1:]]
    stubs = max(counts)
    if stubs == 0:
        return None
    first_width = width - len(more)
    fits = [k for k in range(1, stubs + 1) if len(head) - k in (first_width, first_width + stubs)]
    k = fits[0] if fits else Counter(counts).most_common(1)[0][0]
    if k >= len(head):
        return None
    rows[0] = (head[len(head) - k :], rows[0][1])
    return _Parsed(header=head[: len(head) - k] + more, rows=rows, width=width, start=block.start, end=block.end)


def _headless(header: list[str], runs: list[tuple[str, list[str]]]) -> _Parsed | None:
    """A header over numbers only: the right-hand part of a cut table (its rows are the left part's)."""
    if not _headless_shape(runs):
        return None
    numbers = runs[1][1]
    if len(numbers) % len(header):
        return None
    width = len(header)
    rows = [([], numbers[k : k + width]) for k in range(0, len(numbers), width)]
    return _Parsed(header=header, rows=rows, width=width, start=-1, end=-1)


def _header_rows(header: list[str], stubs: int, width: int) -> list[list[str]]:
    """The header labels as rows of the grid (stub cells, then one cell per number column): the bottom row holds
    one label per column; a row above it holds a label per group of columns (datasets over their metrics)."""
    if len(header) < width:
        return [[""] * stubs + [""] * (width - len(header)) + header] if header else []
    bottom, rest = header[len(header) - width :], header[: len(header) - width]
    for bottom_stubs in (min(stubs, len(rest)), 0):
        upper = rest[: len(rest) - bottom_stubs]
        own = rest[len(rest) - bottom_stubs :]
        rows = [_padded(own, stubs) + bottom]
        if not upper:
            return rows
        for upper_stubs in (min(stubs, len(upper)), 0):
            groups = upper[upper_stubs:]
            if groups and width % len(groups) == 0 and len(groups) < width:
                span = width // len(groups)
                cells = [cell for group in groups for cell in [group] + [""] * (span - 1)]
                return [_padded(upper[:upper_stubs], stubs) + cells, *rows]
    return [_padded(rest[-stubs:] if stubs else [], stubs) + bottom]


def _padded(labels: list[str], stubs: int) -> list[str]:
    labels = labels[-stubs:] if stubs else []
    return [""] * (stubs - len(labels)) + labels


def _grid(parsed: _Parsed) -> list[list[str]]:
    stubs = max(len(labels) for labels, _ in parsed.rows)
    grid = _header_rows(parsed.header, stubs, parsed.width)
    for labels, numbers in parsed.rows:
        grid.append(_padded(labels, stubs) + numbers + [""] * (parsed.width - len(numbers)))
    return grid


def _caption(lines: list[str], start: int, end: int) -> tuple[str, int] | None:
    """The 'Table N:' caption right above a block (its words run on over a few lines) or right below it
    (past a sub-table's '(c)'), and where it starts."""
    for i in range(start - 1, max(-1, start - 6), -1):
        if CAPTION_LINE.match(lines[i].strip()):
            return " ".join(line.strip() for line in lines[i:start]), i
        if _kind(lines[i]) == "num":
            break
    i = end
    while i < len(lines) and PANEL_LINE.match(lines[i].strip()):
        i += 1
    if i < len(lines) and CAPTION_LINE.match(lines[i].strip()):
        words = [lines[i].strip()]
        for line in lines[i + 1 : i + 4]:
            if _kind(line) != "prose" or CAPTION_LINE.match(line.strip()):
                break
            words.append(line.strip())
            if line.strip().endswith("."):
                break
        return " ".join(words), i
    return None


def page_text_tables(number: int, text: str, where: str = "") -> list[Table]:
    lines = text.splitlines()
    tables: list[Table] = []
    previous: _Parsed | None = None
    previous_caption = ""
    for block in _blocks(lines):
        while (block.cells and block.cells[0][1].endswith(".") and block.cells[0][1][:1].islower()
               and block.start > 0 and _kind(lines[block.start - 1]) == "prose"):
            block.cells.pop(0)  # the end of the caption ("... aggregation meth-" / "ods.")
            block.start += 1
        parsed = _parse(block)
        if parsed is None:
            continue
        if parsed.start < 0:  # the right-hand part of the last table cut in two
            if previous is not None and len(previous.rows) == len(parsed.rows) and tables:
                previous.header = previous.header + parsed.header
                previous.rows = [(labels, numbers + more) for (labels, numbers), (_, more)
                                 in zip(previous.rows, parsed.rows, strict=True)]
                previous.width += parsed.width
                tables[-1] = Table(page=number, caption=previous_caption, rows=_grid(previous), label=where)
            continue
        found = _caption(lines, block.start, block.end)
        if found is None:
            previous = None
            continue
        previous, previous_caption = parsed, " ".join(found[0].split())
        tables.append(Table(page=number, caption=previous_caption, rows=_grid(parsed), label=where))
    return tables


def text_tables(doc: PaperDoc) -> list[Table]:
    """Tables read back from the pages' text (see the module's docstring)."""
    return [table for page in doc.pages for table in page_text_tables(page.number, page.text, page.label)]
