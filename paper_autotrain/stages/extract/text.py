"""Sentences of a PaperDoc with their page numbers, and short evidence quotes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from paper_autotrain.schemas import PaperDoc

MAX_QUOTE_WORDS = 25
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


def flatten(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(doc: PaperDoc) -> list[Sentence]:
    sentences = []
    for number, text, where in body_pages(doc):
        for part in SENTENCE_END.split(flatten(text)):
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
