"""Losses and optimisers the generated models name."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F


def rprop(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Resilient propagation (AutoRec's RProp: sign-based steps of per-weight size); torch's Rprop has no weight
    decay, so the L2 gradient weight_decay * w joins each weight's gradient before the step."""
    params = list(params)
    if weight_decay:
        for param in params:
            param.register_hook(lambda grad, param=param: grad + weight_decay * param.detach())
    return torch.optim.Rprop(params, lr=lr)


OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "rprop": rprop,
              "rmsprop": torch.optim.RMSprop}
FUSED_OPTIMIZERS = ("adam", "sgd", "adagrad")  # torch has fused CPU and CUDA kernels for these


def hinge_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, margin: float) -> torch.Tensor:
    """[margin - s_pos + s_neg]_+ over every (positive, negative) pair, mean: with scores s = -distance, AttRec's
    margin hinge [y_pos + margin - y_neg]_+ on the distances y. `pos_scores` is [B], `neg_scores` [B, k]."""
    return torch.relu(margin - pos_scores.unsqueeze(-1) + neg_scores).mean()


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(s_pos - s_neg), mean over every (positive, negative) pair.

    `pos_scores` is [B], `neg_scores` [B, k]; logsigmoid keeps it stable for large margins.
    """
    return -F.logsigmoid(pos_scores.unsqueeze(-1) - neg_scores).mean()


def bce_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> torch.Tensor:
    """Pointwise log loss: positives labelled 1, sampled negatives 0, mean over all of them."""
    logits = torch.cat([pos_logits.reshape(-1), neg_logits.reshape(-1)])
    labels = torch.cat([torch.ones_like(pos_logits.reshape(-1)), torch.zeros_like(neg_logits.reshape(-1))])
    return F.binary_cross_entropy_with_logits(logits, labels)


def squared_error_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Pointwise squared error on implicit feedback (FISMrmse): positives' target 1, sampled negatives' (the sampled
    zero entries) 0, mean over all of them of (r - r_hat)^2."""
    scores = torch.cat([pos_scores.reshape(-1), neg_scores.reshape(-1)])
    targets = torch.cat([torch.ones_like(pos_scores.reshape(-1)), torch.zeros_like(neg_scores.reshape(-1))])
    return F.mse_loss(scores, targets)


def normalized_ce_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, clip: float,
                       pos_labels: torch.Tensor | None = None) -> torch.Tensor:
    """DMF's normalised cross entropy (Xue et al., 2017, Eq. 11): -[l log y + (1 - l) log(1 - y)] with l = Y_ij / max(R)
    (`pos_labels`, 1 by default: binary interactions; the sampled negatives' 0) and y the prediction, already
    max(mu, cos); 1 - y is kept at least `clip` (mu) so that a cosine of 1 stays finite. Mean over every entry."""
    scores = torch.cat([pos_scores.reshape(-1), neg_scores.reshape(-1)])
    positive = torch.ones_like(pos_scores.reshape(-1)) if pos_labels is None else pos_labels.reshape(-1)
    labels = torch.cat([positive, torch.zeros_like(neg_scores.reshape(-1))])
    scores = scores.clamp_min(clip)
    return -(labels * scores.log() + (1.0 - labels) * (1.0 - scores).clamp_min(clip).log()).mean()


def whole_data_loss(pos_scores: torch.Tensor, user_vectors: torch.Tensor, item_table: torch.Tensor,
                    weight: torch.Tensor, missing_weight: float,
                    pos_counts: torch.Tensor | None = None) -> torch.Tensor:
    """ENMF's non-sampling loss (Chen et al., 2020, the user-based rearrangement), summed over a batch of users.

    sum over the batch's users u and every item v of c_uv (y_uv - y_hat_uv)^2, y_hat_uv = h^T (p_u * q_v), c = 1 on
    the observed entries and c0 = `missing_weight` on the missing ones, is, less its constant sum of the observed
    c_uv: sum over the observed entries of ((1 - c0) y_hat^2 - 2 y_hat) + c0 sum over every entry of y_hat^2, and the
    last sum is sum_{d,d'} h_d h_d' (sum_u p_ud p_ud') (sum_v q_vd q_vd'): O((|B| + |V|) d^2), not O(|B| |V| d).
    `pos_scores` [N] are the batch users' observed y_hat (every train item of each), `user_vectors` [U, d] the
    batch users' p_u (each user once), `item_table` [n_items, d] every q_v, `weight` [d] h; `pos_counts` [N], when
    given, how many times each observed entry counts (RecBole's padded slots)."""
    positive = (1.0 - missing_weight) * pos_scores.pow(2) - 2.0 * pos_scores
    positive = (positive if pos_counts is None else positive * pos_counts).sum()
    every_entry = ((user_vectors.T @ user_vectors) * (item_table.T @ item_table) * torch.outer(weight, weight)).sum()
    return positive + missing_weight * every_entry


