"""Parse: turn the bundle into a PaperDoc (page texts, numbered sections, tables).

A LaTeX source is preferred to the PDF (`sources/latex.py`); arXiv's HTML rendering is read only when the
PDF has no text layer. The rest of this module reads PDFs.

Text is normalised so that the extractor's patterns can match: ligatures are expanded, unicode
minus signs become ASCII, words hyphenated across line ends are joined, and two-column pages
are read column by column.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import Page, PaperBundle, PaperDoc, PaperMeta, Section, Table
from paper_autotrain.sources.html import read_arxiv_html
from paper_autotrain.sources.latex import find_main_tex, read_latex
from paper_autotrain.sources.pages import CHARACTER_FIXES
from paper_autotrain.sources.pdf import check_pdf, has_text_layer, pdf_has_text

if TYPE_CHECKING:  # MuPDF loads when a PDF is read (_open_checked), not for every command line
    import pymupdf

log = logging.getLogger(__name__)

# Words whose line-end hyphen is a real hyphen ("mini-\nbatch" stays "mini-batch").
HYPHEN_KEEPING_PREFIXES = frozenset(
    {
        "mini",
        "non",
        "self",
        "multi",
        "state",
        "cross",
        "two",
        "three",
        "one",
        "top",
        "end",
        "fine",
        "well",
        "semi",
        "item",
        "user",
        "leave",
        "all",
        "high",
        "low",
        "long",
        "short",
        "data",
        "pair",
        "point",
        "list",
    }
)

HEADING_NUMBER = r"(?P<num>\d{1,2}(?:\.\d{1,2}){0,2})\.?"
HEADING_ALONE = re.compile(rf"^{HEADING_NUMBER}$")
HEADING_INLINE = re.compile(rf"^{HEADING_NUMBER}\s+(?P<title>[A-Z][A-Za-z0-9 ,:&()'/-]{{2,80}})$")
ROMAN_HEADING = re.compile(
    r"^(?P<num>(?:I|II|III|IV|V|VI|VII|VIII|IX|X))\.\s+(?P<title>[A-Z][A-Z0-9 ,:&'-]{2,80})$"
)
TITLE_LINE = re.compile(r"^[A-Z][A-Za-z0-9 ,:&()'/-]{2,80}$")
CAPTION = re.compile(r"^(?:Table|TABLE)\s+(?P<label>\d{1,2}|[IVX]{1,5})\s*[:.]")
MAX_ROW_GAP = 14  # points between table rows
MAX_PANEL_GAP = 24  # panels of one table ("(a) ML-20M", "(b) Netflix") sit a little further apart
PANEL_LABEL = re.compile(r"^\([a-z]\)\s+\S")
MAX_HEADING_WORDS = 8  # longer "headings" are numbered list items in the text
ROMAN_VALUES = {"I": 1, "V": 5, "X": 10}


# --- input checks --------------------------------------------------------------------------------


def _open_checked(path: Path, cfg: Mapping, name: str) -> pymupdf.Document:
    """The opened PDF, or a one-line UserError naming the user's file and what is wrong with it."""
    if not path.is_file():
        raise UserError(f"{name}: no such file; pass the path to a paper PDF")
    max_mb = float(cfg.get("max_mb", 50))
    size_mb = path.stat().st_size / 2**20
    if size_mb > max_mb:
        raise UserError(
            f"{name}: {size_mb:.0f} MB is larger than the limit of {max_mb:g} MB; "
            "raise it with parse.max_mb=... if this really is the paper"
        )
    check_pdf(path, name)
    import pymupdf

    try:
        doc = pymupdf.open(path)
    except Exception as exc:  # MuPDF raises several types for damaged files
        raise UserError(f"{name}: the PDF is corrupt and cannot be read ({type(exc).__name__}); "
                        "download it again") from exc
    if doc.needs_pass or doc.is_encrypted:
        raise UserError(f"{name}: the PDF is encrypted (password protected); pass an unprotected copy")
    if doc.page_count == 0:
        raise UserError(f"{name}: the PDF has no pages; download the paper again")
    max_pages = int(cfg.get("max_pages", 60))
    if doc.page_count > max_pages:
        raise UserError(
            f"{name}: {doc.page_count} pages is more than the limit of {max_pages}; "
            "pass the paper itself or raise parse.max_pages=..."
        )
    return doc


