"""One split, computed once, saved, and written as RecBole benchmark files.

The generated model reads `split.npz`; every RecBole baseline reads
`<dataset>/<dataset>.{train,valid,test}.inter` from the same folder, so both sides see
exactly the same interactions.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from paper_autotrain.artifacts import replace_dir, save_npz
from paper_autotrain.data.candidates import PHASES as CANDIDATE_PHASES
from paper_autotrain.data.candidates import CandidatePool
from paper_autotrain.data.datasets import locate_interactions
from paper_autotrain.data.protocol_words import FULL_WORDS, LEAVE_ONE_OUT_WORDS
from paper_autotrain.errors import UserError
from paper_autotrain.schemas import SplitInfo

log = logging.getLogger(__name__)

PARTS = ("train", "valid", "test")
SPLIT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class SplitData:
    """Interactions of one split in our contiguous index space (users and items from 0)."""

    n_users: int
    n_items: int
    train: np.ndarray  # int64 [n, 2]: (user_idx, item_idx)
    valid: np.ndarray
    test: np.ndarray
    user_tokens: np.ndarray  # user_tokens[user_idx] is the token in the atomic files
    item_tokens: np.ndarray
    memo: dict[Any, Any] = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)
    """Derived read-only structures built once per split (the evaluator's row masks); never saved."""

    def part(self, name: str) -> np.ndarray:
        if name not in PARTS:
            raise ValueError(f"unknown split part {name!r}; expected one of {PARTS}")
        return getattr(self, name)

    def matrix(self, *parts: str) -> sp.csr_matrix:
        """Binary user x item matrix of the union of the named parts."""
        pairs = np.concatenate([self.part(p) for p in parts]) if parts else np.zeros((0, 2), np.int64)
        data = np.ones(len(pairs), dtype=np.float32)
        mat = sp.csr_matrix((data, (pairs[:, 0], pairs[:, 1])), shape=(self.n_users, self.n_items))
        mat.data[:] = 1.0  # duplicates were summed; keep the matrix binary
        return mat

    def candidate_pool(self) -> CandidatePool:
        """What sampled ranking draws from (data/candidates.py): never an item of the user's train, valid or test
        part; as many draws per user as it holds out in each phase."""
        if "candidate_pool" not in self.memo:
            held_out = {phase: np.bincount(self.part(phase)[:, 0], minlength=self.n_users)
                        for phase in CANDIDATE_PHASES}
            self.memo["candidate_pool"] = CandidatePool(self.matrix(*PARTS), held_out)
        return self.memo["candidate_pool"]


def load_split(path: str | Path) -> SplitData:
    """Read the split saved in `path` (a SplitInfo.path)."""
    with np.load(Path(path) / "split.npz", allow_pickle=False) as z:
        return SplitData(
            n_users=int(z["n_users"]), n_items=int(z["n_items"]),
            train=z["train"], valid=z["valid"], test=z["test"],
            user_tokens=z["user_tokens"], item_tokens=z["item_tokens"],
        )


def write_split(data: SplitData, folder: str | Path, dataset_name: str,
                extra_columns: Mapping[str, pd.DataFrame] | None = None) -> None:
    """Save `data` as split.npz plus RecBole benchmark files in `folder` (which must exist).

    `extra_columns` optionally gives, per part, a frame aligned with that part's rows holding
    `rating` and `timestamp`, so the benchmark files keep them.
    """
    folder = Path(folder)
    save_npz(
        folder / "split.npz", n_users=data.n_users, n_items=data.n_items,
        train=data.train, valid=data.valid, test=data.test,
        user_tokens=data.user_tokens.astype(str), item_tokens=data.item_tokens.astype(str),
    )
    bench = folder / dataset_name
    bench.mkdir(exist_ok=True)
    for part in PARTS:
        pairs = data.part(part)
        frame = pd.DataFrame({
            "user_id:token": data.user_tokens[pairs[:, 0]],
            "item_id:token": data.item_tokens[pairs[:, 1]],
        })
        extra = (extra_columns or {}).get(part)
        frame["rating:float"] = extra["rating"].to_numpy() if extra is not None else 1.0
        frame["timestamp:float"] = extra["timestamp"].to_numpy() if extra is not None else 0.0
        frame.to_csv(bench / f"{dataset_name}.{part}.inter", sep="\t", index=False)


# --- computing a split ------------------------------------------------------------------------------

def ratio_counts(total: int, ratios: Sequence[float]) -> list[int]:
    """How many of a user's `total` interactions go to each part (RecBole's `_calcu_split_ids`)."""
    counts = [int(r * total) for r in ratios]
    counts[0] = total - sum(counts[1:])
    for i in range(1, len(ratios)):
        if counts[0] <= 1:
            break
        if 0 < ratios[-i] * total < 1:
            counts[-i] += 1
            counts[0] -= 1
    return counts


def _normalised_ratios(ratios: Sequence[float]) -> list[float]:
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise UserError(f"split.ratios must be three non-negative numbers (train, valid, test), got {list(ratios)}")
    total = float(sum(ratios))
    return [r / total for r in ratios]


def leave_one_out_counts(total: int) -> list[int]:
    """A user's last interaction to test, the one before it to valid, the rest to train; a user with two
    interactions gives no valid item, one with one only trains (RecBole's leave-one-out, `LS`)."""
    held = min(2, total - 1)
    return [total - held, int(held == 2), int(held >= 1)]


def assign_parts(users: np.ndarray, order_key: np.ndarray, ratios: Sequence[float] | None) -> np.ndarray:
    """Part index (0 train, 1 valid, 2 test) per interaction, split per user along `order_key`: by `ratios`, or
    leave-one-out when `ratios` is None."""
    order = np.lexsort((order_key, users))
    sorted_users = users[order]
    starts = np.flatnonzero(np.r_[True, sorted_users[1:] != sorted_users[:-1]])
    sizes = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, sizes)
    counts = leave_one_out_counts if ratios is None else lambda n: ratio_counts(n, ratios)
    bounds = np.array([np.cumsum(counts(int(n))) for n in sizes])  # [n_users, 3]
    per_row = np.repeat(bounds, sizes, axis=0)
    part_sorted = (rank[:, None] >= per_row).sum(axis=1)
    parts = np.empty(len(users), dtype=np.int64)
    parts[order] = part_sorted
    return parts


