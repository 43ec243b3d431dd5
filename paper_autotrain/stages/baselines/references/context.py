"""RecBole references of the context (CTR) family: LR, FM, WideDeep, DeepFM, DCN, NFM, AFM, FwFM, xDeepFM,
AutoInt, DCNV2, PNN, FFM, FNN, DIN and DIEN (sequential classes of RecBole's that read the behaviour regime's
history).

Where RecBole's class hard-codes a choice the paper makes otherwise (NFM's sigmoid hidden layers), our model follows
the paper and the note says what RecBole's does instead. A block parameter that reads no hyperparameter reaches RecBole
as our model uses it (stated or our default), so both sides train the same sizes.
"""

from __future__ import annotations

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.baselines.references.common import Reference, SpecMapping


def architecture_model(spec: MethodSpec) -> str | None:
    return composition_class("context", [b.block for b in spec.architecture], spec.trained_loss)


def reference(spec: MethodSpec) -> Reference | None:
    model = architecture_model(spec)
    if model is None:
        return None
    m = SpecMapping(spec)
    m.optimisation(negatives=False)  # labelled rows: nothing is sampled
    m.put("weight_decay", m.scalar("l2_reg", integral=False))  # our base applies L2 as weight decay too
    if model == "FFM":  # its field-aware vectors are its embeddings
        m.put("embedding_size", m.model_value("field_aware_interaction", "field_aware_size"))
        if "linear" not in m.blocks:
            m.notes.append("RecBole's FFM always adds the linear terms and a bias; the paper's model (as built) has "
                           "the field-aware pairwise interactions only")
    elif model != "LR":  # LR has no embeddings beyond its first-order weights
        m.put("embedding_size", m.block_value("field_embedding", "embedding_size", integral=True))
    if "mlp_tower" in m.blocks:
        _tower(m, model)
    if model == "NFM" and not m.model_value("bi_interaction", "bi_batch_norm"):
        m.notes.append("bi_interaction batch_norm=False not mapped: RecBole's NFM always batch-normalises the "
                       "Bi-Interaction output")
    if model == "AFM":
        _afm(m)
    if model == "xDeepFM":
        _xdeepfm(m)
    if model == "AutoInt":
        _autoint(m)
    if model == "DCNV2":
        _dcnv2(m)
    if model == "PNN":
        _pnn(m)
    if model == "DIN":
        _din(m)
    if model == "DIEN":
        _dien(m)
    if model == "FNN":
        if m.model_value("fm_pretraining", "fm_pretrain_epochs"):
            m.notes.append("RecBole's FNN has no pre-training stage: its embeddings start random, not from a fitted "
                           "factorization machine")
        if m.word("fm_pretraining", "first_order", True) == "true":
            m.notes.append("RecBole's FNN feeds only the field embeddings to its MLP, not the FM's bias and "
                           "first-order weights (z = (w_0, (w_i, v_i)))")
    if model == "FwFM":
        m.put("dropout_prob", m.model_value("field_weighted_interaction", "fw_dropout"))
        if m.word("field_weighted_interaction", "learned", True) == "true":
            m.notes.append("RecBole's FwFM never trains its field-pair weights r (a plain tensor, not a parameter: "
                           "they keep their random N(0, 1) start); ours learns them, as the paper does")
    if model == "DCN":
        m.put("cross_layer_num", m.block_value("cross_network", "cross_layers", integral=True))
        m.put("reg_weight", m.block_value("cross_network", "cross_reg", integral=False))
    if m.word("linear", "weights", "feature") == "field":
        m.notes.append(f"linear weights='field' not mapped: RecBole's {model} has a weight per feature in its "
                       "first-order part, not <v_i, w_F(i)>")
    if "cross_product" in m.blocks:  # the paper's crossed features have no RecBole counterpart: said, not dropped
        m.notes.append(f"RecBole's {model} has no cross-product features (its wide part is linear over the raw "
                       "fields)")
    if spec.trained_loss != "bce":
        m.notes.append(f"loss={spec.trained_loss!r}: RecBole's {model} trains with log loss (BCE) on the label")
    return m.result(model)


