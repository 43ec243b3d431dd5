"""Sampled ranking (`eval.ranking=sampled-N`): the candidates every model of a run is ranked against.

A paper that evaluates by ranking each held-out item against N sampled negatives (NeuMF's "100 items the user
has not interacted with", SASRec's "100 negative items" beside each user's next item) gets the same protocol here:
for each user of a phase (valid, test), N negatives per held-out item, drawn uniformly without replacement from
the items the user never interacted with (in train, valid or test), drawn ONCE per split, N and seed, and saved
with the split (`<split>/candidates/`), so our model, every baseline and the reference are ranked against
identical candidates. The evaluator (data/evaluator.py for the top-k splits, data/sequential.py's
evaluate_next_item for the sequences) then ranks each user's held-out items among them, with the same metric
formulas as the full ranking. A split says what may be drawn through its `candidate_pool()` (CandidatePool):
the code that draws, saves and reads the candidates is this one for both.

RecBole's `uni100` (`eval_args.mode`) is the same distribution for the top-k splits, with two differences: it
draws with replacement (a repeated negative counts once, so a user meets slightly fewer than N distinct
negatives) and its valid phase may draw the user's test items. For sequential models it uses its
RepeatableSampler, which rejects only the target itself: the user's own history may be drawn. Its negatives are
its own, so its figures agree with ours in distribution only (or not at all, where the history is drawn).

Full ranking (`eval.ranking=full`, the default) ranks every item, the user's earlier items masked (the
sequences' full ranking masks nothing but the padding).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
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


def asks_paper(setting: object) -> bool:
    """Whether eval.ranking is `paper` (the spec's stated ranking, and its leave-one-out split)."""
    return str(setting or FULL).strip().lower() == PAPER


def resolve_ranking(setting: str | None, paper_ranking: str | None) -> str:
    """The ranking a run uses: eval.ranking as given, or for `paper` the spec's protocol.ranking when it is
    sampled-N (full otherwise: the paper states full ranking, or its ranking was not read)."""
    if not asks_paper(setting):
        text = str(setting or FULL).strip().lower()
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


@dataclass(frozen=True)
class CandidatePool:
    """What drawing needs of a split, in the columns its models score: `seen` [n_users, n_columns] marks what is
    never a user's negative (the user's items in train, valid and test; a column that is no item, as the sequences'
    padding 0), `held_out` per phase the held-out items of each user. Each split type builds its own
    (`candidate_pool()`: SplitData's items 0..n-1, SequenceSplit's 1..n)."""

    seen: sp.csr_matrix
    held_out: dict[str, np.ndarray]

    @property
    def n_users(self) -> int:
        return int(self.seen.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.seen.shape[1])


def draw_negatives(pool: CandidatePool, negatives: int, seed: int, phase: str) -> sp.csr_matrix:
    """`negatives` per held-out item of `phase` for each of its users, distinct, uniform over the items the user
    never interacted with (all of them when fewer are left)."""
    import scipy.sparse as sp

    seen, held_out = pool.seen, pool.held_out[phase]
    rng = np.random.default_rng([int(seed), PHASES.index(phase), int(negatives)])
    rows, cols = [], []
    for user in np.flatnonzero(held_out):
        used = np.sort(seen.indices[seen.indptr[user]:seen.indptr[user + 1]])
        free = pool.n_columns - len(used)
        picks = rng.choice(free, size=min(free, int(held_out[user]) * negatives), replace=False)
        # the r-th unused item is r plus the used items at or before it
        items = picks + np.searchsorted(used - np.arange(len(used)), picks, side="right")
        rows.append(np.full(len(items), user))
        cols.append(items)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(len(row), np.float32), (row, col)), shape=seen.shape)


def draw_candidates(split, negatives: int, seed: int) -> SampledCandidates:
    """The candidates of a split (SplitData, SequenceSplit: anything with `candidate_pool()`), N and seed."""
    pool = split.candidate_pool()
    return SampledCandidates(negatives, seed, {phase: draw_negatives(pool, negatives, seed, phase)
                                               for phase in PHASES})


