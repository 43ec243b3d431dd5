"""RecBole references of the context (CTR) family: LR, FM, WideDeep, DeepFM, DCN."""

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
        _tower(m)
    if model == "DCN":
        m.put("cross_layer_num", m.block_value("cross_network", "cross_layers", integral=True))
        m.put("reg_weight", m.block_value("cross_network", "cross_reg", integral=False))
    if "cross_product" in m.blocks:  # the paper's crossed features have no RecBole counterpart: said, not dropped
        m.notes.append(f"RecBole's {model} has no cross-product features (its wide part is linear over the raw "
                       "fields)")
    if spec.loss != "bce":
        m.notes.append(f"loss={spec.loss!r}: RecBole's {model} trains with log loss (BCE) on the label")
    return m.result(model)


def _tower(m: SpecMapping) -> None:
    tower = m.blocks["mlp_tower"]
    m.put("mlp_hidden_size", m.tower_layers())
    m.put("dropout_prob", m.block_value("mlp_tower", "dropout", integral=False))
    activation = str(tower.get("activation", "relu")).lower()
    if activation != "relu":
        m.notes.append(f"mlp_tower activation={activation!r} not mapped: RecBole's context MLPs use relu")
