"""The context (CTR) data regime: labelled rows with user and item features, a random 8:1:1 split.

Every interaction becomes one row: label = 1 when rating >= threshold (RecBole's `threshold`
convention, 4 on MovieLens), else 0. Each row carries the chosen feature fields: its own user
and item ids and the user/item features looked up from the dataset's `.user` / `.item` files.
The rows are shuffled with a fixed seed and cut 8:1:1 over all rows (RecBole's `group_by: None`).

Fields are categorical: a `token` field holds one value per row, a `token_seq` field (e.g. a
movie's genres) a few values, pooled by their mean embedding as RecBole does. Ids are 1..n per
field, 0 is padding / unknown. The same rows are written as RecBole benchmark files
(`<name>.{train,valid,test}.inter` with `label:float`, plus `.user` / `.item` holding exactly the
chosen feature columns), so RecBole's context models read the identical rows and fields.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from paper_autotrain.artifacts import save_npz
from paper_autotrain.data.datasets import locate_interactions
from paper_autotrain.data.split import PARTS, publish_split, ratio_counts, saved_split_info
from paper_autotrain.errors import UserError
from paper_autotrain.schemas import SplitInfo

log = logging.getLogger(__name__)

CTR_FORMAT_VERSION = 1
DEFAULT_FIELDS = ("user_id", "item_id", "age", "gender", "occupation", "release_year", "class")
DEFAULT_THRESHOLD = 4.0  # RecBole's ml-100k CTR convention: rating >= 4 is a click
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
DEFAULT_SEED = 2020
SEQ_SEPARATOR = " "  # RecBole's seq_separator
ID_FIELDS = {"user_id": "user", "item_id": "item"}


@dataclass(frozen=True)
class CTRSplit:
    """Labelled rows per part, every field as ids 1..n (0 padding)."""

    token_fields: tuple[str, ...]  # one value per row
    seq_fields: tuple[str, ...]  # several values per row, mean-pooled
    vocab: dict[str, np.ndarray]  # field -> tokens, vocab[field][0] is the padding token ""
    tokens: dict[str, np.ndarray]  # part -> int64 [n, len(token_fields)]
    seqs: dict[str, dict[str, np.ndarray]]  # part -> field -> int64 [n, max values of that field]
    labels: dict[str, np.ndarray]  # part -> float32 [n]
    users: dict[str, np.ndarray]  # part -> user tokens of each row (for the RecBole side)
    items: dict[str, np.ndarray]  # part -> item tokens of each row

    def vocab_size(self, field: str) -> int:
        return len(self.vocab[field])

    def n_rows(self, part: str) -> int:
        return len(self.labels[part])

    @property
    def fields(self) -> tuple[str, ...]:
        return self.token_fields + self.seq_fields


# --- reading a dataset into labelled rows -----------------------------------------------------------

def _read_atomic(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """A RecBole atomic file as strings, with {field: type} from its `name:type` header."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read dataset file {path}: {exc}") from None
    types = {c.split(":")[0]: (c.split(":")[1] if ":" in c else "token") for c in frame.columns}
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame, types


def read_ctr_rows(inter_file: Path, fields: Sequence[str], threshold: float) -> tuple[pd.DataFrame, dict[str, str]]:
    """Interactions joined with user/item features: one row per interaction, `label` and the chosen fields."""
    inter, types = _read_atomic(inter_file)
    for needed in ("user_id", "item_id", "rating"):
        if needed not in inter:
            raise UserError(f"{inter_file} lacks the column {needed}; the CTR protocol labels rows by rating "
                            f"(RecBole atomic 'rating:float')")
    rows = inter[["user_id", "item_id"]].copy()
    rows["label"] = (pd.to_numeric(inter["rating"], errors="coerce").fillna(0.0) >= threshold).astype(np.float32)
    name = inter_file.name[: -len(".inter")]
    for side, key in (("user", "user_id"), ("item", "item_id")):
        wanted = [f for f in fields if f not in ("user_id", "item_id")]
        feature_file = inter_file.with_name(f"{name}.{side}")
        if not feature_file.exists():
            continue
        features, feature_types = _read_atomic(feature_file)
        present = [f for f in wanted if f in features and f != key]
        if present:
            table = features[[key, *present]].drop_duplicates(key)
            rows = rows.merge(table, on=key, how="left")
            types.update({f: feature_types[f] for f in present})
    missing = [f for f in fields if f not in rows]
    if missing:
        raise UserError(f"CTR field(s) {', '.join(missing)} are in no atomic file of {name} "
                        f"(fields available: {', '.join(c for c in rows.columns if c != 'label')}); "
                        "set dataset.ctr.fields")
    bad = [f for f in fields if types.get(f, "token") not in ("token", "token_seq")]
    if bad:
        raise UserError(f"CTR field(s) {', '.join(bad)} are not categorical (token/token_seq); "
                        "drop them from dataset.ctr.fields")
    return rows.fillna(""), {f: types.get(f, "token") for f in fields}


