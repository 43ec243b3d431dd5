"""Checks on a PDF file shared by fetch (is this a PDF at all?) and parse (does it have a text layer?)."""

from __future__ import annotations

from pathlib import Path

from paper_autotrain.errors import UserError

PDF_MAGIC = b"%PDF-"
MIN_TEXT_CHARS_PER_PAGE = 40  # below this on average the PDF is a scan without a text layer


def check_pdf(path: Path, name: str) -> None:
    """A one-line UserError unless `path` starts like a PDF (the header may follow a little junk)."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if not head:
        raise UserError(f"{name}: the file is empty; pass a paper PDF")
    if PDF_MAGIC not in head:
        raise UserError(f"{name}: not a PDF (no %PDF- header); pass the paper's PDF file")


def has_text_layer(page_texts: list[str]) -> bool:
    return sum(len(text.strip()) for text in page_texts) >= MIN_TEXT_CHARS_PER_PAGE * max(1, len(page_texts))


def pdf_has_text(path: Path) -> bool:
    """Whether the PDF opens and carries a text layer (a scan does not)."""
    import pymupdf  # here: MuPDF loads for a PDF, not for every command line

    try:
        with pymupdf.open(path) as doc:
            if doc.needs_pass or doc.page_count == 0:
                return False
            return has_text_layer([page.get_text() for page in doc])
    except Exception:  # noqa: BLE001 - MuPDF raises several types for damaged files: not usable
        return False
