"""Which sentences speak about the paper's own method: not its related work, not the description of a compared
method (a bullet "• NGCF [33]: ... we employ two layers as suggested in [41]"), not another paper's findings
("Weston et al. proposed ...", "[12] minimizes ...")."""

from __future__ import annotations

import re

from paper_autotrain.schemas import PaperDoc

from .text import Sentence, flatten, name_key

RELATED_HEADING = re.compile(r"related work|background|literature|previous work|prior work", re.I)
SECTION_NUMBER = re.compile(r"^(?P<n>\d+)(?:\.\d+)*\.?\s")
# Another work's statement: "Weston et al. proposed", "[12] minimizes", "They then formulate"
CITED_WORK = re.compile(
    r"\bet al\.?\s*(?:\[\d+(?:\s*[,–-]\s*\d+)*\]\s*)?(?:have |has )?(?:propos|use|used|suggest|show|found|report|appl"
    r"|adopt|introduc|employ|formulat|defin|minimi|maximi|optimi)"
    r"|\[\d+(?:\s*[,–-]\s*\d+)*\]\s+(?:(?:minimi|maximi|optimi)[sz]e[sd]\b|uses\b|used\b|adopts\b|adopted\b"
    r"|propos(?:es|ed)\b|formulat(?:es|ed)\b|defin(?:es|ed)\b)"
    r"|^(?:They|These (?:methods|models|works))\b"
)
# A bullet or numbered item that introduces a compared method: "• NeuMF [15]: ...", "(2) BPRMF [27]. It ...",
# "• PopRec: A simple baseline ..."
ITEM_MARK = r"(?:[•●▪◦∙]|\(\d{1,2}\)|\d{1,2}\))\s*"
METHOD_ITEM = re.compile(
    rf"(?:(?:^|\s){ITEM_MARK}(?P<a>[A-Z][\w+&/-]*(?:[ -][A-Za-z][\w+&/-]*){{0,4}})\s*(?:\([^)]{{1,30}}\)\s*)?"
    r"(?:\[\d+(?:\s*[,–-]\s*\d+)*\]\s*)?[:.]"
    r"|^(?P<b>[A-Z][\w+&/-]*(?:[ -][A-Z][\w+&/-]*){0,3})\s*(?:\([^)]{1,30}\)\s*)?\[\d+(?:\s*[,–-]\s*\d+)*\]\s*:)"
)
BULLET = re.compile(rf"(?:^|\s){ITEM_MARK}(?=[A-Z])")
ITEM_ENDS = re.compile(r"^(?:We|Our|For (?:all|fair|each)|In (?:this|our) (?:paper|work)|To (?:demonstrate|show))\b")
# A sentence that keeps to the compared method's own setting even when it says "we": "We employ two graph
# convolution layers as suggested in [41]", "we use the settings of the original paper"
ITS_OWN_SETTING = re.compile(
    r"as (?:suggested|recommended|reported|used|specified) (?:in|by) (?:the original|the authors|its authors|\[\d+)"
    r"|(?:following|as in) the original|the original (?:paper|implementation|settings?|code)|released by the authors",
    re.I,
)
# "• CDL [47] learns ... through a denoise autoencoder. We replace the autoencoder with an MLP": what the paper
# changed in the item's method (the part it changes was named in the item), not the paper speaking for its own
CHANGES_ITS_PART = re.compile(r"^We\s+(?:also\s+|only\s+|further\s+)?(?:replac|substitut|swap|chang|modif|adapt|simplif"
                              r"|remov|drop)\w*\s+(?:the|its|their)\s+(?P<part>[\w-]+(?:\s+[\w-]+){0,3}?)"
                              r"\s+(?:with|by|to|for|into|in)\b")
MAX_ITEM_SENTENCES = 4
FIRST_PERSON = re.compile(r"\b(?:we|our|us)\b", re.I)


