"""RecBole references of the sequential family: SASRec (self-attention), GRU4Rec (GRU), Caser (convolutions),
BERT4Rec (bidirectional self-attention, cloze training), SRGNN and GCSAN (session graphs), NARM, STAMP,
NextItNet, FPMC and TransRec; SASRecF and FDSA (the items' features)."""

from __future__ import annotations

from paper_autotrain.data.sequential import DEFAULT_ITEM_FEATURES
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import STAND_IN_LOSSES, MethodSpec
from paper_autotrain.stages.baselines.references.common import Reference, SpecMapping, int_list


def architecture_model(spec: MethodSpec) -> str | None:
    return composition_class("sequential", [b.block for b in spec.architecture], spec.trained_loss)


def reference(spec: MethodSpec) -> Reference | None:
    model = architecture_model(spec)
    if model is None:
        return None
    m = SpecMapping(spec)
    m.optimisation(negatives=False)
    _loss(m, model)
    embedding = m.block_value("item_embedding", "embedding_size", integral=True)
    if model == "BERT4Rec":
        _bert4rec(m, embedding)
    elif model == "SRGNN":
        _srgnn(m, embedding)
    elif model == "GCSAN":
        _gcsan(m, embedding)
    elif model in FEATURE_MODELS:
        _feature_model(m, model, embedding)
    elif model == "SASRec":
        _transformer_sizes(m, "self_attention_encoder", embedding)
        _sasrec_layout(m)
    elif model == "GRU4Rec":
        m.put("embedding_size", embedding)
        m.put("hidden_size", m.block_value("gru_encoder", "hidden_size", integral=True))
        m.put("num_layers", m.block_value("gru_encoder", "n_layers", integral=True))
        m.put("dropout_prob", m.block_value("gru_encoder", "dropout", integral=False))
    elif model in SESSION_MODELS:
        SESSION_MODELS[model](m, embedding)
    else:
        _caser(m, embedding)
    if model not in ("Caser", "NextItNet"):
        m.not_mapped("l2_reg", f"RecBole's {model} has no L2 term in its loss")
    return m.result(model)


# The paper's loss, where RecBole's sequential classes have none (they offer CE or BPR): what the reference trains
# instead is BPR with sampled negatives, the nearest pairwise loss, and the note says what differs
NO_RECBOLE_LOSS = {
    "bce": "sampled BCE (log sigmoid of the positive's score and of each sampled negative's)",
    "top1": "TOP1 (mean over in-batch negatives of sigmoid(r_j - r_i) + sigmoid(r_j^2))",
    "bpr_max": "BPR-max (-log sum_j softmax(r_j) sigmoid(r_i - r_j) over in-batch negatives, + lambda * "
               "sum_j softmax(r_j) r_j^2)",
}


def _loss(m: SpecMapping, model: str) -> None:
    """CE over all items and BPR map as they are; sampled BCE, TOP1 and BPR-max have no RecBole counterpart, so the
    reference trains BPR with sampled negatives (the note says so: it is not the paper's loss).

    An "other" loss is trained with the family's stand-in on our side, so RecBole's reference gets the same one.
    """
    loss = STAND_IN_LOSSES["sequential"] if m.spec.trained_loss == "other" else m.spec.trained_loss
    if loss == "ce":
        m.overrides.update({"loss_type": "CE", "train_neg_sample_args": None})
        if m.spec.trained_loss == "other":
            m.notes.append(f"the paper's loss has no template; both sides train the stand-in CE ({model}'s default)")
        return
    # TOP1 and BPR-max take their negatives from the mini-batch; RecBole samples one uniform negative per target
    in_batch = loss in ("top1", "bpr_max")
    negatives = 1 if in_batch else m.scalar("negative_samples", integral=True) or 1
    m.overrides.update({"loss_type": "BPR",
                        "train_neg_sample_args": {"distribution": "uniform", "sample_num": negatives}})
    if loss in NO_RECBOLE_LOSS:
        where = ("the other targets of each mini-batch are the negatives on our side" if in_batch
                 else f"{negatives} sampled negative(s) per target on both sides")
        m.notes.append(f"loss: the paper trains {NO_RECBOLE_LOSS[loss]}, which RecBole's {model} does not offer "
                       f"(CE or BPR only); the reference trains BPR with {negatives} uniformly sampled negative(s) "
                       f"per target instead, not the paper's loss ({where}). To compare like with like, run ours "
                       "with `loss: bpr` in spec.yaml (from_stage=render)")


