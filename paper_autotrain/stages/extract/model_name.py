"""The name a paper gives its own method: its "we propose X" sentence, the title's acronym, its results row.

Never a dataset, a baseline (cited, or listed among the compared methods), or a phrase ("GCN-based", "CF");
None when the paper gives its method no name.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from paper_autotrain.schemas import PaperDoc

from .lexicon import DATASET_PATTERNS, GENERIC_ACRONYMS
from .text import Sentence, early_sentences, name_key, opening_text

# One token as papers print names: "LightGCN", "IMP-GCN", "Mult-vaepr", "Wide & Deep"; not the first word of a
# capitalised long form ("Collaborative Metric Learning"), which is a description, not the name.
NAME = r"(?P<name>[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?: & [A-Z][a-z]+)?)(?=[\s,.;:)\"”'’]|$)(?!\s+[A-Z][a-z])"
# The name in parentheses after its long form may be several words: "(Logistic MF)", "(FmFM, or FM2)".
ABBREVIATION = r"\((?P<name>[A-Z][A-Za-z0-9&^ -]{0,30}?)\s*[,;)]"
QUOTED = r"[\"“']?"
PROPOSE = (
    r"(?:\b[Ww]e|\b[Tt]his (?:paper|work|article)|\b[Oo]ur (?:paper|work))\s+(?:(?:further|also|then|now|first)\s+)?"
    r"(?:propose|present|introduce|develop|build|devise|design|describe|call|name|term|dub)[sd]?\b"
    r"|\b(?:[Ww]e|[Oo]ur)\b[^.]{0,80}?\bproposing\b"  # "the goal of our work ..., by proposing X"
)
NAMING = r"(?:named|called|termed|dubbed|coined|denoted|referred to)\s+(?:it\s+|this\s+)?(?:as\s+)?"
# "we name/dub/denote this model X", "we denote this ... as X": a sentence that names without proposing.
NAME_VERB = r"\b[Ww]e\s+(?:name|call|term|dub|denote|refer to)[sd]?\s+(?:it|this|these|them|our|the)\b[^.]{0,80}?"
# Each pattern finds the name a sentence gives the paper's method; the first that matches a sentence wins. The flag
# says whether a plain word may be the name ("or Caser for short"); else it must look like one ("AutoRec, a novel").
NAMING_PATTERNS: tuple[tuple[str, bool], ...] = (
    (rf"(?:{PROPOSE})\s+[^.]{{0,120}}?{NAMING}{QUOTED}{NAME}", True),
    (rf"(?:{PROPOSE})\s+(?:the\s+)?{QUOTED}{NAME}{QUOTED}\s*(?:,|\(|—|–|which\b|that\b|as\b|for\b|to\b)", True),
    (rf"(?:{PROPOSE})\s+[^.]{{0,160}}?{ABBREVIATION}", True),
    (rf"(?:{PROPOSE})\s+[^.]{{0,120}}?\b(?:model|method|framework|approach|architecture|algorithm),?\s+{NAME}", False),
    (rf"\bis\s+{NAMING}[^.]{{0,80}}?{ABBREVIATION}", True),
    (rf"{NAME_VERB}(?:\s+as)?\s+{QUOTED}{NAME}", True),
    (rf"{NAME_VERB}{ABBREVIATION}", True),
    (rf"\b[Oo]r {NAME} for short", True),
    (rf"(?:[Oo]ur|[Tt]he) proposed (?:model|method|approach|framework|algorithm)?,?\s*(?:{NAMING})?{QUOTED}{NAME}",
     False),
    (rf"\b[Oo]ur (?:model|method|approach|framework),\s+{NAME}", False),
    (rf"(?:new|novel) (?:[\w-]+ ){{0,4}}?(?:model|method|framework|approach|architecture) {NAME}", False),
    (rf"(?:^|[.;:]\s+){NAME},\s+an? (?:novel|new)\b", False),
)
# Hyphenated phrases that describe, not name: "GCN-based", "attention-aware", "session-level".
PHRASE_SUFFIX = re.compile(
    r"-(?:based|aware|like|style|oriented|driven|specific|level|wise|free|agnostic|enhanced|guided|centric|"
    r"order|only|scale|time|side|term)$",
    re.I,
)
PHRASE_WORDS = frozenset(
    "model models framework frameworks method methods approach approaches algorithm algorithms network networks "
    "architecture system systems paper section figure table equation eq the this our we in a an it".split()
)
# A name used to say what a method is ("a DICE framework", "the NCF framework"), not which model is trained.
FRAMEWORK_CONTEXT = r"(?:{0}\s+framework\b|\bframework,?\s+(?:named\s+|called\s+|termed\s+)?{0}\b)"

MAX_TITLE_LINE = 200  # longer first lines are running text, not a title


@dataclass(frozen=True)
class Stated:
    """A name a sentence gives the paper's method, where, and whether it names a model or a framework."""

    name: str
    order: int
    page: int
    model: bool  # the sentence calls it a model ("we dub this model X")
    framework: bool  # the paper calls it a framework ("we present a general framework named NCF")


