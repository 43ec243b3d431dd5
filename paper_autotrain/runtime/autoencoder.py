"""The base LightningModule and batches for autoencoder models: a user's row of clicks in, item scores out.

A generated autoencoder fills one method:

- ``forward(rows, users)`` -> ([B, n_items] item logits, a scalar regulariser such as the annealed KL term),
  where ``rows`` are the users' binary rows of the training interaction matrix.

This class owns the rest: training batches of whole user rows (every user once per epoch, shuffled, as
RecBole's user dataloader for MultiVAE/MultiDAE/CDAE), the reconstruction loss the paper names
(multinomial log-likelihood, or pointwise BCE over every item), and validation/test by full ranking with
the project's evaluator, the scores being the decoder's output for the user's training row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import lightning as L
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from paper_autotrain.data.evaluator import EvalResult, full_sort_evaluate
from paper_autotrain.data.split import SplitData
from paper_autotrain.runtime.data import batch_loader
from paper_autotrain.runtime.losses import make_optimizer
from paper_autotrain.runtime.phases import EvaluatedPhases

AUTOENCODER_LOSSES = ("multinomial", "bce", "mse")
ROW_AXES = ("users", "items")  # a batch row is a user's items, or an item's users (item-based AutoRec)
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU,
               "gelu": nn.GELU, "identity": nn.Identity}
ROW_NORMS = ("l2", "none")
Batch = dict[str, torch.Tensor]


def dense_rows(matrix: sp.csr_matrix, users: np.ndarray) -> torch.Tensor:
    """[B, n_items] float rows of a sparse user x item matrix."""
    return torch.from_numpy(np.asarray(matrix[users].toarray(), dtype=np.float32))


class UserRowBatches(IterableDataset):
    """Every user's training row once per epoch, users shuffled, `batch_size` users a batch. With
    `axis="items"`, every item's column instead (its users), keyed "items" instead of "users"."""

    def __init__(self, split: SplitData, batch_size: int, seed: int = 0, axis: str = "users") -> None:
        super().__init__()
        if axis not in ROW_AXES:
            raise ValueError(f"unknown row_axis {axis!r}; expected one of {ROW_AXES}")
        self.matrix = split.matrix("train") if axis == "users" else split.matrix("train").T.tocsr()
        self.key = axis
        self.batch_size = max(int(batch_size), 1)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-self.matrix.shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self.rng.permutation(self.matrix.shape[0])
        for start in range(0, len(order), self.batch_size):
            ids = order[start:start + self.batch_size]
            yield {self.key: torch.from_numpy(ids), "rows": dense_rows(self.matrix, ids)}


def user_row_dataloader(split: SplitData, batch_size: int, seed: int = 0, axis: str = "users") -> DataLoader:
    return batch_loader(UserRowBatches(split, batch_size, seed, axis))


# --- layers the generated models compose ------------------------------------------------------------

def activation_layer(name: str) -> nn.Module:
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]()


def mlp_stack(sizes: Sequence[int], activation: str, after_last: bool = False) -> nn.Sequential:
    """Linear layers through `sizes` with `activation` between them (and after the last one when asked).

    Weights are Xavier-normal and biases zero, as RecBole initialises its autoencoders.
    """
    layers: list[nn.Module] = []
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    for position, (d_in, d_out) in enumerate(pairs):
        linear = nn.Linear(int(d_in), int(d_out))
        nn.init.xavier_normal_(linear.weight)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if position < len(pairs) - 1 or after_last:
            layers.append(activation_layer(activation))
    return nn.Sequential(*layers)


def normalize_rows(rows: torch.Tensor, norm: str) -> torch.Tensor:
    """Rows scaled to unit L2 norm ("l2"; an empty row stays zero) or left as they are ("none")."""
    key = str(norm).lower()
    if key == "l2":
        return F.normalize(rows, p=2, dim=1)
    if key == "none":
        return rows
    raise ValueError(f"unknown input_norm {norm!r}; expected one of {ROW_NORMS}")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)), summed over latent dimensions, mean over the batch."""
    return -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))


def multinomial_nll(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """-sum_i x_ui log softmax(logits_u)_i, mean over users (the multinomial log-likelihood, negated)."""
    return -(F.log_softmax(logits, dim=1) * rows).sum(dim=1).mean()


def row_bce(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Pointwise log loss of every item of the row (clicked 1, others 0), summed over items, mean over users."""
    return F.binary_cross_entropy_with_logits(logits, rows, reduction="none").sum(dim=1).mean()