def compute_split(frame: pd.DataFrame, split_cfg: Mapping) -> tuple[SplitData, dict[str, pd.DataFrame]]:
    """Split a frame with columns user, item[, rating, timestamp] into train/valid/test: per user by ratios, or
    leave-one-out (`leave_one_out: true`)."""
    ratios = None if leave_one_out(split_cfg) else _normalised_ratios(split_cfg.get("ratios", (0.8, 0.1, 0.1)))
    order = str(split_cfg.get("order", "RO")).upper()
    user_tokens, users = np.unique(frame["user"].to_numpy(str), return_inverse=True)
    item_tokens, items = np.unique(frame["item"].to_numpy(str), return_inverse=True)
    if order == "TO":
        if "timestamp" not in frame:
            raise UserError("split.order=TO needs a timestamp column in the dataset")
        key = frame["timestamp"].to_numpy(float)
    elif order == "RO":
        key = np.random.default_rng(int(split_cfg.get("seed", 2020))).random(len(frame))
    else:
        raise UserError(f"split.order must be RO (random) or TO (by time), got {order!r}")
    parts = assign_parts(users, key, ratios)
    pairs = np.stack([users, items], axis=1).astype(np.int64)
    extra = frame.reindex(columns=["rating", "timestamp"]).fillna(0.0)
    split = SplitData(
        n_users=len(user_tokens), n_items=len(item_tokens),
        train=pairs[parts == 0], valid=pairs[parts == 1], test=pairs[parts == 2],
        user_tokens=user_tokens, item_tokens=item_tokens,
    )
    return split, {name: extra[parts == i].reset_index(drop=True) for i, name in enumerate(PARTS)}


def leave_one_out(split_cfg: Mapping) -> bool:
    """split.leave_one_out: each user's last interaction (in `order`) tested, the one before validated."""
    return bool(split_cfg.get("leave_one_out", False))


