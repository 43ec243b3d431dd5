"""RecBole references of the general and graph families: BPR, NeuMF, LightGCN, NGCF, SimpleX, SGL, FISM, NAIS, NCL,
DGCF, GCMC, SpectralCF, and the models fitted once (EASE, SLIMElastic, ItemKNN)."""

from __future__ import annotations

from collections.abc import Callable

from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.baselines.references.common import Reference, SpecMapping


def architecture_model(spec: MethodSpec) -> str | None:
    return composition_class(spec.family, [b.block for b in spec.architecture], spec.trained_loss)


def reference(spec: MethodSpec) -> Reference | None:
    model = architecture_model(spec)
    if model is None:
        return None
    m = SpecMapping(spec)
    if model in FITTED:  # fitted once on both sides: no optimiser, batches or negatives to map
        return FITTED[model](m).result(model)
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
    if model == "NGCF":
        _ngcf(m, l2)
    if model == "SimpleX":
        _simplex(m, l2)
    if model == "SGL":
        _sgl(m, l2)
    if model == "FISM":
        _fism(m, l2)
    if model == "NAIS":
        _nais(m, l2)
    if model == "DMF":
        _dmf(m, l2)
    if model == "ENMF":
        _enmf(m, l2)
    if model == "ConvNCF":
        _convncf(m, l2)
    if model == "NCL":
        _ncl(m, l2)
    if model == "DGCF":
        _dgcf(m, l2)
    if model == "GCMC":
        _gcmc(m, l2)
    if model == "SpectralCF":
        _spectralcf(m, l2)
    return m.result(model)


def _dmf(m: SpecMapping, l2: int | float | None) -> None:
    """DMF (interaction_towers) against RecBole's DMF."""
    layers = m.model_value("interaction_towers", "mlp_layers")
    if isinstance(layers, list) and layers:
        sizes = [int(size) for size in layers]
        m.overrides["inter_matrix_type"] = "01"
        m.overrides["user_embedding_size"] = m.overrides["item_embedding_size"] = sizes[0]
        # RecBole needs a hidden layer after its linear input layer; one size alone gets a ReLU layer of that size
        hidden = sizes[1:] or sizes[:1]
        m.overrides["user_hidden_size_list"] = m.overrides["item_hidden_size_list"] = hidden
        if not sizes[1:]:
            m.notes.append(f"mlp_layers={sizes}: RecBole's DMF needs a hidden layer after the linear one; it gets "
                           f"Linear + ReLU of {sizes[0]} that ours has not")
    m.notes.append("RecBole's DMF scores by the inner product of the two latent vectors (BCE with logits on it, a "
                   "sigmoid for ranking: 'replaced cosine similarity for a better performance'); ours the paper's "
                   "cosine similarity clipped below at mu, in the normalised cross entropy")
    if l2:
        m.notes.append(f"l2_reg={l2:g} not mapped: RecBole's DMF has no L2 term (nor has the paper)")


def _enmf(m: SpecMapping, l2: int | float | None) -> None:
    """ENMF (embedding -> weighted_product_score, its whole-data loss) against RecBole's ENMF."""
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    m.put("negative_weight", m.model_value("weighted_product_score", "missing_weight"))
    m.put("dropout_prob", m.model_value("weighted_product_score", "dropout"))
    m.overrides["train_neg_sample_args"] = None  # non-sampling: RecBole's ENMF trains on the positives alone
    m.overrides["reg_weight"] = l2 or 0.0
    # both sides train on the paper's user-based batches: our batch_size (the user_batches regime) counts users, as
    # RecBole's ENMF's train_batch_size does (its UserDataLoader, each user with its whole train row)
    m.notes.append("RecBole's ENMF takes batches of users, each with its whole train row, as ours (the paper's "
                   "user-based batches); its user list holds the padding user 0 as well (one more user an epoch)")
    block = "weighted_product_score"
    padding = str(m.model_value(block, "padding_item")).lower()
    m.notes.append("RecBole's ENMF re-initialises its padding item 0 (Xavier, after nn.Embedding's zero row): every "
                   "user's history, padded to the longest, counts that vector as an observed item once per padded "
                   "slot (on ML-100K up to ~590 a user; padding_idx passes the slots no gradient) and its item sum "
                   "over the whole table adds it to the missing data, which trains it; no RecBole config reaches it. "
                   + ("Ours has it too (padding_item live)" if padding == "live" else
                      "The paper has no such item, nor has ours (padding_item live gives RecBole's)"))
    scope = str(m.model_value(block, "dropout_scope")).lower()
    m.notes.append("RecBole's ENMF drops out the user vectors of the positive term only; "
                   + ("ours too (dropout_scope positive)" if scope == "positive" else
                      "ours those of both terms, the paper's (dropout_scope positive gives RecBole's)"))
    if l2:
        m.notes.append("l2_reg: RecBole's ENMF adds reg_weight times the norms (not squared) of both whole tables to "
                       "every batch; ours l2_reg / 2 times their squared norms once per epoch")


