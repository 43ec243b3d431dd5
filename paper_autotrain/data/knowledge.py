"""The knowledge data regime: the top-k split plus the dataset's knowledge graph, linked onto our item ids.

The interactions are split exactly as in the top-k regime (`prepare_configured_split`: the same split id and
folder), so a knowledge-aware model is compared with every top-k baseline on the same data. Beside it the dataset's
RecBole KG files are read (`<name>.kg`: head, relation, tail tokens; `<name>.link`: item token -> entity token,
next to `<name>.inter`; RecBole's wheel ships them for ml-100k) and saved twice in the split folder:

- `knowledge.npz`: the triples in our index space, as RecBole's KnowledgeBasedDataset lays them out: the entities
  0..n_items-1 are the items (item i is entity i, whether the link names an entity for it or not), the other
  entities follow; relations 0..n_relations-1 in token order. Triples are kept as the file holds them (RecBole's
  default: no reverse relations, no filtering);
- `<name>/<name>.kg` and `<name>/<name>.link`: the files as they are, beside the benchmark `.inter` files, where
  RecBole's KnowledgeBasedDataset reads them for the references (config: `knowledge_config`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from paper_autotrain.artifacts import save_npz
from paper_autotrain.data.datasets import locate_interactions
from paper_autotrain.data.split import SplitData, load_split, prepare_configured_split
from paper_autotrain.errors import UserError
from paper_autotrain.schemas import SplitInfo

KNOWLEDGE_FILE = "knowledge.npz"
KG_SUFFIXES = ("kg", "link")
KG_COLUMNS = {"kg": ("head_id", "relation_id", "tail_id"), "link": ("item_id", "entity_id")}


@dataclass(frozen=True)
class KnowledgeSplit(SplitData):
    """The top-k split with the knowledge graph in our index space (entities 0..n_items-1 are the items)."""

    n_entities: int = 0
    n_relations: int = 0
    triples: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int64))  # int64 [m, 3]: h, r, t

    def neighbours(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The KG as an undirected graph: (entity, neighbour, relation) of every triple, both directions."""
        heads, relations, tails = self.triples.T
        return (np.concatenate([heads, tails]), np.concatenate([tails, heads]), np.concatenate([relations, relations]))


def kg_files(dataset_cfg: Mapping[str, Any]) -> dict[str, Path]:
    """The dataset's `.kg` and `.link` files, beside its `.inter`; UserError naming what is missing."""
    inter = locate_interactions(dataset_cfg)
    name = str(dataset_cfg["name"])
    files = {suffix: inter.parent / f"{name}.{suffix}" for suffix in KG_SUFFIXES}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise UserError(f"dataset {name!r}: a knowledge-aware model needs {' and '.join(missing)} (RecBole's atomic "
                        "KG files: head_id/relation_id/tail_id triples and the item_id -> entity_id link)")
    return files


def read_kg_file(path: Path, suffix: str) -> pd.DataFrame:
    """A `.kg` or `.link` atomic file as token columns named without their types (head_id, ..., entity_id)."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    frame.columns = [column.split(":")[0] for column in frame.columns]
    missing = [column for column in KG_COLUMNS[suffix] if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: lacks the column(s) {', '.join(missing)} (RecBole atomic format)")
    return frame[list(KG_COLUMNS[suffix])]


def link_triples(split: SplitData, kg: pd.DataFrame, link: pd.DataFrame) -> dict[str, np.ndarray]:
    """The triples in our index space: linked items' entities become the items, the rest follow them."""
    item_index = {str(token): index for index, token in enumerate(split.item_tokens)}
    entity_of_item = {entity: item_index[item] for item, entity in zip(link["item_id"], link["entity_id"], strict=True)
                      if item in item_index}
    others = sorted(set(kg["head_id"]).union(kg["tail_id"]) - set(entity_of_item))
    entity_index = {**entity_of_item, **{token: split.n_items + k for k, token in enumerate(others)}}
    relation_tokens = np.array(sorted(set(kg["relation_id"])))
    relation_index = {token: k for k, token in enumerate(relation_tokens)}
    triples = np.stack([kg["head_id"].map(entity_index).to_numpy(), kg["relation_id"].map(relation_index).to_numpy(),
                        kg["tail_id"].map(entity_index).to_numpy()], axis=1).astype(np.int64)
    return {"n_entities": np.int64(split.n_items + len(others)), "n_relations": np.int64(len(relation_tokens)),
            "triples": triples, "relation_tokens": relation_tokens.astype(str),
            "other_entity_tokens": np.array(others, dtype=str), "linked_items": np.int64(len(entity_of_item))}


def files_digest(files: Mapping[str, Path]) -> str:
    digest = hashlib.sha256()
    for suffix in KG_SUFFIXES:
        digest.update(hashlib.sha256(files[suffix].read_bytes()).digest())
    return digest.hexdigest()[:12]


def saved_digest(folder: Path) -> str | None:
    try:
        with np.load(folder / KNOWLEDGE_FILE, allow_pickle=False) as saved:
            return str(saved["kg_digest"])
    except (OSError, KeyError, ValueError):
        return None


def prepare_knowledge_split(dataset_cfg: Mapping[str, Any], datasets_root: str | Path) -> SplitInfo:
    """The top-k split (same id, same folder) with the dataset's KG saved beside it, once per KG file content."""
    files = kg_files(dataset_cfg)
    info = prepare_configured_split(dataset_cfg, datasets_root)
    folder, name = Path(info.path), str(dataset_cfg["name"])
    digest = files_digest(files)
    if saved_digest(folder) == digest:
        return info
    split = load_split(folder)
    frames = {suffix: read_kg_file(path, suffix) for suffix, path in files.items()}
    for suffix, path in files.items():  # RecBole's KnowledgeBasedDataset reads them beside the benchmark files
        target = folder / name / f"{name}.{suffix}"
        staging = target.with_name(f".{target.name}.{os.getpid()}")  # another run may be writing the same file
        shutil.copyfile(path, staging)
        staging.replace(target)
    save_npz(folder / KNOWLEDGE_FILE, kg_digest=np.array(digest), **link_triples(split, frames["kg"], frames["link"]))
    return info


def load_knowledge_split(path: str | Path) -> KnowledgeSplit:
    """The split saved in `path` with its knowledge graph (prepare_knowledge_split wrote it)."""
    split = load_split(path)
    try:
        saved = np.load(Path(path) / KNOWLEDGE_FILE, allow_pickle=False)
    except OSError:
        raise UserError(f"{path}: no {KNOWLEDGE_FILE}; the split was not prepared in the knowledge regime") from None
    with saved:
        return KnowledgeSplit(
            n_users=split.n_users, n_items=split.n_items, train=split.train, valid=split.valid, test=split.test,
            user_tokens=split.user_tokens, item_tokens=split.item_tokens,
            n_entities=int(saved["n_entities"]), n_relations=int(saved["n_relations"]), triples=saved["triples"],
        )


def knowledge_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """RecBole's config for the KG files beside the benchmark ones (KnowledgeBasedDataset loads them; the
    interaction-only models ignore them)."""
    return {"load_col": {"inter": ["user_id", "item_id"], "kg": list(KG_COLUMNS["kg"]),
                         "link": list(KG_COLUMNS["link"])}}