def _transformer_sizes(m: SpecMapping, encoder: str, embedding: int | float | None) -> None:
    """SASRec's transformer settings from `encoder`'s block (SASRec, SASRecF, FDSA share RecBole's names)."""
    m.put("hidden_size", embedding)  # RecBole's SASRec calls the embedding width hidden_size
    m.put("inner_size", m.block_value(encoder, "inner_size", integral=True))
    m.put("n_layers", m.block_value(encoder, "n_layers", integral=True))
    m.put("n_heads", m.block_value(encoder, "n_heads", integral=True))
    dropout = m.block_value(encoder, "dropout", integral=False)
    m.put("hidden_dropout_prob", dropout)
    m.put("attn_dropout_prob", dropout)


FEATURE_MODELS = {"SASRecF": ("self_attention_encoder", "sum"), "FDSA": ("fdsa_encoder", "mean")}


def _feature_model(m: SpecMapping, model: str, embedding: int | float | None) -> None:
    """SASRecF and FDSA: SASRec's sizes, and the items' feature fields RecBole reads from the split's .item file."""
    encoder, pooling = FEATURE_MODELS[model]
    _transformer_sizes(m, encoder, embedding)
    fields = sorted(DEFAULT_ITEM_FEATURES)
    m.put("selected_features", fields)
    if model == "SASRecF":
        _sasrec_layout(m)
        m.put("pooling_mode", str(m.blocks.get("item_feature_fusion", {}).get("pooling") or pooling))
    else:
        m.put("pooling_mode", pooling)
        m.notes.append("RecBole's FDSA shares one LayerNorm between its two inputs and its output (ours too); its "
                       "feature and item self-attention blocks are RecBole's post-norm Transformer layers")
    m.overrides["load_col"] = {"item": ["item_id", *fields]}  # beside the shared interactions
    m.notes.append(f"both sides read the items' fields {', '.join(fields)} (dataset.item_features' default; "
                   "RecBole's from the split's .item file)")


def _sasrec_layout(m: SpecMapping) -> None:
    """The encoder's feed-forward activation maps to hidden_act; RecBole's layers are post-norm whatever the spec."""
    params = m.blocks.get("self_attention_encoder", {})
    activation = str(params.get("activation") or "").lower()
    if activation in ("relu", "gelu"):
        m.put("hidden_act", activation)
    if str(params.get("norm") or "").lower() == "pre":
        m.notes.append("RecBole's SASRec blocks are post-norm (LayerNorm after each residual, and on the input); "
                       "the paper's are pre-norm (LayerNorm on each sub-layer's input, x + Dropout(f(LayerNorm(x))), "
                       "and a last LayerNorm on the output)")


def _bert4rec(m: SpecMapping, embedding: int | float | None) -> None:
    """BERT4Rec's sizes, dropout and cloze settings, and the notes on where RecBole's class differs from the paper."""
    encoder = "bidirectional_encoder"
    m.put("hidden_size", embedding)  # RecBole's BERT4Rec calls the embedding width hidden_size
    for key in ("n_layers", "n_heads"):
        m.put(key, m.block_value(encoder, key, integral=True))
    m.put("inner_size", m.model_value(encoder, "inner_size"))  # ours reads no hyperparameter: its value as built
    dropout = m.block_value(encoder, "dropout", integral=False)
    m.put("hidden_dropout_prob", dropout)
    m.put("attn_dropout_prob", dropout)
    m.put("mask_ratio", m.block_value(encoder, "mask_ratio", integral=False))
    m.put("ft_ratio", m.model_value(encoder, "last_item_share"))
    m.notes.extend([
        "RecBole's BERT4Rec adds a LayerNorm after the output layer's GELU (the authors' BERT code); the paper's "
        "output is GELU(h W_P + b_P) E^T + b_O; bidirectional_encoder's output_norm=layer_norm gives RecBole's",
        "RecBole's BERT4Rec masks the items of each prefix's history (the target itself is never an input) and "
        "draws a whole batch of last-item samples with probability ft_ratio; ours masks each prefix with its "
        "target appended and mixes last-item samples within a batch (the same share); bidirectional_encoder's "
        "append_target=false and last_item_batches=true give RecBole's",
        "RecBole's BERT4Rec gives loss at most at the last int(mask_ratio x MAX_ITEM_LIST_LENGTH) masked positions "
        "of a sequence (mask_item_length), none at a mask at position 0 (its index 0 reads as padding), and none "
        "for a sequence no draw masked; ours at every masked position, and a sequence no draw masked masks its "
        "last item; bidirectional_encoder's loss_positions_cap, first_position_loss=false and "
        "unmasked_fallback=false give RecBole's",
        "RecBole's BERT4Rec drops the oldest item of every history at inference (it shifts the history left to "
        "append [mask], even when the history is shorter than max_seq_length); ours drops it only from a full "
        "history; bidirectional_encoder's inference_window=drop_oldest gives RecBole's",
    ])


