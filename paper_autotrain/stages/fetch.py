"""Fetch: turn a SOURCE argument into a PaperBundle (the paper's files plus metadata).

SOURCE is a local PDF, a local LaTeX folder or .tar.gz, `arxiv:ID[vN]`, an arXiv abs/pdf URL, or any https
URL to a PDF. Remote papers come through the per-user cache (`sources/`), so a paper is downloaded once.
The stage places the paper's files in the folder it is given: `paper.pdf`, `source/` (LaTeX, text files
only) and, only when neither the PDF's text nor a LaTeX source is usable, arXiv's `paper.html`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paper_autotrain.artifacts import hash_file, hash_tree
from paper_autotrain.errors import UserError
from paper_autotrain.schemas import PaperBundle, PaperMeta
from paper_autotrain.sources.archive import unpack_eprint
from paper_autotrain.sources.arxiv import ArxivPaper, fetch_arxiv, fetch_arxiv_html, fetch_url_pdf
from paper_autotrain.sources.latex import find_main_tex
from paper_autotrain.sources.pdf import check_pdf, pdf_has_text
from paper_autotrain.sources.refs import SourceRef, paper_key, parse_source
from paper_autotrain.sources.settings import FetchSettings

log = logging.getLogger(__name__)

# What a LaTeX source needs to be read; figures and data files stay behind.
LATEX_SUFFIXES = frozenset({".tex", ".bbl", ".bib", ".sty", ".cls", ".def", ".cfg", ".clo", ".ltx", ".txt"})
PDF_NAME, SOURCE_NAME, HTML_NAME = "paper.pdf", "source", "paper.html"


def paper_key_for(source: str) -> str:
    """The folder name of a paper: the arXiv id without version, or a file's stem lowercased."""
    return paper_key(parse_source(source))


def input_identity(source: str) -> list[Any]:
    """What the stage's result depends on, for its content hash: a local file's or folder's content, or the
    remote paper's identity (arXiv id and version, URL; the cache keeps the bytes)."""
    ref = parse_source(source)
    if ref.kind == "pdf":
        path = resolve_local_pdf(ref)
        return [ref.kind, str(path.resolve()), hash_file(path)]
    if ref.kind == "latex_dir":
        return [ref.kind, str(ref.path.resolve()), hash_tree(ref.path, LATEX_SUFFIXES)]
    if ref.kind == "latex_archive":
        return [ref.kind, str(ref.path.resolve()), hash_file(ref.path)]
    return [ref.kind, ref.arxiv_id, ref.version, ref.url]


def resolve_local_pdf(ref: SourceRef) -> Path:
    """The local PDF behind SOURCE, or a one-line UserError saying what to pass instead."""
    path = ref.path
    if not path.is_file():
        raise UserError(f"{ref.text}: not a regular file; pass the path to a paper PDF")
    check_pdf(path, ref.text)
    return path


