"""The behaviour (CTR over a behaviour sequence) data regime: the context regime's labelled rows, each with the
user's earlier items as its behaviour sequence (DIN, DIEN).

The rows, fields, labels and parts are exactly the context split's (data/ctr.py: label = rating >= threshold, a
seeded random 8:1:1 split of all rows); each row also carries the items the same user interacted with before it
(time order, ties by file order), at most `max_seq_length` of them, the most recent kept, oldest first. Only
*training* interactions enter a history: a row never sees a valid or test interaction in its behaviours, so the
training batches hold no held-out pair (and a validation or test row's history is what the model saw in training).

Behaviour items are embedded by their item-side features (the item id and the fields of the `.item` file), so the
split also keeps one row of item-side feature ids per item (`item_tokens`, `item_seqs`). RecBole's DIN and DIEN read
the same rows from the benchmark files, whose `.inter` holds the history as `item_id_list:token_seq` (unloaded for
RecBole's other context models, which read the rows as the context regime writes them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from paper_autotrain.artifacts import save_npz
from paper_autotrain.data import ctr
from paper_autotrain.data.ctr import CTRSplit
from paper_autotrain.data.datasets import locate_interactions
from paper_autotrain.data.split import PARTS, publish_split, saved_split_info
from paper_autotrain.schemas import SplitInfo

log = logging.getLogger(__name__)

BEHAVIOUR_FORMAT_VERSION = 1
DEFAULT_MAX_SEQ_LENGTH = 50  # RecBole's MAX_ITEM_LIST_LENGTH
HISTORY_FIELD = "item_id_list"  # RecBole's ITEM_ID_FIELD + LIST_SUFFIX


@dataclass(frozen=True)
class BehaviourSplit(CTRSplit):
    """The context split's rows plus each row's behaviour sequence and the item-side feature table."""

    item_fields: tuple[str, ...]  # the item-side fields (item_id first), in the split's field order
    item_tokens: np.ndarray  # int64 [item vocab, item-side token fields]: each item's ids of those fields
    item_seqs: dict[str, np.ndarray]  # item-side token_seq field -> int64 [item vocab, width]
    history: dict[str, np.ndarray]  # part -> int64 [n, max_seq_length]: item ids (item_id vocab), oldest first, 0 pad

    @property
    def max_seq_length(self) -> int:
        return int(self.history["train"].shape[1])

    @property
    def item_token_fields(self) -> tuple[str, ...]:
        return tuple(f for f in self.item_fields if f in self.token_fields)

    @property
    def item_seq_fields(self) -> tuple[str, ...]:
        return tuple(f for f in self.item_fields if f in self.seq_fields)


def item_ids(split: CTRSplit, part: str) -> np.ndarray:
    """The item_id vocab id of every row of a part."""
    return split.tokens[part][:, split.token_fields.index("item_id")]


def _row_item_ids(split: CTRSplit, items: np.ndarray) -> np.ndarray:
    vocab = split.vocab["item_id"]
    return np.searchsorted(vocab[1:], items.astype(str)).astype(np.int64) + 1  # vocab[1:] is np.unique's: sorted


def compute_histories(users: np.ndarray, items: np.ndarray, times: np.ndarray, train: np.ndarray,
                      max_seq_length: int) -> np.ndarray:
    """[n, max_seq_length] for rows of (user, item id, time): the user's training items strictly before each row in
    (time, row) order, the latest `max_seq_length`, oldest first, 0-padded at the end."""
    n = len(users)
    histories = np.zeros((n, max(int(max_seq_length), 1)), dtype=np.int64)
    order = np.lexsort((np.arange(n), times, users))
    seen: list[int] = []
    last_user = None
    for row in order:
        if users[row] != last_user:
            last_user, seen = users[row], []
        recent = seen[-max_seq_length:] if max_seq_length > 0 else []
        histories[row, :len(recent)] = recent
        if train[row]:
            seen.append(int(items[row]))
    return histories


def item_table(split: CTRSplit, item_fields: tuple[str, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each item's ids of its item-side fields (row i: item id i; row 0 all padding), read off the rows."""
    n_items = split.vocab_size("item_id")
    token_columns = [split.token_fields.index(f) for f in item_fields if f in split.token_fields]
    tokens = np.zeros((n_items, len(token_columns)), dtype=np.int64)
    seq_fields = [f for f in item_fields if f in split.seq_fields]
    seqs = {f: np.zeros((n_items, split.seqs["train"][f].shape[1]), dtype=np.int64) for f in seq_fields}
    for part in PARTS:
        ids = item_ids(split, part)
        tokens[ids] = split.tokens[part][:, token_columns]
        for f in seq_fields:
            seqs[f][ids] = split.seqs[part][f]
    return tokens, seqs


def compute_behaviour_split(rows: pd.DataFrame, types: Mapping[str, str], times: np.ndarray,
                            sides: Mapping[str, str], ratios, seed: int, max_seq_length: int) -> BehaviourSplit:
    """The context split of `rows` (same parts, same order) with histories and the item-side feature table."""
    base = ctr.compute_ctr_split(rows, types, ratios, seed)
    parts = ctr.assign_random_parts(len(rows), ratios, seed)
    users = rows["user_id"].to_numpy(str)
    items = _row_item_ids(base, rows["item_id"].to_numpy(str))
    histories = compute_histories(users, items, times, parts == 0, max_seq_length)
    item_fields = ("item_id", *(f for f in base.fields if sides.get(f) == "item"))
    tokens, seqs = item_table(base, item_fields)
    return BehaviourSplit(**{f: getattr(base, f) for f in base.__dataclass_fields__},
                          item_fields=item_fields, item_tokens=tokens, item_seqs=seqs,
                          history={part: histories[parts == i] for i, part in enumerate(PARTS)})