def _srgnn(m: SpecMapping, embedding: int | float | None) -> None:
    """SR-GNN's width and steps, and the notes on where RecBole's class differs from the paper."""
    m.put("embedding_size", embedding)
    m.put("step", m.model_value("session_graph_encoder", "step"))  # the paper states none: ours as built
    _session_graph_notes(m, "SRGNN")
    _message_bias_note(m, "SRGNN", "both", "A_in (v W_in + b_in) + b_iah (and b_ioh): a bias on both sides")
    m.notes.extend([
        "RecBole's SRGNN's readout has a bias in both W_1 and W_2 of alpha = q^T sigma(W_1 s_l + W_2 v_i + c) (the "
        "paper's one c, the same function)",
    ])


def _gcsan(m: SpecMapping, embedding: int | float | None) -> None:
    """GC-SAN's sizes, steps, dropout and omega, and the notes on where RecBole's class differs from the paper."""
    attention = "graph_self_attention"
    m.put("hidden_size", embedding)  # RecBole's GCSAN calls the embedding width hidden_size
    m.put("inner_size", embedding)  # the paper's feed-forward is d x d
    m.put("hidden_act", "relu")
    m.put("step", m.model_value("session_graph_encoder", "step"))
    for key in ("n_layers", "n_heads"):
        m.put(key, m.block_value(attention, key, integral=True))
    dropout = m.block_value(attention, "dropout", integral=False)
    m.put("hidden_dropout_prob", dropout)
    m.put("attn_dropout_prob", dropout)
    m.put("weight", m.model_value(attention, "omega"))
    m.put("reg_weight", 0.0)  # RecBole's own embedding-norm term; the spec's l2_reg is weight decay on our side
    _session_graph_notes(m, "GCSAN")
    _message_bias_note(m, "GCSAN", "inside", "A_in (v W_in + b_in): the bias inside, 0 for a node with no edge")
    m.notes.append(
        "layer_form: transformer, as RecBole's GCSAN: residual and LayerNorm around the attention and the "
        "feed-forward, a causal mask" if m.model_value(attention, "layer_form") == "transformer" else
        "RecBole's GCSAN stacks its Transformer layers (a residual and LayerNorm around the attention and the "
        "feed-forward, a causal mask); the paper's (and ours) are F = Attention(E) and E' = FFN(F) + F over all "
        "the session's positions, with no LayerNorm (the block option layer_form: transformer gives RecBole's)")
    m.notes.append(
        "init: normal, as RecBole's GCSAN: N(0, 0.02) weights and zero biases for the item embedding, the graph's "
        "edge layers and the attention and feed-forward layers" if m.model_value(attention, "init") == "normal" else
        "RecBole's GCSAN starts the item embedding, the graph's edge layers and the attention and feed-forward "
        "layers from N(0, 0.02) with zero biases; ours the item embedding and graph uniform in +-1/sqrt(d), the "
        "attention PyTorch's defaults (the block option init: normal gives RecBole's; the paper states none)")


def _message_bias_note(m: SpecMapping, model: str, theirs: str, form: str) -> None:
    ours = m.model_value("session_graph_encoder", "message_bias")
    m.notes.append(f"message_bias: {theirs}, as RecBole's {model}: {form}" if ours == theirs else
                   f"RecBole's {model} propagates the messages as {form}; the paper's Eq. 1 is A v W + b (ours: "
                   f"message_bias {ours}; the block option message_bias: {theirs} gives RecBole's)")


def _session_graph_notes(m: SpecMapping, model: str) -> None:
    """Where RecBole's session graph and gated graph network differ from the paper's, or that the run took
    RecBole's form through the session_graph_encoder block's options."""
    graph = "session_graph_encoder"
    m.notes.append(
        f"edge_weights: unit, as RecBole's {model}: every session-graph edge weighs 1 however often it occurs"
        if m.model_value(graph, "edge_weights") == "unit" else
        f"RecBole's {model} weighs every edge of the session graph 1 however often the transition occurs; the "
        "paper (and ours) weighs it by its occurrences, over the node's degree (the block option edge_weights: "
        "unit gives RecBole's)")
    m.notes.append(
        f"gate: gru, as RecBole's {model}: the candidate state tanh(W_o a + r * (U_o v + b)), PyTorch's GRU's"
        if m.model_value(graph, "gate") == "gru" else
        f"RecBole's {model} gates its candidate state as PyTorch's GRU does, tanh(W_o a + r * (U_o v + b)) (the "
        "authors' PyTorch code); the paper's (and ours) is tanh(W_o a + U_o (r * v)) (the block option gate: gru "
        "gives RecBole's)")


