"""Sampled ranking (`eval.ranking=sampled-N`): the candidates every model of a run is ranked against.

A paper that evaluates by ranking each held-out item against N sampled negatives (NeuMF's "100 items the user
has not interacted with") gets the same protocol here: for each user of a phase (valid, test), N negatives per
held-out item, drawn uniformly without replacement from the items the user never interacted with (in train,
valid or test), drawn ONCE per split, N and seed, and saved with the split (`<split>/candidates/`), so our
model, every baseline and the reference are ranked against identical candidates. The evaluator
(data/evaluator.py) then ranks each user's held-out items among them, with the same metric formulas as the full
ranking.

RecBole's `uni100` (`eval_args.mode`) is the same distribution, with two differences: it draws with replacement
(a repeated negative counts once, so a user meets slightly fewer than N distinct negatives) and its valid phase
may draw the user's test items. Its negatives are its own, so its figures agree with ours in distribution only.

Full ranking (`eval.ranking=full`, the default) ranks every item, the user's earlier items masked.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paper_autotrain.artifacts import load_npz, save_npz
from paper_autotrain.data.protocol_words import FULL_WORDS
from paper_autotrain.errors import UserError

if TYPE_CHECKING:  # scipy loads where candidates are drawn or read: the pipeline only parses eval.ranking here
    import scipy.sparse as sp

log = logging.getLogger(__name__)

FULL = "full"
PAPER = "paper"  # eval.ranking=paper: the spec's protocol.ranking when it states sampled-N, else full
SAMPLED = re.compile(r"sampled-(\d+)")
FOLDER = "candidates"
PHASES = ("valid", "test")
FORMAT_VERSION = 1


def ranking_of(setting: object) -> str:
    """A run's eval.ranking as the stages pass it on (full when unset)."""
    return str(setting or FULL)


def negatives_of(ranking: str) -> int | None:
    """N of `sampled-N`, None for `full`; UserError for anything else."""
    text = str(ranking).strip().lower()
    if text == FULL:
        return None
    match = SAMPLED.fullmatch(text)
    if match is None or int(match.group(1)) < 1:
        raise UserError(f"eval.ranking={ranking!r}: must be full, sampled-N (N >= 1 negatives per held-out item, "
                        "e.g. sampled-100) or paper (the spec's stated ranking)")
    return int(match.group(1))


def resolve_ranking(setting: str | None, paper_ranking: str | None) -> str:
    """The ranking a run uses: eval.ranking as given, or for `paper` the spec's protocol.ranking when it is
    sampled-N (full otherwise: the paper states full ranking, or its ranking was not read)."""
    text = str(setting or FULL).strip().lower()
    if text != PAPER:
        negatives_of(text)
        return text
    stated = str(paper_ranking or "").strip().lower()
    if SAMPLED.fullmatch(stated):
        return stated
    log.info("eval.ranking=paper: the paper's ranking is %s; full ranking", stated or "not read")
    return FULL


def ranking_words(ranking: str) -> str:
    """The ranking in words, for the report."""
    n = negatives_of(ranking)
    if n is None:
        return FULL_WORDS
    return (f"each held-out item ranked among {n} negatives (per held-out item) drawn uniformly from the items the "
            "user never interacted with, once per seed, the same candidates for every model")


@dataclass
class SampledCandidates:
    """The sampled negatives of one split, N and seed: per phase a binary user x item matrix."""

    negatives: int
    seed: int
    matrices: dict[str, sp.csr_matrix]
    _dense: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def rows(self, phase: str, users: np.ndarray) -> np.ndarray:
        """Bool [len(users), n_items]: where each user's sampled negatives of `phase` are."""
        if phase not in self._dense:
            self._dense[phase] = self.matrices[phase].toarray() > 0
        return self._dense[phase][users]


def candidates_path(split_dir: str | Path, negatives: int, seed: int) -> Path:
    return Path(split_dir) / FOLDER / f"sampled-{int(negatives)}.seed{int(seed)}.npz"


