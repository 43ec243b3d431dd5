"""The probe's leakage gate: the model never sees validation or test interactions while it builds and trains.

Evaluation legitimately reads the held-out phases (the base modules rank them), so the gate looks only at
what building and training touch. Three deterministic checks, the most specific message first, each the data
regime's (config data.regime; paper_autotrain/regimes.py names them):

1. the training data the runtime feeds holds no held-out interaction (the epoch's batches; for sequences,
   no training target is one of the last two positions);
2. no interaction structure the model keeps (a sparse graph, a user x item matrix) holds one;
3. built and trained for a few steps on a decoy split, whose held-out interactions differ, the model is
   identical to the one built on the real split: whatever it reads, it does not use them.

Not for generated code (the import gate refuses it): the probe runs it.
"""

from __future__ import annotations

import ast
import dataclasses
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from paper_autotrain.data.ctr import CTRSplit
from paper_autotrain.data.sequential import SequenceSplit
from paper_autotrain.data.split import SplitData
from paper_autotrain.regimes import config_regime, resolve
from paper_autotrain.worker.loading import build_model
from paper_autotrain.worker.train import load_training_data

HELD_OUT = ("valid", "test")
TRAIN_STEPS = 3  # steps of the differential check: enough for a leak read in loss() to change the weights
RTOL, ATOL = 1e-4, 1e-6
MAX_DENSE_DENSITY = 0.5  # a denser user x item tensor holds scores or weights, not interactions
Batch = dict[str, torch.Tensor]


def check_no_leakage(model_dir: str | Path, config: Mapping[str, Any], split_dir: str | Path, split: Any,
                     batch: Batch, lr: float) -> str:
    """The gate's detail when the model never sees held-out interactions; ValueError naming the leak otherwise."""
    regime = config_regime(config)
    found = regime_check(regime.training_data_leak, config, Path(split_dir), split)
    if found:
        raise ValueError(found)
    seed_all(0)
    model = build_model(model_dir, config, split)
    found = regime_check(regime.structure_leak, model, split)
    if found:
        raise ValueError(f"{found}; build it from split.train only")
    found = differential_leak(model_dir, config, split, model, batch, lr)
    if found:
        hint = held_out_references(Path(model_dir) / "model.py")
        raise ValueError(found + (f" ({hint})" if hint else ""))
    trained = "fit" if regime.fit is not None else f"{TRAIN_STEPS} steps"
    return (f"no validation/test interaction in the {regime.name} training data or the model; the model is the "
            f"same when they change (build + {trained})")


def regime_check(reference: str | None, *args: Any) -> str | None:
    """What a regime's check finds (None: clean, or the regime has no such check)."""
    return resolve(reference)(*args) if reference is not None else None


# --- 1. the training data -------------------------------------------------------------------------

def held_out_keys(split: SplitData) -> np.ndarray:
    """user * n_items + item of the interactions only validation or test holds (sorted, unique)."""
    held = np.unique(np.concatenate([pair_keys(split.part(part), split.n_items) for part in HELD_OUT]))
    return np.setdiff1d(held, pair_keys(split.train, split.n_items))


def pair_keys(pairs: np.ndarray, n_items: int) -> np.ndarray:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0] * n_items + pairs[:, 1]


def count_held_out(users: np.ndarray, items: np.ndarray, held: np.ndarray, n_items: int) -> int:
    keys = np.asarray(users, dtype=np.int64) * n_items + np.asarray(items, dtype=np.int64)
    return int(np.isin(keys, held).sum())


def interaction_batch_leak(config: Mapping[str, Any], split_dir: Path, split: SplitData) -> str | None:
    """Held-out interactions among the training batches of a top-k split (pairs, or user rows), exactly as
    training builds them."""
    _, loader = load_training_data(config, split_dir, 0)
    held = held_out_keys(split)
    found = 0
    for batch in loader:
        if "rows" in batch and "items" in batch:  # item rows: every user who clicked the batch's items
            rows, users = np.nonzero(batch["rows"].numpy())
            found += count_held_out(users, batch["items"].numpy()[rows], held, split.n_items)
        elif "rows" in batch:  # user rows: every clicked item of the batch's users
            rows, items = np.nonzero(batch["rows"].numpy())
            found += count_held_out(batch["users"].numpy()[rows], items, held, split.n_items)
        else:
            found += count_held_out(batch["users"].numpy(), batch["pos_items"].numpy(), held, split.n_items)
    regime = config_regime(config).name
    return f"the {regime} training batches hold {found} validation/test interactions" if found else None


def sequence_leak(config: Mapping[str, Any], split_dir: Path, split: SequenceSplit) -> str | None:
    """A training target among the held-out positions, or held-out items among the training batches."""
    return sequence_target_leak(split) or sequence_batch_leak(config, split_dir, split)


def sequence_target_leak(split: SequenceSplit) -> str | None:
    users, positions = split.examples("train")
    lengths = split.lengths()[users]
    late = (lengths >= 3) & (positions >= lengths - 2)
    if late.any():
        return f"{int(late.sum())} training targets are validation/test positions (the last two of a sequence)"
    return None