# --- text ----------------------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Ligatures, minus signs and odd spaces to ASCII; line-end hyphenation joined."""
    text = text.translate(CHARACTER_FIXES)
    text = re.sub(r"(\d)-\n([a-z])", r"\1-\2", text)  # "32-\ndimensional" keeps its hyphen
    return re.sub(r"([A-Za-z]+)-\n([a-z])", _join_hyphenated, text)


def _join_hyphenated(match: re.Match[str]) -> str:
    head, tail = match.group(1), match.group(2)
    if head.lower() in HYPHEN_KEEPING_PREFIXES:
        return f"{head}-{tail}"
    return f"{head}{tail}"


def _rows_left_to_right(lines: list[tuple]) -> list[tuple]:
    """Lines sorted top-down, with pieces of one visual row ("4.1.2" + "Settings") ordered by x."""
    rows: list[list[tuple]] = []
    for line in lines:
        middle = (line[1] + line[3]) / 2
        if rows and abs(middle - (rows[-1][0][1] + rows[-1][0][3]) / 2) < 3:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda b: b[0])]


def _reading_order(blocks: list[tuple], page_width: float) -> list[tuple]:
    """Text lines (x0, y0, x1, y1, text) in reading order: full-width lines split the page into bands,
    each band is read left column first, then right column."""
    middle = page_width / 2
    full, columns = [], []
    for block in blocks:
        x0, _, x1 = block[0], block[1], block[2]
        if x0 < middle - 10 and x1 > middle + 10:
            full.append(block)
        else:
            columns.append(block)
    full.sort(key=lambda b: b[1])
    ordered: list[tuple] = []
    band_top = float("-inf")
    for bound in [*full, None]:
        band_bottom = bound[1] if bound is not None else float("inf")
        band = [b for b in columns if band_top <= b[1] < band_bottom]
        for right in (False, True):
            column = [b for b in band if (b[2] > middle + 10 and b[0] >= middle - 10) == right]
            ordered += _rows_left_to_right(sorted(column, key=lambda b: (b[1] + b[3]) / 2))
        if bound is not None:
            ordered.append(bound)
            band_top = bound[1]
    return ordered


def page_text(page: pymupdf.Page) -> str:
    # Lines, not blocks: MuPDF may put two columns' lines at the same height into one block.
    lines = [
        (*line["bbox"], "".join(span["text"] for span in line["spans"]))
        for block in page.get_text("dict")["blocks"]
        if block.get("type") == 0
        for line in block["lines"]
    ]
    ordered = _reading_order([line for line in lines if line[4].strip()], page.rect.width)
    text = normalise_text("\n".join(line[4] for line in ordered))
    return re.sub(r"\n\s*\d{1,3}\s*$", "", text)  # a printed page number is not part of the text


# --- sections ------------------------------------------------------------------------------------


@dataclass
class _Heading:
    number: tuple[int, ...]
    title: str
    page: int
    line_index: int


def _roman_to_int(numeral: str) -> int:
    total = 0
    for i, char in enumerate(numeral):
        value = ROMAN_VALUES[char]
        following = ROMAN_VALUES[numeral[i + 1]] if i + 1 < len(numeral) else 0
        total += -value if value < following else value
    return total


def _heading_at(lines: list[str], i: int) -> tuple[tuple[int, ...], str, int] | None:
    """(number, title, lines used) when lines[i] starts a numbered heading."""
    line = lines[i].strip()
    alone = HEADING_ALONE.match(line)
    if alone and i + 1 < len(lines) and TITLE_LINE.match(lines[i + 1].strip()):
        title = lines[i + 1].strip()
        # "4.1.1\nCompared Methods. The main..." - a run-in heading ends at its first period
        title = title.split(". ")[0].rstrip(".")
        if len(title.split()) > MAX_HEADING_WORDS:
            return None
        return tuple(int(n) for n in alone.group("num").split(".")), title, 2
    inline = HEADING_INLINE.match(line)
    if inline and len(inline.group("title").split()) <= MAX_HEADING_WORDS:
        return tuple(int(n) for n in inline.group("num").split(".")), inline.group("title").strip(), 1
    roman = ROMAN_HEADING.match(line)
    if roman:
        return (_roman_to_int(roman.group("num")),), roman.group("title").strip(), 1
    return None