def ccl_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, margin: float,
             negative_weight: float) -> torch.Tensor:
    """SimpleX's cosine contrastive loss: (1 - s_pos) + negative_weight * mean_j max(0, s_neg_j - margin), mean over
    the batch. `pos_scores` is [B] and `neg_scores` [B, k], both cosine similarities."""
    return ((1.0 - pos_scores) + negative_weight * torch.relu(neg_scores - margin).mean(-1)).mean()


def top1_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """GRU4Rec's TOP1 (Hidasi et al., 2016): mean_j sigmoid(r_j - r_i) + sigmoid(r_j^2) over the negatives j of each
    positive i (the relative rank's sigmoid approximation plus the term that keeps negative scores near zero), mean
    over the positives. `pos_scores` [N], `neg_scores` [N, k]; `mask` [N, k] is True where j is a negative of row i
    (a row with none adds nothing)."""
    terms = torch.sigmoid(neg_scores - pos_scores.unsqueeze(-1)) + torch.sigmoid(neg_scores.pow(2))
    if mask is None:
        return terms.mean()
    weights = mask.to(terms.dtype)
    return ((terms * weights).sum(-1) / weights.sum(-1).clamp_min(1.0)).mean()


def bpr_max_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, reg: float,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
    """BPR-max with score regularisation (Hidasi & Karatzoglou, 2018): -log sum_j s_j sigmoid(r_i - r_j)
    + reg * sum_j s_j r_j^2, s_j = softmax of the negatives' scores r_j, mean over the positives. Shapes as
    top1_loss; a row without negatives adds nothing (as GRU4Rec's code, 1e-24 inside the log)."""
    if mask is not None:
        rows = mask.any(-1)
        pos_scores, neg_scores, mask = pos_scores[rows], neg_scores[rows], mask[rows]
        if not len(pos_scores):
            return neg_scores.sum() * 0.0
    logits = neg_scores if mask is None else neg_scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    ranked = (weights * torch.sigmoid(pos_scores.unsqueeze(-1) - neg_scores)).sum(-1)
    return (-torch.log(ranked + 1e-24) + reg * (weights * neg_scores.pow(2)).sum(-1)).mean()


def warp_hinge_loss(pos_distances: torch.Tensor, neg_distances: torch.Tensor, margin: float,
                    n_items: int) -> torch.Tensor:
    """CML's metric loss (Hsieh et al. 2017, Eq. 1 with its WARP weights), summed over the batch.

    `pos_distances` [B] are the squared Euclidean distances d(i, j)^2 of the batch's positive pairs, `neg_distances`
    [B, U] those of U sampled negatives per pair. Per pair: the hinge [m + d(i, j)^2 - d(i, k)^2]_+ of each negative
    k; M = the number of impostors (negatives with a non-zero hinge); rank_d(i, j) ~ floor(J * M / U) with J the
    number of items; the weight w_ij = log(rank_d(i, j) + 1), a constant of the step; the loss keeps the negative
    with the largest hinge: w_ij * max_k [m + d(i, j)^2 - d(i, k)^2]_+."""
    hinge = torch.relu(margin + pos_distances.unsqueeze(-1) - neg_distances)
    return (warp_weights(pos_distances, neg_distances, margin, n_items) * hinge.max(-1).values).sum()


def warp_weights(pos_distances: torch.Tensor, neg_distances: torch.Tensor, margin: float,
                 n_items: int) -> torch.Tensor:
    """CML's w_ij = log(floor(J * M / U) + 1) per pair, M the impostors among its U negatives (no gradient)."""
    with torch.no_grad():
        impostors = (margin + pos_distances.unsqueeze(-1) - neg_distances > 0).sum(-1).to(pos_distances.dtype)
        return torch.log(torch.floor(n_items * impostors / max(neg_distances.shape[-1], 1)) + 1.0)


def covariance_penalty(rows: torch.Tensor) -> torch.Tensor:
    """CML's covariance regulariser over a batch's N latent vectors `rows` [N, r] (Cogswell et al.'s DeCov, which
    CML cites): C = (1/N) sum_n (y_n - mu)(y_n - mu)^T, L_c = (||C||_F^2 - ||diag(C)||_2^2) / N, the squared
    off-diagonal covariances (the paper prints ||C||_f unsquared beside the squared diagonal norm)."""
    centred = rows - rows.mean(0, keepdim=True)
    covariance = centred.T @ centred / max(len(rows), 1)
    return (covariance.pow(2).sum() - covariance.diagonal().pow(2).sum()) / max(len(rows), 1)


