"""RecBole references of the general and graph families: BPR, NeuMF, LightGCN."""

from __future__ import annotations

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.references.common import Reference, SpecMapping, block_param, number


def architecture_model(spec: MethodSpec) -> str | None:
    return composition_class(spec.family, [b.block for b in spec.architecture], spec.loss)


def reference(spec: MethodSpec) -> Reference | None:
    model = architecture_model(spec)
    if model is None:
        return None
    m = SpecMapping(spec)
    m.optimisation()
    embedding = m.scalar("embedding_size", integral=True)
    l2 = m.scalar("l2_reg", integral=False)
    if model in ("BPR", "LightGCN"):
        if embedding is None:
            embedding = number(block_param(m.blocks.get("embedding", {}), "dim", "size", "embedding_size"),
                               integral=True)
        m.put("embedding_size", embedding)
    if model == "LightGCN":
        m.put("n_layers", m.block_or_scalar("light_propagation", ("layers", "n_layers"), "n_layers", integral=True))
        m.put("reg_weight", l2)
    elif model == "BPR" and l2 is not None:
        m.notes.append(f"l2_reg={l2:g} not mapped: RecBole's BPR has no L2 term (its loss is BPR only)")
    if model == "NeuMF":
        _neumf(m, embedding, l2)
    return m.result(model)


def _neumf(m: SpecMapping, embedding: int | float | None, l2: int | float | None) -> None:
    blocks = m.blocks
    gmf_dim = number(block_param(blocks["gmf"], "dim", "size", "embedding_size"), integral=True)
    m.put("mf_embedding_size", gmf_dim if gmf_dim is not None else embedding)
    layers = m.tower_layers()
    if layers is not None:
        m.overrides["mlp_hidden_size"] = layers
        m.overrides["mlp_embedding_size"] = max(1, layers[0] // 2)
    elif embedding is not None:
        m.overrides["mlp_embedding_size"] = embedding
    m.put("dropout_prob", m.block_or_scalar("mlp_tower", ("dropout",), "dropout", integral=False))
    if l2 is not None:
        m.notes.append(f"l2_reg={l2:g} not mapped: RecBole's NeuMF has no L2 term")