def _follows(previous: tuple[int, ...] | None, number: tuple[int, ...]) -> bool:
    """Section numbers only move forward; this filters table rows such as '4 Layers'."""
    if previous is None:
        return number[0] <= 2 and all(n <= 2 for n in number[1:])
    if number <= previous:
        return False
    return number[0] <= previous[0] + 1


def find_sections(pages: list[Page]) -> list[Section]:
    lines_with_page = [(page.number, line) for page in pages for line in page.text.split("\n")]
    lines = [line for _, line in lines_with_page]
    repeated = {text for text, n in Counter(line.strip() for line in lines).items() if n >= 3}
    headings: list[_Heading] = []
    i = 0
    while i < len(lines):
        found = _heading_at(lines, i)
        previous = headings[-1].number if headings else None
        # running heads ("Published as a conference paper at ICLR") repeat on every page
        if found and _follows(previous, found[0]) and found[1] not in repeated:
            headings.append(_Heading(found[0], found[1], lines_with_page[i][0], i))
            i += found[2]
            continue
        i += 1
    sections = []
    for index, heading in enumerate(headings):
        end = headings[index + 1].line_index if index + 1 < len(headings) else len(lines)
        body = "\n".join(lines[heading.line_index : end])
        label = ".".join(str(n) for n in heading.number)
        sections.append(Section(title=f"{label} {heading.title}", page=heading.page, text=body))
    return sections


# --- tables --------------------------------------------------------------------------------------


@dataclass
class _Line:
    y0: float
    y1: float
    words: list[tuple[float, float, str]]  # (x0, x1, text)

    @property
    def text(self) -> str:
        return " ".join(w[2] for w in self.words)


def _word_lines(words: list[tuple], x_min: float, x_max: float) -> list[_Line]:
    """Words inside [x_min, x_max] grouped into visual lines by their vertical middle."""
    inside = sorted(
        (w for w in words if w[0] >= x_min - 1 and w[2] <= x_max + 1), key=lambda w: (w[1] + w[3]) / 2
    )
    lines: list[_Line] = []
    for x0, y0, x1, y1, text, *_ in inside:
        middle = (y0 + y1) / 2
        if lines and abs((lines[-1].y0 + lines[-1].y1) / 2 - middle) <= 3:
            line = lines[-1]
            line.words.append((x0, x1, text))
            line.y0, line.y1 = min(line.y0, y0), max(line.y1, y1)
        else:
            lines.append(_Line(y0, y1, [(x0, x1, text)]))
    for line in lines:
        line.words.sort()
    return lines


def _cells(line: _Line, gap: float = 5.0) -> list[tuple[float, float, str]]:
    """Words joined into cells wherever the horizontal gap is wider than a space."""
    cells: list[list] = []
    for x0, x1, text in line.words:
        if cells and x0 - cells[-1][1] <= gap:
            cells[-1][1] = x1
            cells[-1][2] += " " + text
        else:
            cells.append([x0, x1, text])
    return [(c[0], c[1], normalise_text(c[2])) for c in cells]


def _reads_as_prose(line: _Line) -> bool:
    """Words set with ordinary (even justified) spacing, unlike a header row's spread-out cells."""
    gaps = [b[0] - a[1] for a, b in zip(line.words, line.words[1:], strict=False)]
    return len(line.words) >= 4 and max(gaps, default=0) < 12


def _is_prose(line: _Line, width: float) -> bool:
    """A line of running text (in either column), which ends a table body."""
    cells = _cells(line)
    if len(cells) == 1 and len(line.words) >= 7 and (line.words[-1][1] - line.words[0][0]) > 0.6 * width:
        return True
    return any(
        len(segment.split()) >= 6
        and _numeric_share([_Line(0, 0, [(0, 0, w) for w in segment.split()])]) < 0.3
        for _, _, segment in _cells(line, gap=12.0)
    )