def related_work_text(doc: PaperDoc) -> list[str]:
    """The flattened text of the related-work sections, with their numbered subsections."""
    numbers = {m.group("n") for s in doc.sections if RELATED_HEADING.search(s.title)
               and (m := SECTION_NUMBER.match(s.title))}
    return [
        flatten(section.text)
        for section in doc.sections
        if RELATED_HEADING.search(section.title)
        or ((m := SECTION_NUMBER.match(section.title)) and m.group("n") in numbers)
    ]


def in_related_work(sentence: Sentence, related: list[str]) -> bool:
    probe = sentence.text[:60]
    return len(probe) >= 30 and any(probe in text for text in related)


def describes_compared_method(sentences: list[Sentence], model_name: str,
                              names: re.Pattern[str] | None = None) -> set[int]:
    """Orders of the sentences of a bullet that introduces a compared method (up to a few sentences on). With
    `names` (other methods' names, for the component inventory): a bullet that opens on one of them ("• BPR Bayesian
    Personalized Ranking [38] that uses ...") introduces one too, and an item runs to the next item of its list even
    through "we" sentences (what the paper changed in that method: "• VBPR [16] ... We replace the linear projection
    with an MLP. • CDL [47] ..."). Every item, the last one too, runs through the paper's change to a part it named
    ("• CDL [47] ... through a denoise autoencoder. We replace the autoencoder with an MLP.")."""
    own = name_key(model_name)
    starts = {s.order: name for s in sentences if (name := item_name(s.text, names))}
    item = ""
    orders = sorted(starts)
    between = {order for a, b in zip(orders, orders[1:], strict=False) if b - a <= MAX_ITEM_SENTENCES
               for order in range(a + 1, b)} if names is not None else set()
    inside: set[int] = set()
    remaining = 0
    for sentence in sentences:
        if sentence.order in starts:
            remaining = MAX_ITEM_SENTENCES if not own or name_key(starts[sentence.order]) != own else 0
            item = ""
        elif remaining and sentence.order not in between and not ITS_OWN_SETTING.search(sentence.text) \
                and not changes_the_items_part(sentence.text, item) and (
            ITEM_ENDS.match(sentence.text) or FIRST_PERSON.search(sentence.text)
            or (own and own in name_key(sentence.text))
        ):
            remaining = 0  # the paper speaks for itself again
        if remaining:
            inside.add(sentence.order)
            item += " " + sentence.text
            remaining -= 1
    return inside


def changes_the_items_part(text: str, item: str) -> bool:
    """The sentence says what the paper changed in a part the item named ("We replace the autoencoder with a more
    general MLP" after "... through a denoise autoencoder"): the item's method as the paper ran it."""
    change = CHANGES_ITS_PART.match(text)
    head = change.group("part").split()[-1].lower().removesuffix("s") if change else ""
    return len(head) >= 3 and head in item.lower()


def item_name(text: str, names: re.Pattern[str] | None = None) -> str | None:
    """The method a list item introduces ("• NeuMF [15]: ...", "(2) BPRMF [27]. It ..."; with `names`, also
    "• WRMF Weighted Regularized Matrix Factorization [19, 35], the implicit MF model ...", and only an item that
    cites its method or names one of `names`: "(3) Dot Product: The final interaction ..." is a step of the
    paper's own method), else None."""
    match = METHOD_ITEM.search(text)
    if match:
        name = match.group("a") or match.group("b")
        if names is None or "[" in match.group(0) or names.match(name):
            return name
    if names is None:
        return None
    for bullet in BULLET.finditer(text):
        name = names.match(text, bullet.end())
        if name:
            return name.group(0)
    return None


def own_sentences(doc: PaperDoc, sentences: list[Sentence], model_name: str) -> list[Sentence]:
    """The sentences that may state the paper's own settings."""
    related = related_work_text(doc)
    compared = describes_compared_method(sentences, model_name)
    return [
        s for s in sentences
        if s.order not in compared and not CITED_WORK.search(s.text) and not in_related_work(s, related)
    ]
