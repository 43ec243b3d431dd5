"""Which RecBole 1.2.1 class is a paper's own model (or a method it compares with), and which class a composition of
our blocks amounts to.

The first answer comes from the paper (its model's name, else its title; `recbole_models.yaml`) and becomes
`MethodSpec.reference`: the class the baselines stage trains as the reference. The second comes from the rendered
blocks, as each scaffold's family.yaml declares its compositions (`recbole_classes`); where the two differ, the
blocks build another model than the paper's, and the spec is `partial`. `recbole_models.yaml` is the one registry of
model names: `labels()` is the extractor's vocabulary of compared methods (`lexicon.KNOWN_MODELS`). Torch-free:
extract, the references and the baselines stage all read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import yaml

from paper_autotrain.library import load_library

LEXICON_FILE = Path(__file__).with_name("recbole_models.yaml")
MIN_TITLE_CHARS = 20  # shorter titles ("Factorization Machines") would match inside longer ones

NO_CLASS = "no_recbole_class"  # the registry's list of compared methods RecBole has no class for


def normalised(name: str) -> str:
    """A name's key: lower case, letters, digits and "+" only ("SVD++" is not SVD, "GRU4Rec+" not GRU4Rec)."""
    return re.sub(r"[^a-z0-9+]", "", name.lower())


@cache
def lexicon() -> dict:
    """recbole_models.yaml as written: family -> class -> {labels, aliases, title}, and the unimplemented labels."""
    return yaml.safe_load(LEXICON_FILE.read_text(encoding="utf-8"))


def _classes() -> Iterator[tuple[str, dict]]:
    """(class, its entry) for every RecBole class the registry names, in file order."""
    for family, classes in lexicon().items():
        if family != NO_CLASS:
            yield from ((model, entry or {}) for model, entry in classes.items())


def printed_names() -> list[tuple[str, str | None]]:
    """Every name the registry states, with its class (None: RecBole has none): class names, labels, aliases."""
    named = [(str(name), model) for model, entry in _classes()
             for name in (model, *entry.get("labels", []), *entry.get("aliases", []))]
    return named + [(str(name), None) for name in lexicon().get(NO_CLASS, [])]


@cache
def labels() -> dict[str, str | None]:
    """The names papers print for the methods they compare with -> RecBole class (None where RecBole has none), in
    file order: the vocabulary the rules extractor looks for in a paper (`lexicon.KNOWN_MODELS`)."""
    found = {str(label): model for model, entry in _classes() for label in entry.get("labels", [])}
    return found | {str(label): None for label in lexicon().get(NO_CLASS, [])}


@cache
def _names() -> dict[str, str | None]:
    """Every printed name (normalised) -> its class (None: a method RecBole has no class for)."""
    found: dict[str, str | None] = {}
    for name, model in printed_names():
        found.setdefault(normalised(name), model)
    return found


@cache
def _titles() -> dict[str, str]:
    return {normalised(entry["title"]): model for model, entry in _classes() if entry.get("title")}


def class_names() -> list[str]:
    return [model for model, _ in _classes()]


def recbole_class(model_name: str | None, title: str = "") -> str | None:
    """The RecBole class of the paper's own model: by the name the paper gives it, else by the paper's title."""
    if model_name:
        return _names().get(normalised(model_name))  # a named model no class implements: none, whatever the title
    key = normalised(title)
    if not key:
        return None
    # the title as printed, or the page's opening text that holds it
    return _titles().get(key) or next((model for known, model in _titles().items()
                                      if len(known) >= MIN_TITLE_CHARS and known in key), None)


def composition_class(family: str, blocks: Iterable[str], loss: str) -> str | None:
    """The RecBole class these blocks amount to (with this loss), or None when they match none: the family's
    scaffold declares its classes (family.yaml `recbole_classes`)."""
    return load_library().base_for(family).recbole_class(frozenset(block.lower() for block in blocks), loss)
