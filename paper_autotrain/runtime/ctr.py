"""The base LightningModule, field embeddings and batches for context (CTR) models.

A generated context model fills a small contract:

- ``logit(batch)`` -> [B]: the click log-odds of each labelled row;
- ``regularization()`` -> a scalar added to the loss (optional; e.g. DCN's norm of its cross weights).

This class owns the rest: the loss on the 0/1 label (log loss, or squared error of the predicted
probability when the paper trains with squared loss), and validation/test by AUC and LogLoss over
every row of the phase with the project's evaluator, exactly as RecBole's context models are scored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from paper_autotrain.data.ctr import CTRSplit
from paper_autotrain.data.evaluator import EvalResult, ctr_metrics
from paper_autotrain.runtime.data import batch_loader
from paper_autotrain.runtime.lookup import lookup
from paper_autotrain.runtime.losses import make_optimizer
from paper_autotrain.runtime.phases import EvaluatedPhases

CTR_LOSSES = ("bce", "mse")
CTR_MONITOR = "valid/auc"
Batch = dict[str, torch.Tensor]
SEQ_PREFIX = "seq/"
HISTORY = "history"  # [B, L] item ids of each row's behaviour sequence, oldest first, 0 padding (behaviour regime)


def ctr_batch(split: CTRSplit, part: str, rows: np.ndarray | slice) -> Batch:
    """{"tokens": [B, F_token], "seq/<field>": [B, L], "label": [B]} for the given rows of a part (and "history":
    [B, max_seq_length] when the split is the behaviour regime's)."""
    batch = {"tokens": torch.from_numpy(split.tokens[part][rows]), "label": torch.from_numpy(split.labels[part][rows])}
    for field, ids in split.seqs[part].items():
        batch[SEQ_PREFIX + field] = torch.from_numpy(ids[rows])
    history = getattr(split, "history", None)  # the behaviour regime's rows (data/behaviour.py) carry their sequence
    if history is not None:
        batch[HISTORY] = torch.from_numpy(history[part][rows])
    return batch


class CTRBatches(IterableDataset):
    """Every training row once per epoch, in a fresh random order."""

    def __init__(self, split: CTRSplit, batch_size: int, seed: int = 0) -> None:
        super().__init__()
        self.split = split
        self.batch_size = int(batch_size)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-self.split.n_rows("train") // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self.rng.permutation(self.split.n_rows("train"))
        for start in range(0, len(order), self.batch_size):
            yield ctr_batch(self.split, "train", order[start:start + self.batch_size])


def ctr_dataloader(split: CTRSplit, batch_size: int, seed: int = 0) -> DataLoader:
    return batch_loader(CTRBatches(split, batch_size, seed))


class FieldEmbedding(nn.Module):
    """[B, n_fields, dim]: one vector per field of a row; a multi-valued field is its values' mean vector.

    dim=1 gives the per-feature weights of a first-order (linear / wide) part. Token fields share one
    table with per-field offsets (RecBole's FMEmbedding); id 0 of a field is padding.
    """

    def __init__(self, split: CTRSplit, dim: int) -> None:
        super().__init__()
        sizes = [split.vocab_size(f) for f in split.token_fields]
        self.register_buffer("offsets", torch.tensor(np.r_[0, np.cumsum(sizes)[:-1]], dtype=torch.long),
                             persistent=False)
        self.tokens = nn.Embedding(max(sum(sizes), 1), dim)
        self.seq_fields = split.seq_fields
        self.sequences = nn.ModuleList(nn.Embedding(split.vocab_size(f), dim) for f in split.seq_fields)
        self.n_fields = len(split.token_fields) + len(split.seq_fields)
        # the behaviour regime's item-side feature table: an item's vectors from the same tables (`items`)
        item_fields = tuple(getattr(split, "item_fields", ()))
        self.n_item_fields = len(item_fields)
        if item_fields:
            columns = [split.token_fields.index(f) for f in item_fields if f in split.token_fields]
            rows = torch.from_numpy(np.asarray(split.item_tokens, dtype=np.int64)) + self.offsets[columns]
            self.register_buffer("item_rows", rows, persistent=False)  # [item vocab, item token fields]
            self.item_seq_index = [split.seq_fields.index(f) for f in item_fields if f in split.seq_fields]
            for position, field in zip(self.item_seq_index, split.item_seq_fields, strict=True):
                self.register_buffer(f"item_seq_{position}", torch.from_numpy(split.item_seqs[field]),
                                     persistent=False)

    @staticmethod
    def pooled(table: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        """[..., dim]: the mean vector of a multi-valued field's values (0 = padding, left out)."""
        mask = (ids > 0).unsqueeze(-1).float()
        return (table(ids) * mask).sum(-2) / (mask.sum(-2) + 1e-8)

    def forward(self, batch: Batch) -> torch.Tensor:
        parts = [lookup(self.tokens.weight, batch["tokens"] + self.offsets)]
        for field, table in zip(self.seq_fields, self.sequences, strict=True):
            parts.append(self.pooled(table, batch[SEQ_PREFIX + field]).unsqueeze(1))
        return torch.cat(parts, dim=1)

    def items(self, ids: torch.Tensor) -> torch.Tensor:
        """[..., n_item_fields, dim]: the vectors of items `ids` (item_id vocab ids, any shape) by their item-side
        fields, from the tables `forward` reads (a behaviour and the candidate item share them; the behaviour
        regime's splits only)."""
        if not self.n_item_fields:
            raise ValueError("items(): the split has no item-side feature table (the behaviour regime's has)")
        parts = [lookup(self.tokens.weight, self.item_rows[ids])]
        for position in self.item_seq_index:
            table = self.sequences[position]
            parts.append(self.pooled(table, getattr(self, f"item_seq_{position}")[ids]).unsqueeze(-2))
        return torch.cat(parts, dim=-2)


class Dice(nn.Module):
    """Dice, the data-adaptive activation of DIN (Zhou et al. 2018, Eq. 10): f(s) = p(s) s + (1 - p(s)) alpha s,
    p(s) = sigmoid((s - E[s]) / sqrt(Var[s] + eps)), E and Var the mini-batch's per unit in training and their
    moving averages at inference (a BatchNorm without affine), alpha learned per unit (from 0). A [..., size] input
    is normalised over all its leading dimensions."""

    def __init__(self, size: int, eps: float = 1e-8) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(int(size), eps=eps, affine=False)
        self.alpha = nn.Parameter(torch.zeros(int(size)))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(self.norm(s.reshape(-1, s.shape[-1]))).reshape(s.shape)
        return p * s + (1 - p) * self.alpha * s


# Multiplicative hash of a pair's joint id into its buckets: x -> (x mod P) * A mod P, a bijection on [0, P)
# (P prime, A coprime), so nearby joint ids land in scattered buckets; int64 never overflows (both < 2^31)
CROSS_HASH_PRIME = 2_147_483_647  # 2^31 - 1
CROSS_HASH_MULTIPLIER = 1_103_515_245


def cross_pairs(split: CTRSplit) -> list[tuple[int, int]]:
    """(i, j), i < j: the token-field columns every cross-product feature pairs (sequence fields are not crossed)."""
    n = len(split.token_fields)
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


class FieldCrossProducts(nn.Module):
    """[B]: the wide part's cross-product term (Wide & Deep, Cheng et al. 2016, section 3.1).

    Every pair of token fields is one crossed feature, AND(field_i = a, field_j = b), with one learned weight
    per crossed value; the term is the sum of the row's crossed weights. A pair whose value space fits in
    `buckets` keeps its exact joint id a * vocab_j + b (no collisions); a larger one hashes it into `buckets`.
    The pairs share one [sum of sizes, 1] table with per-pair offsets, as FieldEmbedding does.
    """

    def __init__(self, split: CTRSplit, buckets: int) -> None:
        super().__init__()
        if int(buckets) < 1:
            raise ValueError(f"cross-product buckets must be positive, got {buckets}")
        pairs = cross_pairs(split)
        vocab = [split.vocab_size(f) for f in split.token_fields]
        spaces = [vocab[i] * vocab[j] for i, j in pairs]
        sizes = [min(space, int(buckets)) for space in spaces]
        self.n_pairs = len(pairs)
        self.register_buffer("left", torch.tensor([i for i, _ in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("right", torch.tensor([j for _, j in pairs], dtype=torch.long), persistent=False)
        self.register_buffer("right_vocab", torch.tensor([vocab[j] for _, j in pairs], dtype=torch.long),
                             persistent=False)
        self.register_buffer("sizes", torch.tensor(sizes, dtype=torch.long), persistent=False)
        self.register_buffer("hashed", torch.tensor([space > size for space, size in zip(spaces, sizes, strict=True)],
                                                    dtype=torch.bool), persistent=False)
        self.register_buffer("offsets", torch.tensor(np.r_[0, np.cumsum(sizes)[:-1]] if sizes else [],
                                                     dtype=torch.long), persistent=False)
        self.weights = nn.Embedding(max(sum(sizes), 1), 1)

    def index(self, tokens: torch.Tensor) -> torch.Tensor:
        """[B, n_pairs]: each row's crossed value of every pair, as a row of the shared table."""
        joint = tokens[:, self.left] * self.right_vocab + tokens[:, self.right]
        mixed = (joint % CROSS_HASH_PRIME) * CROSS_HASH_MULTIPLIER % CROSS_HASH_PRIME
        return torch.where(self.hashed, mixed, joint) % self.sizes + self.offsets

    def forward(self, batch: Batch) -> torch.Tensor:
        tokens = batch["tokens"]
        if self.n_pairs == 0:  # a single token field has nothing to cross with
            return tokens.new_zeros(tokens.shape[0], dtype=self.weights.weight.dtype)
        return lookup(self.weights.weight, self.index(tokens)).sum(dim=(1, 2))


def pretrain_fm(split: CTRSplit, embedding: FieldEmbedding, first_order: FieldEmbedding, bias: nn.Parameter, *,
                epochs: int, learning_rate: float, batch_size: int, seed: int = 0) -> list[float]:
    """Fit a factorization machine on the training rows, in place (FNN's pre-training stage, Zhang et al. 2016).

    The logit is bias + the first-order weights + the pairwise inner products of the `embedding` vectors; Adam on the
    log loss for `epochs` passes over split's train rows (never the valid or test rows), in the order of
    `CTRBatches(split, batch_size, seed)`. The fitted tables then start the model that owns them. Returns the mean
    loss of each epoch.
    """
    parameters = [*embedding.parameters(), *first_order.parameters(), bias]
    device = bias.device
    optimizer = torch.optim.Adam(parameters, lr=learning_rate)
    losses = []
    with torch.inference_mode(False), torch.enable_grad():  # also when the first forward pass is an evaluation
        for _ in range(int(epochs)):
            total, rows = 0.0, 0
            for batch in CTRBatches(split, batch_size, seed):
                batch = {key: value.to(device) for key, value in batch.items()}
                fields = embedding(batch)
                summed = fields.sum(dim=1)
                logit = (bias + first_order(batch).sum(dim=(1, 2))
                         + 0.5 * (summed.pow(2) - fields.pow(2).sum(dim=1)).sum(dim=1))
                loss = F.binary_cross_entropy_with_logits(logit, batch["label"].float())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total, rows = total + float(loss.detach()) * len(logit), rows + len(logit)
            losses.append(total / max(rows, 1))
    return losses


class CTRModule(EvaluatedPhases, L.LightningModule):
    """Click-through-rate model over categorical fields, scored by AUC (monitored) and LogLoss."""

    monitor = CTR_MONITOR

    def __init__(self, split: CTRSplit, *, loss: str = "bce", learning_rate: float = 1e-3, l2_reg: float = 0.0,
                 optimizer: str = "adam", optimizer_settings: Mapping[str, float] | None = None,
                 batch_size: int = 2048, eval_batch_size: int = 4096,
                 negative_samples: int = 0, ks: Sequence[int] = ()) -> None:
        super().__init__()
        if loss not in CTR_LOSSES:
            raise ValueError(f"context loss must be one of {CTR_LOSSES}, got {loss!r}")
        del negative_samples, ks  # labelled rows: nothing is sampled, nothing is ranked
        self.split = split
        self.n_fields = len(split.fields)
        self.loss_name = loss
        self.learning_rate = float(learning_rate)
        self.l2_reg = float(l2_reg)
        self.optimizer_name = str(optimizer)
        self.optimizer_settings = dict(optimizer_settings or {})  # the paper's own (RMSProp's decay)
        self.batch_size = int(batch_size)
        self.eval_batch_size = max(int(eval_batch_size), 1)
        self.last_results: dict[str, EvalResult] = {}

    # --- the contract generated models fill -------------------------------------------------------

    def logit(self, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def regularization(self) -> torch.Tensor | float:
        return 0.0

    # --- prediction, loss, evaluation --------------------------------------------------------------

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.predict(batch)

    def predict(self, batch: Batch) -> torch.Tensor:
        """[B] click probabilities."""
        return torch.sigmoid(self.logit(batch))

    def loss(self, batch: Batch) -> torch.Tensor:
        logits = self.logit(batch)
        label = batch["label"].float()
        if self.loss_name == "bce":
            data_loss = F.binary_cross_entropy_with_logits(logits, label)
        else:  # squared loss (a rating-style objective) on the predicted probability
            data_loss = F.mse_loss(torch.sigmoid(logits), label)
        return data_loss + self.regularization()

    def evaluate(self, phase: str) -> EvalResult:
        """AUC and LogLoss of every row of `phase` ("valid" or "test")."""
        if phase not in ("valid", "test"):
            raise ValueError(f"phase must be valid or test, got {phase!r}")
        n = self.split.n_rows(phase)
        chunks = []
        with self.eval_mode():
            for start in range(0, n, self.eval_batch_size):
                batch = ctr_batch(self.split, phase, slice(start, start + self.eval_batch_size))
                chunks.append(self.predict({k: v.to(self.device) for k, v in batch.items()}).float().cpu())
        probabilities = torch.cat(chunks).numpy() if chunks else np.zeros(0, dtype=np.float32)
        labels = self.split.labels[phase]
        result = EvalResult(mean=ctr_metrics(probabilities, labels),
                            per_user={"probability": probabilities, "label": labels}, users=np.arange(n))
        self.last_results[phase] = result
        return result

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # RecBole's context models put L2 in the optimiser as weight decay
        return make_optimizer(self.optimizer_name, self.parameters(), self.learning_rate, self.l2_reg,
                              self.optimizer_settings)
