"""RecBole references of the knowledge family: CKE (transr_kg), CFKG (translation_kg), KGCN (kgcn_aggregation),
KGAT (kgat_propagation), RippleNet (ripple_propagation).

RecBole's KnowledgeBasedDataset reads the same `.kg` and `.link` files beside the benchmark split
(data/knowledge.py), its items are entities as ours, and its KG models score every item by full_sort_predict (or
predict), so the top-k scorer ranks them with our evaluator.
"""

from __future__ import annotations

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.baselines.references.common import Reference, SpecMapping

KG_SAMPLING_NOTE = ("KG triples: RecBole draws each batch's triples from a shuffled pass over the KG, one per "
                    "interaction, a corrupted tail among the entities the head has no triple with; ours draws as many "
                    "uniformly, the corrupted tail uniformly among all entities")


def reference(spec: MethodSpec) -> Reference | None:
    model = composition_class(spec.family, [b.block for b in spec.architecture], spec.trained_loss)
    if model is None:
        return None
    m = SpecMapping(spec)
    m.optimisation()
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    l2 = m.scalar("l2_reg", integral=False)
    {"CKE": _cke, "CFKG": _cfkg, "KGCN": _kgcn, "KGAT": _kgat, "RippleNet": _ripplenet}[model](m, l2)
    return m.result(model)


def _kg_weight(m: SpecMapping, block: str) -> None:
    weight = m.model_value(block, "kg_weight")
    if weight is not None and float(weight) != 1.0:
        m.notes.append(f"kg_weight={weight:g} not mapped: RecBole's {m.spec.reference or 'model'} adds its KG term "
                       "with weight 1")


def _cke(m: SpecMapping, l2: float | None) -> None:
    """CKE's structural part (embedding -> transr_kg -> dot_score, BPR) against RecBole's CKE."""
    m.put("kg_embedding_size", m.block_value("transr_kg", "kg_embedding_size", integral=True))
    if l2 is not None:
        m.overrides["reg_weights"] = [l2, l2]
    _kg_weight(m, "transr_kg")
    m.notes.append(KG_SAMPLING_NOTE)
    if l2:
        m.notes.append("l2_reg: RecBole's CKE penalises the norms (not squared) of the batch's user and final item "
                       "vectors and of its projected KG vectors; ours the squared norms of the user and item ID "
                       "embeddings")
    if m.spec.trained_loss != "bpr":
        m.notes.append(f"loss {m.spec.trained_loss} not mapped: RecBole's CKE trains BPR")


def _cfkg(m: SpecMapping, l2: float | None) -> None:
    """CFKG (embedding -> translation_kg, the log loss) against RecBole's CFKG with its inner-product loss."""
    m.overrides["loss_function"] = "inner_product"
    _kg_weight(m, "translation_kg")
    m.notes.append("RecBole's CFKG averages one log loss over the purchases and the KG triples together; ours adds "
                   "the mean over the triples to the mean over the purchases (the same 1:1 ratio, twice the scale)")
    m.notes.append(KG_SAMPLING_NOTE)
    m.not_mapped("l2_reg", "RecBole's CFKG has no L2 term")


def _kgcn(m: SpecMapping, l2: float | None) -> None:
    """KGCN as the paper describes it (kgcn_aggregation) against RecBole's KGCN."""
    m.put("n_iter", m.block_value("kgcn_aggregation", "n_iter", integral=True))
    m.put("neighbor_sample_size", m.block_value("kgcn_aggregation", "neighbor_sample_size", integral=True))
    m.overrides["aggregator"] = m.word("kgcn_aggregation", "aggregator", "sum")
    m.put("reg_weight", l2)
    if m.word("kgcn_aggregation", "reduce", "sum") == "mean":
        m.notes.append("reduce: mean, as RecBole's KGCN (the authors' code): the mean of u * r over the dimension "
                       "and the mean of the weighted neighbours; the paper's inner product and weighted sum differ "
                       "by a softmax temperature of d and a factor of K")
    else:
        m.notes.append("RecBole's KGCN scores a relation for a user by the mean of u * r (the inner product over "
                       "the dimension) and averages the weighted neighbours (their weighted sum over K); ours takes "
                       "the paper's inner product and weighted sum (the block word reduce: mean gives RecBole's)")
    if l2:
        m.notes.append("l2_reg: RecBole's KGCN penalises the norms (not squared) of the batch's user and aggregated "
                       "item vectors; ours the squared norms of the user and item ID embeddings")


def _kgat(m: SpecMapping, l2: float | None) -> None:
    """KGAT as the paper describes it (embedding -> kgat_propagation -> dot_score, BPR) against RecBole's KGAT."""
    n_layers, size = m.model_value("kgat_propagation", "n_layers"), m.model_value("embedding", "embedding_size")
    m.overrides["layers"] = [int(size)] * int(n_layers)  # ours: n_layers layers of the embedding's width
    m.put("kg_embedding_size", m.block_value("kgat_propagation", "kg_embedding_size", integral=True))
    m.put("mess_dropout", m.block_value("kgat_propagation", "message_dropout", integral=False))
    m.overrides["aggregator_type"] = m.word("kgat_propagation", "aggregator", "bi")
    m.put("reg_weight", l2)
    _kg_weight(m, "kgat_propagation")
    if m.word("kgat_propagation", "attention", "step") == "epoch":
        m.notes.append("attention: once an epoch, as RecBole's KGAT (block word attention: epoch), without gradient, "
                       "the first epoch on each relation's row-normalised adjacency; RecBole updates it after the "
                       "epoch's TransR pass, ours at the next epoch's start (the same embeddings)")
    else:
        m.notes.append("attention: RecBole's KGAT (as the authors' code) recomputes pi(h, r, t) once per epoch, after "
                       "the epoch's TransR pass, without gradient, and starts from row-normalised adjacency; ours "
                       "recomputes it from the current embeddings at every step, differentiably, as the paper's "
                       "forward pass does (block word attention: epoch gives RecBole's)")
    m.notes.extend(_kgat_form_notes(m))
    if l2:
        m.notes.append("l2_reg: RecBole's KGAT penalises the norms (not squared) of the batch's final user and item "
                       "vectors (and of the projected KG vectors in its TransR pass); ours the squared norms of the "
                       "layer-0 ID embeddings")
    if m.spec.trained_loss != "bpr":
        m.notes.append(f"loss {m.spec.trained_loss} not mapped: RecBole's KGAT trains BPR")


