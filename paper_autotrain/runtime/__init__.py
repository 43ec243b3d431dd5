"""The small library generated models import: data, sampling, losses, the base module.

Generated code may import only from here (plus torch, lightning, math, numpy, typing), which
keeps the validate stage's import allowlist short.
"""

from paper_autotrain.data.ctr import CTRSplit
from paper_autotrain.data.sequential import SequenceSplit
from paper_autotrain.data.split import SplitData
from paper_autotrain.runtime.als import implicit_als, weighted_squared_rows
from paper_autotrain.runtime.attention import CausalEncoderLayer
from paper_autotrain.runtime.autoencoder import (
    AutoEncoderModule,
    activation_layer,
    gaussian_kl,
    mlp_stack,
    normalize_rows,
)
from paper_autotrain.runtime.causal import cause_specific_bpr, decayed, discrepancy, pnsm_negatives
from paper_autotrain.runtime.closed_form import ClosedFormModule, cosine_knn_weights, ease_weights, slim_weights
from paper_autotrain.runtime.cloze import append_item, batch_generator, mask_items, shift_in_item
from paper_autotrain.runtime.ctr import CTRModule, Dice, FieldCrossProducts, FieldEmbedding, pretrain_fm
from paper_autotrain.runtime.graph import (
    adjacency_rows,
    cosine_info_nce,
    distance_correlation,
    identity_plus_laplacian,
    interaction_adjacency,
    kmeans,
    normalized_adjacency,
    orthogonal_matrix,
    spectral_filter,
    symmetric_mm,
    symmetric_sparse_mm,
)
from paper_autotrain.runtime.item_features import ItemFeatureEmbedding
from paper_autotrain.runtime.knowledge import (
    DistinctPerSlice,
    HeadTailPairs,
    collaborative_knowledge_graph,
    corrupted_triples,
    entity_lookup,
    relation_normalised_weights,
    ripple_sets,
    sampled_neighbourhoods,
    softmax_by_head,
    with_corrupted_tails,
)
from paper_autotrain.runtime.lookup import lookup
from paper_autotrain.runtime.losses import (
    bce_loss,
    bpr_loss,
    ccl_loss,
    covariance_penalty,
    logistic_mf_loss,
    make_optimizer,
    normalized_ce_loss,
    sampled_softmax_loss,
    squared_error_loss,
    squared_norm_penalty,
    warp_hinge_loss,
    warp_weights,
    whole_data_loss,
)
from paper_autotrain.runtime.memory import (
    every_item_hops,
    item_neighbourhoods,
    memory_hops,
    neighbourhood_entries,
    pair_chunks,
    pretrain_gmf,
)
from paper_autotrain.runtime.module import MONITOR, TopKModule
from paper_autotrain.runtime.sequential import SequentialModule
from paper_autotrain.runtime.session_graph import GatedGraphCell, node_states_at_positions, normal_init, session_graph
from paper_autotrain.runtime.similarity import (
    history_members,
    history_sums,
    in_history,
    padded_history,
    smoothed_attention_sums,
    train_pairs,
)
from paper_autotrain.runtime.subgraphs import graph_edges, interest_aware_layers, subgraph_adjacency

__all__ = [
    "AutoEncoderModule", "activation_layer", "gaussian_kl", "mlp_stack", "normalize_rows",
    "CTRModule", "CTRSplit", "Dice", "FieldCrossProducts", "FieldEmbedding", "pretrain_fm",
    "MONITOR", "SequenceSplit", "SequentialModule", "SplitData", "TopKModule", "bce_loss", "bpr_loss", "ccl_loss",
    "covariance_penalty", "logistic_mf_loss", "lookup", "warp_hinge_loss", "warp_weights",
    "make_optimizer", "adjacency_rows", "cosine_info_nce", "normalized_adjacency", "normalized_ce_loss",
    "whole_data_loss", "sampled_softmax_loss",
    "every_item_hops", "item_neighbourhoods", "memory_hops", "neighbourhood_entries", "pair_chunks",
    "pretrain_gmf",
    "squared_norm_penalty",
    "symmetric_mm", "symmetric_sparse_mm",
    "history_members", "history_sums", "in_history", "padded_history", "smoothed_attention_sums",
    "squared_error_loss", "train_pairs",
    "corrupted_triples", "entity_lookup", "sampled_neighbourhoods", "collaborative_knowledge_graph", "softmax_by_head",
    "ripple_sets", "relation_normalised_weights", "HeadTailPairs",
    "DistinctPerSlice", "with_corrupted_tails",
    "ClosedFormModule", "cosine_knn_weights", "ease_weights", "slim_weights", "implicit_als", "weighted_squared_rows",
    "append_item", "batch_generator", "mask_items", "shift_in_item", "GatedGraphCell", "node_states_at_positions",
    "normal_init", "session_graph",
    "distance_correlation", "identity_plus_laplacian", "interaction_adjacency", "kmeans", "orthogonal_matrix",
    "spectral_filter", "graph_edges", "interest_aware_layers", "subgraph_adjacency",
    "ItemFeatureEmbedding", "CausalEncoderLayer",
    "cause_specific_bpr", "decayed", "discrepancy", "pnsm_negatives",
]