def _split_id(inter_file: Path, split_cfg: Mapping) -> str:
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(inter_file.read_bytes()).digest())
    cfg = dict(split_cfg)
    if not leave_one_out(cfg):  # the ratio splits keep the ids they had before the setting existed
        cfg.pop("leave_one_out", None)
    digest.update(json.dumps({"cfg": cfg, "v": SPLIT_FORMAT_VERSION}, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def _protocol(split_cfg: Mapping) -> str:
    order = {"RO": "random order", "TO": "time order"}[str(split_cfg.get("order", "RO")).upper()]
    if leave_one_out(split_cfg):
        return f"{LEAVE_ONE_OUT_WORDS} (the last interaction tested, the one before validated), {order}; {FULL_WORDS}"
    ratios = "/".join(f"{r:g}" for r in _normalised_ratios(split_cfg.get("ratios", (0.8, 0.1, 0.1))))
    return f"per-user {ratios} split, {order}; {FULL_WORDS}"


def saved_split_info(folder: Path, load: Callable[[Path], object]) -> SplitInfo | None:
    """A complete saved split (its split.json, and `load` reads its data), or None: a corrupt or
    half-written folder is a miss, recomputed by the caller."""
    if not folder.exists():
        return None
    try:
        info = SplitInfo.model_validate_json((folder / "split.json").read_text())
        load(folder)
        return info
    except Exception:  # noqa: BLE001 - any unreadable split is simply recomputed
        return None


def publish_split(staging: Path, folder: Path, load: Callable[[Path], object]) -> None:
    """Move a finished split from `staging` to `folder` (named by a hash of what it holds). When a concurrent run
    of another paper published the same split first, that folder is kept, identical by construction, and ours is
    dropped: a split another process may be reading is never deleted. A corrupt folder there is replaced."""
    if saved_split_info(folder, load) is not None:
        return
    if folder.exists():
        replace_dir(staging, folder)
        return
    try:
        os.replace(staging, folder)
    except OSError:  # published by another process between the check and the move
        if saved_split_info(folder, load) is None:
            raise


def prepare_split(dataset_cfg: Mapping, split_cfg: Mapping, datasets_root: str | Path) -> SplitInfo:
    """Compute (or reuse) the split of a dataset; saved under datasets_root/<name>/<split_id>/."""
    name = str(dataset_cfg["name"])
    inter_file = locate_interactions(dataset_cfg)
    split_id = _split_id(inter_file, split_cfg)
    folder = Path(datasets_root).resolve() / name / split_id
    existing = saved_split_info(folder, load_split)
    if existing is not None:
        return existing.model_copy(update={"path": str(folder)})
    frame = read_atomic_interactions(inter_file)
    split, extra = compute_split(frame, split_cfg)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{split_id}.", dir=folder.parent))
    try:
        write_split(split, staging, name, extra)
        info = SplitInfo(
            dataset=name, split_id=split_id, path=str(folder), n_users=split.n_users, n_items=split.n_items,
            n_train=len(split.train), n_valid=len(split.valid), n_test=len(split.test),
            protocol=_protocol(split_cfg),
        )
        (staging / "split.json").write_text(info.model_dump_json(indent=1))
        publish_split(staging, folder, load_split)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("split %s of %s: %d/%d/%d interactions", split_id, name, info.n_train, info.n_valid, info.n_test)
    return info


def prepare_configured_split(dataset_cfg: Mapping, datasets_root: str | Path) -> SplitInfo:
    """`prepare_split` with the split settings the dataset config names (`dataset.split`): the top-k regime's."""
    return prepare_split(dataset_cfg, dict(dataset_cfg.get("split") or {}), datasets_root)


def read_atomic_interactions(inter_file: Path) -> pd.DataFrame:
    """Read a RecBole `.inter` atomic file into columns user, item[, rating, timestamp]."""
    try:
        frame = pd.read_csv(inter_file, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read dataset file {inter_file}: {exc}") from None
    columns = {c.split(":")[0]: c for c in frame.columns}
    missing = [c for c in ("user_id", "item_id") if c not in columns]
    if missing:
        raise UserError(f"dataset file {inter_file} lacks the column(s) {', '.join(missing)} "
                        "(RecBole atomic format: 'user_id:token<TAB>item_id:token...')")
    out = pd.DataFrame({"user": frame[columns["user_id"]], "item": frame[columns["item_id"]]})
    for field in ("rating", "timestamp"):
        if field in columns:
            out[field] = pd.to_numeric(frame[columns[field]], errors="coerce").fillna(0.0)
    if out.empty:
        raise UserError(f"dataset file {inter_file} holds no interactions")
    return out
