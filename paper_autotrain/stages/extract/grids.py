"""A search grid with the value the paper chose from it: "the learning rate is tuned in {0.0001, 0.001, 0.01} and
set to 0.001", "the batch size is searched from {256, 512, 1024}; the optimal value is 512", "the embedding size is
selected among {16, 32, 64}, where 64 yields the best result". The chosen value is the paper's setting when it is one
of the grid's members (or lies inside a grid written with an ellipsis, "{1e-6, 1e-5, ..., 1e-2}"); a grid without a
stated choice stays a note in `unclear` (hparams.find_grids)."""

from __future__ import annotations

import re

from paper_autotrain.schemas import HyperParameter

from .hparams import GRID_PHRASES, GRID_TAIL, about_other_model
from .numbers import INT_KEYS, NUM, parse_number, plausible
from .text import Sentence, quote

# The choice, after the grid: "(and is) (finally) set to V", "the optimal/best value/setting is (achieved with) V",
# "V yields/gives/performs (the) best"
_V = NUM.replace("?P<v>", "?P<c>")
LEAD = r"^[^\[{]{0,80}?"  # within the grid's clause, before any other grid
CHOICES = tuple(re.compile(LEAD + pattern, re.I) for pattern in (
    rf"\b(?:(?:is|are|was|were)\s+)?(?:finally |eventually |empirically |then )?(?:set|fixed) (?:to|as|at)\s+{_V}",
    rf"\b(?:optimal|best)(?: [\w-]+){{0,3}}? (?:is|was|are|were)(?: [\w-]+){{0,2}}?\s+(?:with|at|when|by|as|to|of)?"
    rf"\s*(?:[\w-]+\s*(?:=|is)\s*)?{_V}",
    rf"(?<![\w.-]){_V}\s+(?:yields|gives|leads to|achieves|performs|works|is)(?: [\w-]+){{0,2}}? (?:best|optimal)\b",
))
# words naming a setting without a grid phrase of its own
OTHER_SETTINGS = r"epochs?|heads|negatives?|length|margin|hidden|temperature|number of"
ELLIPSIS = re.compile(r"\.\.\.|…|·\s*·\s*·|⋯")
MEMBER = re.compile(NUM)


def grid_members(grid: str) -> tuple[list[float], bool]:
    """The numbers of a printed grid ("{1e-6, 1e-5, ···, 1e-2}") and whether it elides members."""
    values = []
    for part in re.split(r"[,;]", grid.strip("[]{} ")):
        match = MEMBER.fullmatch(part.strip())
        if match:
            values.append(float(parse_number(match.group("v"))))
    return values, bool(ELLIPSIS.search(grid))


def in_grid(value: float, members: list[float], elided: bool) -> bool:
    if elided and len(members) >= 2:
        return min(members) <= value <= max(members)
    return any(abs(value - m) <= 1e-9 * max(1.0, abs(m)) for m in members)


def _choice(key: str, tail: str) -> float | int | None:
    match = next((m for pattern in CHOICES if (m := pattern.search(tail))), None)
    if not match:
        return None
    between = re.sub(GRID_PHRASES[key], "", tail[: match.start("c")], flags=re.I)
    if any(re.search(rf"\b(?:{phrase})\b", between, re.I) for phrase in (*GRID_PHRASES.values(), OTHER_SETTINGS)):
        return None  # "... and the number of epochs is set to 64": another setting's value
    value = parse_number(match.group("c"))
    return int(value) if key in INT_KEYS else float(value)


def find_grid_choices(
    sentences: list[Sentence], model_name: str, skip: set[str], others: tuple[str, ...] = ()
) -> dict[str, HyperParameter]:
    """Values the paper chose from a search grid it prints, in the grid's sentence or the sentence after it."""
    found: dict[str, HyperParameter] = {}
    for index, sentence in enumerate(sentences):
        if about_other_model(sentence.text, model_name, others):
            continue
        for key, phrase in GRID_PHRASES.items():
            if key in skip or key in found:
                continue
            match = re.search(phrase + GRID_TAIL, sentence.text, re.I)
            if not match:
                continue
            members, elided = grid_members(match.group("g"))
            tail = sentence.text[match.end() :]
            value = _choice(key, tail)
            if value is None and index + 1 < len(sentences) and not re.search(r"[\[{]", tail):
                following = sentences[index + 1].text
                if not any(re.search(p + GRID_TAIL, following, re.I) for p in GRID_PHRASES.values()):
                    value = _choice(key, following)
            if value is None or not in_grid(float(value), members, elided) or not plausible(key, value):
                continue
            found[key] = HyperParameter(value=value, source="paper", evidence=quote(sentence, match.start()))
    return found
