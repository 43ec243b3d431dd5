"""Pages, sections and tables of a paper without printed pages (a LaTeX source, arXiv's HTML rendering).

There are no page numbers to quote, so a page is a top-level section: page 1 holds the title and the
abstract, then each section follows in order, labelled like "§4 Experiments" so that evidence quotes say where
they stand; the reference list is a page of its own ("References"). Heading lines are written the way the
PDF parser reads them off an ACM paper ("4 EXPERIMENTS", "4.1 Experimental Settings") so the extractor's
heading patterns work unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from paper_autotrain.schemas import Page, PaperDoc, PaperMeta, Section, Table

# Ligatures, unicode minus signs, odd spaces and curly quotes to ASCII: one normalisation for PDF, LaTeX and HTML text
CHARACTER_FIXES = str.maketrans(
    {
        "\u2212": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u00ad": "",
        "\u200b": "",
        "\ufeff": "",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2005": " ",
        "\u2006": " ",
        "\u2217": "*",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
    }
)
ABSTRACT_LABEL = "Abstract"
REFERENCES_LABEL = "References"


def normalise(text: str) -> str:
    """Unicode minus, odd spaces and curly quotes to ASCII; runs of spaces to one; blank lines dropped."""
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.translate(CHARACTER_FIXES).split("\n"))
    return "\n".join(line for line in lines if line)


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", normalise(text)).strip()


def heading_line(level: int, number: str, title: str) -> str:
    """'4 EXPERIMENTS' (a section, upper-cased as ACM prints it), '4.1 Experimental Settings', or a run-in
    paragraph title 'Datasets.'."""
    if level == 1:
        return f"{number} {title.upper()}".strip()
    if level <= 3:
        return f"{number} {title}".strip()
    return title if title.endswith((".", ":", "?", "!")) else f"{title}."


@dataclass
class _OpenSection:
    title: str
    page: int
    lines: list[str] = field(default_factory=list)


class PageBuilder:
    """Collects a paper's headings, text and tables in reading order and lays them out as pages."""

    def __init__(self, title: str = "", abstract: str = "") -> None:
        self.title = one_line(title)
        self.abstract = normalise(abstract)
        first = [line for line in (self.title, "ABSTRACT" if self.abstract else "") if line]
        first += self.abstract.split("\n") if self.abstract else []
        self._pages: list[tuple[str, list[str]]] = [(ABSTRACT_LABEL, first)]
        self._sections: list[_OpenSection] = []
        self._tables: list[Table] = []
        self._number = ""  # the innermost numbered heading so far: where a table stands ("§4.2")
        self._footnotes: list[str] = []

    @property
    def page_number(self) -> int:
        return len(self._pages)

    def add_text(self, text: str) -> None:
        lines = [line for line in normalise(text).split("\n") if line]
        self._pages[-1][1].extend(lines)
        if self._sections:
            self._sections[-1].lines.extend(lines)

    def add_footnote(self, text: str) -> None:
        """Printed at the foot of the page: after the page's text, where the PDF parser reads it too."""
        if one_line(text):
            self._footnotes.append(one_line(text))

    def add_heading(self, level: int, number: str, title: str) -> None:
        title = one_line(title).rstrip(".").strip() or "Untitled"
        number = number.strip()
        line = heading_line(level, number, title)
        if level == 1:
            self._new_page(f"§{number} {title}" if number else f"§{title}", [line])
            self._number = number
        else:
            self._pages[-1][1].append(line)
            self._number = number or self._number
        self._sections.append(_OpenSection(f"{number} {title}".strip(), self.page_number, [line]))

    def add_table(self, caption: str, rows: list[list[str]], label: str = "") -> None:
        rows = [[one_line(cell) for cell in row] for row in rows]
        rows = [row for row in rows if any(row)]
        if not rows:
            return
        width = max(len(row) for row in rows)
        rows = [row + [""] * (width - len(row)) for row in rows]
        where = label or (f"§{self._number}" if self._number else self._pages[-1][0])
        self._tables.append(Table(page=self.page_number, caption=one_line(caption), rows=rows, label=where))

    def add_references(self, entries: list[str]) -> None:
        lines = ["REFERENCES", *(one_line(entry) for entry in entries if one_line(entry))]
        self._new_page(REFERENCES_LABEL, lines)
        self._sections.append(_OpenSection(REFERENCES_LABEL, self.page_number, list(lines)))
        self._number = ""

    def _new_page(self, label: str, lines: list[str]) -> None:
        self._flush_footnotes()
        self._pages.append((label, list(lines)))

    def _flush_footnotes(self) -> None:
        self._pages[-1][1].extend(self._footnotes)
        self._footnotes = []

    def build(self, meta: PaperMeta) -> PaperDoc:
        self._flush_footnotes()
        updates = {}
        if not meta.title and self.title:
            updates["title"] = self.title
        if not meta.abstract and self.abstract:
            updates["abstract"] = one_line(self.abstract)
        pages = [
            Page(number=n, text="\n".join(lines), label=label) for n, (label, lines) in enumerate(self._pages, start=1)
        ]
        sections = [Section(title=s.title, page=s.page, text="\n".join(s.lines)) for s in self._sections]
        return PaperDoc(meta=meta.model_copy(update=updates), pages=pages, sections=sections, tables=self._tables)
