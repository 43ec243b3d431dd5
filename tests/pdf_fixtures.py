"""Small PDFs built in the tests with PyMuPDF (the tests never read the shared development papers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pymupdf

from paper_autotrain.schemas import PaperBundle, PaperMeta


@dataclass(frozen=True)
class TableBlock:
    """A table as a paper prints it: its caption line, then rows of cells set in evenly spaced columns."""

    caption: str
    rows: list[list[str]]


def _write_table(page: pymupdf.Page, table: TableBlock, y: float, width: float) -> float:
    page.insert_text((50, y + 10), table.caption, fontsize=9)
    step = (width - 100) / max(len(row) for row in table.rows)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row):
            page.insert_text((50 + c * step, y + 24 + 12 * r), cell, fontsize=8)
    return y + 24 + 12 * len(table.rows) + 16


def write_pdf(path: Path, pages: list[list[str | TableBlock]], width: float = 612, height: float = 792) -> Path:
    """One PDF page per entry; each paragraph goes into its own text box, top to bottom (a TableBlock: its caption
    and its rows of cells)."""
    doc = pymupdf.open()
    for paragraphs in pages:
        page = doc.new_page(width=width, height=height)
        y = 50.0
        for paragraph in paragraphs:
            if isinstance(paragraph, TableBlock):
                y = _write_table(page, paragraph, y, width)
                continue
            box_height = 14 * (len(paragraph) // 80 + 1 + paragraph.count("\n")) + 6
            page.insert_textbox(pymupdf.Rect(50, y, width - 50, y + box_height), paragraph, fontsize=10)
            y += box_height + 4
    doc.save(path)
    doc.close()
    return path


def bundle_for(path: Path) -> tuple[PaperBundle, Path]:
    return PaperBundle(meta=PaperMeta(key=path.stem.lower()), pdf=path.name), path.parent