def _table_lines(lines: list[_Line], start: int, step: int, width: float) -> list[_Line]:
    """Lines of a table body next to its caption, walking down (step 1) or up (step -1)."""
    body: list[_Line] = []
    i = start + step
    previous = lines[start]
    while 0 <= i < len(lines):
        line = lines[i]
        gap = line.y0 - previous.y1 if step > 0 else previous.y0 - line.y1
        panel_gap = PANEL_LABEL.match(line.text) and gap <= MAX_PANEL_GAP
        if (gap > MAX_ROW_GAP and not panel_gap) or _is_prose(line, width) or CAPTION.match(line.text):
            break
        body.append(line)
        previous = line
        i += step
    return body if step > 0 else body[::-1]


def _numeric_rows(lines: list[_Line]) -> int:
    return sum(_numeric_share([line]) >= 0.5 for line in lines)


def _numeric_share(lines: list[_Line]) -> float:
    words = [w[2] for line in lines for w in line.words]
    if not words:
        return 0.0
    return sum(bool(re.search(r"\d", w)) for w in words) / len(words)


def _grid(lines: list[_Line]) -> list[list[str]]:
    """Rows of cells aligned to shared columns; spanning headers sit in the column of their centre."""
    rows = [_cells(line) for line in lines]
    numeric = [row for row in rows if sum(bool(re.search(r"\d", c[2])) for c in row) >= 2]
    widest = max(numeric or rows, key=len)  # data rows define the columns, not stray text
    columns = [(c[0], c[1]) for c in widest]
    grid = []
    for row in rows:
        out = [""] * len(columns)
        for x0, x1, text in row:
            centre = (x0 + x1) / 2
            overlaps = [min(x1, c1) - max(x0, c0) for c0, c1 in columns]
            best = max(range(len(columns)), key=lambda k: overlaps[k])
            if overlaps[best] <= 0:
                best = min(
                    range(len(columns)), key=lambda k: abs((columns[k][0] + columns[k][1]) / 2 - centre)
                )
            out[best] = f"{out[best]} {text}".strip()
        grid.append(out)
    return grid


def _crosses_middle(words: list[tuple], caption: _Line, width: float) -> bool:
    """A word straddling the page middle near the caption means a single-column (full-width) table."""
    middle = width / 2
    return any(w[0] < middle < w[2] and 0 <= w[1] - caption.y1 < 40 for w in words)


def _caption_cell(line: _Line) -> tuple[float, float] | None:
    """The x-extent of a 'Table N:' caption on a visual line, which may also hold the other column's text."""
    for x0, x1, text in _cells(line, gap=12.0):
        if CAPTION.match(text):
            return x0, x1
    return None


def page_tables(page: pymupdf.Page, number: int) -> list[Table]:
    """Tables found by their captions ('Table 2: ...'), read from the word layout around them."""
    words = page.get_text("words")
    width = page.rect.width
    all_lines = _word_lines(words, 0, width)
    tables = []
    for line in all_lines:
        caption_cell = _caption_cell(line)
        if caption_cell is None:
            continue
        caption_x0, caption_x1 = caption_cell
        if caption_x0 < width / 2 - 10 and caption_x1 > width / 2 + 10:
            x_min, x_max = 0.0, width
        elif caption_x1 <= width / 2 + 10:
            x_min, x_max = 0.0, width / 2 + 5
        else:
            x_min, x_max = width / 2 - 5, width
        if (x_min, x_max) != (0.0, width) and _crosses_middle(words, line, width):
            x_min, x_max = 0.0, width
        lines = _word_lines(words, x_min, x_max)
        start = next(
            (k for k, ln in enumerate(lines) if abs(ln.y0 - line.y0) < 6 and CAPTION.match(ln.text)), None
        )
        if start is None:
            continue
        caption_lines = [lines[start]]
        k = start + 1
        while (  # a caption goes on over a few full lines of words right below it
            k < len(lines)
            and lines[k].y0 - lines[k - 1].y1 < 8
            and _numeric_share([lines[k]]) < 0.3
            and len(caption_lines) < 6
            and _reads_as_prose(lines[k])
        ):
            caption_lines.append(lines[k])
            k += 1
        below = _table_lines(lines, k - 1, 1, x_max - x_min)
        above = _table_lines(lines, start, -1, x_max - x_min)
        # captions of tables usually sit above them; look below the caption first
        body = below if _numeric_rows(below) >= 2 or _numeric_rows(above) < 2 else above
        if not body:
            continue
        caption = normalise_text(" ".join(ln.text for ln in caption_lines))
        tables.append(Table(page=number, caption=caption, rows=_grid(body)))
    return tables