def sequence_held_out_keys(split: SequenceSplit) -> np.ndarray:
    """user * (n_items + 1) + item of each user's validation and test items that are not also training items."""
    width = split.n_items + 1
    users = split.eval_users()
    ends = split.offsets[users + 1]
    held = np.concatenate([users * width + split.items[ends - 2], users * width + split.items[ends - 1]])
    train_users, positions = split.examples("train")
    train = train_users * width + split.items[split.offsets[train_users] + positions]
    first = split.offsets[:-1][split.lengths() > 0]  # position 0 is history only, never a target
    train = np.concatenate([train, np.flatnonzero(split.lengths() > 0) * width + split.items[first]])
    return np.setdiff1d(held, train)


def sequence_batch_leak(config: Mapping[str, Any], split_dir: Path, split: SequenceSplit) -> str | None:
    """Held-out items among the histories and targets of the training batches, exactly as training builds them."""
    _, loader = load_training_data(config, split_dir, 0)
    held, width = sequence_held_out_keys(split), split.n_items + 1
    found = 0
    for batch in loader:
        users = batch["users"].numpy().reshape(-1, 1)
        fed = np.concatenate([batch["histories"].numpy(), batch["targets"].numpy().reshape(len(users), -1)], 1)
        found += int(np.isin(users * width + fed, held)[fed > 0].sum())
    return f"the sequential training batches hold {found} validation/test items" if found else None


# --- 2. what the model keeps ----------------------------------------------------------------------

def kept_arrays(model: torch.nn.Module) -> Iterator[tuple[str, Any]]:
    """(name, value) of every tensor, array and sparse matrix the model's modules keep, parameters excluded."""
    parameters = {id(parameter) for parameter in model.parameters()}
    for prefix, module in model.named_modules():
        for name, value in vars(module).items():
            if name == "_buffers":
                for buffer_name, buffer in value.items():
                    if buffer is not None:
                        yield qualified(prefix, buffer_name), buffer
            elif is_array(value) and id(value) not in parameters and name not in ("_parameters", "_modules"):
                yield qualified(prefix, name), value