def _arrays(candidates: SampledCandidates, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    arrays = {"version": np.array(FORMAT_VERSION), "negatives": np.array(candidates.negatives),
              "seed": np.array(candidates.seed), "n_users": np.array(shape[0]),
              "n_items": np.array(shape[1])}  # n_items: the score rows' columns (a sequence split's padding too)
    for phase, matrix in candidates.matrices.items():
        arrays[f"{phase}_indptr"], arrays[f"{phase}_items"] = matrix.indptr, matrix.indices
    return arrays


def _from_arrays(arrays: dict[str, np.ndarray] | None, shape: tuple[int, int], negatives: int,
                 seed: int) -> SampledCandidates | None:
    """The saved candidates, or None when they are not these (another version, N, seed or split) or damaged."""
    import scipy.sparse as sp

    try:
        header = (int(arrays["version"]), int(arrays["negatives"]), int(arrays["seed"]), int(arrays["n_users"]),
                  int(arrays["n_items"]))
        if header != (FORMAT_VERSION, negatives, seed, *shape):
            return None
        matrices = {}
        for phase in PHASES:
            indptr, items = arrays[f"{phase}_indptr"], arrays[f"{phase}_items"]
            matrices[phase] = sp.csr_matrix((np.ones(len(items), np.float32), items, indptr), shape=shape)
            matrices[phase].check_format(full_check=True)
    except (TypeError, KeyError, ValueError, IndexError):
        return None
    return SampledCandidates(negatives, seed, matrices)


def prepare_candidates(split_dir: str | Path, split, negatives: int, seed: int) -> SampledCandidates:
    """The saved candidates of (split, N, seed); drawn and saved when missing, damaged or not these."""
    path = candidates_path(split_dir, negatives, seed)
    pool = split.candidate_pool()
    found = _from_arrays(load_npz(path), pool.seen.shape, negatives, seed)
    if found is not None:
        return found
    if path.exists():
        log.warning("candidates %s are damaged or stale: drawn again", path)
    drawn = SampledCandidates(negatives, seed, {phase: draw_negatives(pool, negatives, seed, phase)
                                                for phase in PHASES})
    save_npz(path, **_arrays(drawn, pool.seen.shape))  # atomic: a concurrent run writes the same bytes
    return drawn


def load_candidates(split_dir: str | Path, split, negatives: int, seed: int) -> SampledCandidates:
    """The saved candidates, where the split folder is read-only (the training sandbox): prepare_candidates must
    have run first."""
    shape = split.candidate_pool().seen.shape
    found = _from_arrays(load_npz(candidates_path(split_dir, negatives, seed)), shape, negatives, seed)
    if found is None:
        raise UserError(f"no usable sampled-{negatives} candidates of seed {seed} in {split_dir}; the stage "
                        "prepares them before training (rerun)")
    return found


def candidates_identity(candidates: SampledCandidates) -> dict[str, object]:
    """What a result ranked on these candidates depends on, for a cache key: the file format, N, seed and a digest
    of the negatives themselves (another draw, even of the same N and seed, is another key)."""
    digest = hashlib.sha256()
    for phase in PHASES:
        matrix = candidates.matrices[phase]
        digest.update(np.asarray(matrix.indptr, np.int64).tobytes())
        digest.update(np.asarray(matrix.indices, np.int64).tobytes())
    return {"format": FORMAT_VERSION, "negatives": candidates.negatives, "seed": candidates.seed,
            "digest": digest.hexdigest()[:16]}


def prepare_for_seeds(split_dir: str | Path, ranking: str, seeds: list[int],
                      load_split: Callable[[Path], object]) -> dict[int, SampledCandidates]:
    """Before a stage trains: the candidates of every seed it will evaluate with, drawn where missing (none for
    full ranking), by seed. `load_split` reads the split folder in its regime (regimes.py `load_split`). Run
    outside the training sandbox, which cannot write the split folder."""
    negatives = negatives_of(ranking)
    if negatives is None:
        return {}
    split = load_split(Path(split_dir))
    return {int(seed): prepare_candidates(split_dir, split, negatives, int(seed)) for seed in seeds}
