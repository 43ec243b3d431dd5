"""Checking an LLM's evidence quotes against the paper's own text.

A quote is accepted when it appears verbatim in one page (or section, or table) of the paper after both
are normalised the same way: Unicode compatibility forms (ligatures), dashes and quote marks, case,
whitespace, and words hyphenated at a line end. "..." inside a quote joins fragments that must appear in
that order on the same page. The page (or section label, or table) where it is found becomes the
evidence prefix, as the rules extractor writes it: "p6: ..." or "§4 Experiments: ...".
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from paper_autotrain.schemas import PaperDoc

from .tables import table_label
from .text import body_pages

MIN_QUOTE_CHARS = 12  # shorter quotes ("64", "Adam") would be found anywhere
MAX_EVIDENCE_WORDS = 40
CHARACTER_MAP = str.maketrans({
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00ad": "", "\u00a0": " ",
})
ELLIPSIS = re.compile(r"\s*(?:\.\s?\.\s?\.|\u2026)\s*")
LOCATOR_PREFIX = re.compile(r"^\s*(?:p\.?\s?\d+|page \d+|§[^:]{0,80}|table \w+)\s*:\s*", re.I)
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:e[-+]?\d+)?(?![\w])", re.I)
# 10^-4, 10^{-4}, 5 x 10^-4, and 10-4 (a PDF's superscript flattened)
POWER_OF_TEN = re.compile(r"(?:(\d+(?:\.\d+)?)\s*[×x*]\s*)?\b10\s*(?:\^\s*\{?\s*([-+]?\s*\d+)\s*\}?|-(\d+)\b)")


def canonical(text: str) -> str:
    """Text as quotes are compared: one form of each character, lower case, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(CHARACTER_MAP).lower()
    text = re.sub(r"(\w)-[ \t]*\n\s*(\w)", r"\1\2", text)  # a word split at a line end
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" ([.,;:!?)\]])", r"\1", text)
    return re.sub(r"([(\[]) ", r"\1", text).strip()


def unhyphenated(text: str) -> str:
    """Canonical text without hyphens: "propa-gation", "propa- gation" and "propagation" compare equal."""
    return re.sub(r"\s*-\s*", "", text)


def clean_quote(quote: str) -> str:
    """The quote without a locator the LLM may have copied ("p6: ") or the quotation marks around it."""
    quote = LOCATOR_PREFIX.sub("", " ".join(quote.split()))
    return quote.strip().strip("\"'\u201c\u201d").strip()


@dataclass(frozen=True)
class Unit:
    """A page, a section of a LaTeX/HTML source, or a table: where a quote can be found."""

    where: str
    text: str  # canonical
    flat: str  # canonical, unhyphenated
    table: str | None = None  # the table's label ("Table 2") when the unit is a table


@dataclass(frozen=True)
class Located:
    where: str
    quote: str
    table: str | None = None

    @property
    def evidence(self) -> str:
        return f"{self.where}: {self.quote}"


class PaperText:
    """The paper's pages and tables, normalised once, for locating quotes and names."""

    def __init__(self, doc: PaperDoc) -> None:
        self.units = [unit(where, text) for _, text, where in body_pages(doc)]
        for table in doc.tables:
            cells = "\n".join(" ".join(cell for cell in row) for row in table.rows)
            self.units.append(unit(table.where, f"{table.caption}\n{cells}", table_label(table)))
        self.all_flat = " ".join(u.flat for u in self.units)

    def locate(self, quote: str) -> Located | None:
        """Where `quote` stands in the paper, or None when it does not (or is too short to tell)."""
        quote = clean_quote(quote)
        fragments = [canonical(part) for part in ELLIPSIS.split(quote) if part.strip()]
        if not fragments or sum(len(part) for part in fragments) < MIN_QUOTE_CHARS:
            return None
        for candidate in self.units:
            if in_order(fragments, candidate.text) or in_order([unhyphenated(f) for f in fragments], candidate.flat):
                return Located(candidate.where, shorten(quote), candidate.table)
        return None

    def mentions(self, name: str) -> bool:
        """Whether `name` is printed anywhere in the paper (a dataset, a metric, a baseline)."""
        flat = unhyphenated(canonical(name))
        return bool(flat) and flat in self.all_flat


def unit(where: str, text: str, table: str | None = None) -> Unit:
    text = canonical(text)
    return Unit(where, text, unhyphenated(text), table)


def in_order(fragments: list[str], text: str) -> bool:
    position = 0
    for fragment in fragments:
        found = text.find(fragment, position)
        if found < 0:
            return False
        position = found + len(fragment)
    return True


def shorten(quote: str) -> str:
    words = quote.split()
    return quote if len(words) <= MAX_EVIDENCE_WORDS else " ".join(words[:MAX_EVIDENCE_WORDS]) + " ..."


# --- does the quote state the value? ---------------------------------------------------------------

def numbers_in(text: str) -> list[float]:
    """Every number printed in `text`: 64, 0.001, 1e-3, 1,024, 10^-4, 5 x 10^{-4}."""
    text = canonical(text)
    found = []
    for match in POWER_OF_TEN.finditer(text):
        mantissa = float(match.group(1)) if match.group(1) else 1.0
        exponent = match.group(2).replace(" ", "") if match.group(2) else f"-{match.group(3)}"
        found.append(mantissa * 10.0 ** int(exponent))
    for match in NUMBER.finditer(text):
        token = match.group(0).replace(",", "")
        if any(ch.isdigit() for ch in token):
            try:
                found.append(float(token))
            except ValueError:
                continue
    return found


def states_value(quote: str, value: Any) -> bool:
    """Whether the quote prints `value`: every number of a list, the number, or the word(s)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return bool(value) and all(states_value(quote, item) for item in value)
    if isinstance(value, int | float):
        return any(math.isclose(number, float(value), rel_tol=1e-9, abs_tol=1e-12) for number in numbers_in(quote))
    words = unhyphenated(canonical(str(value).replace("_", " ")))
    return bool(words) and words in unhyphenated(canonical(quote))