def draw_negatives(split, negatives: int, seed: int, phase: str) -> sp.csr_matrix:
    """`negatives` per held-out item of `phase` for each of its users, distinct, uniform over the items the user
    never interacted with (all of them when fewer are left)."""
    import scipy.sparse as sp

    seen = split.matrix("train", "valid", "test")
    held_out = np.bincount(split.part(phase)[:, 0], minlength=split.n_users)
    rng = np.random.default_rng([int(seed), PHASES.index(phase), int(negatives)])
    rows, cols = [], []
    for user in np.flatnonzero(held_out):
        used = np.sort(seen.indices[seen.indptr[user]:seen.indptr[user + 1]])
        free = split.n_items - len(used)
        picks = rng.choice(free, size=min(free, int(held_out[user]) * negatives), replace=False)
        # the r-th unused item is r plus the used items at or before it
        items = picks + np.searchsorted(used - np.arange(len(used)), picks, side="right")
        rows.append(np.full(len(items), user))
        cols.append(items)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(len(row), np.float32), (row, col)), shape=(split.n_users, split.n_items))


def draw_candidates(split, negatives: int, seed: int) -> SampledCandidates:
    return SampledCandidates(negatives, seed, {phase: draw_negatives(split, negatives, seed, phase)
                                               for phase in PHASES})


def _arrays(candidates: SampledCandidates, split) -> dict[str, np.ndarray]:
    arrays = {"version": np.array(FORMAT_VERSION), "negatives": np.array(candidates.negatives),
              "seed": np.array(candidates.seed), "n_users": np.array(split.n_users),
              "n_items": np.array(split.n_items)}
    for phase, matrix in candidates.matrices.items():
        arrays[f"{phase}_indptr"], arrays[f"{phase}_items"] = matrix.indptr, matrix.indices
    return arrays


def _from_arrays(arrays: dict[str, np.ndarray] | None, split, negatives: int, seed: int) -> SampledCandidates | None:
    """The saved candidates, or None when they are not these (another version, N, seed or split) or damaged."""
    import scipy.sparse as sp

    try:
        header = (int(arrays["version"]), int(arrays["negatives"]), int(arrays["seed"]), int(arrays["n_users"]),
                  int(arrays["n_items"]))
        if header != (FORMAT_VERSION, negatives, seed, split.n_users, split.n_items):
            return None
        matrices = {}
        for phase in PHASES:
            indptr, items = arrays[f"{phase}_indptr"], arrays[f"{phase}_items"]
            matrices[phase] = sp.csr_matrix((np.ones(len(items), np.float32), items, indptr),
                                            shape=(split.n_users, split.n_items))
            matrices[phase].check_format(full_check=True)
    except (TypeError, KeyError, ValueError, IndexError):
        return None
    return SampledCandidates(negatives, seed, matrices)


def prepare_candidates(split_dir: str | Path, split, negatives: int, seed: int) -> SampledCandidates:
    """The saved candidates of (split, N, seed); drawn and saved when missing, damaged or not these."""
    path = candidates_path(split_dir, negatives, seed)
    found = _from_arrays(load_npz(path), split, negatives, seed)
    if found is not None:
        return found
    if path.exists():
        log.warning("candidates %s are damaged or stale: drawn again", path)
    drawn = draw_candidates(split, negatives, seed)
    save_npz(path, **_arrays(drawn, split))  # atomic: a concurrent run writes the same bytes
    return drawn


def load_candidates(split_dir: str | Path, split, negatives: int, seed: int) -> SampledCandidates:
    """The saved candidates, where the split folder is read-only (the training sandbox): prepare_candidates must
    have run first."""
    found = _from_arrays(load_npz(candidates_path(split_dir, negatives, seed)), split, negatives, seed)
    if found is None:
        raise UserError(f"no usable sampled-{negatives} candidates of seed {seed} in {split_dir}; the stage "
                        "prepares them before training (rerun)")
    return found


def prepare_for_seeds(split_dir: str | Path, ranking: str, seeds: list[int]) -> None:
    """Before a stage trains: the candidates of every seed it will evaluate with, drawn where missing (nothing
    for full ranking). Run outside the training sandbox, which cannot write the split folder."""
    negatives = negatives_of(ranking)
    if negatives is None:
        return
    from paper_autotrain.data.split import load_split  # split.py imports this module's words

    split = load_split(split_dir)
    for seed in seeds:
        prepare_candidates(split_dir, split, negatives, int(seed))
