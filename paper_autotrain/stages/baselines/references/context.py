"""RecBole references of the context (CTR) family: LR, FM, WideDeep, DeepFM, DCN, NFM, AFM, FwFM.

Where RecBole's class hard-codes a choice the paper makes otherwise (NFM's sigmoid hidden layers), our model follows
the paper and the note says what RecBole's does instead. A block parameter that reads no hyperparameter reaches RecBole
as our model uses it (stated or our default), so both sides train the same sizes.
"""

from __future__ import annotations

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.baselines.references.common import Reference, SpecMapping


def architecture_model(spec: MethodSpec) -> str | None:
    return composition_class("context", [b.block for b in spec.architecture], spec.loss)


def reference(spec: MethodSpec) -> Reference | None:
    model = architecture_model(spec)
    if model is None:
        return None
    m = SpecMapping(spec)
    m.optimisation(negatives=False)  # labelled rows: nothing is sampled
    m.put("weight_decay", m.scalar("l2_reg", integral=False))  # our base applies L2 as weight decay too
    if model != "LR":  # LR has no embeddings beyond its first-order weights
        m.put("embedding_size", m.block_value("field_embedding", "embedding_size", integral=True))
    if "mlp_tower" in m.blocks:
        _tower(m, model)
    if model == "NFM" and not m.model_value("bi_interaction", "bi_batch_norm"):
        m.notes.append("bi_interaction batch_norm=False not mapped: RecBole's NFM always batch-normalises the "
                       "Bi-Interaction output")
    if model == "AFM":
        _afm(m)
    if model == "FwFM":
        m.put("dropout_prob", m.model_value("field_weighted_interaction", "fw_dropout"))
        if str(m.blocks["field_weighted_interaction"].get("learned", True)).lower() == "true":
            m.notes.append("RecBole's FwFM never trains its field-pair weights r (a plain tensor, not a parameter: "
                           "they keep their random N(0, 1) start); ours learns them, as the paper does")
    if model == "DCN":
        m.put("cross_layer_num", m.block_value("cross_network", "cross_layers", integral=True))
        m.put("reg_weight", m.block_value("cross_network", "cross_reg", integral=False))
    if "cross_product" in m.blocks:  # the paper's crossed features have no RecBole counterpart: said, not dropped
        m.notes.append(f"RecBole's {model} has no cross-product features (its wide part is linear over the raw "
                       "fields)")
    if spec.loss != "bce":
        m.notes.append(f"loss={spec.loss!r}: RecBole's {model} trains with log loss (BCE) on the label")
    return m.result(model)


# What RecBole's classes hard-code in their MLP: (activation, batch norm of the hidden layers); others: relu, none
RECBOLE_TOWERS: dict[str, tuple[str, bool]] = {"DCN": ("relu", True), "NFM": ("sigmoid", True)}


def _tower(m: SpecMapping, model: str) -> None:
    tower = m.blocks["mlp_tower"]
    m.put("mlp_hidden_size", m.tower_layers())
    m.put("dropout_prob", m.block_value("mlp_tower", "dropout", integral=False))
    activation = str(tower.get("activation", "relu")).lower()
    theirs, their_norm = RECBOLE_TOWERS.get(model, ("relu", False))
    if activation != theirs:
        m.notes.append(f"mlp_tower activation={activation!r} not mapped: RecBole's {model} uses {theirs} in its MLP")
    norm = bool(m.model_value("mlp_tower", "batch_norm"))
    if norm != their_norm:
        m.notes.append(f"mlp_tower batch_norm={norm} not mapped: RecBole's {model} "
                       f"{'always' if their_norm else 'never'} batch-normalises its hidden layers")


def _afm(m: SpecMapping) -> None:
    m.put("attention_size", m.model_value("attentional_interaction", "attention_size"))
    m.put("dropout_prob", m.model_value("attentional_interaction", "pair_dropout"))
    m.put("reg_weight", m.model_value("attentional_interaction", "attention_reg"))
    block = m.blocks["attentional_interaction"]
    if str(block.get("penalty", "squared")).lower() == "squared":
        m.notes.append("attentional_interaction penalty='squared' not mapped: RecBole's AFM penalises the attention "
                       "weights' norm ||W||, not the paper's ||W||^2")
    if str(block.get("bias", True)).lower() == "true":
        m.notes.append("attentional_interaction bias=True not mapped: RecBole's AFM attention layer has no bias b in "
                       "h^T ReLU(W x + b)")