def qualified(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def is_array(value: Any) -> bool:
    return isinstance(value, torch.Tensor | np.ndarray) or sp.issparse(value)


def nonzero_entries(value: Any) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the non-zero entries of a 2-d sparse tensor or matrix."""
    if sp.issparse(value):
        coo = value.tocoo()
        keep = coo.data != 0
        return coo.row[keep], coo.col[keep]
    coo = value.detach().to_sparse_coo().coalesce().cpu()
    keep = (coo.values() != 0).numpy()
    indices = coo.indices().numpy()
    return indices[0][keep], indices[1][keep]


def held_out_in(value: Any, split: SplitData, held: np.ndarray) -> int | None:
    """How many held-out interactions a [n_users, n_items] or user-item graph [n_users + n_items]^2 holds;
    None when `value` is neither (or is a dense tensor of scores rather than interactions)."""
    n_users, n_items = split.n_users, split.n_items
    shape = tuple(value.shape)
    if shape not in ((n_users, n_items), (n_users + n_items, n_users + n_items)):
        return None
    graph = shape[0] == n_users + n_items
    if sp.issparse(value) or (isinstance(value, torch.Tensor) and value.layout != torch.strided):
        rows, cols = nonzero_entries(value)
        if graph:  # user rows first: the (user, item) block and its transpose
            upper, lower = (rows < n_users) & (cols >= n_users), (rows >= n_users) & (cols < n_users)
            rows, cols = np.r_[rows[upper], cols[lower]], np.r_[cols[upper], rows[lower]] - n_users
        return count_held_out(rows, cols, held, n_items)
    dense = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if dense.dtype == object or np.count_nonzero(dense) > MAX_DENSE_DENSITY * dense.size:
        return None
    users, items = held // n_items, held % n_items
    return int(np.count_nonzero(dense[users, items + n_users if graph else items]))


def structure_leak(model: torch.nn.Module, split: SplitData) -> str | None:
    held = held_out_keys(split)
    for name, value in kept_arrays(model):
        found = held_out_in(value, split, held)
        if found:
            return f"the model's {name!r} {list(value.shape)} holds {found} validation/test interactions"
    return None


# --- 3. the same model on a decoy split -------------------------------------------------------------

def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def decoy_interactions(split: SplitData) -> SplitData:
    """The split with different validation/test interactions (the same sizes), train untouched."""
    shift = split.n_items // 2 + 1
    moved = {part: np.c_[split.part(part)[:, 0], (split.part(part)[:, 1] + shift) % split.n_items]
             for part in HELD_OUT}
    return dataclasses.replace(split, **moved)


def decoy_sequences(split: SequenceSplit) -> SequenceSplit:
    """The sequences with different validation and test targets (the last two items of each), the rest kept."""
    items = split.items.copy()
    last = split.offsets[1:][split.lengths() >= 3]
    for held in (last - 1, last - 2):  # the test and validation targets
        items[held] = (items[held] - 1 + split.n_items // 2 + 1) % split.n_items + 1
    return dataclasses.replace(split, items=items)


def decoy_ctr_rows(split: CTRSplit) -> CTRSplit:
    """The CTR rows with the validation/test rows reversed and their labels flipped, train untouched."""
    def flip(per_part: dict) -> dict:
        return {part: (value[::-1].copy() if part in HELD_OUT else value) for part, value in per_part.items()}
    return dataclasses.replace(
        split, tokens=flip(split.tokens), users=flip(split.users), items=flip(split.items),
        labels={part: (1 - value if part in HELD_OUT else value) for part, value in split.labels.items()},
        seqs={part: ({f: ids[::-1].copy() for f, ids in fields.items()} if part in HELD_OUT else fields)
              for part, fields in split.seqs.items()})


def decoy_behaviour_rows(split: Any) -> Any:
    """The behaviour rows as decoy_ctr_rows makes them, the held-out rows' histories reversed with them."""
    decoy = decoy_ctr_rows(split)
    return dataclasses.replace(decoy, history={part: (value[::-1].copy() if part in HELD_OUT else value)
                                               for part, value in split.history.items()})


def snapshot(model: torch.nn.Module) -> dict[str, Any]:
    state = {name: parameter.detach().clone() for name, parameter in model.named_parameters()}
    for name, value in kept_arrays(model):
        if isinstance(value, torch.Tensor):
            value = value.detach().to_sparse_coo().coalesce() if value.layout != torch.strided else value.detach()
        state[name] = value.copy() if isinstance(value, np.ndarray) or sp.issparse(value) else value.clone()
    return state


def same(left: Any, right: Any) -> bool:
    if type(left) is not type(right) or tuple(left.shape) != tuple(right.shape):
        return False
    if sp.issparse(left):
        difference = abs(left - right)
        return difference.nnz == 0 or float(difference.max()) <= ATOL + RTOL * float(abs(right).max())
    if isinstance(left, torch.Tensor) and left.layout != torch.strided:
        return torch.equal(left.indices(), right.indices()) and same(left.values(), right.values())
    if isinstance(left, torch.Tensor):
        if left.is_floating_point():
            return torch.allclose(left, right, rtol=RTOL, atol=ATOL, equal_nan=True)
        return torch.equal(left, right)
    if np.issubdtype(left.dtype, np.floating):
        return bool(np.allclose(left, right, rtol=RTOL, atol=ATOL, equal_nan=True))
    return bool(np.array_equal(left, right))


def first_difference(left: Mapping[str, Any], right: Mapping[str, Any]) -> str | None:
    if left.keys() != right.keys():
        return f"holds {sorted(set(left) ^ set(right))} in one build only"
    return next((f"its {name!r}" for name in left if not same(left[name], right[name])), None)


def adam_steps(model: torch.nn.Module, batch: Batch, steps: int, lr: float, seed: int = 0) -> list[float]:
    """The loss of each of `steps` Adam updates on one fixed batch (the probe's overfit gate uses it too). Every
    step draws the same random numbers (dropout masks, whatever the loss samples), so a stochastic loss is one
    fixed objective there, as a fixed batch is."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        seed_all(seed)
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def train_steps(model: torch.nn.Module, batch: Batch, lr: float) -> list[float]:
    return adam_steps(model, batch, TRAIN_STEPS, lr, seed=1)


def differential_leak(model_dir: str | Path, config: Mapping[str, Any], split: Any, model: torch.nn.Module,
                      batch: Batch, lr: float) -> str | None:
    """`model` was built on `split` after seed_all(0); build its twin on the decoy and compare them."""
    seed_all(0)
    decoy = resolve(config_regime(config).decoy_split)
    twin = build_model(model_dir, config, decoy(split))
    difference = first_difference(snapshot(model), snapshot(twin))
    if difference:
        return f"the model uses validation/test interactions while it is built: {difference} changes with them"
    fit = config_regime(config).fit
    if fit is not None:  # fitted once: the fit is its training
        resolve(fit)(model), resolve(fit)(twin)
        difference = first_difference(snapshot(model), snapshot(twin))
        return f"the model uses validation/test interactions in its fit: {difference} changes with them" \
            if difference else None
    losses, twin_losses = train_steps(model, batch, lr), train_steps(twin, batch, lr)
    if not np.allclose(losses, twin_losses, rtol=RTOL, atol=ATOL):
        return (f"the model uses validation/test interactions while it trains: the loss of the same batch is "
                f"{losses[-1]:.6f} with them and {twin_losses[-1]:.6f} when they change")
    difference = first_difference(snapshot(model), snapshot(twin))
    if difference:
        return f"the model uses validation/test interactions while it trains: {difference} changes with them"
    return None


def held_out_references(source_path: Path) -> str | None:
    """Where model.py names a held-out phase (split.valid, part("test"), ...), to point the fix at a line."""
    try:
        module = ast.parse(source_path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
    lines = sorted({node.lineno for node in ast.walk(module)
                    if (isinstance(node, ast.Attribute) and node.attr in HELD_OUT)
                    or (isinstance(node, ast.Constant) and node.value in HELD_OUT)})
    return f"model.py names them on line {', '.join(map(str, lines))}" if lines else None