def copy_latex_tree(folder: Path, dest: Path) -> None:
    """The source's text files (with their folder layout); figures and data stay behind."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix.lower() in LATEX_SUFFIXES:
            target = dest / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _require_main_tex(folder: Path, text: str) -> None:
    if find_main_tex(folder) is None:
        raise UserError(f"{text}: no .tex file with \\documentclass and \\begin{{document}} in it; "
                        "pass the paper's LaTeX source or its PDF")


def _check_size(path: Path, text: str, max_mb: float) -> None:
    size_mb = path.stat().st_size / 2**20
    if size_mb > max_mb:
        raise UserError(f"{text}: {size_mb:.0f} MB is larger than the limit of {max_mb:g} MB; "
                        "raise it with parse.max_mb=... if this really is the paper")


# --- one function per kind of SOURCE ---------------------------------------------------------------------

def _local_pdf(ref: SourceRef, out: Path, max_mb: float) -> PaperBundle:
    path = resolve_local_pdf(ref)
    _check_size(path, ref.text, max_mb)
    shutil.copyfile(path, out / PDF_NAME)
    return PaperBundle(meta=PaperMeta(key=paper_key(ref), source=str(path.resolve())), pdf=PDF_NAME)


def _local_latex_dir(ref: SourceRef, out: Path) -> PaperBundle:
    _require_main_tex(ref.path, ref.text)
    copy_latex_tree(ref.path, out / SOURCE_NAME)
    return PaperBundle(meta=PaperMeta(key=paper_key(ref), source=str(ref.path.resolve())), latex_dir=SOURCE_NAME)


def _local_latex_archive(ref: SourceRef, out: Path, max_mb: float) -> PaperBundle:
    _check_size(ref.path, ref.text, max_mb)
    unpacked = out / ".unpacked"
    kind = unpack_eprint(ref.path, unpacked)
    meta = PaperMeta(key=paper_key(ref), source=str(ref.path.resolve()))
    if kind == "pdf":  # a PDF with a .tar.gz name
        shutil.copyfile(ref.path, out / PDF_NAME)
        return PaperBundle(meta=meta, pdf=PDF_NAME)
    _require_main_tex(unpacked, ref.text)
    copy_latex_tree(unpacked, out / SOURCE_NAME)
    shutil.rmtree(unpacked, ignore_errors=True)
    return PaperBundle(meta=meta, latex_dir=SOURCE_NAME)


def _arxiv(ref: SourceRef, out: Path, settings: FetchSettings) -> PaperBundle:
    paper = fetch_arxiv(ref.arxiv_id, ref.version, settings)
    meta = _arxiv_meta(ref, paper)
    bundle = PaperBundle(meta=meta)
    if paper.pdf is not None:
        shutil.copyfile(paper.pdf, out / PDF_NAME)
        bundle.pdf = PDF_NAME
    if paper.latex_dir is not None and find_main_tex(paper.latex_dir) is not None:
        copy_latex_tree(paper.latex_dir, out / SOURCE_NAME)
        bundle.latex_dir = SOURCE_NAME
    elif paper.pdf is None or not pdf_has_text(paper.pdf):
        log.info("arXiv %s: neither a LaTeX source nor PDF text; reading its HTML rendering", meta.arxiv_id)
        shutil.copyfile(fetch_arxiv_html(paper, settings), out / HTML_NAME)
        bundle.html = HTML_NAME
    return bundle


def _arxiv_meta(ref: SourceRef, paper: ArxivPaper) -> PaperMeta:
    info = paper.meta
    return PaperMeta(
        key=paper_key(ref), title=str(info.get("title") or ""), arxiv_id=info.get("arxiv_id"),
        version=info.get("version"), authors=list(info.get("authors") or []), year=info.get("year"),
        source=f"arxiv:{info.get('arxiv_id')}v{info.get('version')}", abstract=str(info.get("abstract") or ""),
        published=info.get("published"), categories=list(info.get("categories") or []),
    )


def _url_pdf(ref: SourceRef, out: Path, settings: FetchSettings, max_mb: float) -> PaperBundle:
    path = fetch_url_pdf(ref.url, settings)
    check_pdf(path, ref.text)
    _check_size(path, ref.text, max_mb)
    shutil.copyfile(path, out / PDF_NAME)
    return PaperBundle(meta=PaperMeta(key=paper_key(ref), source=ref.url), pdf=PDF_NAME)


def run(source: str, fetch_cfg: Mapping, parse_cfg: Mapping, out: Path) -> PaperBundle:
    """Place SOURCE's files in `out` (an empty staging folder) and describe them; UserError for bad input
    and for a paper that can be neither downloaded nor served from the cache."""
    ref = parse_source(source)
    max_mb = float(parse_cfg.get("max_mb", 50))
    out.mkdir(parents=True, exist_ok=True)
    if ref.kind == "pdf":
        return _local_pdf(ref, out, max_mb)
    if ref.kind == "latex_dir":
        return _local_latex_dir(ref, out)
    if ref.kind == "latex_archive":
        return _local_latex_archive(ref, out, max_mb)
    settings = FetchSettings.from_config(fetch_cfg)
    if ref.kind == "arxiv":
        return _arxiv(ref, out, settings)
    return _url_pdf(ref, out, settings, max_mb)