def _convncf(m: SpecMapping, l2: int | float | None) -> None:
    """ConvNCF (embedding -> outer_product_convolution) against RecBole's ConvNCF, given the paper's stack: 2 x 2
    kernels with stride 2 down to a 1 x 1 map."""
    size = m.model_value("embedding", "embedding_size")
    channels = m.model_value("outer_product_convolution", "conv_channels")
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    if isinstance(size, int) and isinstance(channels, int):
        layers, side = 0, size
        while side > 1:
            layers, side = layers + 1, side // 2
        m.overrides["cnn_channels"] = [1] + [channels] * layers
        m.overrides["cnn_kernels"] = [2] * layers
        m.overrides["cnn_strides"] = [2] * layers
    m.put("dropout_prob", m.model_value("outer_product_convolution", "dropout"))
    m.overrides["reg_weights"] = [l2 or 0.0, 0.0]
    m.overrides["train_method"] = "no_pretrain"
    m.notes.append("neither side pre-trains the embeddings with MF-BPR as the paper does (RecBole's train_method "
                   "after_pretrain needs a saved BPR model)")
    m.notes.append("RecBole's ConvNCF sums its BPR loss over the batch (ours: the mean)")
    if l2:
        m.notes.append("l2_reg: RecBole's ConvNCF adds reg_weights[0] times the norms (not squared) of both whole "
                       "embedding tables to every batch (its weights' term set to 0); ours l2_reg times the squared "
                       "norms / 2 over the batch size of the batch's embeddings; the paper's separate terms for the "
                       "convolution and prediction weights are not built")


def _nais(m: SpecMapping, l2: int | float | None) -> None:
    """NAIS (attentive_item_similarity) against RecBole's NAIS."""
    block = "attentive_item_similarity"
    m.put("embedding_size", m.block_value(block, "embedding_size", integral=True))
    m.put("weight_size", m.block_value(block, "attention_size", integral=True))
    m.put("beta", m.block_value(block, "beta", integral=False))
    m.put("alpha", m.block_value(block, "alpha", integral=False))
    m.overrides["algorithm"] = m.word(block, "attention", "prod")
    m.overrides["reg_weights"] = [l2 or 0.0, l2 or 0.0, 0.0]
    m.notes.append("RecBole's NAIS adds an item bias b_i to the score (the authors' code); the paper's (and ours) "
                   "has none")
    m.notes.append("RecBole's NAIS keeps the item being estimated in its own history while training and counts it in "
                   "n_u; ours leaves it out (R_u^+ without i), as the paper does")
    m.notes.append("RecBole's NAIS trains BCE with logits on the raw score (its sigmoid only in predict), ours the "
                   f"spec's {m.spec.trained_loss}; neither pre-trains from FISM unless RecBole's pretrain_path is set")
    if l2:
        m.notes.append("l2_reg: RecBole's NAIS adds reg_weights times the norms (not squared) of both whole item "
                       "tables to every batch (its attention weights' term set to 0); ours l2_reg times the squared "
                       "norms / 2 over the batch size of the batch's p_i and its users' history q_j")


def _fism(m: SpecMapping, l2: int | float | None) -> None:
    """FISM (item_similarity) against RecBole's FISM."""
    m.put("embedding_size", m.block_value("item_similarity", "embedding_size", integral=True))
    m.put("alpha", m.block_value("item_similarity", "alpha", integral=False))
    m.overrides["reg_weights"] = [l2 or 0.0, l2 or 0.0]
    m.notes.append("RecBole's FISM trains BCE with logits on scores it has already passed through a sigmoid "
                   f"(sigmoid applied twice); ours trains {m.spec.trained_loss} on the raw score")
    m.notes.append("RecBole's FISM keeps the item being estimated in its own estimate while training (the positive "
                   "is in the user's history: its p_i q_i counted, n_u not less one); ours leaves it out, as the "
                   "paper does")
    if l2:
        m.notes.append("l2_reg: RecBole's FISM adds reg_weights times the norms (not squared) of both whole item "
                       "tables to every batch and leaves the biases free; ours l2_reg times the squared norms / 2 "
                       "over the batch size of the batch's q_i, its users' history p_j and the biases")