def _cited_names(text: str) -> set[str]:
    """Names printed with a citation ("NGCF [39]", "Rendle et al.") belong to other papers."""
    return set(re.findall(r"([A-Z][A-Za-z0-9-]+)\s*\[\d", text)) | set(
        re.findall(r"([A-Z][A-Za-z0-9-]+) et al", text)
    )


def _dataset_names(text: str) -> set[str]:
    """Names the paper calls a dataset ("the Movielens-10M dataset", "Amazon-book data")."""
    return set(re.findall(r"\b([A-Z][\w-]*)\s+(?:data\s?sets?|data)\b", text))


def _is_dataset(name: str, datasets: set[str]) -> bool:
    if name in datasets:
        return True
    return any(re.fullmatch(p, name, re.I) for p in DATASET_PATTERNS)  # papers spell "Movielens", "MOVIELENS"


def _is_phrase(name: str) -> bool:
    """A description, not a name: "GCN-based", "CF-based model", a lone word like "Model", a generic acronym."""
    words = name.replace("-", " ").split()
    if not words or any(w.lower() in PHRASE_WORDS for w in words) or PHRASE_SUFFIX.search(name):
        return True
    stem = re.sub(r"s$", "", name).upper()  # "GCNs"
    return name.upper() in GENERIC_ACRONYMS or stem in GENERIC_ACRONYMS or all(
        w.upper() in GENERIC_ACRONYMS for w in words
    )


def _usable_name(name: str, excluded: set[str], datasets: set[str], explicit: bool = False) -> bool:
    """A plausible method name; `explicit` names come from a naming sentence and may be one plain word."""
    name = name.strip()
    if len(name) < 2 or name in excluded or _is_phrase(name) or _is_dataset(name, datasets):
        return False
    if explicit:
        return True
    if "-" in name and all(re.fullmatch(r"[A-Z]?[a-z]+|[A-Z]", w) for w in name.split("-")):
        return False  # unless a sentence names it so, a compound of plain words ("Self-Attention", "Top-K")
    return sum(ch.isupper() for ch in name) >= 2 or "&" in name or ("-" in name and name[0].isupper())


def _uses(name: str, text: str) -> int:
    """How often the paper prints the name (a paper uses its method's name throughout)."""
    return len(re.findall(rf"(?<![\w-]){re.escape(name)}(?![\w])", text))


def _is_framework(name: str, sentence: str, text: str) -> bool:
    words = re.escape(name)
    return bool(re.search(FRAMEWORK_CONTEXT.format(words), text)) or bool(
        re.search(rf"framework[^.]{{0,60}}{words}|{words},\s+an? (?:[\w-]+ )?framework", sentence)
    )


def stated_names(sentences: list[Sentence], text: str, excluded: set[str], datasets: set[str]) -> list[Stated]:
    """Every name a sentence gives the paper's method ("we propose X", "named X", "(X)", "we dub this model X")."""
    found = []
    for sentence in sentences:
        for pattern, plain_ok in NAMING_PATTERNS:
            match = re.search(pattern, sentence.text)
            if not match:
                continue
            name = match.group("name").strip()
            if not _usable_name(name, excluded, datasets, explicit=plain_ok):
                continue
            named_as_model = bool(re.search(r"\bmodel\b", match.group(0))) and "framework" not in match.group(0)
            found.append(Stated(name, sentence.order, sentence.page, named_as_model,
                                _is_framework(name, sentence.text, text)))
            break
    return found


