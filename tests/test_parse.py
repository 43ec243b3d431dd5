"""parse.run: page texts, sections, tables and normalisation; bad inputs raise one-line UserErrors."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from paper_autotrain.errors import UserError
from paper_autotrain.stages import parse
from tests.pdf_fixtures import bundle_for, write_pdf

CFG = {"max_pages": 60, "max_mb": 50}


def _parse(path: Path, cfg: dict | None = None):
    bundle, folder = bundle_for(path)
    return parse.run(bundle, folder, cfg or CFG)


def test_pages_sections_and_numbers(tmp_path):
    path = write_pdf(
        tmp_path / "paper.pdf",
        [
            ["A Small Test Paper", "1 INTRODUCTION", "Recommender systems rank items for users."],
            [
                "2. METHOD",
                "We describe the model here.",
                "3 EXPERIMENTS",
                "3.1 Experimental Settings",
                "The embedding size is fixed to 64.",
            ],
        ],
    )
    doc = _parse(path)
    assert [p.number for p in doc.pages] == [1, 2]
    assert "embedding size is fixed to 64" in doc.pages[1].text
    titles = [s.title for s in doc.sections]
    assert titles == ["1 INTRODUCTION", "2 METHOD", "3 EXPERIMENTS", "3.1 Experimental Settings"]
    assert doc.sections[-1].page == 2
    assert "fixed to 64" in doc.sections[-1].text


def test_hyphenation_is_joined_in_page_text(tmp_path):
    path = write_pdf(
        tmp_path / "paper.pdf",
        [
            [
                "The user embed-\nding table is trained with a mini-\nbatch of 1024 examples.",
            ]
        ],
    )
    text = _parse(path).pages[0].text
    assert "embedding table" in text
    assert "mini-batch" in text


def test_ligatures_and_unicode_minus_are_normalised():
    # Base-14 fonts cannot draw ligature glyphs, so the normaliser is checked on the text MuPDF returns.
    text = parse.normalise_text(
        "The coe\ufb03cient is 1e\u22124; the \ufb01rst layer is \ufb02at, e\ufb00ort."
    )
    assert text == "The coefficient is 1e-4; the first layer is flat, effort."


def test_two_columns_are_read_column_by_column(tmp_path):
    path = tmp_path / "columns.pdf"
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_textbox(pymupdf.Rect(50, 60, 290, 200), "Left column first sentence. Left column goes on.")
    page.insert_textbox(pymupdf.Rect(322, 60, 562, 200), "Right column comes second.")
    page.insert_textbox(pymupdf.Rect(50, 220, 290, 300), "Left column again at the bottom.")
    doc.save(path)
    text = _parse(path).pages[0].text
    assert text.index("Left column goes on") < text.index("Left column again") < text.index("Right column")


def test_table_caption_and_rows(tmp_path):
    path = tmp_path / "table.pdf"
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_textbox(pymupdf.Rect(50, 50, 560, 150), "Some text before the table. " * 3)
    page.insert_text((50, 200), "Table 2: Overall performance comparison.", fontsize=9)
    rows = [["Method", "Recall@20", "NDCG@20"], ["BPR", "0.1000", "0.0800"], ["OurNet", "0.1234", "0.0999"]]
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            page.insert_text((50 + 120 * c, 218 + 14 * r), cell, fontsize=9)
    doc.save(path)
    tables = _parse(path).tables
    assert len(tables) == 1
    assert tables[0].caption.startswith("Table 2: Overall performance")
    assert tables[0].page == 1
    assert tables[0].rows == rows


def _encrypted(path: Path) -> Path:
    write_pdf(path, [["Some text that is long enough to count as a text layer."]])
    doc = pymupdf.open(path)
    doc.save(path.with_name("locked.pdf"), encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="o", user_pw="u")
    return path.with_name("locked.pdf")


def _scanned(path: Path) -> Path:
    doc = pymupdf.open()
    page = doc.new_page()
    page.draw_rect(pymupdf.Rect(50, 50, 300, 300), fill=(0.5, 0.5, 0.5))
    doc.save(path)
    return path


def _too_long(path: Path) -> Path:
    return write_pdf(path, [[f"Page {i} has some words on it for the text layer."] for i in range(5)])


@pytest.mark.parametrize(
    ("make", "message", "cfg"),
    [
        (lambda p: p.write_text("<html>not a pdf</html>") and p, "not a PDF", CFG),
        (lambda p: p.write_bytes(b"") or p, "empty", CFG),
        (lambda p: p.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50) or p, "corrupt", CFG),
        (_encrypted, "encrypted", CFG),
        (_scanned, "no text layer", CFG),
        (_too_long, "pages", {"max_pages": 3, "max_mb": 50}),
        (lambda p: write_pdf(p, [["Tiny."]]), "MB", {"max_pages": 60, "max_mb": 0.000001}),
    ],
)
def test_bad_inputs_raise_one_line_user_errors(tmp_path, make, message, cfg):
    path = make(tmp_path / "paper.pdf")
    path = path if isinstance(path, Path) else tmp_path / "paper.pdf"
    with pytest.raises(UserError) as caught:
        _parse(path, cfg)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_and_missing_pdf_field(tmp_path):
    bundle, _ = bundle_for(tmp_path / "absent.pdf")
    with pytest.raises(UserError):
        parse.run(bundle, tmp_path, CFG)
    with pytest.raises(UserError):
        parse.run(bundle.model_copy(update={"pdf": None}), tmp_path, CFG)
