"""The sequential (next-item) data regime: per-user item sequences in time order, leave-one-out.

Each user's interactions are sorted by time (ties keep file order). The last item is the test
target, the one before it the validation target, and every earlier position is a training
target whose history is the items before it (at most `max_seq_length`, the most recent ones).
Users with fewer than three interactions only contribute training rows.

Item ids are 1..n_items in our index space; 0 is padding, as in RecBole. The same split is
written as RecBole benchmark files (`user_id`, `item_id_list`, `item_id` per row), so RecBole's
sequential models read exactly the histories and targets our model sees.

Where the dataset has a `.item` file, the items' categorical features (`dataset.item_features`, default
ML-100K's genres `class` and `release_year`, those of them the file has) ride along for the models that read
them (SASRecF, FDSA): per field an id table [n_items + 1, width] (0 padding; a `token_seq` field such as the
genres holds several ids per item), and the split folder's benchmark gets a `.item` file with those columns of the
split's items, which RecBole's feature models read with `selected_features`. Evaluation ranks all
items for the target with no history masking (RecBole's convention for sequential models), or, with
`eval.ranking=sampled-N`, the target among N negatives the user never interacted with (data/candidates.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from paper_autotrain.artifacts import save_npz
from paper_autotrain.data.candidates import PHASES as CANDIDATE_PHASES
from paper_autotrain.data.candidates import CandidatePool, SampledCandidates
from paper_autotrain.data.datasets import locate_interactions
from paper_autotrain.data.evaluator import (
    TOPK_METRICS,
    EvalResult,
    metrics_from_hits,
    scores_on_candidates,
    topk_hits,
    worth_scoring_candidates,
)
from paper_autotrain.data.protocol_words import SEQUENCE_FULL_WORDS
from paper_autotrain.data.split import publish_split, read_atomic_interactions, saved_split_info
from paper_autotrain.errors import UserError
from paper_autotrain.schemas import SplitInfo

log = logging.getLogger(__name__)

SEQUENCE_FORMAT_VERSION = 1
DEFAULT_ITEM_FEATURES = ("class", "release_year")  # ML-100K's genres and release year (RecBole's SASRecF: class)
FEATURE_PREFIX = "feature/"  # sequences.npz keys of the item feature tables
PAD = 0
PAD_TOKEN = "[PAD]"
PHASE_OFFSET = {"train": 2, "valid": 2, "test": 1}  # history of a phase's target = all but the last k items

# score_fn(histories [B, L] long, lengths [B] long, users [B] long) -> [B, n_items + 1] scores (column 0 is
# padding); the user ids serve models with a user embedding (Caser)
SequenceScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# (histories, lengths, users, items [B, C]) -> [B, C]: the scores of the given candidates only
SequenceCandidateScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SequenceSplit:
    """All users' time-ordered sequences; the phases are positions in them."""

    n_users: int
    n_items: int  # real items; ids 1..n_items, 0 is padding
    max_seq_length: int
    items: np.ndarray  # int64, every user's sequence back to back
    offsets: np.ndarray  # int64 [n_users + 1]: user u's sequence is items[offsets[u]:offsets[u+1]]
    user_tokens: np.ndarray
    item_tokens: np.ndarray  # item_tokens[0] is the padding token
    # item feature field -> int64 [n_items + 1, width] ids (0 padding / none), row i the features of item i
    item_features: dict[str, np.ndarray] = field(default_factory=dict)

    def sequence(self, user: int) -> np.ndarray:
        return self.items[self.offsets[user]:self.offsets[user + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def eval_users(self) -> np.ndarray:
        """Users with a validation and a test target (three or more interactions)."""
        return np.flatnonzero(self.lengths() >= 3)

    def examples(self, phase: str) -> tuple[np.ndarray, np.ndarray]:
        """(users, target positions): every training position, or the one valid/test position per user."""
        if phase not in PHASE_OFFSET:
            raise ValueError(f"phase must be one of {sorted(PHASE_OFFSET)}, got {phase!r}")
        lengths = self.lengths()
        if phase != "train":
            users = self.eval_users()
            return users, lengths[users] - PHASE_OFFSET[phase]
        # a user with n >= 3 items trains on positions 1..n-3; a shorter one on 1..n-1
        last = np.where(lengths >= 3, lengths - PHASE_OFFSET["train"], lengths)
        counts = np.clip(last - 1, 0, None)
        users = np.repeat(np.arange(self.n_users), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        positions = np.arange(int(counts.sum())) - starts + 1
        return users, positions

    def last_train_positions(self) -> np.ndarray:
        """Per user, the position of the last training target (0 when the user has none)."""
        lengths = self.lengths()
        return np.clip(np.where(lengths >= 3, lengths - PHASE_OFFSET["train"], lengths) - 1, 0, None)

    def train_windows(self, stride: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every training target once, in windows of `max_seq_length` positions, for models that score the next
        item at every position in one pass (a causal encoder): (users [W], inputs [W, L], lengths [W],
        targets [W, L]).

        Window i of a user starts at position i * stride. Position j of a window reads the window's items up
        to j and predicts the item after it; its target is 0 (ignored) unless that item is a training target
        no earlier window trained on, so a target keeps at least L - stride items of history (per-prefix
        training keeps up to L). Inputs stop before the user's last training target: no validation or test
        item is ever an input.
        """
        length, stride = self.max_seq_length, max(1, min(int(stride), self.max_seq_length))
        last = self.last_train_positions()  # targets are positions 1..last
        counts = np.where(last >= 1, 1 + -(-np.clip(last - length, 0, None) // stride), 0)
        users = np.repeat(np.arange(self.n_users), counts)
        index = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)  # window i of its user
        starts = index * stride
        position = starts[:, None] + np.arange(length)[None, :]  # item position of each input slot
        first_new = np.where(index > 0, starts - stride + length, 0)  # targets up to here an earlier window has
        user_last = last[users][:, None]
        is_input = position <= user_last - 1
        is_target = (position + 1 > first_new[:, None]) & (position + 1 <= user_last)
        base = self.offsets[users][:, None]
        inputs = np.where(is_input, self.items[np.minimum(base + position, len(self.items) - 1)], PAD)
        targets = np.where(is_target, self.items[np.minimum(base + position + 1, len(self.items) - 1)], PAD)
        return (torch.from_numpy(users).long(), torch.from_numpy(inputs), torch.from_numpy(is_input.sum(1)),
                torch.from_numpy(targets))

    def candidate_pool(self) -> CandidatePool:
        """What sampled ranking draws from (data/candidates.py), in the score rows' columns: never the padding 0
        nor an item of the user's sequence (its history, valid and test targets); one draw set per evaluated user
        and phase (its one target)."""
        import scipy.sparse as sp

        lengths = self.lengths()
        rows = np.r_[np.repeat(np.arange(self.n_users), lengths), np.arange(self.n_users)]
        cols = np.r_[self.items, np.full(self.n_users, PAD)]
        seen = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(self.n_users, self.n_items + 1))
        seen.data[:] = 1.0  # an item seen twice (a repeat) is summed; keep the matrix binary
        held = (lengths >= 3).astype(np.int64)  # eval_users: one valid and one test target each
        return CandidatePool(seen, {phase: held for phase in CANDIDATE_PHASES})

    def batch(self, users: np.ndarray, positions: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Left-aligned, zero-padded histories [B, L], their lengths [B] and the targets [B]."""
        users, positions = np.asarray(users, dtype=np.int64), np.asarray(positions, dtype=np.int64)
        starts = np.maximum(positions - self.max_seq_length, 0)
        lengths = positions - starts
        slots = np.arange(self.max_seq_length)[None, :]
        flat = self.offsets[users][:, None] + starts[:, None] + slots
        histories = np.where(slots < lengths[:, None], self.items[np.minimum(flat, max(len(self.items) - 1, 0))], PAD)
        targets = self.items[self.offsets[users] + positions]
        return torch.from_numpy(histories), torch.from_numpy(lengths), torch.from_numpy(targets)


def compute_sequences(frame: pd.DataFrame, max_seq_length: int) -> SequenceSplit:
    """Time-ordered sequences from a frame with columns user, item[, timestamp]."""
    if max_seq_length < 1:
        raise UserError(f"max_seq_length must be a positive integer, got {max_seq_length}")
    if "timestamp" not in frame:
        raise UserError("the sequential protocol needs a timestamp column in the dataset (RecBole atomic "
                        "'timestamp:float')")
    user_tokens, users = np.unique(frame["user"].to_numpy(str), return_inverse=True)
    item_tokens, items = np.unique(frame["item"].to_numpy(str), return_inverse=True)
    order = np.lexsort((np.arange(len(frame)), frame["timestamp"].to_numpy(float), users))
    counts = np.bincount(users, minlength=len(user_tokens))
    return SequenceSplit(
        n_users=len(user_tokens), n_items=len(item_tokens), max_seq_length=int(max_seq_length),
        items=(items[order] + 1).astype(np.int64), offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
        user_tokens=user_tokens, item_tokens=np.r_[[PAD_TOKEN], item_tokens],
    )


# --- saving, loading, RecBole benchmark files ---------------------------------------------------------

def save_sequences(split: SequenceSplit, folder: Path) -> None:
    features = {FEATURE_PREFIX + name: ids for name, ids in split.item_features.items()}
    save_npz(folder / "sequences.npz", n_users=split.n_users, n_items=split.n_items,
             max_seq_length=split.max_seq_length, items=split.items, offsets=split.offsets,
             user_tokens=split.user_tokens.astype(str), item_tokens=split.item_tokens.astype(str), **features)


def load_sequences(path: str | Path) -> SequenceSplit:
    with np.load(Path(path) / "sequences.npz", allow_pickle=False) as z:
        return SequenceSplit(
            n_users=int(z["n_users"]), n_items=int(z["n_items"]), max_seq_length=int(z["max_seq_length"]),
            items=z["items"], offsets=z["offsets"], user_tokens=z["user_tokens"], item_tokens=z["item_tokens"],
            item_features={key[len(FEATURE_PREFIX):]: z[key] for key in z.files if key.startswith(FEATURE_PREFIX)},
        )


def item_feature_file(inter_file: Path) -> Path:
    return inter_file.with_name(inter_file.name[: -len(".inter")] + ".item")


def read_item_features(inter_file: Path, fields: Sequence[str],
                       item_tokens: np.ndarray) -> tuple[dict[str, np.ndarray], pd.DataFrame | None]:
    """The chosen categorical fields of the dataset's `.item` file that it has, as id tables over our items
    (row 0 padding, an item the file lacks all 0), and the file's rows of our items with those columns (RecBole
    atomic headers kept) for the benchmark; ({}, None) when there is no such file or field."""
    from paper_autotrain.data.ctr import _encode_seq, _encode_token, _read_atomic

    path = item_feature_file(inter_file)
    if not path.exists() or not fields:
        return {}, None
    frame, types = _read_atomic(path)
    present = [f for f in fields if f in frame and f != "item_id" and types.get(f) in ("token", "token_seq")]
    if "item_id" not in frame or not present:
        return {}, None
    frame = frame.drop_duplicates("item_id").set_index("item_id")
    rows = frame.reindex(item_tokens[1:].astype(str)).fillna("")
    tables = {}
    for name in present:
        values = rows[name].to_numpy(str)
        ids = _encode_seq(values)[1] if types[name] == "token_seq" else _encode_token(values)[1][:, None]
        if types[name] == "token":  # an item the file lacks is padding, not a token of its own
            ids = np.where(values[:, None] == "", 0, ids)
        tables[name] = np.vstack([np.zeros((1, ids.shape[1]), dtype=np.int64), ids.astype(np.int64)])
    known = frame.loc[frame.index.isin(item_tokens[1:].astype(str)), present].reset_index()
    known.columns = [f"{name}:{types.get(name, 'token')}" for name in known.columns]
    return tables, known


def benchmark_rows(split: SequenceSplit, phase: str) -> Iterator[str]:
    """Rows `user<TAB>history tokens<TAB>target token` of one phase's benchmark file."""
    users, positions = split.examples(phase)
    for user, pos in zip(users, positions, strict=True):
        seq = split.sequence(int(user))
        history = " ".join(split.item_tokens[seq[max(0, pos - split.max_seq_length):pos]])
        yield f"{split.user_tokens[user]}\t{history}\t{split.item_tokens[seq[pos]]}\n"


def write_benchmark(split: SequenceSplit, folder: Path, dataset_name: str) -> None:
    """`<name>.{train,valid,test}.inter` with item_id_list; RecBole needs `alias_of_item_id: [item_id_list]`."""
    bench = folder / dataset_name
    bench.mkdir(exist_ok=True)
    for phase in PHASE_OFFSET:
        with open(bench / f"{dataset_name}.{phase}.inter", "w", encoding="utf-8") as handle:
            handle.write("user_id:token\titem_id_list:token_seq\titem_id:token\n")
            handle.writelines(benchmark_rows(split, phase))


def _sequence_split_id(inter_file: Path, max_seq_length: int, features: Sequence[str] = ()) -> str:
    digest = hashlib.sha256(hashlib.sha256(inter_file.read_bytes()).digest())
    digest.update(json.dumps({"protocol": "LOO-TO", "L": max_seq_length, "v": SEQUENCE_FORMAT_VERSION}).encode())
    item_file = item_feature_file(inter_file)
    if features and item_file.exists():  # the items' features ride along: a split of other features is another
        digest.update(hashlib.sha256(item_file.read_bytes()).digest())
        digest.update(json.dumps({"item_features": list(features)}).encode())
    return "seq-" + digest.hexdigest()[:12]


def item_feature_fields(dataset_cfg: Mapping) -> tuple[str, ...]:
    """dataset.item_features (RecBole's selected_features), default ML-100K's genres and release year."""
    fields = dataset_cfg.get("item_features")
    return tuple(str(f) for f in (DEFAULT_ITEM_FEATURES if fields is None else fields))


def prepare_sequences(dataset_cfg: Mapping, max_seq_length: int, datasets_root: str | Path) -> SplitInfo:
    """Compute (or reuse) the leave-one-out sequences of a dataset under datasets_root/<name>/<split_id>/."""
    name = str(dataset_cfg["name"])
    inter_file = locate_interactions(dataset_cfg)
    features = item_feature_fields(dataset_cfg)
    split_id = _sequence_split_id(inter_file, int(max_seq_length), features)
    folder = Path(datasets_root).resolve() / name / split_id
    existing = saved_split_info(folder, load_sequences)
    if existing is not None:
        return existing.model_copy(update={"path": str(folder)})
    split = compute_sequences(read_atomic_interactions(inter_file), int(max_seq_length))
    tables, item_rows = read_item_features(inter_file, features, split.item_tokens)
    if tables:
        split = dataclasses.replace(split, item_features=tables)
    info = SplitInfo(
        dataset=name, split_id=split_id, path=str(folder), n_users=split.n_users, n_items=split.n_items,
        n_train=len(split.examples("train")[0]), n_valid=len(split.eval_users()), n_test=len(split.eval_users()),
        protocol=f"time-ordered leave-one-out per user, histories of at most {max_seq_length} items; "
                 f"{SEQUENCE_FULL_WORDS}",
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{split_id}.", dir=folder.parent))
    try:
        save_sequences(split, staging)
        write_benchmark(split, staging, name)
        if item_rows is not None:  # RecBole's feature models (SASRecF, FDSA) read it beside the benchmark
            item_rows.to_csv(staging / name / f"{name}.item", sep="\t", index=False)
        (staging / "split.json").write_text(info.model_dump_json(indent=1))
        publish_split(staging, folder, load_sequences)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("sequences %s of %s: %d training positions, %d users evaluated", split_id, name, info.n_train,
             info.n_test)
    return info


# --- evaluation ------------------------------------------------------------------------------------------

def target_rows(targets: torch.Tensor, width: int, device: torch.device | str) -> torch.Tensor:
    """Bool [B, width]: each row's target column."""
    rows = torch.zeros((len(targets), width), dtype=torch.bool, device=device)
    rows[torch.arange(len(targets)), targets.to(device)] = True
    return rows


def evaluate_next_item(score_fn: SequenceScoreFn, split: SequenceSplit, phase: str, ks: Sequence[int] = (10, 20),
                       batch_size: int = 1024, device: torch.device | str = "cpu",
                       names: Sequence[str] = TOPK_METRICS, candidates: SampledCandidates | None = None,
                       candidate_score_fn: SequenceCandidateScoreFn | None = None,
                       candidate_pair_cost: float = 1.0) -> EvalResult:
    """Rank all items for each user's `phase` target given the history before it; padding never ranks. With
    `candidates` (eval.ranking=sampled-N), rank the target among the user's sampled negatives of `phase` only,
    everything else masked, as data/evaluator.py ranks the top-k splits' candidates; `candidate_score_fn`, where
    given, then scores only those candidates (the same values score_fn gives at their columns) in a batch where
    that is cheaper (data/evaluator.py worth_scoring_candidates)."""
    if phase == "train":
        raise ValueError("evaluate the valid or test phase")
    users, positions = split.examples(phase)
    collected: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad():
        for start in range(0, len(users), batch_size):
            batch_users = users[start:start + batch_size]
            histories, lengths, targets = split.batch(batch_users, positions[start:start + batch_size])
            inputs = (histories.to(device), lengths.to(device), torch.from_numpy(batch_users).to(device))
            if candidates is None:
                scores = score_fn(*inputs)
                target = target_rows(targets, scores.shape[1], scores.device)
                exclude = torch.zeros_like(target)
                exclude[:, PAD] = True
            else:
                negatives = torch.from_numpy(candidates.rows(phase, batch_users)).to(device)
                target = target_rows(targets, negatives.shape[1], device)
                exclude = ~(target | negatives)
                if worth_scoring_candidates(candidate_score_fn, ~exclude, candidate_pair_cost):
                    # histories and lengths bound: scores_on_candidates passes (users, items)
                    scores = scores_on_candidates(partial(candidate_score_fn, *inputs[:2]), inputs[2], ~exclude)
                else:
                    scores = score_fn(*inputs)
            hits = topk_hits(scores, exclude.to(scores.device), target.to(scores.device), max(ks)).cpu()
            for name, values in metrics_from_hits(hits, torch.ones(len(targets)), ks, names).items():
                collected.setdefault(name, []).append(values)
    per_user = {name: torch.cat(parts).numpy() for name, parts in collected.items()}
    mean = {name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()}
    return EvalResult(mean=mean, per_user=per_user, users=users)