# What RecBole's classes hard-code in their MLP: (activation, batch norm of the hidden layers); others: relu, none
RECBOLE_TOWERS: dict[str, tuple[str, bool]] = {"DCN": ("relu", True), "DCNV2": ("relu", True),
                                              "NFM": ("sigmoid", True), "FNN": ("tanh", False), "DIN": ("dice", True),
                                              "DIEN": ("dice", True)}


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


def _din(m: SpecMapping) -> None:
    """RecBole's DIN reads the rows' history column (the behaviour regime's benchmark files) with the item ids."""
    from paper_autotrain.data.behaviour import HISTORY_FIELD

    m.overrides["unload_col"] = None  # the behaviour regime unloads the history for RecBole's other context models
    m.put("alias_of_item_id", [HISTORY_FIELD])
    m.put("pooling_mode", "mean")  # a multi-valued field (genres) is its values' mean vector, as ours
    inputs = m.word("behaviour_attention", "inputs", "product")
    if m.word("behaviour_attention", "tower", "fields") != "interest_candidate":
        m.notes.append("RecBole's DIN (as the authors' released code) feeds its DNN with the attention-pooled "
                       "interest, the candidate item and their element-wise product only; ours follows the paper: "
                       "every field vector of the row (user profile, candidate item and its features) and the "
                       "interest (tower=interest_candidate gives RecBole's)")
    m.notes.append("RecBole's DIN attention unit is an MLP of mlp_hidden_size layers with sigmoid activations over "
                   "[v_A, e_j, v_A - e_j, v_A * e_j]; ours is the paper's Linear(attention_size) -> Dice -> Linear(1)"
                   + (" over [e_j, e_j * v_A, v_A] (inputs=product)" if inputs == "product" else
                      " over the same four inputs (inputs=product_difference)"))


def _dien(m: SpecMapping) -> None:
    """RecBole's DIEN reads the history column too; its negative history and rows without behaviours are the
    runner's (scoring.py attach_negative_history, allow_empty_histories)."""
    m.overrides["unload_col"] = None
    m.put("alias_of_item_id", ["item_id_list"])
    m.put("pooling_mode", "mean")
    m.put("gru_type", "AUGRU")
    m.put("alpha", m.model_value("interest_evolution", "aux_weight"))
    m.notes.append("RecBole's DIEN reads a negative history (neg_item_id_list) that its DIENDataset makes only when it "
                   "augments sequences, not from benchmark files: the runner gives each history position the "
                   "negative DIENDataset drew for that interaction (uniform, never the clicked item, drawn once); "
                   "ours draws a uniform item per step anew in every batch")
    m.notes.append("RecBole's DIEN cannot pack an empty history: the runner sets the interest of a row without "
                   "behaviours to 0 (the evolving GRU's initial state, as ours) and computes the other rows as "
                   "RecBole does")
    if m.word("interest_evolution", "auxiliary", "inner_product") != "concat_linear":
        m.notes.append("RecBole's DIEN scores the auxiliary pairs with linear layers over [h_t, e] (mlp_hidden_size, "
                       "no activation: an affine map) and averages the BCE over both terms; ours with the paper's "
                       "sigmoid of the inner product <h_t, e>, the two terms summed per step (auxiliary=concat_linear "
                       "gives RecBole's)")
    m.notes.append("RecBole's DIEN evolving attention is a sigmoid MLP of mlp_hidden_size over [e_a, h_t, e_a - h_t, "
                   "e_a * h_t] scaled by 1/sqrt(width); ours the paper's bilinear h_t W e_a; its AUGRU weights start "
                   "N(0, 1), ours Xavier-normal")


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


