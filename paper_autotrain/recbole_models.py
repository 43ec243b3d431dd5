"""Which RecBole 1.2.1 class is a paper's own model, and which class a composition of our blocks amounts to.

The first answer comes from the paper (its model's name, else its title; `recbole_models.yaml`) and becomes
`MethodSpec.reference`: the class the baselines stage trains as the reference. The second comes from the rendered
blocks; where the two differ, the blocks build another model than the paper's, and the spec is `partial`. Torch-free:
extract, the references and the baselines stage all read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import yaml

LEXICON_FILE = Path(__file__).with_name("recbole_models.yaml")
MIN_TITLE_CHARS = 20  # shorter titles ("Factorization Machines") would match inside longer ones

# Compositions of our blocks and the RecBole class each one is (the reference mapping's starting point)
TOPK_COMPOSITIONS: dict[frozenset[str], str] = {
    frozenset({"gmf", "mlp_tower", "neumf_fusion"}): "NeuMF",
    frozenset({"embedding", "light_propagation", "dot_score"}): "LightGCN",
    frozenset({"embedding", "ngcf_propagation", "dot_score"}): "NGCF",
    frozenset({"embedding", "behaviour_aggregation", "cosine_score"}): "SimpleX",
    frozenset({"embedding", "light_propagation", "graph_view_contrast", "dot_score"}): "SGL",
}
TOPK_BPR = frozenset({"embedding", "dot_score"})  # matrix factorisation: BPR only when trained with the BPR loss
SEQUENTIAL_ENCODERS = {"self_attention_encoder": "SASRec", "gru_encoder": "GRU4Rec", "caser_encoder": "Caser"}
AUTOENCODER_ENCODERS = {"variational_encoder": "MultiVAE", "denoising_encoder": "MultiDAE", "cdae_encoder": "CDAE"}
CONTEXT_COMPOSITIONS: dict[frozenset[str], str] = {
    frozenset({"linear", "sum_logits"}): "LR",
    frozenset({"field_embedding", "linear", "fm_interaction", "sum_logits"}): "FM",
    frozenset({"field_embedding", "linear", "mlp_tower", "sum_logits"}): "WideDeep",
    # RecBole's WideDeep has no crossed features: the paper's full wide part is referenced by it too (noted)
    frozenset({"field_embedding", "linear", "cross_product", "mlp_tower", "sum_logits"}): "WideDeep",
    frozenset({"field_embedding", "linear", "fm_interaction", "mlp_tower", "sum_logits"}): "DeepFM",
    frozenset({"field_embedding", "cross_network", "mlp_tower", "concat_head"}): "DCN",
    frozenset({"field_embedding", "linear", "bi_interaction", "mlp_tower", "sum_logits"}): "NFM",
    frozenset({"field_embedding", "linear", "attentional_interaction", "sum_logits"}): "AFM",
    frozenset({"field_embedding", "linear", "field_weighted_interaction", "sum_logits"}): "FwFM",
    frozenset({"field_embedding", "linear", "compressed_interaction", "mlp_tower", "sum_logits"}): "xDeepFM",
    # the paper's AutoInt, AutoInt+ (with a DNN) and RecBole's (a first-order part and a DNN besides)
    frozenset({"field_embedding", "interacting_layer", "sum_logits"}): "AutoInt",
    frozenset({"field_embedding", "interacting_layer", "mlp_tower", "sum_logits"}): "AutoInt",
    frozenset({"field_embedding", "linear", "interacting_layer", "mlp_tower", "sum_logits"}): "AutoInt",
    frozenset({"field_embedding", "matrix_cross_network", "mlp_tower", "sum_logits"}): "DCNV2",
    frozenset({"field_embedding", "product_layer", "mlp_tower", "sum_logits"}): "PNN",
    frozenset({"field_aware_interaction", "sum_logits"}): "FFM",
    frozenset({"field_aware_interaction", "linear", "sum_logits"}): "FFM",
    frozenset({"field_embedding", "fm_pretraining", "mlp_tower", "sum_logits"}): "FNN",
}


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
    """The RecBole class these blocks amount to (with this loss), or None when they match none."""
    kinds = frozenset(block.lower() for block in blocks)
    if family == "context":
        return CONTEXT_COMPOSITIONS.get(kinds)
    if family == "sequential":
        return _by_telltale(kinds, SEQUENTIAL_ENCODERS)
    if family == "autoencoder":
        return _by_telltale(kinds, AUTOENCODER_ENCODERS)
    for composition, model in TOPK_COMPOSITIONS.items():
        if composition <= kinds if model == "NeuMF" else composition == kinds:
            return model
    return "BPR" if kinds == TOPK_BPR and loss == "bpr" else None


def _by_telltale(kinds: frozenset[str], telltales: dict[str, str]) -> str | None:
    """The one class whose telltale block the composition holds (None for none, or several)."""
    found = [model for block, model in telltales.items() if block in kinds]
    return found[0] if len(found) == 1 else None
