"""Sentences of a PaperDoc with their page numbers, and short evidence quotes."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from paper_autotrain.schemas import PaperDoc

MAX_QUOTE_WORDS = 25
EXPERIMENT_HEADING = re.compile(r"experiment|evaluation|empirical", re.I)  # where a paper's experiments start
REFERENCES_HEADING = re.compile(r"^(?:\d+\.?\s+)?(?:REFERENCES|References|Bibliography)\s*$", re.M)
# A sentence ends at . ! or ? before a capital, but not after an initial, "e.g." or "i.e.".
SENTENCE_END = re.compile(
    r"(?<=[A-Za-z0-9\)\]%][.!?])(?<!\b[A-Za-z]\.)(?<!\be\.g\.)(?<!\bi\.e\.)\s+(?=[A-Z(•\-])"
)


@dataclass(frozen=True)
class Sentence:
    page: int
    text: str
    order: int
    where: str = ""  # the page's locator for quotes ("p6", or "§4.1 ..." for a LaTeX source)


def body_pages(doc: PaperDoc) -> list[tuple[int, str, str]]:
    """(number, text, locator) of the pages up to the reference list (citations there state other papers'
    settings)."""
    pages = []
    for page in doc.pages:
        heading = REFERENCES_HEADING.search(page.text)
        if heading and page.number > 1:
            pages.append((page.number, page.text[: heading.start()], page.where))
            break
        pages.append((page.number, page.text, page.where))
    return pages


# Mathematical alphanumerics (U+1D400-1D7FF): ACM's template sets inline math in them, "𝑑 = 64", "1𝑒-4", "𝜆 is set to"
MATH_LETTERS = re.compile(r"[\U0001D400-\U0001D7FF]")


def name_key(text: str) -> str:
    """A printed name as a key for comparing names: lower-case letters and digits only ("Item-KNN" is "ItemKNN"; "+"
    dropped, so an own variant such as "AutoInt+" keys as its model: the registry's recbole_models.normalised keeps
    it, where "GRU4Rec+" is another method)."""
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKC", text).lower())


def plain_math(text: str) -> str:
    """Inline math in its plain letters and digits ("𝑑 = 64" -> "d = 64", "𝜆" -> "λ"), so a setting reads as one."""
    return MATH_LETTERS.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)


def flatten(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(doc: PaperDoc) -> list[Sentence]:
    sentences = []
    for number, text, where in body_pages(doc):
        for part in SENTENCE_END.split(flatten(plain_math(text))):
            if part.strip():
                sentences.append(Sentence(page=number, text=part.strip(), order=len(sentences), where=where))
    return sentences


def quote(sentence: Sentence, position: int = 0) -> str:
    """'pN: ...' (or '§4.1 ...: ...') with at most 25 words of the sentence around `position`."""
    words = sentence.text.split()
    at = len(sentence.text[:position].split())
    start = max(0, min(at - 8, len(words) - MAX_QUOTE_WORDS))
    excerpt = " ".join(words[start : start + MAX_QUOTE_WORDS])
    return f"{sentence.where or f'p{sentence.page}'}: {excerpt}"


EARLY_PAGES = 3  # the title, abstract and introduction of a printed paper
# A LaTeX source or an HTML rendering has no printed pages (a page is a whole section): as much text as a
# printed two-column page holds stands in for one.
PRINTED_PAGE_CHARS = 5000


def has_printed_pages(doc: PaperDoc) -> bool:
    """A PDF's pages; False for a paper read from LaTeX or HTML, whose pages are labelled sections."""
    return not doc.pages or not all(page.label for page in doc.pages)


def opening_text(doc: PaperDoc) -> str:
    """The first printed page: title, abstract and the start of the introduction."""
    if has_printed_pages(doc):
        return doc.pages[0].text if doc.pages else ""
    return doc.full_text[:PRINTED_PAGE_CHARS]


def early_sentences(doc: PaperDoc, sentences: list[Sentence]) -> list[Sentence]:
    """Sentences of the first printed pages, where a paper names what it proposes."""
    if has_printed_pages(doc):
        return [s for s in sentences if s.page <= EARLY_PAGES]
    early, budget = [], EARLY_PAGES * PRINTED_PAGE_CHARS
    for sentence in sentences:
        if budget <= 0:
            break
        early.append(sentence)
        budget -= len(sentence.text) + 1
    return early