# --- stage ---------------------------------------------------------------------------------------


def _title_from_first_page(page: pymupdf.Page) -> str:
    """The largest text on the first page, which is the title in nearly every paper."""
    spans = [
        (span["size"], span["text"].strip(), line["bbox"][1])
        for block in page.get_text("dict")["blocks"]
        if block.get("type") == 0
        for line in block["lines"]
        if tuple(line["dir"]) == (1.0, 0.0)  # arXiv stamps run sideways
        for span in line["spans"]
        if span["text"].strip() and not span["text"].strip().startswith("arXiv:")
    ]
    if not spans:
        return ""
    largest = max(size for size, _, _ in spans)
    title_spans = [(y, text) for size, text, y in spans if size >= largest - 0.5 and len(text) > 1]
    title = " ".join(text for _, text in sorted(title_spans, key=lambda s: s[0])[:12])
    return normalise_text(re.sub(r"\s+", " ", title)).strip()


def read_pdf(path: Path, cfg: Mapping, name: str | None = None) -> tuple[list[Page], list[Table], str]:
    doc = _open_checked(path, cfg, name or path.name)
    try:
        pages = [Page(number=i + 1, text=page_text(page)) for i, page in enumerate(doc)]
        if not has_text_layer([p.text for p in pages]):
            raise UserError(
                f"{path.name}: the PDF has no text layer (a scan?); run OCR on it first "
                "(e.g. ocrmypdf in.pdf out.pdf) or pass the publisher's PDF"
            )
        tables = [t for i, page in enumerate(doc) for t in page_tables(page, i + 1)]
        title = _title_from_first_page(doc[0])
        metadata_title = (doc.metadata or {}).get("title") or ""
        if len(metadata_title) > 10 and not metadata_title.lower().endswith((".dvi", ".pdf", ".doc")):
            title = normalise_text(metadata_title)
    finally:
        doc.close()
    return pages, tables, title


def parse_pdf(path: Path, meta: PaperMeta, cfg: Mapping) -> PaperDoc:
    pages, tables, title = read_pdf(path, cfg, name=Path(meta.source).name if meta.source else None)
    if not meta.title and title:
        meta = meta.model_copy(update={"title": title})
    sections = find_sections(pages)
    log.info("parsed %s: %d pages, %d sections, %d tables", path.name, len(pages), len(sections), len(tables))
    return PaperDoc(meta=meta, pages=pages, sections=sections, tables=tables)


def _with_title(doc: PaperDoc, meta: PaperMeta) -> PaperDoc:
    """arXiv's metadata title wins over the one read from the document."""
    return doc if not meta.title else doc.model_copy(update={"meta": doc.meta.model_copy(update={"title": meta.title})})


def run(bundle: PaperBundle, bundle_dir: Path, cfg: Mapping) -> PaperDoc:
    """The PaperDoc of the bundle: its LaTeX source when there is one (equations and tables intact), else
    its PDF, else arXiv's HTML rendering; UserError for anything that is not a readable paper."""
    bundle_dir = Path(bundle_dir)
    meta = bundle.meta
    if bundle.latex_dir and find_main_tex(bundle_dir / bundle.latex_dir) is not None:
        doc = read_latex(bundle_dir / bundle.latex_dir, meta)
        log.info("parsed the LaTeX source: %d sections, %d tables", len(doc.sections), len(doc.tables))
        return _with_title(doc, meta)
    if bundle.html and (not bundle.pdf or not pdf_has_text(bundle_dir / bundle.pdf)):
        doc = read_arxiv_html((bundle_dir / bundle.html).read_text(encoding="utf-8", errors="replace"), meta)
        log.info("parsed arXiv's HTML rendering: %d sections, %d tables", len(doc.sections), len(doc.tables))
        return _with_title(doc, meta)
    if not bundle.pdf:
        raise UserError(f"{meta.key}: the bundle has neither a PDF nor a LaTeX source; pass the paper's PDF file")
    return parse_pdf(bundle_dir / bundle.pdf, meta, cfg)
