"""Which RecBole 1.2.1 class is a paper's own model, and which class a composition of our blocks amounts to.

The first answer comes from the paper (its model's name, else its title; `recbole_models.yaml`) and becomes
`MethodSpec.reference`: the class the baselines stage trains as the reference. The second comes from the rendered
blocks, as each scaffold's family.yaml declares its compositions (`recbole_classes`); where the two differ, the
blocks build another model than the paper's, and the spec is `partial`. Torch-free: extract, the references and the
baselines stage all read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import yaml

from paper_autotrain.library import load_library

LEXICON_FILE = Path(__file__).with_name("recbole_models.yaml")
MIN_TITLE_CHARS = 20  # shorter titles ("Factorization Machines") would match inside longer ones

def normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@cache
def lexicon() -> dict[str, dict[str, dict]]:
    """family -> class -> {aliases, title}, as recbole_models.yaml writes it."""
    return yaml.safe_load(LEXICON_FILE.read_text(encoding="utf-8"))


@cache
def _names() -> dict[str, str]:
    """Every printed name (normalised) -> its class."""
    found: dict[str, str] = {}
    for classes in lexicon().values():
        for model, entry in classes.items():
            for name in (model, *(entry or {}).get("aliases", [])):
                found.setdefault(normalised(str(name)), model)
    return found


@cache
def _titles() -> dict[str, str]:
    return {normalised(entry["title"]): model for classes in lexicon().values()
            for model, entry in classes.items() if (entry or {}).get("title")}


def class_names() -> list[str]:
    return [model for classes in lexicon().values() for model in classes]


def recbole_class(model_name: str | None, title: str = "") -> str | None:
    """The RecBole class of the paper's own model: by the name the paper gives it, else by the paper's title."""
    if model_name:
        found = _names().get(normalised(model_name))
        if found:
            return found
        return None  # a named model that is not a RecBole class has no reference, whatever its title says
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