# KGAT's data words: (the paper's default, RecBole's value, the note when RecBole's is taken, the note otherwise)
_KGAT_DATA_WORDS = {
    "transr_triples": (
        "ckg", "kg",
        "TransR triples: the KG's, in their file's direction, the corrupted tail among the entities, as RecBole's KG "
        "pass (transr_triples: kg); RecBole also redraws a tail the head has a triple with",
        "TransR triples: RecBole's KG pass reads the KG's triples alone, in their file's direction, the corrupted "
        "tail among the entities (not one the head has a triple with); ours the CKG's, interactions and inverses "
        "included, the corrupted tail among all nodes, as the paper's TransR on the CKG (transr_triples: kg gives "
        "RecBole's set)"),
    "ckg_edges": (
        "inverse", "one_way_kg",
        "graph: RecBole's CKG (ckg_edges: one_way_kg): each interaction both ways under one relation, each KG "
        "triple in its file's direction",
        "graph: RecBole's CKG holds each interaction both ways under one relation and each KG triple in its file's "
        "direction only (kg_reverse_r False); ours adds every triple's inverse under an inverse relation "
        "(interact^-1, r^-1), so a node's ego-network holds every triple it is part of (ckg_edges: one_way_kg gives "
        "RecBole's)"),
}


def _kgat_form_notes(m: SpecMapping) -> list[str]:
    """Where RecBole's KGAT differs from the paper's form, and which block word gives RecBole's (or took it)."""
    notes = [{
        "batch": "losses: the paper optimises the TransR and BPR losses alternately, ours a TransR step on a random "
                 "batch of triples before each BPR step; RecBole's KGATTrainer (as the authors' code) a whole BPR "
                 "pass, then a whole TransR pass each epoch (block word kg_schedule: epoch gives it)",
        "epoch": "losses: a whole BPR pass, then a TransR pass over every triple each epoch, as RecBole's "
                 "KGATTrainer (block word kg_schedule: epoch)",
        "sum": "losses: ours adds the TransR term to each BPR step (kg_schedule: sum); the paper and RecBole "
               "alternate them (RecBole: a BPR pass, then a TransR pass each epoch; kg_schedule: epoch)",
    }[m.word("kgat_propagation", "kg_schedule", "batch")]]
    for word, (default, recbole_value, as_recbole, as_paper) in _KGAT_DATA_WORDS.items():
        notes.append(as_recbole if m.word("kgat_propagation", word, default) == recbole_value else as_paper)
    recbole = {"aggregator_bias": ("learned", "biases on its aggregator layers"),
               "negative_slope": ("0.01", "LeakyReLU slope 0.01 (ours 0.2, the authors' code's)"),
               "normalize": ("l2", "each layer's output L2-normalised in the concatenation"),
               "init": ("joint", "Xavier over one entity table and W_r as [R, d k]")}
    taken = [f"{word}: {value}" for word, (value, _) in recbole.items()
             if m.word("kgat_propagation", word, "") == value]
    missing = [f"{what} ({word}: {value})" for word, (value, what) in recbole.items()
               if m.word("kgat_propagation", word, "") != value]
    if taken:
        notes.append("layers: as RecBole's KGAT (" + ", ".join(taken) + ")")
    if missing:
        notes.append("layers: RecBole's KGAT has " + "; ".join(missing) + "; ours the paper's equations")
    return notes


def _ripplenet(m: SpecMapping, l2: float | None) -> None:
    """RippleNet as the paper describes it (embedding -> ripple_propagation, the log loss) against RecBole's."""
    m.put("n_hop", m.model_value("ripple_propagation", "n_hop"))
    m.put("n_memory", m.model_value("ripple_propagation", "n_memory"))
    m.put("kg_weight", m.model_value("ripple_propagation", "kg_weight"))  # ours defaults to RecBole's 0.01
    m.put("reg_weight", l2)
    update = m.word("ripple_propagation", "item_update", "replace")
    m.notes.append("item update: RecBole's RippleNet (the authors' code's default mode) updates the item vector "
                   "as v <- W (v + o^h) after each hop and scores the user against the last updated v; ours updates it "
                   + ("by replace (o^h takes v's place, the paper's) and scores against the item's own embedding, "
                      "the paper's u^T v" if update == "replace" else f"by {update} and scores, as the code does, "
                      "against the last updated item vector"))
    m.notes.append("ripple sets: both draw n_memory triples per hop once, with repeats only when a hop has fewer, "
                   "from the KG triples as the file holds them; the draws differ (RecBole's numpy global seed, "
                   "ours seed 0)")
    if l2:
        m.notes.append("l2_reg: RecBole's reg_weight multiplies the norms (not squared) of the batch's ripple "
                       "vectors, relation matrices and transform matrix; ours the squared norms of the ripple "
                       "vectors and relation matrices per triple and of the ID embeddings")
    if m.spec.trained_loss != "bce":
        m.notes.append(f"loss {m.spec.trained_loss} not mapped: RecBole's RippleNet trains the log loss")