def observed_squared_error(logits: torch.Tensor, rows: torch.Tensor, negatives: int) -> torch.Tensor:
    """Squared error over the observed entries of each row only (AutoRec's ||r - h(r)||^2_O), summed over the row,
    mean over rows. Implicit rows observe only their 1s, which a constant output reconstructs: `negatives`
    unobserved entries per observed one, drawn uniformly each step, are observed as 0s."""
    observed = rows > 0
    if negatives > 0:
        unobserved = (~observed).sum(dim=1, keepdim=True).clamp(min=1)
        rate = (negatives * observed.sum(dim=1, keepdim=True) / unobserved).clamp(max=1.0)
        observed = observed | (torch.rand_like(rows) < rate)
    return ((logits - rows).pow(2) * observed).sum(dim=1).mean()


RECONSTRUCTION = {"multinomial": multinomial_nll, "bce": row_bce}


class AutoEncoderModule(EvaluatedPhases, L.LightningModule):
    """Reconstructs each user's training row; scored by full ranking over all items (train items masked)."""

    def __init__(self, split: SplitData, *, loss: str = "multinomial", learning_rate: float = 1e-3,
                 l2_reg: float = 0.0, optimizer: str = "adam", optimizer_settings: Mapping[str, float] | None = None,
                 batch_size: int = 500, negative_samples: int = 0,
                 eval_batch_size: int = 1024, ks: Sequence[int] = (10, 20)) -> None:
        super().__init__()
        if loss not in AUTOENCODER_LOSSES:
            raise ValueError(f"autoencoder loss must be one of {AUTOENCODER_LOSSES}, got {loss!r}")
        self.split = split
        self.n_users = int(split.n_users)
        self.n_items = int(split.n_items)
        self.train_matrix = split.matrix("train")
        self.loss_name = loss
        self.learning_rate = float(learning_rate)
        self.l2_reg = float(l2_reg)
        self.optimizer_name = str(optimizer)
        self.optimizer_settings = dict(optimizer_settings or {})  # the paper's own (RMSProp's decay)
        self.batch_size = int(batch_size)  # users (or items) per batch
        self.negative_samples = int(negative_samples)  # mse: unobserved entries observed as 0s per observed one
        self.row_axis = "users"  # item_row_input sets "items": rows are items' columns (n_users wide)
        self.row_width = self.n_items
        self.eval_batch_size = int(eval_batch_size)
        self.ks = tuple(sorted({int(k) for k in ks} | {10}))
        self.last_results: dict[str, EvalResult] = {}

    # --- the contract generated models fill -------------------------------------------------------

    def forward(self, rows: torch.Tensor, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    # --- scoring, loss, evaluation -----------------------------------------------------------------

    def user_rows(self, users: torch.Tensor) -> torch.Tensor:
        """[B, n_items] training rows of `users`, on the model's device."""
        return dense_rows(self.train_matrix, users.cpu().numpy()).to(self.device)

    def full_sort_scores(self, users: torch.Tensor) -> torch.Tensor:
        """[B, n_items] scores: the decoder's logits for each user's training row; for item rows, the users'
        entries of every item's reconstructed column (I-AutoRec's R_ui = h(r(i))_u)."""
        users = users.to(self.device)
        if self.row_axis == "items":
            items = torch.arange(self.n_items)
            columns = dense_rows(self.train_matrix.T.tocsr(), items.numpy()).to(self.device)
            logits, _ = self(columns, items.to(self.device))
            return logits[:, users].T
        logits, _ = self(self.user_rows(users), users)
        return logits

    def loss(self, batch: Batch) -> torch.Tensor:
        logits, penalty = self(batch["rows"], batch[self.row_axis])
        if self.loss_name == "mse":
            return observed_squared_error(logits, batch["rows"], self.negative_samples) + penalty
        return RECONSTRUCTION[self.loss_name](logits, batch["rows"]) + penalty

    def loss_floor(self, batch: Batch) -> torch.Tensor:
        """The least reconstruction loss of the batch: a multinomial spreads its mass over a user's n items
        (n log n); pointwise BCE can reach 0. The probe measures a one-batch overfit against it."""
        if self.loss_name != "multinomial":
            return torch.zeros(())
        counts = batch["rows"].sum(dim=1)
        return torch.xlogy(counts, counts).mean()

    def evaluate(self, phase: str) -> EvalResult:
        with self.eval_mode():
            result = full_sort_evaluate(self.full_sort_scores, self.split, phase, ks=self.ks,
                                        batch_size=self.eval_batch_size, device=self.device,
                                        candidates=self.candidates)
        self.last_results[phase] = result
        return result

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # the papers' (and RecBole's) L2 on the weights is the optimiser's weight decay
        return make_optimizer(self.optimizer_name, self.parameters(), self.learning_rate, self.l2_reg,
                              self.optimizer_settings)
