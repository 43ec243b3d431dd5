"""The one registry of model names (recbole_models.yaml): no printed name names two classes, every class it names is
one of RecBole 1.2.1's, and the extractor's vocabulary (lexicon.KNOWN_MODELS) is its view."""

import importlib.util
import re
from collections import defaultdict
from pathlib import Path

from paper_autotrain.recbole_models import normalised, printed_names, recbole_class
from paper_autotrain.stages.extract.lexicon import KNOWN_MODELS
from paper_autotrain.stages.extract.rules import _known_in


def recbole_model_classes() -> set[str]:
    """RecBole's model registry as its package files list it (each model family's __init__ imports its classes):
    read, not imported, so the test stays cheap and free of RecBole's import-time side effects."""
    spec = importlib.util.find_spec("recbole")
    assert spec is not None and spec.submodule_search_locations, "RecBole is not installed"
    models = Path(next(iter(spec.submodule_search_locations))) / "model"
    return {name for init in models.glob("*/__init__.py")
            for name in re.findall(r"^from recbole\.model\.\S+ import (\w+)$", init.read_text(), re.M)}


def test_no_printed_name_names_two_classes():
    classes: dict[str, set[str | None]] = defaultdict(set)
    for name, model in printed_names():
        classes[normalised(name)].add(model)
    assert {key: found for key, found in classes.items() if len(found) > 1} == {}
    # "+" is part of a name: GRU4Rec+ (no class) is not GRU4Rec, SVD++ not SVD
    assert classes["gru4rec+"] == {None} and classes["gru4rec"] == {"GRU4Rec"}


def test_every_class_the_registry_names_is_one_of_recboles():
    real = recbole_model_classes()
    assert {"BPR", "LightGCN", "SASRec", "DeepFM", "KGAT"} <= real  # the package files were read
    assert {model for _, model in printed_names() if model} - real == set()


def test_the_lexicons_models_are_the_registrys_labels():
    assert KNOWN_MODELS and all(recbole_class(name) == model for name, model in KNOWN_MODELS.items())
    # the disagreements the two lists had, decided by RecBole 1.2.1's classes and the papers
    assert KNOWN_MODELS["PopRec"] == recbole_class("PopRec") == "Pop"  # SASRec's, CosRec's popularity ranking
    assert KNOWN_MODELS["GRU4Rec+"] is None and recbole_class("GRU4Rec+") is None  # Hidasi & Karatzoglou 2018
    assert KNOWN_MODELS["MF"] is None  # rating MF (FM), weighted implicit MF (LogisticMF), BPR's MF is BPR-MF
    assert KNOWN_MODELS["Cosine-kNN"] == "ItemKNN"  # BPR's item-based cosine kNN (Deshpande & Karypis)


def test_the_known_methods_a_text_names_come_in_its_order():
    text = "BPR-MF is compared against SVD-MF, WR-MF and the cosine kNN; FMs mimic SVD++, PITF or FPMC"
    assert _known_in(text) == ["BPR-MF", "SVD-MF", "WR-MF", "SVD++", "PITF", "FPMC"]
