"""RecBole references of the general and graph families: BPR, NeuMF, LightGCN."""

from __future__ import annotations

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.baselines.references.common import Reference, SpecMapping


def architecture_model(spec: MethodSpec) -> str | None:
    return composition_class(spec.family, [b.block for b in spec.architecture], spec.loss)


def reference(spec: MethodSpec) -> Reference | None:
    model = architecture_model(spec)
    if model is None:
        return None
    m = SpecMapping(spec)
    m.optimisation()
    l2 = m.scalar("l2_reg", integral=False)
    if model in ("BPR", "LightGCN"):
        m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    if model == "LightGCN":
        m.put("n_layers", m.block_value("light_propagation", "n_layers", integral=True))
        m.put("reg_weight", l2)
    elif model == "BPR" and l2 is not None:
        m.notes.append(f"l2_reg={l2:g} not mapped: RecBole's BPR has no L2 term (its loss is BPR only)")
    if model == "NeuMF":
        _neumf(m, l2)
    return m.result(model)


def _neumf(m: SpecMapping, l2: int | float | None) -> None:
    m.put("mf_embedding_size", m.block_value("gmf", "gmf_dim", integral=True))
    layers = m.tower_layers()
    if layers is not None:
        m.overrides["mlp_hidden_size"] = layers
        m.overrides["mlp_embedding_size"] = max(1, layers[0] // 2)
    elif (embedding := m.scalar("embedding_size", integral=True)) is not None:
        m.overrides["mlp_embedding_size"] = embedding
    m.put("dropout_prob", m.block_value("mlp_tower", "dropout", integral=False))
    if l2 is not None:
        m.notes.append(f"l2_reg={l2:g} not mapped: RecBole's NeuMF has no L2 term")