def _spectralcf(m: SpecMapping, l2: int | float | None) -> None:
    """SpectralCF (spectral_convolution: the dense filter U U^T + U Lambda U^T of the random-walk Laplacian) against
    RecBole's SpectralCF, which propagates with the sparse I + L instead."""
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    m.put("n_layers", m.block_value("spectral_convolution", "n_layers", integral=True))
    m.put("reg_weight", l2)
    if m.word("spectral_convolution", "operator", "eigen") == "eigen":
        m.notes.append("operator: RecBole's SpectralCF propagates with I + L, L = I - D^-1 A (its comment: equivalent "
                       "to U U^T + U Lambda U^T); ours with the paper's U U^T + U Lambda U^T from the dense "
                       "eigendecomposition of L, whose unit-norm eigenvectors are not orthonormal (L is not "
                       "symmetric), so the two differ; `operator: identity_plus_laplacian` gives RecBole's")
    if l2:
        m.notes.append("l2_reg: RecBole's SpectralCF penalises the norms (not squared) of the batch's final "
                       "(concatenated) embeddings; ours the squared norms of its layer-0 embeddings")


def _gcmc(m: SpecMapping, l2: int | float | None) -> None:
    """GC-MC (rating_graph_convolution -> bilinear_decoder, the two classes' cross entropy) against RecBole's GCMC,
    which on implicit data also has one rating level and the classes observed / sampled non-interaction."""
    m.put("gcn_output_dim", m.block_value("rating_graph_convolution", "gcn_output_dim", integral=True))
    m.put("embedding_size", m.block_value("rating_graph_convolution", "embedding_size", integral=True))
    m.put("dropout_prob", m.block_value("rating_graph_convolution", "dropout", integral=False))
    m.put("num_basis_functions", m.block_value("bilinear_decoder", "num_basis", integral=True))
    m.overrides["accum"] = m.word("rating_graph_convolution", "accumulation", "stack")
    m.overrides["class_num"] = 2
    # RecBole's GCMC is PAIRWISE (train_batch_size counts (positive, negative) pairs, its cross entropy over both
    # rows of each), ours pointwise (batch_size counts rows: batch_size // (1 + k) positives, runtime/data.py):
    # the same positives a step, so both sides take the same steps an epoch
    batch = m.overrides.get("train_batch_size")
    negatives = int((m.overrides.get("train_neg_sample_args") or {}).get("sample_num", 1))
    if batch is not None:
        m.overrides["train_batch_size"] = negatives * (int(batch) // (1 + negatives))
        m.notes.append(f"batch: RecBole's GCMC counts train_batch_size in (positive, negative) pairs, ours rows; "
                       f"its {m.overrides['train_batch_size']} pairs are our {batch} rows' positives")
    if m.word("bilinear_decoder", "rank_by", "expected_rating") == "expected_rating":
        m.notes.append("ranking: RecBole's GCMC ranks items by the observed class's logit u^T Q_1 v alone; ours by "
                       "the expected rating, p(observed) = softmax over both classes (the log-odds "
                       "u^T (Q_1 - Q_0) v); `rank_by: observed_logit` gives RecBole's")
    if m.word("rating_graph_convolution", "dense_weights", "separate") == "separate":
        m.notes.append("dense layer: RecBole's GCMC gives users and items one dense layer; ours one each "
                       "(`dense_weights: shared` gives RecBole's)")
    if l2:
        m.notes.append(f"l2_reg={l2:g} not mapped: RecBole's GCMC has no L2 term")


def _dgcf(m: SpecMapping, l2: int | float | None) -> None:
    """DGCF (disentangled_propagation: intent chunks, iterative routing, the distance-correlation regulariser) against
    RecBole's DGCF, a port of the authors' code."""
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    m.put("n_layers", m.block_value("disentangled_propagation", "n_layers", integral=True))
    m.put("n_factors", m.block_value("disentangled_propagation", "n_factors", integral=True))
    m.put("n_iterations", m.block_value("disentangled_propagation", "n_iterations", integral=True))
    m.put("cor_weight", m.block_value("disentangled_propagation", "independence_weight", integral=False))
    m.put("reg_weight", l2)
    words = m.blocks.get("disentangled_propagation", {})
    if str(words.get("independence", "all_pairs")).lower() != "consecutive":
        m.notes.append("independence: RecBole's DGCF (as the authors' code) takes the distance correlation of "
                       "consecutive intents only, over (K + 1) K / 2; ours sums it over every pair, as the paper")
    if str(words.get("combine", "sum")).lower() != "mean":
        m.notes.append("layers: RecBole's DGCF averages the layers' outputs; ours sums them, as the paper")
    if l2:
        m.notes.append("l2_reg: RecBole's DGCF adds reg_weight times the norms (not squared) of the batch's layer-0 "
                       "embeddings over the batch size; ours l2_reg times their squared norms / 2 over the batch size")


NCL_KEYS = {"structure_weight": "ssl_reg", "prototype_weight": "proto_reg", "contrast_temperature": "ssl_temp",
            "num_prototypes": "num_clusters", "structure_hops": "hyper_layers", "item_contrast_weight": "alpha"}
NCL_INTEGRAL = {"num_prototypes", "structure_hops"}


def _ncl(m: SpecMapping, l2: int | float | None) -> None:
    """NCL (light_propagation with neighbour_contrast's structural and prototype InfoNCE terms) against RecBole's
    NCL, whose trainer runs the E-step (k-means) every m_step epochs."""
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    m.put("n_layers", m.block_value("light_propagation", "n_layers", integral=True))
    m.put("reg_weight", l2)
    for ours, theirs in NCL_KEYS.items():
        m.put(theirs, m.block_value("neighbour_contrast", ours, integral=ours in NCL_INTEGRAL))
    m.overrides["m_step"] = 1  # the paper's E-step: new prototypes every epoch, as ours
    m.notes.append("prototypes: RecBole's NCL runs faiss's k-means (it needs the faiss package); ours a torch "
                   "k-means (Lloyd, 25 rounds as faiss, seeded by k-means++ where faiss draws random rows); the "
                   "clusters differ by chance")
    if l2:
        m.notes.append("l2_reg: RecBole's NCL adds reg_weight times the norms (not squared) of the batch's layer-0 "
                       "embeddings over the batch size; ours l2_reg times their squared norms / 2 over the batch size")


SGL_VIEW_TYPES = {"edge_dropout": "ED", "node_dropout": "ND", "random_walk": "RW"}


def _sgl(m: SpecMapping, l2: int | float | None) -> None:
    """SGL (light_propagation with graph_view_contrast's InfoNCE on two augmented views) against RecBole's SGL."""
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    m.put("n_layers", m.block_value("light_propagation", "n_layers", integral=True))
    m.put("reg_weight", l2)
    m.put("ssl_weight", m.block_value("graph_view_contrast", "ssl_weight", integral=False))
    m.put("ssl_tau", m.block_value("graph_view_contrast", "ssl_temperature", integral=False))
    m.put("drop_ratio", m.block_value("graph_view_contrast", "drop_ratio", integral=False))
    view = m.word("graph_view_contrast", "augmentation", "edge_dropout")
    m.overrides["type"] = SGL_VIEW_TYPES.get(view, "ED")
    m.notes.append("RecBole's SGL sums its BPR and InfoNCE terms over the batch where ours averages both (the same "
                   "ratio between them, ssl_weight)")
    if l2:
        m.notes.append("l2_reg: RecBole's SGL adds reg_weight times the norms (not squared) of the batch's layer-0 "
                       "embeddings over the batch size to its summed terms; ours l2_reg times their squared norms / 2 "
                       "over the batch size to its averaged ones")


def _simplex(m: SpecMapping, l2: int | float | None) -> None:
    """SimpleX (behaviour_aggregation -> cosine_score, the ccl loss) against RecBole's SimpleX."""
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    m.put("history_len", m.block_value("behaviour_aggregation", "history_len", integral=True))
    m.put("gamma", m.block_value("behaviour_aggregation", "fusion_weight", integral=False))
    m.put("dropout_prob", m.block_value("behaviour_aggregation", "dropout", integral=False))
    m.overrides["aggregator"] = m.word("behaviour_aggregation", "aggregator", "mean")
    m.put("margin", m.block_value("cosine_score", "margin", integral=False))
    m.put("negative_weight", m.block_value("cosine_score", "negative_weight", integral=False))
    m.put("reg_weight", l2)
    if m.spec.trained_loss != "ccl":
        m.notes.append(f"loss {m.spec.trained_loss} not mapped: RecBole's SimpleX trains its cosine contrastive loss")
    if l2:
        m.notes.append("l2_reg: RecBole's SimpleX penalises the norms (not squared) of the batch's user, positive, "
                       "history and negative embeddings; ours the squared norms of the user, positive and negatives")


def _ngcf(m: SpecMapping, l2: int | float | None) -> None:
    """NGCF as the paper describes it (templates/blocks/ngcf_propagation) against RecBole's NGCF: the same
    propagation, with RecBole's (and the authors' code's) choices where the paper states none noted."""
    m.put("embedding_size", m.block_value("embedding", "embedding_size", integral=True))
    width, layers = m.model_value("embedding", "embedding_size"), m.model_value("ngcf_propagation", "n_layers")
    if isinstance(width, int) and isinstance(layers, int):  # every layer as wide as the embeddings, as ours
        m.overrides["hidden_size_list"] = [width] * layers
    m.put("message_dropout", m.block_value("ngcf_propagation", "message_dropout", integral=False))
    node_dropout = m.model_value("ngcf_propagation", "node_dropout")
    m.put("node_dropout", m.block_value("ngcf_propagation", "node_dropout", integral=False))
    m.put("reg_weight", l2)
    if m.word("ngcf_propagation", "normalize", "none") != "l2":
        m.notes.append("RecBole's NGCF L2-normalises each layer's output (as the authors' code does); the paper's "
                       "propagation, and ours, does not")
    m.notes.append("RecBole's NGCF layers add a bias to W1 and W2; the paper's (and ours) have none")
    if node_dropout:
        m.notes.append("node dropout: RecBole's NGCF drops each entry of L independently, once per forward pass; "
                       "ours drops (M + N) * node_dropout nodes' messages anew in each layer, as the paper says")
    if l2:
        m.notes.append("l2_reg: RecBole's NGCF penalises the norms (not squared) of the batch's final (concatenated) "
                       "embeddings; ours the squared norms of its layer-0 embeddings, as the authors' code")


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


# --- models fitted once (the fit regime): the values our model uses, manifest defaults included, so both sides fit
# the same problem -----------------------------------------------------------------------------------------------

PER_USER_VALUES = "per_user_values"  # RecBole keys the runner divides by the dataset's users (RecBole's user_num)


def _ease(m: SpecMapping) -> SpecMapping:
    m.put("reg_weight", m.model_value("ease", "l2_weight"))
    m.notes.append("RecBole's EASE fits B in its constructor and passes one epoch of a zero fake loss through its "
                   "trainer; its item 0 (padding) is an empty column, which leaves the other weights unchanged")
    return m


def _item_knn(m: SpecMapping) -> SpecMapping:
    m.put("k", m.model_value("item_knn", "neighbors"))
    m.put("shrink", m.model_value("item_knn", "shrink"))
    m.overrides["knn_method"] = "item"
    m.notes.append("RecBole's ItemKNN computes the same shrunk cosine in float32 (ours float64): ties among a column's "
                   "k-th neighbours may keep a different item")
    return m


def _slim(m: SpecMapping) -> SpecMapping:
    """SLIM's lambda ||w||_1 + beta/2 ||w||^2 beside 1/2 ||a_j - A w_j||^2 is sklearn's ElasticNet objective times
    its n_samples (the users): alpha = (lambda + beta) / users, l1_ratio = lambda / (lambda + beta)."""
    l1, l2 = float(m.model_value("slim", "l1_weight")), float(m.model_value("slim", "l2_weight"))
    total = l1 + l2
    m.overrides["l1_ratio"] = l1 / total if total > 0 else 0.0
    m.overrides[PER_USER_VALUES] = {"alpha": total}
    m.overrides["positive_only"] = True
    m.overrides["hide_item"] = True  # w_jj = 0: item j's own column is left out of its regression
    m.notes.append(f"SLIM's lambda={l1:g} (L1) and beta={l2:g} (L2) are RecBole's alpha = (lambda + beta) / users "
                   f"and l1_ratio = lambda / (lambda + beta): sklearn's ElasticNet averages the squared error over "
                   f"the users")
    m.notes.append("RecBole's SLIMElastic stops sklearn's coordinate descent at 100 sweeps or its duality-gap "
                   "tolerance 1e-4, in random order; ours sweeps in item order until no weight moves by more than "
                   "1e-4 of the largest")
    return m


FITTED: dict[str, Callable[[SpecMapping], SpecMapping]] = {"EASE": _ease, "ItemKNN": _item_knn,
                                                           "SLIMElastic": _slim}