def printed_title(doc: PaperDoc) -> str:
    """The first line of the first page: the title as printed, when the metadata's title has no name in it."""
    first = doc.pages[0].text.strip().splitlines() if doc.pages else []
    return first[0] if first and len(first[0]) <= MAX_TITLE_LINE else ""


def title_name(title: str, excluded: set[str], datasets: set[str]) -> str | None:
    """The acronym or short name before the title's colon ("LightGCN: Simplifying ..."), or "Wide & Deep"."""
    prefix = title.split(":")[0].strip() if ":" in title else ""
    if prefix and len(prefix.split()) <= 2 and _usable_name(prefix, excluded, datasets):
        return prefix
    pair = re.search(r"\b([A-Z][a-z]+ & [A-Z][a-z]+)\b", title)
    return pair.group(1) if pair else None


def _prefer_model(chosen: Stated, stated: list[Stated]) -> Stated:
    """A framework's name yields to the model the paper builds in it ("framework NCF" ... "we dub this model NeuMF")."""
    if not chosen.framework or chosen.model:
        return chosen
    models = [s for s in stated if s.model and not s.framework and name_key(s.name) != name_key(chosen.name)]
    return models[0] if models else chosen


def _compared_names(sentences: list[Sentence]) -> set[str]:
    """Methods the experiments list for comparison: "• PopRec: a simple baseline", "we compare with A, B and C"."""
    names: set[str] = set()
    for sentence in sentences:
        bullet = re.match(r"^[•\-–]?\s*([A-Z][A-Za-z0-9-]+)\s*(?:\[[\d,\s]+\])?\s*[:(]", sentence.text)
        if bullet:
            names.add(bullet.group(1))
        listing = re.search(r"\b(?:compare[ds]?|baselines?|competitors?)\b[^.]*", sentence.text)
        if listing and not re.search(r"\b(?:our|proposed)\b", listing.group(0)):
            names.update(re.findall(r"\b([A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9-]*)\b", listing.group(0)))
    return names


def _table_cells(doc: PaperDoc) -> list[str]:
    return [cell.strip() for table in doc.tables for row in table.rows for cell in row if cell.strip()]


def results_row_name(doc: PaperDoc, experiments: list[Sentence], excluded: set[str], datasets: set[str]) -> str | None:
    """The method a results table has a row (or column) for that the abstract names too; never a listed baseline."""
    opening = opening_text(doc)
    compared = _compared_names(experiments)
    tokens = Counter(
        cell
        for cell in _table_cells(doc)
        if re.fullmatch(r"[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*", cell)
        and _usable_name(cell, excluded | compared, datasets)
        and any(c.islower() for c in cell[1:])
        and re.search(rf"(?<![\w-]){re.escape(cell)}(?![\w-])", opening)
    )
    return tokens.most_common(1)[0][0] if tokens else None


def detect_model_name(doc: PaperDoc, sentences: list[Sentence], experiments: list[Sentence]) -> str | None:
    """The paper's own name for its method, or None when it gives none (the caller records an unclear note)."""
    text = " ".join(s.text for s in sentences)
    excluded = _cited_names(text)
    datasets = _dataset_names(text)
    in_title = title_name(doc.meta.title, excluded, datasets) or title_name(printed_title(doc), excluded, datasets)
    stated = stated_names(sentences, text, excluded, datasets)
    early_orders = {s.order for s in early_sentences(doc, sentences)}
    early = [s for s in stated if s.order in early_orders] or stated
    chosen = _prefer_model(early[0], stated) if early else None
    if in_title and chosen and name_key(chosen.name) != name_key(in_title):
        # Both name the method (the title may print "FM²" as "FM2"): keep the one the paper uses throughout.
        return chosen.name if _uses(chosen.name, text) > _uses(in_title, text) else in_title
    if in_title or chosen:
        return in_title or chosen.name
    return results_row_name(doc, experiments, excluded, datasets)