def logistic_mf_loss(pos_logits: torch.Tensor, row_logits: torch.Tensor, row_weights: torch.Tensor,
                     alpha: float) -> torch.Tensor:
    """Logistic MF's negative log-likelihood (Johnson 2014, Eq. 2-3) of a batch of positive pairs, summed.

    `pos_logits` [B] are s_ui = x_u y_i + b_u + b_i of the batch's observed pairs (r_ui = 1: binary interactions),
    `row_logits` [B, n_items] the user's s_uj over every item, `row_weights` [B] = 1 / (the user's number of
    observed pairs). Each entry of R adds one negative observation, -log(1 - p) = log(1 + exp(s_uj)); an observed
    one adds alpha * r_ui positive observations, -alpha * r_ui * log p = alpha * r_ui * log(1 + exp(-s_ui)):
    together the entry's -[alpha r s - (1 + alpha r) log(1 + exp(s))]. A user's row is counted once over the user's
    positive pairs (row_weights), so an epoch sums to the objective over the whole matrix."""
    negatives = F.softplus(row_logits).sum(-1) * row_weights
    return (negatives + alpha * F.softplus(-pos_logits)).sum()


def squared_norm_penalty(rows: Iterable[torch.Tensor], batch_size: int) -> torch.Tensor:
    """(sum of ||e||^2 over the given embedding rows) / 2 / batch_size (LightGCN's L2 term)."""
    total = sum(row.pow(2).sum() for row in rows)
    return torch.as_tensor(total) / 2.0 / max(batch_size, 1)


# a paper's optimiser settings (schemas.OPTIMIZER_SETTINGS) -> torch's argument (Adam's betas: (element, index))
OPTIMIZER_ARGS: dict[str, dict[str, str | tuple[str, int]]] = {
    "rmsprop": {"rmsprop_decay": "alpha", "momentum": "momentum"},  # RMSProp's decay is torch's smoothing alpha
    "sgd": {"momentum": "momentum"},
    "adam": {"adam_beta1": ("betas", 0), "adam_beta2": ("betas", 1), "adam_eps": "eps"},
}


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float,
                   weight_decay: float = 0.0, settings: Mapping[str, float] | None = None) -> torch.optim.Optimizer:
    """The optimiser the paper names (adam, sgd, adagrad, rprop or rmsprop) with the own `settings` the paper states
    (RMSProp's decay and momentum; OPTIMIZER_ARGS), torch's defaults for the others; weight decay where the paper's
    L2 lives there."""
    key = str(name).lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}")
    params = list(params)
    # the fused kernel runs the same update as one pass over each tensor (not one op per term): several
    # times faster on small models, where the optimiser step is a large share of a training step
    fused = {"fused": True} if key in FUSED_OPTIMIZERS and all(p.dtype.is_floating_point for p in params) else {}
    return OPTIMIZERS[key](params, lr=lr, weight_decay=weight_decay, **fused, **optimizer_args(key, settings or {}))


def optimizer_args(name: str, settings: Mapping[str, float]) -> dict[str, Any]:
    """torch's keyword arguments for the optimiser `name` from the paper's settings; a setting it has no argument for
    is refused (a hand-edited config naming SGD's momentum for Adam)."""
    known = OPTIMIZER_ARGS.get(name, {})
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(f"optimizer {name}: no argument for {', '.join(unknown)} (it takes {sorted(known) or 'none'})")
    args: dict[str, Any] = {}
    for key, value in settings.items():
        target = known[key]
        if isinstance(target, tuple):  # one element of a tuple argument, the other at torch's default
            arg, index = target
            default = list(args.get(arg) or inspect.signature(OPTIMIZERS[name]).parameters[arg].default)
            default[index] = float(value)
            args[arg] = tuple(default)
        else:
            args[target] = float(value)
    return args


def sampled_softmax_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor, pos_log_q: torch.Tensor,
                         neg_log_q: torch.Tensor, accidental: torch.Tensor | None = None) -> torch.Tensor:
    """Sampled-softmax cross entropy with the log-Q correction (Jean et al. 2015, YouTube DNN's candidate sampling),
    mean over the batch. `pos_scores` [B] are the true classes' logits, `neg_scores` [B, K] those of K sampled
    classes, `pos_log_q` [B] and `neg_log_q` [K] or [B, K] the log-probabilities of drawing them from the proposal
    Q; each logit loses its log Q, so the expected softmax is the full one. `accidental` [B, K] (True where a
    sampled class is the row's true one) drops those draws. With Q uniform and every other class sampled once this
    is the full softmax cross entropy."""
    neg_logits = neg_scores - neg_log_q
    if accidental is not None:
        neg_logits = neg_logits.masked_fill(accidental, float("-inf"))
    logits = torch.cat([(pos_scores - pos_log_q).unsqueeze(-1), neg_logits], dim=-1)
    return (torch.logsumexp(logits, dim=-1) - logits[:, 0]).mean()