def _caser(m: SpecMapping, embedding: int | float | None) -> None:
    m.put("embedding_size", embedding)
    # RecBole's Caser names its filter counts nv and nh
    m.put("nv", m.block_value("caser_encoder", "n_v", integral=True))
    m.put("nh", m.block_value("caser_encoder", "n_h", integral=True))
    m.put("dropout_prob", m.block_value("caser_encoder", "dropout", integral=False))
    m.put("reg_weight", m.scalar("l2_reg", integral=False))


def _narm(m: SpecMapping, embedding: int | float | None) -> None:
    m.put("embedding_size", embedding)
    m.put("hidden_size", m.block_value("narm_encoder", "hidden_size", integral=True))
    m.put("n_layers", m.block_value("narm_encoder", "n_layers", integral=True))
    # RecBole's NARM takes both dropouts as one list: [on the embeddings, before the bilinear map B]
    m.put("dropout_probs", [m.block_value("narm_encoder", "embedding_dropout", integral=False),
                            m.block_value("narm_encoder", "dropout", integral=False)])


def _stamp(m: SpecMapping, embedding: int | float | None) -> None:
    m.put("embedding_size", embedding)
    m.notes.append("RecBole's STAMP adds the session mean to the attention's memory (m_a = sum_i alpha_i x_i + m_s); "
                   "the paper's memory is the attention's weighted sum alone (`session_memory: attention_plus_mean` "
                   "gives RecBole's)")


def _nextitnet(m: SpecMapping, embedding: int | float | None) -> None:
    m.put("embedding_size", embedding)
    m.put("kernel_size", m.block_value("nextitnet_encoder", "kernel_size", integral=True))
    m.put("block_num", m.block_value("nextitnet_encoder", "n_stacks", integral=True))
    # RecBole's residual block takes a dilation d and convolves with d then 2d: the first of each pair
    dilations = int_list(m.model_value("nextitnet_encoder", "dilations"))
    if dilations:
        m.put("dilations", dilations[::2])
        if any(second != 2 * first for first, second in zip(dilations[::2], dilations[1::2], strict=False)):
            m.notes.append(f"RecBole's NextItNet doubles the dilation inside each residual block; the spec's "
                           f"dilations {dilations} do not pair that way")
    m.put("reg_weight", m.scalar("l2_reg", integral=False))
    m.notes.append("RecBole's NextItNet scores the output at the last column of the padded sequence (past the "
                   "history's end for short histories), ours at the last real item (`read_position: window_end` "
                   "gives RecBole's); its reg_weight weighs a term in the loss (the plain norms of the "
                   "embeddings, the final layer's and the residual blocks' weights), ours the optimiser's weight "
                   "decay")


def _fpmc(m: SpecMapping, embedding: int | float | None) -> None:
    m.put("embedding_size", m.block_value("fpmc_score", "embedding_size", integral=True))


def _transrec(m: SpecMapping, embedding: int | float | None) -> None:
    m.put("embedding_size", m.block_value("transrec_score", "embedding_size", integral=True))
    m.notes.extend([
        "RecBole's TransRec scores beta_j minus the plain L2 distance ||gamma_i + t + t_u - gamma_j||; the paper's "
        "(and ours) is the squared L2 distance (`distance: l2` gives RecBole's)",
        "RecBole's TransRec keeps no item point in the unit ball; the paper (and ours) renormalises the item "
        "vectors into it after each step (`unit_ball: false` gives RecBole's)",
        "RecBole's TransRec adds norms of the (detached) embeddings and RegLoss(t) = sum_k |t_k| to its loss, which "
        "train nothing but t; the paper (and ours) adds no such term, its L2 is our optimiser's weight decay "
        "(`translation_penalty: l1` gives RecBole's)",
    ])


SESSION_MODELS = {"NARM": _narm, "STAMP": _stamp, "NextItNet": _nextitnet, "FPMC": _fpmc, "TransRec": _transrec}
