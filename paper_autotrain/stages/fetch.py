"""Fetch: turn a SOURCE argument into a PaperBundle (the paper's files plus metadata).

This version reads local PDFs; arXiv ids, URLs and LaTeX sources come with paper acquisition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import PaperBundle, PaperMeta

PDF_MAGIC = b"%PDF-"
ARXIV_PATTERN = re.compile(r"^(arxiv:|https?://)", re.IGNORECASE)


def paper_key_for(source: str) -> str:
    """The folder name of a paper: the arXiv id without version, or a file's stem lowercased."""
    text = source.strip()
    arxiv = re.match(r"^arxiv:(?P<id>[0-9]{4}\.[0-9]{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/[0-9]{7})(v[0-9]+)?$", text, re.I)
    if arxiv:
        return arxiv.group("id").replace("/", "_")
    stem = Path(text.rstrip("/")).name
    for suffix in (".tar.gz", ".tgz", ".pdf", ".tar"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    key = re.sub(r"[^a-z0-9._-]+", "-", stem.lower()).strip("-.")
    if not key:
        raise UserError(f"cannot derive a paper key from {source!r}; rename the file to something like paper.pdf")
    return key


def resolve_local_pdf(source: str) -> Path:
    """The local PDF behind SOURCE, or a one-line UserError saying what to pass instead."""
    if ARXIV_PATTERN.match(source):
        raise UserError(
            f"{source}: arXiv ids and URLs are not supported in this version yet; "
            "download the PDF and pass its path, e.g. python -m paper_autotrain paper.pdf"
        )
    path = Path(source).expanduser()
    if not path.exists():
        raise UserError(f"{source}: no such file; pass the path to a paper PDF")
    if path.is_dir() or source.endswith((".tar.gz", ".tgz")):
        raise UserError(f"{source}: LaTeX sources are not supported in this version yet; pass the paper's PDF")
    if not path.is_file():
        raise UserError(f"{source}: not a regular file; pass the path to a paper PDF")
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if not head:
        raise UserError(f"{source}: the file is empty; pass a paper PDF")
    if PDF_MAGIC not in head:
        raise UserError(f"{source}: not a PDF (no %PDF- header); pass the paper's PDF file")
    return path


def run(source: str, cfg: Mapping) -> tuple[PaperBundle, bytes]:
    """The bundle for SOURCE and the PDF bytes to store beside it as `paper.pdf`."""
    path = resolve_local_pdf(source)
    max_mb = float(cfg.get("max_mb", 50))
    size_mb = path.stat().st_size / 2**20
    if size_mb > max_mb:
        raise UserError(f"{source}: {size_mb:.0f} MB is larger than the limit of {max_mb:g} MB; "
                        "raise it with parse.max_mb=... if this really is the paper")
    meta = PaperMeta(key=paper_key_for(source), source=str(path.resolve()))
    return PaperBundle(meta=meta, pdf="paper.pdf"), path.read_bytes()
