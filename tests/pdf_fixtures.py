"""Small PDFs built in the tests with PyMuPDF (the tests never read the shared development papers)."""

from __future__ import annotations

from pathlib import Path

import pymupdf

from paper_autotrain.schemas import PaperBundle, PaperMeta


def write_pdf(path: Path, pages: list[list[str]], width: float = 612, height: float = 792) -> Path:
    """One PDF page per entry; each paragraph goes into its own text box, top to bottom."""
    doc = pymupdf.open()
    for paragraphs in pages:
        page = doc.new_page(width=width, height=height)
        y = 50.0
        for paragraph in paragraphs:
            box_height = 14 * (len(paragraph) // 80 + 1 + paragraph.count("\n")) + 6
            page.insert_textbox(pymupdf.Rect(50, y, width - 50, y + box_height), paragraph, fontsize=10)
            y += box_height + 4
    doc.save(path)
    doc.close()
    return path


def bundle_for(path: Path) -> tuple[PaperBundle, Path]:
    return PaperBundle(meta=PaperMeta(key=path.stem.lower()), pdf=path.name), path.parent
