"""The component inventory: what the paper's OWN method is made of, read from its method section(s), and whether
the blocks chosen for it build every part (`MethodSpec.fidelity`, `MethodSpec.reference`).

Only the method sections count (not the introduction, related work, preliminaries, "relation to other models" or
experiments), and within them only clauses about the paper's own method: a clause that negates a part ("we remove
feature transformation") or speaks of another model ("Unlike NGCF", "GC-MC [3] uses") adds nothing, nor does a
sentence about a method the paper compares with (`about_the_methods_own`: its baselines list, "Caser [29], which
applies ..."), unless the paper takes the part over ("which we adopt", or "We adopt it." next), nor a fact the
paper cites about a part ("the dot product violates the triangle inequality [42]"). The parts and their cues are
`components.yaml`; the blocks the architecture holds decide which parts are built.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import yaml

from paper_autotrain.library import load_library
from paper_autotrain.recbole_models import class_names, composition_class, normalised, recbole_class
from paper_autotrain.schemas import Block, Component, CustomPart, Deviation, Fidelity, PaperDoc

from .lexicon import KNOWN_MODELS
from .scope import RELATED_HEADING, describes_compared_method
from .text import EXPERIMENT_HEADING, SENTENCE_END, Sentence, flatten, name_key, quote

VOCABULARY_FILE = Path(__file__).with_name("components.yaml")
# Sections that describe other work, the problem or the results, not the method itself
NOT_METHOD_HEADING = re.compile(
    r"introduction|related work|previous work|prior work|existing|background|preliminar|recap|\bbrief\b|relation"
    r"|connection|comparison|relationship|discussion|conclusion|acknowledg|references|appendix|exploration"
    r"|motivation|limitation|contribution|overview|complexity|future work|abstract"
    r"|explaining|explanations? (?:of|for)|interpret(?:ing|ation)", re.I)  # what a fitted model's output means
CLAUSE_BREAK = re.compile(r"[,;:]|\b(?:but|while|whereas|which|whilst)\b|\band then\b", re.I)
NEGATION = re.compile(
    r"\b(?:not|no|without|remov\w*|discard\w*|abandon\w*|drop\w*|eliminat\w*|get rid of|unlike|instead of"
    r"|rather than|neither|nor|avoid\w*|lacks?|free of|omit\w*|exclud\w*)\b", re.I)
CONTRAST = re.compile(r"\b(?:unlike|in contrast|compared (?:to|with)|different from|differs? from|existing|previous"
                      r"|prior|original|conventional|traditional|vanilla|than|similar to|like|such as|e\.g\.)\W", re.I)
OTHER_MODEL_VERB = re.compile(r"\s+(?:[a-z]+s|can|cannot|could|would|will|never|only|also|first)\b")  # "NGCF uses"
OURS = re.compile(r"\b(?:we|our|us)\b", re.I)
CITATION_OPENS = r"(?:\[\d|\(\w[^)]{0,40}\d{4}\)|et al)"  # a clause may break inside "[36, 42]"
CITATION_AFTER = re.compile(rf"\s*(?:[\w-]+\s+){{0,2}}{CITATION_OPENS}")
# "As stated in [7], such pre-training ..." -- a sentence that reports what another paper says
ATTRIBUTED = re.compile(r"^\s*As (?:stated|shown|reported|suggested|noted|discussed|observed|argued) (?:in|by)\b")
PROPOSED_BY = re.compile(r"\b(?:proposed|introduced|developed) (?:by|in)\b[^.;]{0,60}?(?:\[\d+(?:,\s*\d+)*\]|et al\.?)")
# "This reduces our latent factor model into a linear model ... weighted by item-item similarity": the method
# rewritten (an analysis of what it computes), not a part it is built from
REWRITTEN = re.compile(r"\b(?:reduces?|rewrites?|turns?|transforms?|recasts?) (?:our|the|this) (?:[\w-]+ ){0,3}?"
                       r"(?:model|method|approach|predictor)s? (?:in)?to\b", re.I)
# "... could also ...", "other interaction functions can be also applied, such as ...", "We could use dot product
# ... However, ... we adopt the Euclidean distance": an option
ALTERNATIVE = re.compile(r"\b(?:another way|alternativ\w*|optionally|(?:could|can|may|might) (?:be )?also"
                         r"|we could (?:use|adopt|apply))\b", re.I)
# "optimizing within a given family of functions [38], such as deep neural networks": an example of a class the paper
# speaks of in general (no `we` choosing it), not a part of its method
EXAMPLE_OF_A_CLASS = re.compile(r"\b(?:famil(?:y|ies)|class(?:es)?|kinds?|types?)\s+of\s+(?:[\w-]+\s+){0,2}?"
                                r"(?:functions?|models?|networks?|mappings?|architectures?)\b[^.;]{0,40}?"
                                r"\b(?:such as|e g,|for (?:example|instance),?|including)\s+(?:an?\s+|the\s+)?$", re.I)
SECTION_NUMBER = re.compile(r"^\s*((?:\d+|[A-Z])(?:\.\d+)*)\.?\s")
# "Reduction to Existing Models:", "Relation with SGCN." -- a paragraph heading inside a section
INLINE_HEADING = re.compile(r"^(?P<title>[A-Z][\w-]*(?:\s+(?:[A-Z][\w-]*|to|of|and|with|the|for|on|in|an?|vs\.?)){0,6})"
                            r"\s*[:.]\s+[A-Z•(]")
# "G. Discussion We find ...", "3.6 Relation to ..." -- a numbered subsection heading run into its first sentence
NUMBERED_HEADING = re.compile(r"^(?:[A-Z]|\d+(?:\.\d+)*)\.?\s+(?P<title>(?:[A-Z][\w-]*\s*){1,5})")
OTHER_WORK_HEADING = re.compile(NOT_METHOD_HEADING.pattern + r"|reduction|existing|versus|\bvs\b|differen", re.I)
UNRECOGNISED = "unrecognised part of the method"
NO_METHOD_SECTION = ("fidelity: no method section was found; the components were read from the pages after the "
                     "first, before the experiments, less related work, compared methods and future work")
# "We also compared CML with item features (denoted as CML+F)": a variant the paper names apart, by what it adds
NAMED_VARIANT = re.compile(r"\b(?P<model>[A-Z][\w-]{1,20}) with (?:the |its )?(?P<adds>(?:[\w-]+ ){0,3}[\w-]+)\s*"
                           r"\((?:denoted (?:as|by) |called |named )?(?P<variant>(?P=model)\s*\+\s*[A-Z]\w{0,10})\)")
# "recent studies [20, 30] suggest that dot product violate ...": a cited finding about the part, not our method
CITED_FINDING = re.compile(r"(?:\[\d[\d,\s–-]*\]|et al\.?)\s*(?:have |has )?(?:suggest|show|argue|find|found|report"
                           r"|demonstrate|observe|point)\w*\s+(?:out\s+)?(?:that\s+)?[^.;]{0,40}$")
# "... but still faster than most DNN models": a part the method is compared with, not one it has
COMPARED_WITH = re.compile(r"\bthan\s+(?:(?:most|many|other|the|all|existing|those|these|typical)\s+){0,2}$",
                           re.I)
# "... Table 1: Degrees of freedom ... 3.1.5 Connections to OPNN." -- a subsection heading run into the text before it
EMBEDDED_HEADING = re.compile(r"\s(?=\d+\.\d+(?:\.\d+)*\.?\s+[A-Z][\w-]*(?:\s+[\w-]+){0,5}\.(?:\s|$))")
# "the hidden layers of CDAE": the part's owner named right after it; a bare generic network is another model's too
OWNER = re.compile(r"\s+(?:(?:component|part|module|network|layer)s?\s+)?(?:of|in)\s+(?:the\s+)?"
                   r"(?P<name>[A-Z][\w&+-]*)")
CAMEL_CASE_NAME = re.compile(r"[A-Z][a-z]+[A-Z][\w-]*")  # DeepLight, AutoInt: a model's name, known or not
GENERIC_NETWORK = re.compile(r"[DCRG]NNs?")
OWNER_BEFORE = re.compile(r"\b(?:of|in)\s+$")
# "we use FM to ...", "our model integrates an FM": another model's name as a part of ours
WE_USE = re.compile(r"\b(?:we|our (?:model|method|approach))\s+(?:\w+\s+){0,2}(?:use|adopt|employ|build on|integrate"
                    r"|incorporate|combine)\w*\s+(?:an?\s+|the\s+)?$", re.I)
# "Caser [29] applies ...", "Tang et al. [29] proposed ...": a sentence whose subject is a cited work (a name with
# capitals inside, or authors) doing something
NUMBERED_CITE = r"\[\d[\d,\s–-]*\]"  # "[29]", "[3, 12]"
CITE = rf"(?:{NUMBERED_CITE}|\(\w[^)]{{0,40}}\d{{4}}\))"  # or "(Tang and Wang, 2018)"
CITED_SUBJECT = re.compile(
    rf"^(?:[A-Z][\w-]*\s+et al\.?\s*(?:{NUMBERED_CITE})?"
    rf"|(?P<name>[A-Z][\w+&-]*)\s*{CITE})"
    r"\s*(?:also\s+|further\s+|first\s+|then\s+)?(?!based\b)[a-z]{2,}(?:s|ed)\b")
MODEL_LIKE_NAME = re.compile(r"[A-Z][\w+&-]*[A-Z0-9][\w+&-]*")  # PRME, TransRec, GRU4Rec: a method's name, not a word
# "It models ...", "This approach combines ...": a sentence that goes on about the method the one before spoke of
GOES_ON = re.compile(r"^(?:It|Its|They|Their|This (?:model|method|approach|work|baseline|algorithm|framework)"
                     r"|These (?:models|methods|approaches|works|baselines)|The (?:model|method|approach|algorithm))\b")
# "..., Caser [29], which applies ...", "Caser [29], a CNN-based model that ...": a clause on the method named before it
NAMED_BEFORE = re.compile(rf"(?P<name>[A-Z][\w+&-]*)\s*(?P<cite>{CITE})?\s*"
                          r"(?P<link>,\s*(?:which|who)?|\b(?:which|who))\s*$")
APPOSITIVE = re.compile(r"^\s*an?\s+(?:[\w-]+\s+){0,4}?(?:model|method|approach|baseline|framework|algorithm"
                        r"|recommender)s?\s+(?:that|which)\b|^\s*(?:that|which|who)\b", re.I)
# "We adopt the encoder of SASRec [12], which ...": the method named before is one we take a part from
WE_TAKE = re.compile(r"\b(?:we|our (?:model|method|approach))\s+(?:\w+\s+){0,2}(?:adopt|use|follow|employ|build on"
                     r"|borrow|reuse|apply|integrate|incorporate|extend|take)\w*\b", re.I)
# "SASRec [12] encodes the sequence with self-attention, which we adopt": another method's part we take
ADOPTED_BACK = re.compile(r"\b(?:which|that)\s+we\s+(?:also\s+)?(?:adopt|use|follow|employ|borrow|reuse)\b", re.I)
# "SASRec [12] encodes the items with self-attention. We adopt it.": the sentence before, another method's, is taken
# over ("We follow this design", "Following [12], we use them"); "We adopt its settings", "We use it as a baseline"
# take over no part
TAKEN_OVER = re.compile(r"^(?:(?:Following|As in|Like|Similarly(?: to)?)\b[^,.;]{0,60},\s*)?we\s+(?:also\s+|likewise\s+"
                        r"|similarly\s+)?(?:adopt|follow|use|employ|borrow|reuse|take|apply|inherit)\w*\s+"
                        r"(?:it|them|this|these|that|those|the same)\b(?!\s+(?:dataset|data|setting|protocol|split"
                        r"|metric|evaluation|baseline)s?\b)(?![^.]*\b(?:baselines?|compar\w*)\b)", re.I)
# "... the dot product violates the triangle inequality [42]", "due to the dot product's violation of ... [42]": a
# cited fact about the part (it is the subject of the claim), not a part of the method
KNOWN_FACT = re.compile(r"(?:'s|’s)?\s+(?:(?:of|between|in|on|for|from|with)\s+(?:[^\s,;.]+\s+){1,3}?)?"
                        r"(?:(?:is|are|has been|have been|was|were)\s+(?:well[- ])?(?:known|shown|proven|proved"
                        r"|demonstrated|found)\b|tends? to\b|suffers? from\b|fails? to\b|violat\w*"
                        r"|(?:does|do|can|could) not\b|cannot\b)")
# "It is known, as shown in [8], that attention ...": a sentence reporting what a cited paper found
REPORTED_FINDING = re.compile(r"\b(?:as (?:shown|stated|reported|noted|discussed|observed|argued|proven|proved"
                              r"|demonstrated|pointed out|found) (?:in|by)|according to)\s+(?:[\w-]+\s+){0,3}?"
                              rf"(?:{CITE}|[A-Z][\w-]+ et al)", re.I)
# "Markov Chain based models (FPMC and MC) achieve ...": the part names a class of other methods (a plural)
CLASS_OF_METHODS = re.compile(r"[\s-]*based (?:[\w-]+ ){0,2}?(?:models|methods|approaches|recommenders|algorithms"
                              r"|baselines)\b", re.I)
# "In the future, we will investigate incorporating side information": what the method does not have yet
# ("CONCLUSION AND FUTURE WORK In this paper, we ...": a heading run into a sentence, not a plan)
FUTURE_WORK = re.compile(r"^\s*(?:In|in|For|for) (?:the )?future\b|\b[Ff]uture (?:work|research|studies|directions?)\b"
                         r"|\bleft (?:for|to|as) (?:the )?future\b")
METHOD_OPENING_SENTENCES = 3
TITLE_AREA_CHARS = 300
PAGE_PROBE_CHARS = 40


@dataclass(frozen=True)
class Part:
    """One entry of components.yaml."""

    name: str
    cues: tuple[re.Pattern[str], ...]
    blocks: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    plumbing: bool = False
    ours: str = ""  # for a known deviation: what our block does instead
    adds: tuple[str, str] | None = None  # (block, after): the block that builds the part joins the composition
    composes: tuple[str, ...] = ()  # the blocks of the model the part defines (NFM's Bi-Interaction pooling)
    losses: tuple[str, ...] = ()  # a deviation: the spec losses with which the block builds the part as the paper does
    built_by: tuple[str, ...] = ()  # a deviation: other blocks that build the part as the paper says (no deviation)

    def applies_to(self, family: str) -> bool:
        return not self.families or family in self.families


@dataclass(frozen=True)
class Structure:
    name: str
    block: str
    cues: tuple[re.Pattern[str], ...]
    params: tuple[tuple[str, str], ...] = ()  # block parameters it sets
    hyperparameter: tuple[tuple[str, str], ...] = ()  # (hyperparameter, the hyperparameter whose value it takes)
    experiments: bool = False  # stated where the paper says what it ran, beyond the method (iALS's log confidence)


@dataclass(frozen=True)
class TakenOver(Sentence):
    """A sentence on another method whose part the paper takes over in the next ("SASRec [12] encodes the items
    with self-attention. We adopt it."): read as the paper's own."""


@dataclass(frozen=True)
class Found:
    part: Part
    evidence: str


def _compile(cues: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(cue, re.I) for cue in cues)


@cache
def vocabulary() -> tuple[tuple[Part, ...], tuple[Part, ...], tuple[Structure, ...]]:
    """(components, known deviations, structure readings) of components.yaml."""
    raw = yaml.safe_load(VOCABULARY_FILE.read_text(encoding="utf-8"))
    parts = tuple(Part(name=e["name"], cues=_compile(e["cues"]), blocks=tuple(e.get("blocks") or ()),
                       families=tuple(e.get("families") or ()), plumbing=bool(e.get("plumbing")),
                       adds=(e["adds"]["block"], e["adds"]["after"]) if e.get("adds") else None,
                       composes=tuple(e.get("composes") or ()))
                  for e in raw["components"])
    deviations = tuple(Part(name=e["name"], cues=_compile(e["cues"]), blocks=deviation_blocks(e["block"]),
                            ours=e["ours"], families=tuple(e.get("families") or ()),
                            losses=tuple(e.get("losses") or ()), built_by=tuple(e.get("built_by") or ()))
                       for e in raw["deviations"])
    structure = tuple(Structure(name=e["name"], block=e["block"], cues=_compile(e["cues"]),
                                params=tuple((e.get("set") or {}).items()),
                                hyperparameter=tuple((e.get("hyperparameter") or {}).items()),
                                experiments=bool(e.get("experiments")))
                      for e in raw["structure"])
    return parts, deviations, structure


def deviation_blocks(block: str | list[str]) -> tuple[str, ...]:
    """A known deviation's block, or the blocks that each deviate the same way (NeuMF's and NAIS's pre-training)."""
    return tuple(block) if isinstance(block, list) else (block,)


# --- where the method is described ----------------------------------------------------------------------------

def method_sentences(doc: PaperDoc, sentences: list[Sentence], own: str = "",
                     compared: tuple[str, ...] = ()) -> list[Sentence]:
    """Sentences of the method section(s): the sections after the introduction that are not about other work,
    up to the experiments. Without usable sections: every sentence before the experiments, after the first page,
    less those of a related-work section. Either way, less the sentences about other methods
    (`about_the_methods_own`)."""
    texts = method_section_texts(doc)
    if not texts:
        start = next((s.page for s in doc.sections if EXPERIMENT_HEADING.search(s.title)), None)
        related = [flatten(s.text) for s in doc.sections if RELATED_HEADING.search(s.title)]
        return about_the_methods_own(without_other_work_paragraphs(
            [s for s in sentences if s.page > 1 and (start is None or s.page < start)
             and not any(s.text[:PAGE_PROBE_CHARS] in text for text in related)], own, compared), own, compared)
    pages = [(page.number, page.where, flatten(page.text)) for page in doc.pages]
    found = []
    for text in texts:
        for part in SENTENCE_END.split(text):
            if part.strip():
                number, where = page_of(part.strip(), pages)
                found.append(Sentence(page=number, text=part.strip(), order=len(found), where=where))
    return about_the_methods_own(without_other_work_paragraphs(found, own, compared), own, compared)


def about_the_methods_own(sentences: list[Sentence], own: str, compared: tuple[str, ...] = ()) -> list[Sentence]:
    """The sentences less those about other methods: the items of a list of compared methods ("(8) Caser [29]. It
    models ... with convolutional neural networks"), a sentence whose subject is another method ("PRME [6] utilizes
    metric embedding", "Tang et al. [29] proposed ...") and the ones that go on about it ("It ...", "This model
    ..."), unless we speak in them; and future work ("In the future, we will investigate side information").
    Sentences on another method that the next sentence takes over ("We adopt it", "We follow this design") are
    kept as `TakenOver`."""
    numbered = [replace(s, order=i) for i, s in enumerate(sentences)]  # embedded headings split a sentence in two
    items = describes_compared_method(numbered, own, other_model_names(own, compared))
    kept, going_on, run = [], False, []  # run: the sentences on another method just before (no list item's)
    for sentence in numbered:
        text = sentence.text
        other = sentence.order in items or subject_is_another_model(text, own, compared) or (
            going_on and bool(GOES_ON.match(text)) and not OURS.search(text))
        going_on = other
        if other:
            run = [] if sentence.order in items else [*run, sentences[sentence.order]]
            continue
        if TAKEN_OVER.match(text):  # "We adopt it": the method described just before is the paper's too
            kept += [TakenOver(**vars(taken)) for taken in run]
            if not run and kept and kept[-1] is sentences[sentence.order - 1] \
                    and about_other_model(kept[-1].text, own, compared):  # "The encoder of AttnSeq [12] ..."
                kept[-1] = TakenOver(**vars(kept[-1]))
        run = []
        if not FUTURE_WORK.search(text):
            kept.append(sentences[sentence.order])
    return kept


def page_of(sentence: str, pages: list[tuple[int, str, str]]) -> tuple[int, str]:
    """The page a sentence stands on (for its quote): the first whose text holds its opening words."""
    opening = sentence[:PAGE_PROBE_CHARS]
    return next(((number, where) for number, where, text in pages if opening in text), (pages[0][0], pages[0][1]))


def method_section_texts(doc: PaperDoc) -> list[str]:
    """The method sections' texts; a subsection of an excluded section ("2.1" under "2 Related Work") is out too,
    and so is one that describes a variant the paper names apart (`variant_sections`)."""
    texts, excluded = [], set()
    variants = {title for title, _ in variant_sections(doc)}
    for section in doc.sections[1:]:  # the first section is the introduction (or the abstract)
        if EXPERIMENT_HEADING.search(section.title):
            break
        number = SECTION_NUMBER.match(section.title)
        parents = number.group(1).split(".") if number else []
        if NOT_METHOD_HEADING.search(section.title) or section.title in variants:
            if number:
                excluded.add(number.group(1))
            continue
        if any(".".join(parents[:depth]) in excluded for depth in range(1, len(parents))):
            continue
        texts.append(flatten(section.text))
    return texts


def variant_sections(doc: PaperDoc) -> list[tuple[str, str]]:
    """(section title, variant) of each method subsection that describes what a variant the paper names apart adds
    ("CML with item features (denoted as CML+F)" and a subsection "3.3 Integrating Item Features"): the variant's
    part, not the model's. A subsection heading holds the words of what the variant adds."""
    text = " ".join(flatten(page.text) for page in doc.pages)
    found = []
    for match in NAMED_VARIANT.finditer(text):
        adds = match.group("adds").lower()
        for section in doc.sections[1:]:
            if SECTION_NUMBER.match(section.title) and "." in SECTION_NUMBER.match(section.title).group(1) \
                    and adds in section.title.lower():
                found.append((section.title, match.group("variant").replace(" ", "")))
    return found


def without_other_work_paragraphs(sentences: list[Sentence], own: str = "",
                                  compared: tuple[str, ...] = ()) -> list[Sentence]:
    """Drop the paragraphs a method section spends on other models ("Reduction to Existing Models: ...", "3.1.2
    FwFM." in a paper on FmFM): from such a heading to the next numbered subsection (a paragraph heading inside a
    discussion does not end it)."""
    kept, skipping = [], False
    for sentence in at_embedded_headings(sentences):
        numbered = NUMBERED_HEADING.match(sentence.text)
        inline = INLINE_HEADING.match(sentence.text)
        if numbered:
            title = numbered.group("title").strip()
            skipping = bool(OTHER_WORK_HEADING.search(title)) or names_another_model(title, own, compared)
        if inline and not sentence.text.startswith("•") and OTHER_WORK_HEADING.search(inline.group("title")):
            skipping = True
        if not skipping:
            kept.append(sentence)
    return kept


def at_embedded_headings(sentences: list[Sentence]) -> list[Sentence]:
    """The sentences, each cut before a numbered subsection heading run into it (a table's or figure's text with the
    next heading after it: "... Table 1: Degrees of freedom 3.1.5 Connections to OPNN.")."""
    cut = []
    for sentence in sentences:
        bounds = [0, *(match.end() for match in EMBEDDED_HEADING.finditer(sentence.text)), len(sentence.text)]
        pieces = [sentence.text[a:b].strip() for a, b in zip(bounds, bounds[1:], strict=False)]
        cut += [replace(sentence, text=piece) for piece in pieces if piece] if len(pieces) > 1 else [sentence]
    return cut


def names_another_model(text: str, own: str, compared: tuple[str, ...] = ()) -> bool:
    """`text` is the name of a model other than the paper's own ("FwFM", "OPNNs")."""
    names = other_model_names(own, compared)
    text = text.strip()
    return names is not None and any(names.fullmatch(name) for name in {text, text.removesuffix("s")} if name)


# --- reading one clause at a time -------------------------------------------------------------------------------

def clause_bounds(text: str, position: int) -> tuple[int, int]:
    """The clause of `text` around `position` (between commas, semicolons, 'but', 'which', ...)."""
    start = 0
    for match in CLAUSE_BREAK.finditer(text):
        if match.end() <= position:
            start = match.end()
        elif match.start() > position:
            return start, match.start()
    return start, len(text)


@cache
def other_model_names(own: str, compared: tuple[str, ...] = ()) -> re.Pattern[str] | None:
    """Names of models other than the paper's own (a known model or one the paper compares with, not contained in,
    nor containing, ours)."""
    own_key = name_key(own)
    names = {name for name in (*KNOWN_MODELS, *class_names(), *compared) if len(name) >= 2}
    others = [name for name in names
              if not own_key or (name_key(name) not in own_key
                                 and own_key not in name_key(name))]
    if not others:
        return None
    alternatives = "|".join(re.escape(name) for name in sorted(others, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")


def about_other_model(clause: str, own: str, compared: tuple[str, ...] = ()) -> bool:
    """A clause that speaks of another model: its name cited, contrasted, or as the clause's subject."""
    if OURS.search(clause):
        return False
    if re.search(r"\b[A-Z][A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*\s*\[\d|et al", clause):  # "NGCF [39]", "Tang et al."
        return True
    names = other_model_names(own, compared)
    if names is None:
        return False
    for match in names.finditer(clause):
        before = clause[: match.start()]
        if CONTRAST.search(before[-40:]) or re.match(r"\s*(?:\[\d|et al)", clause[match.end():]):
            return True
        if not before.strip(" ()'\"") and OTHER_MODEL_VERB.match(clause[match.end():]):
            return True
    return False


def subject_is_another_model(text: str, own: str, compared: tuple[str, ...] = ()) -> bool:
    """The sentence opens on another model doing something ("OPNN also models the interactions with an outer
    product, with fully connected layers on top", "PRME [6] utilizes metric embedding", "Tang et al. [29] proposed
    ..."): every clause of it is that model's, unless we speak too."""
    if OURS.search(text):
        return False
    names = other_model_names(own, compared)
    opening = names.match(text) if names is not None else None
    if opening is not None and OTHER_MODEL_VERB.match(text[opening.end():]):
        return True
    cited = CITED_SUBJECT.match(text)
    if cited is None or cited.group("name") is None:
        return cited is not None  # authors: "Tang et al. [29] proposed"
    return another_methods_name(cited.group("name"), own, names, cited=True)


def on_a_method_named_before(before: str, clause: str, own: str, compared: tuple[str, ...] = ()) -> bool:
    """The clause is a relative or appositive clause on another method named just before it ("We compare with Caser
    [29], which applies convolutional filters", "Caser [29], a CNN-based model that ..."), unless we take a part
    from that method ("We adopt the encoder of SASRec [12], which stacks self-attention blocks")."""
    named = NAMED_BEFORE.search(before)
    if named is None or WE_TAKE.search(before):
        return False
    if "," in named.group("link") and "which" not in named.group("link") and "who" not in named.group("link") \
            and not APPOSITIVE.match(clause):
        return False  # "Following SASRec [12], the model ...": a new clause, not one on SASRec
    return another_methods_name(named.group("name"), own, other_model_names(own, compared),
                                cited=named.group("cite") is not None)


def another_methods_name(name: str, own: str, names: re.Pattern[str] | None, cited: bool) -> bool:
    """`name` is another method's: one of `names`, or, cited, a name shaped like a method's (capitals or digits
    inside: "PRME", "TransRec") that is not the paper's own."""
    return (names is not None and bool(names.fullmatch(name))) or (
        cited and MODEL_LIKE_NAME.fullmatch(name) is not None and normalised(name) != normalised(own))


def stated(sentence: Sentence, cue: re.Pattern[str], own: str, compared: tuple[str, ...] = ()) -> int | None:
    """Where `cue` states a part of the paper's own method in `sentence` (None: absent, negated or not ours)."""
    taken_over = isinstance(sentence, TakenOver)
    if not taken_over and (ATTRIBUTED.match(sentence.text) or subject_is_another_model(sentence.text, own, compared)
                           or a_reported_finding(sentence.text)):
        return None
    for match in cue.finditer(sentence.text):
        start, end = clause_bounds(sentence.text, match.start())
        clause = sentence.text[start:end]
        if NEGATION.search(sentence.text[start:match.start()]):
            continue
        # "SASRec [12] uses self-attention, which we adopt"
        taken = taken_over or ADOPTED_BACK.search(sentence.text[end:])
        if not taken and (about_other_model(clause, own, compared)
                          or on_a_method_named_before(sentence.text[:start], clause, own, compared)
                          or another_models_part(sentence.text[start:match.start()], match.group(0),
                                                 sentence.text[match.end():end], own, compared)):
            continue
        if COMPARED_WITH.search(sentence.text[start:match.start()]):
            continue
        if offered_or_cited(sentence.text, match, clause, ours=bool(taken)) \
                or a_cited_fact(sentence.text[match.end():end]):
            continue
        if where_cited_work_was_used(sentence.text[start:match.start()]):
            continue
        if CITED_FINDING.search(sentence.text[:match.start()]) or REWRITTEN.search(sentence.text[:match.start()]):
            continue
        if an_example_of_a_class(sentence.text[:match.start()]):
            continue
        return match.start()
    return None


def another_models_part(before: str, cue: str, after: str, own: str, compared: tuple[str, ...] = ()) -> bool:
    """The cue names another model ("FmFM are extensions of FwFM": the cue is FwFM's name; unless we use it), gives
    the part as another model's ("the hidden layers of CDAE", "the hidden layers of DNN") or names a class of other
    methods by it ("Markov Chain based models (FPMC and MC)")."""
    if names_another_model(cue, own, compared) or (GENERIC_NETWORK.fullmatch(cue) and OWNER_BEFORE.search(before)):
        return not WE_USE.search(before)
    return not OURS.search(before) and (part_of_another_model(after, own, compared)
                                        or CLASS_OF_METHODS.match(after) is not None)


def part_of_another_model(after: str, own: str, compared: tuple[str, ...] = ()) -> bool:
    """The part is given as another model's ("hidden layers of CDAE", "hidden layers of DNN" in a paper whose own
    model is no deep network): the words after the cue name its owner."""
    owner = OWNER.match(after)
    if owner is None:
        return False
    name = owner.group("name")
    if GENERIC_NETWORK.fullmatch(name):
        return name.rstrip("s").lower() not in own.lower()
    return names_another_model(name, own, compared) or (CAMEL_CASE_NAME.fullmatch(name) is not None
                                               and name.lower() not in own.lower())


def an_example_of_a_class(before: str) -> bool:
    """The part is named as an example of a class of functions or models the sentence speaks of in general
    ("decided by optimizing within a given family of functions [38], such as deep neural networks"), and we do not
    choose it there."""
    example = EXAMPLE_OF_A_CLASS.search(before.replace("e.g.", "e g,"))
    return example is not None and not OURS.search(before)


def where_cited_work_was_used(before: str) -> bool:
    """The part names where a cited technique came from: "covariance regularization recently proposed by Cogswell
    et al. [9] used to reduce the correlation between activations in a deep neural network" (no `we` after)."""
    cited = PROPOSED_BY.search(before)
    return bool(cited) and not OURS.search(before[cited.end():])


def offered_or_cited(text: str, match: re.Match[str], clause: str, ours: bool = False) -> bool:
    """A part offered as one option among others ("hinge loss or logit loss"), or another paper's technique
    ("margin-based loss [33]") in a clause that does not say we use it (`ours`: the paper takes it over)."""
    after, before = text[match.end():], text[:match.start()]
    if re.match(r"\s+or\b", after) or re.search(r"\bor\s+(?:\w+\s+){0,2}$", before) or ALTERNATIVE.search(text):
        return True
    return bool(CITATION_AFTER.match(after)) and not ours and not OURS.search(clause)


def a_cited_fact(after: str) -> bool:
    """The part is the subject of a cited claim about it, `after` being the rest of its clause ("the dot product
    violates the triangle inequality [42]", "due to the dot product's violation of the triangle inequality [42]")."""
    return KNOWN_FACT.match(after) is not None and re.search(CITATION_OPENS, after) is not None


def a_reported_finding(text: str) -> bool:
    """The sentence reports what a cited paper found ("It is known, as shown in [8], that attention relates ..."),
    and we do not speak in it."""
    return REPORTED_FINDING.search(text) is not None and not OURS.search(text)


def find_parts(parts: Iterable[Part], sentences: list[Sentence], own: str,
               compared: tuple[str, ...] = ()) -> list[Found]:
    """Each part stated in the sentences, with its first quote, in the vocabulary's order."""
    found = []
    for part in parts:
        for sentence in sentences:
            position = next((p for cue in part.cues if (p := stated(sentence, cue, own, compared)) is not None),
                            None)
            if position is not None:
                found.append(Found(part, quote(sentence, position)))
                break
    return found


# --- the inventory and its verdict --------------------------------------------------------------------------

@dataclass
class Assessment:
    fidelity: Fidelity
    reference: str | None
    custom: list[CustomPart]
    architecture: list[Block]
    hyperparameter_links: list[tuple[str, str, str]]  # (hyperparameter, takes the value of, evidence)
    notes: list[str]


def assess(doc: PaperDoc, sentences: list[Sentence], family: str, loss: str, model_name: str | None,
           architecture: list[Block], compared: tuple[str, ...] = ()) -> Assessment:
    """The paper's components, which blocks build them, the deviations, the reference and the verdict. `compared`:
    the methods the paper compares with (`baselines_in_paper`), whose parts are not the method's own."""
    own = model_name or ""
    method = method_sentences(doc, sentences, own, compared)
    parts, known_deviations, structures = vocabulary()
    found_parts = find_parts([p for p in parts if p.applies_to(family)], method, own, compared)
    architecture = with_added_blocks(architecture, found_parts)
    framed = not architecture
    if framed:  # no known composition: the family's frame for custom parts builds the stated parts it can
        architecture = fill_in_frame(family, found_parts)
    built = [block.block for block in architecture]
    components: list[Component] = []
    deviations: list[Deviation] = []
    for found in found_parts:
        block = next((b for b in found.part.blocks if b in built), None)
        if found.part.plumbing and block is None:
            continue  # a generic part (embeddings) says nothing about which model this is
        components.append(Component(name=found.part.name, evidence=found.evidence, block=block))
    for found in find_parts([d for d in known_deviations if d.applies_to(family)], method, own, compared):
        builder = next((name for name in found.part.built_by if name in built), None)
        if builder is not None:  # CMN's memories pre-trained as GMF: built as stated, not a deviation
            components.append(Component(name=found.part.name, evidence=found.evidence, block=builder))
            continue
        block = next((name for name in found.part.blocks if name in built), None)
        if block is not None:
            if loss not in found.part.losses:
                deviations.append(Deviation(component=found.part.name, paper=found.evidence, ours=found.part.ours))
            components.append(Component(name=found.part.name, evidence=found.evidence, block=block))
        else:
            components.append(Component(name=found.part.name, evidence=found.evidence, block=None))
    notes = [f"fidelity: section '{title}' describes the variant {variant}, not read as the model's own"
             for title, variant in variant_sections(doc)]
    owner = loss_owner(family, loss, built, components)
    if owner:  # a block's own loss is the paper's (CML's metric hinge: metric_score, losses/warp_hinge.j2)
        components.append(Component(name=f"the paper's training loss (the {owner} block's own)", evidence=None,
                                    block=owner))
    elif loss == "other" and not any(d.ours and "loss" in d.component for d in deviations):
        components.append(Component(name="the paper's training loss (none of the loss templates)",
                                    evidence=None, block=None))
    architecture, links, stated_structure = apply_structure(architecture, structures, method, own, sentences,
                                                            compared)
    components += stated_structure
    reference = recbole_class(model_name, doc.meta.title or title_area(doc))
    natural = composition_class(family, built, loss) if built else None
    if natural != reference:
        if natural is not None:
            paper_model = f"RecBole's {reference}" if reference else "the paper's model"
            notes.append(f"fidelity: the blocks ({' -> '.join(built)}) make RecBole's {natural}, not {paper_model}; "
                         "the spec is partial")
        if not any(component.block is None for component in components):
            components.append(Component(name=UNRECOGNISED, evidence=opening_quote(method), block=None))
    if (not built or framed) and not any(component.block is None for component in components):
        components.append(Component(name=UNRECOGNISED, evidence=opening_quote(method), block=None))
    if not method_section_texts(doc):  # headings not detected, or the method's pages missing: say what was read
        notes.append(NO_METHOD_SECTION)
    missing = [component for component in components if component.block is None]
    verdict = "partial" if missing else "faithful"
    custom = [CustomPart(name=c.name, description=f"a part of {own or 'the'} method no library block builds",
                         evidence=c.evidence) for c in missing]
    return Assessment(Fidelity(verdict=verdict, components=components, deviations=deviations), reference, custom,
                      architecture, links, notes)


def loss_owner(family: str, loss: str, built: list[str], components: list[Component]) -> str | None:
    """The block of the composition whose own loss (its manifest's `trains`) stands for the spec's `loss`, when the
    method states a loss part that block builds (a hinge loss for metric_score, a confidence-weighted likelihood
    for logistic_score); None otherwise."""
    blocks = load_library().base_for(family).blocks
    for name in built:
        rule = blocks.get(name)
        if rule is None or not rule.trains or loss not in rule.trains_for:
            continue
        if rule.fitted_once:  # fitted once (EASE, SLIM, ItemKNN): its fit solves the paper's own objective
            return name
        if any(component.block == name and re.search(r"loss|likelihood", component.name) for component in components):
            return name
    return None


def reconcile(fidelity: Fidelity, architecture: list[Block], custom: list[CustomPart]) -> Fidelity:
    """The inventory after another reader (the LLM) chose the composition: a component whose block is gone is
    unbuilt, a custom part is a component the fill-in slot builds (`custom` block) or nothing builds."""
    built = {block.block for block in architecture}
    slot = "custom" if "custom" in built else None
    components = [c if c.block is None or c.block in built else c.model_copy(update={"block": None})
                  for c in fidelity.components]
    if slot:  # the LLM writes the custom parts: the components they stand for are built by its slot
        parts = {part.name for part in custom}
        components = [c.model_copy(update={"block": slot}) if c.block is None and c.name in parts else c
                      for c in components]
    known = {c.name for c in components}
    components += [Component(name=part.name, evidence=part.evidence, block=slot) for part in custom
                   if part.name not in known]
    deviations = [d for d in fidelity.deviations if any(c.name == d.component and c.block for c in components)]
    verdict = "partial" if any(c.block is None for c in components) else fidelity.verdict
    return Fidelity(verdict=verdict, components=components, deviations=deviations)


def title_area(doc: PaperDoc) -> str:
    """The start of the first page, where the title stands when the PDF's metadata has none."""
    return doc.pages[0].text[:TITLE_AREA_CHARS] if doc.pages else ""


def with_added_blocks(architecture: list[Block], found: list[Found]) -> list[Block]:
    """The composition with the blocks that build stated parts a template composes in (Wide & Deep's crosses). A
    stated part that defines its model's composition (`composes`: NFM's Bi-Interaction pooling) replaces a guessed
    composition that does not build it, keeping the parameters of the blocks both hold."""
    blocks = list(architecture)
    defining = next((f.part for f in found if f.part.composes), None)
    if defining is not None and not any(block.block in defining.blocks for block in blocks):
        guessed = {block.block: block for block in blocks}
        blocks = [guessed.get(name) or Block(block=name) for name in defining.composes]
    for part in (f.part for f in found if f.part.adds):
        block, after = part.adds
        names = [b.block for b in blocks]
        if after in names and block not in names:
            blocks.insert(names.index(after) + 1, Block(block=block))
    return blocks


def fill_in_frame(family: str, found: list[Found]) -> list[Block]:
    """The blocks of the family's frame for custom parts (family.yaml `custom_architecture`, less the slot) when one
    of them builds a stated part, else none. Render composes a partial spec's custom parts (the LLM fill-in,
    fidelity=allow_partial) into this frame anyway, so its blocks build the parts they build there (YouTubeDNN's
    inner product: dot_score); the model's other parts stay unbuilt, and the spec partial."""
    frame = [name for name in load_library().base_for(family).custom_architecture if name != "custom"]
    if any(name in f.part.blocks for f in found if not f.part.plumbing for name in frame):
        return [Block(block=name) for name in frame]
    return []


def opening_quote(method: list[Sentence]) -> str | None:
    """Where the method's description starts: the quote an unrecognised part points at."""
    for sentence in method[:METHOD_OPENING_SENTENCES]:
        if len(sentence.text.split()) >= 6:
            return quote(sentence)
    return quote(method[0]) if method else None


def apply_structure(architecture: list[Block], structures: Iterable[Structure], method: list[Sentence], own: str,
                    everywhere: list[Sentence] | None = None, compared: tuple[str, ...] = ()
                    ) -> tuple[list[Block], list[tuple[str, str, str]], list[Component]]:
    """Block parameters the method section states for blocks the architecture holds (e.g. a pre-norm
    Transformer), hyperparameters it ties to others (a d x d feed-forward: inner size = embedding size), and each
    such statement as a built component with its quote. A structure marked `experiments` is read in `everywhere`
    too: what the experiments ran (iALS's "we employ the log scaling scheme" stands in its experiments)."""
    params: dict[str, dict[str, str]] = {}
    links: list[tuple[str, str, str]] = []
    components: list[Component] = []
    built = {block.block for block in architecture}
    for structure in structures:
        if structure.block not in built:
            continue
        read_in = everywhere if structure.experiments and everywhere is not None else method
        found = find_parts([Part(name=structure.name, cues=structure.cues)], read_in, own, compared)
        if not found:
            continue
        params.setdefault(structure.block, {}).update(dict(structure.params))
        links += [(key, source, found[0].evidence) for key, source in structure.hyperparameter]
        components.append(Component(name=structure.name, evidence=found[0].evidence, block=structure.block))
    blocks = [Block(block=block.block, **{**block.params, **params.get(block.block, {})}) for block in architecture]
    return blocks, links, components