# --- saving, loading, RecBole benchmark files -------------------------------------------------------

def save_behaviour(split: BehaviourSplit, folder: Path) -> None:
    ctr.save_ctr(split, folder)
    arrays: dict[str, np.ndarray] = {"item_fields": np.array(split.item_fields, dtype=str),
                                     "item_tokens": split.item_tokens}
    for field, ids in split.item_seqs.items():
        arrays[f"item_seq/{field}"] = ids
    for part in PARTS:
        arrays[f"{part}/history"] = split.history[part]
    save_npz(folder / "behaviour.npz", **arrays)


def load_behaviour(path: str | Path) -> BehaviourSplit:
    base = ctr.load_ctr(path)
    with np.load(Path(path) / "behaviour.npz", allow_pickle=False) as z:
        item_fields = tuple(str(f) for f in z["item_fields"])
        return BehaviourSplit(
            **{f: getattr(base, f) for f in base.__dataclass_fields__},
            item_fields=item_fields, item_tokens=z["item_tokens"],
            item_seqs={f: z[f"item_seq/{f}"] for f in item_fields if f in base.seq_fields},
            history={p: z[f"{p}/history"] for p in PARTS})


def history_tokens(split: BehaviourSplit, part: str) -> list[str]:
    """Each row's behaviour sequence as space-separated item tokens (RecBole's token_seq), oldest first."""
    vocab = split.vocab["item_id"]
    return [ctr.SEQ_SEPARATOR.join(vocab[row[row > 0]]) for row in split.history[part]]


def write_benchmark(split: BehaviourSplit, folder: Path, dataset_name: str, sides: Mapping[str, str],
                    types: Mapping[str, str]) -> None:
    """The context regime's benchmark files, with the history column `item_id_list:token_seq` in the `.inter`."""
    ctr.write_benchmark(split, folder, dataset_name, sides, types)
    bench = folder / dataset_name
    for part in PARTS:
        path = bench / f"{dataset_name}.{part}.inter"
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        frame[f"{HISTORY_FIELD}:token_seq"] = history_tokens(split, part)
        frame.to_csv(path, sep="\t", index=False)


# --- prepare: compute once, save, reuse -------------------------------------------------------------

def _times(inter_file: Path) -> np.ndarray:
    """Each interaction's timestamp (file order where the file has none)."""
    frame, _ = ctr._read_atomic(inter_file)
    if "timestamp" not in frame:
        return np.arange(len(frame), dtype=np.float64)
    return pd.to_numeric(frame["timestamp"], errors="coerce").fillna(0.0).to_numpy(np.float64)


def _split_id(inter_file: Path, settings: tuple, max_seq_length: int) -> str:
    digest = hashlib.sha256(ctr._ctr_split_id(inter_file, settings).encode())
    digest.update(json.dumps({"max_seq_length": int(max_seq_length), "v": BEHAVIOUR_FORMAT_VERSION,
                              "history": "earlier train rows"}).encode())
    return "beh-" + digest.hexdigest()[:12]


def prepare_behaviour(dataset_cfg: Mapping, datasets_root: str | Path,
                      max_seq_length: int = DEFAULT_MAX_SEQ_LENGTH) -> SplitInfo:
    """Compute (or reuse) the behaviour split of a dataset under datasets_root/<name>/beh-<hash>/."""
    name = str(dataset_cfg["name"])
    inter_file = locate_interactions(dataset_cfg)
    settings = ctr.ctr_settings(dataset_cfg)
    fields, threshold, ratios, seed = settings
    max_seq_length = int(max_seq_length)
    split_id = _split_id(inter_file, settings, max_seq_length)
    folder = Path(datasets_root).resolve() / name / split_id
    existing = saved_split_info(folder, load_behaviour)
    if existing is not None:
        return existing.model_copy(update={"path": str(folder)})
    rows, types = ctr.read_ctr_rows(inter_file, fields, threshold)
    sides = ctr._field_sides(inter_file, fields)
    split = compute_behaviour_split(rows, types, _times(inter_file), sides, ratios, seed, max_seq_length)
    info = SplitInfo(
        dataset=name, split_id=split_id, path=str(folder), n_users=int(rows["user_id"].nunique()),
        n_items=int(rows["item_id"].nunique()), n_train=split.n_rows("train"), n_valid=split.n_rows("valid"),
        n_test=split.n_rows("test"),
        protocol=f"CTR: label = rating >= {threshold:g}, random {'/'.join(f'{r:g}' for r in ratios)} split of all "
                 f"rows (seed {seed}); fields {', '.join(fields)}; behaviour sequence: the user's earlier training "
                 f"items in time order, at most {max_seq_length}; AUC and LogLoss",
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{split_id}.", dir=folder.parent))
    try:
        save_behaviour(split, staging)
        write_benchmark(split, staging, name, sides, types)
        (staging / "split.json").write_text(info.model_dump_json(indent=1))
        publish_split(staging, folder, load_behaviour)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    lengths = (split.history["train"] > 0).sum(1)
    log.info("behaviour split %s of %s: %d/%d/%d rows, mean history %.1f items", split_id, name, info.n_train,
             info.n_valid, info.n_test, float(lengths.mean()) if len(lengths) else 0.0)
    return info