def assign_random_parts(n_rows: int, ratios: Sequence[float], seed: int) -> np.ndarray:
    """Part index (0 train, 1 valid, 2 test) per row: a seeded permutation cut by RecBole's ratio rule."""
    order = np.random.default_rng(seed).permutation(n_rows)
    counts = ratio_counts(n_rows, ratios)
    parts = np.empty(n_rows, dtype=np.int64)
    parts[order] = np.repeat(np.arange(len(counts)), counts)
    return parts


def _encode_token(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vocab, ids = np.unique(values.astype(str), return_inverse=True)
    return np.r_[[""], vocab], ids.astype(np.int64) + 1


def _encode_seq(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lists = [[v for v in str(value).split(SEQ_SEPARATOR) if v] for value in values]
    vocab = np.array(sorted({v for items in lists for v in items}), dtype=str)
    index = {token: i + 1 for i, token in enumerate(vocab)}
    width = max((len(items) for items in lists), default=1) or 1
    ids = np.zeros((len(lists), width), dtype=np.int64)
    for row, items in enumerate(lists):
        ids[row, :len(items)] = [index[v] for v in items]
    return np.r_[[""], vocab], ids


def compute_ctr_split(rows: pd.DataFrame, types: Mapping[str, str], ratios: Sequence[float],
                      seed: int) -> CTRSplit:
    parts = assign_random_parts(len(rows), ratios, seed)
    token_fields = tuple(f for f in types if types[f] == "token")
    seq_fields = tuple(f for f in types if types[f] == "token_seq")
    vocab: dict[str, np.ndarray] = {}
    token_ids = np.zeros((len(rows), len(token_fields)), dtype=np.int64)
    for column, field in enumerate(token_fields):
        vocab[field], token_ids[:, column] = _encode_token(rows[field].to_numpy())
    seq_ids = {}
    for field in seq_fields:
        vocab[field], seq_ids[field] = _encode_seq(rows[field].to_numpy())
    labels = rows["label"].to_numpy(np.float32)
    users, items = rows["user_id"].to_numpy(str), rows["item_id"].to_numpy(str)
    masks = {part: parts == i for i, part in enumerate(PARTS)}
    return CTRSplit(
        token_fields=token_fields, seq_fields=seq_fields, vocab=vocab,
        tokens={p: token_ids[m] for p, m in masks.items()},
        seqs={p: {f: ids[m] for f, ids in seq_ids.items()} for p, m in masks.items()},
        labels={p: labels[m] for p, m in masks.items()},
        users={p: users[m] for p, m in masks.items()}, items={p: items[m] for p, m in masks.items()},
    )


# --- saving, loading, RecBole benchmark files -------------------------------------------------------

def save_ctr(split: CTRSplit, folder: Path) -> None:
    arrays: dict[str, np.ndarray] = {
        "token_fields": np.array(split.token_fields, dtype=str), "seq_fields": np.array(split.seq_fields, dtype=str),
    }
    for field, tokens in split.vocab.items():
        arrays[f"vocab/{field}"] = tokens.astype(str)
    for part in PARTS:
        arrays[f"{part}/tokens"] = split.tokens[part]
        arrays[f"{part}/label"] = split.labels[part]
        arrays[f"{part}/user"] = split.users[part].astype(str)
        arrays[f"{part}/item"] = split.items[part].astype(str)
        for field, ids in split.seqs[part].items():
            arrays[f"{part}/seq/{field}"] = ids
    save_npz(folder / "ctr.npz", **arrays)


def load_ctr(path: str | Path) -> CTRSplit:
    with np.load(Path(path) / "ctr.npz", allow_pickle=False) as z:
        token_fields = tuple(str(f) for f in z["token_fields"])
        seq_fields = tuple(str(f) for f in z["seq_fields"])
        return CTRSplit(
            token_fields=token_fields, seq_fields=seq_fields,
            vocab={f: z[f"vocab/{f}"] for f in token_fields + seq_fields},
            tokens={p: z[f"{p}/tokens"] for p in PARTS},
            seqs={p: {f: z[f"{p}/seq/{f}"] for f in seq_fields} for p in PARTS},
            labels={p: z[f"{p}/label"] for p in PARTS},
            users={p: z[f"{p}/user"] for p in PARTS}, items={p: z[f"{p}/item"] for p in PARTS},
        )


def _natural(column: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(column, errors="coerce")
    return numeric if numeric.notna().all() else column


def decode_field(split: CTRSplit, part: str, field: str) -> np.ndarray:
    """The row tokens of one field (a token_seq field as its space-joined values)."""
    vocab = split.vocab[field]
    if field in split.token_fields:
        return vocab[split.tokens[part][:, split.token_fields.index(field)]]
    ids = split.seqs[part][field]
    return np.array([SEQ_SEPARATOR.join(vocab[row[row > 0]]) for row in ids], dtype=object)


def write_benchmark(split: CTRSplit, folder: Path, dataset_name: str, sides: Mapping[str, str],
                    types: Mapping[str, str]) -> None:
    """`<name>.{train,valid,test}.inter` (user, item, label) and `.user` / `.item` with the chosen features."""
    bench = folder / dataset_name
    bench.mkdir(exist_ok=True)
    for part in PARTS:
        frame = pd.DataFrame({"user_id:token": split.users[part], "item_id:token": split.items[part],
                              "label:float": split.labels[part]})
        frame.to_csv(bench / f"{dataset_name}.{part}.inter", sep="\t", index=False)
    for side, key, ids in (("user", "user_id", split.users), ("item", "item_id", split.items)):
        own = [f for f in split.fields if sides.get(f) == side]
        table = {key: np.concatenate([ids[p] for p in PARTS])}
        for field in own:
            table[field] = np.concatenate([decode_field(split, p, field) for p in PARTS])
        frame = pd.DataFrame(table).drop_duplicates(key)
        frame = frame.iloc[np.argsort(_natural(frame[key]).to_numpy(), kind="stable")]
        frame.columns = [f"{c}:{types.get(c, 'token')}" for c in frame.columns]
        frame.to_csv(bench / f"{dataset_name}.{side}", sep="\t", index=False)


def _field_sides(inter_file: Path, fields: Sequence[str]) -> dict[str, str]:
    """Which feature file (user or item) each non-id field comes from."""
    name = inter_file.name[: -len(".inter")]
    sides: dict[str, str] = {}
    for side in ("user", "item"):
        feature_file = inter_file.with_name(f"{name}.{side}")
        if feature_file.exists():
            header = feature_file.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
            for column in header.split("\t"):
                field = column.split(":")[0]
                if field in fields and field not in ID_FIELDS:
                    sides.setdefault(field, side)
    return sides


# --- prepare: compute once, save, reuse -------------------------------------------------------------

def ctr_settings(dataset_cfg: Mapping) -> tuple[tuple[str, ...], float, tuple[float, ...], int]:
    """(fields, label threshold, ratios, seed) from dataset.ctr and dataset.split, with RecBole's defaults."""
    ctr = dict(dataset_cfg.get("ctr") or {})
    split = dict(dataset_cfg.get("split") or {})
    fields = tuple(str(f) for f in (ctr.get("fields") or DEFAULT_FIELDS))
    for needed in ("user_id", "item_id"):
        if needed not in fields:
            raise UserError(f"dataset.ctr.fields must include {needed}, got {list(fields)}")
    ratios = [float(r) for r in split.get("ratios") or DEFAULT_RATIOS]
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise UserError(f"split.ratios must be three non-negative numbers (train, valid, test), got {ratios}")
    total = sum(ratios)
    threshold = float(ctr.get("threshold", DEFAULT_THRESHOLD))
    return fields, threshold, tuple(r / total for r in ratios), int(split.get("seed", DEFAULT_SEED))


def _ctr_split_id(inter_file: Path, settings: tuple) -> str:
    digest = hashlib.sha256()
    name = inter_file.name[: -len(".inter")]
    for path in (inter_file, inter_file.with_name(f"{name}.user"), inter_file.with_name(f"{name}.item")):
        if path.exists():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    fields, threshold, ratios, seed = settings
    digest.update(json.dumps({"fields": list(fields), "threshold": threshold, "ratios": list(ratios), "seed": seed,
                              "protocol": "ctr-RS", "v": CTR_FORMAT_VERSION}).encode())
    return "ctr-" + digest.hexdigest()[:12]


def prepare_ctr(dataset_cfg: Mapping, datasets_root: str | Path) -> SplitInfo:
    """Compute (or reuse) the CTR split of a dataset under datasets_root/<name>/ctr-<hash>/."""
    name = str(dataset_cfg["name"])
    inter_file = locate_interactions(dataset_cfg)
    settings = ctr_settings(dataset_cfg)
    fields, threshold, ratios, seed = settings
    split_id = _ctr_split_id(inter_file, settings)
    folder = Path(datasets_root).resolve() / name / split_id
    existing = saved_split_info(folder, load_ctr)
    if existing is not None:
        return existing.model_copy(update={"path": str(folder)})
    rows, types = read_ctr_rows(inter_file, fields, threshold)
    split = compute_ctr_split(rows, types, ratios, seed)
    info = SplitInfo(
        dataset=name, split_id=split_id, path=str(folder), n_users=int(rows["user_id"].nunique()),
        n_items=int(rows["item_id"].nunique()), n_train=split.n_rows("train"), n_valid=split.n_rows("valid"),
        n_test=split.n_rows("test"),
        protocol=f"CTR: label = rating >= {threshold:g}, random {'/'.join(f'{r:g}' for r in ratios)} split of all "
                 f"rows (seed {seed}); fields {', '.join(fields)}; AUC and LogLoss",
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{split_id}.", dir=folder.parent))
    try:
        save_ctr(split, staging)
        write_benchmark(split, staging, name, _field_sides(inter_file, fields), types)
        (staging / "split.json").write_text(info.model_dump_json(indent=1))
        publish_split(staging, folder, load_ctr)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("CTR split %s of %s: %d/%d/%d rows, %.1f%% positive", split_id, name, info.n_train, info.n_valid,
             info.n_test, 100.0 * float(np.mean(split.labels["train"])) if info.n_train else 0.0)
    return info