def _xdeepfm(m: SpecMapping) -> None:
    block = m.blocks["compressed_interaction"]
    split_half = str(block.get("split_half", False)).lower() == "true"
    m.put("cin_layer_size", m.model_value("compressed_interaction", "cin_layers"))
    m.put("direct", not split_half)
    m.put("reg_weight", 0.0)  # the paper's lambda ||Theta|| is l2_reg (weight decay) on both sides
    m.notes.append("RecBole's xDeepFM reg_weight (its norm penalty on the MLP, first-order and CIN weights) set to 0: "
                   "the paper's L2 term is l2_reg, weight decay on both sides")
    m.notes.append("RecBole's xDeepFM passes its DNN's output logit through a ReLU (its MLPLayers end in the "
                   "activation); ours, as the paper, adds w_dnn^T x_dnn as it is")
    if str(block.get("activation", "identity")).lower() != "relu":
        m.notes.append("compressed_interaction activation='identity' not mapped: RecBole's CIN applies ReLU to every "
                       "feature map")
    if str(block.get("bias", False)).lower() != "true":
        m.notes.append("compressed_interaction bias=False not mapped: RecBole's CIN has a bias per feature map")


def _autoint(m: SpecMapping) -> None:
    heads = m.model_value("interacting_layer", "attention_heads")
    m.put("attention_size", heads * m.model_value("interacting_layer", "head_size"))
    m.put("num_heads", heads)
    m.put("n_layers", m.model_value("interacting_layer", "interacting_layers"))
    m.put("has_residual", bool(m.model_value("interacting_layer", "residual")))
    deep = m.model_value("mlp_tower", "dropout") if "mlp_tower" in m.blocks else 0.0
    m.put("dropout_probs", [m.model_value("interacting_layer", "attention_dropout"), deep, 0.0])
    m.notes.append("RecBole's AutoInt first projects the field embeddings to attention_size, uses torch's "
                   "MultiheadAttention (scaled dot products, biased projections, an output projection) and adds the "
                   "residual and the ReLU once, after the last layer; the paper's (and ours) apply W_Q, W_K, W_V to "
                   "the embeddings and e^Res = ReLU(heads + W_Res e) in every interacting layer")
    missing = [part for part, block in (("a first-order linear part", "linear"), ("a DNN", "mlp_tower"))
               if block not in m.blocks]
    if missing:
        m.notes.append(f"RecBole's AutoInt always adds {' and '.join(missing)} (RecBole's defaults) to the "
                       "interacting layers; the paper's AutoInt has none")


def _dcnv2(m: SpecMapping) -> None:
    block = m.blocks["matrix_cross_network"]
    mixture = str(block.get("mixture", False)).lower() == "true"
    m.put("structure", str(block.get("structure", "stacked")).lower())
    m.put("mixed", mixture)
    m.put("cross_layer_num", m.model_value("matrix_cross_network", "matrix_cross_layers"))
    m.put("reg_weight", m.model_value("matrix_cross_network", "matrix_cross_reg"))
    if mixture:
        m.put("expert_num", m.model_value("matrix_cross_network", "cross_experts"))
        m.put("low_rank", m.model_value("matrix_cross_network", "cross_rank"))
    if str(block.get("penalty", "squared")).lower() == "squared":
        m.notes.append("matrix_cross_network penalty='squared' not mapped: RecBole's DCNV2 penalises the cross "
                       "weights' norms ||W||, not the paper's ||W||^2")


def _pnn(m: SpecMapping) -> None:
    block = m.blocks["product_layer"]
    outer = str(block.get("outer", False)).lower() == "true"
    m.put("use_inner", str(block.get("inner", True)).lower() == "true")
    m.put("use_outer", outer)
    m.put("reg_weight", 0.0)  # the paper's L2 is l2_reg (weight decay) on both sides
    if outer:
        m.notes.append("RecBole's PNN outer product is a kernel product f_i^T K_ij f_j per pair (the authors' "
                       "later KPNN), not the paper's superposition f_S f_S^T of the outer products")
