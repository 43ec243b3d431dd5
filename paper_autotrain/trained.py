"""Use a trained model outside the pipeline: `paper_autotrain.load(results/<key>)`, recommendations with the items
a user has already seen masked, and a TorchScript export.

The train stage keeps, in each seed's folder (`results/<key>/train/seed<N>/`), the model as it trained
(`model.py`), its resolved config (in `result.json`), the split it trained on (`split.json`) and the best
checkpoint (`checkpoints/best-epoch<E>.ckpt`; `best-fit.ckpt` for a model fitted once). Loading runs the
generated `model.py` in this process: it is the code the gates passed and the sandbox trained, now run without
the sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from paper_autotrain.errors import UserError
from paper_autotrain.regimes import config_regime, resolve
from paper_autotrain.schemas import RunResult, SplitInfo
from paper_autotrain.stages.train import KEPT_MODEL_FILE as MODEL_FILE
from paper_autotrain.stages.train import SPLIT_FILE

RESULT_FILE = "result.json"


@dataclass
class Recommendation:
    item: str  # the item's token in the dataset's atomic files
    score: float


# --- how a model of each data regime ranks items (regimes.py `ranking` names one of these) -------------------


class UserRanking:
    """Models that score every item from the user's index alone (autoencoders: the user's row is in the model)."""

    never_recommended: tuple[int, ...] = ()  # item indices that are not items (padding)

    def __init__(self, model: Any, split: Any) -> None:
        self.model, self.split = model, split

    def inputs(self, users: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The full-sort scorer's inputs for these user indices."""
        return (users,)

    def seen(self, index: int) -> np.ndarray:
        """The item indices the user interacted with anywhere in the split (train, valid and test)."""
        pairs = np.concatenate([self.split.train, self.split.valid, self.split.test])
        return np.unique(pairs[pairs[:, 0] == index, 1])

    def scorer(self) -> nn.Module:
        """A module of plain tensors in, scores out."""
        return UserScorer(self.model)


class PairRanking(UserRanking):
    """Top-k models: the export keeps the encoded state (propagated tables and the like), as evaluation does."""

    def scorer(self) -> nn.Module:
        return FrozenStateScorer(self.model)


class SequenceRanking(UserRanking):
    """Sequential models score every item from the user's whole history (its last max_seq_length items)."""

    never_recommended = (0,)  # the padding id

    def inputs(self, users: torch.Tensor) -> tuple[torch.Tensor, ...]:
        histories, lengths = zip(*(self.history_of(int(u)) for u in users), strict=True)
        return torch.cat(histories), torch.cat(lengths), users

    def seen(self, index: int) -> np.ndarray:
        return np.unique(self.split.sequence(index))

    def history_of(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The user's sequence, left-aligned and zero-padded."""
        length = int(self.split.max_seq_length)
        recent = self.split.sequence(index)[-length:]
        history = np.zeros((1, length), dtype=np.int64)
        history[0, : len(recent)] = recent
        return torch.from_numpy(history), torch.tensor([len(recent)])

    def scorer(self) -> nn.Module:
        return SequenceScorer(self.model)


@dataclass
class TrainedModel:
    """A generated model with its best weights, on the split it trained on."""

    model: Any  # the generated LightningModule (a runtime base subclass), in eval mode
    split: Any  # SplitData, SequenceSplit or CTRSplit: what the model was built on
    config: dict[str, Any]
    folder: Path  # the seed folder it was loaded from

    @property
    def regime(self) -> str:
        return config_regime(self.config).name

    @property
    def ranking(self) -> UserRanking:
        """How this model ranks items for a user; UserError for a model that ranks nothing (CTR rows)."""
        adapter = config_regime(self.config).ranking
        if adapter is None:
            raise UserError(f"a {self.regime} model scores labelled rows, it does not rank items for a user: "
                            "use load(...).model.predict(batch) on rows built like the split's")
        return resolve(adapter)(self.model, self.split)

    def user_index(self, user: str) -> int:
        tokens = [str(t) for t in self.split.user_tokens]
        try:
            return tokens.index(str(user))
        except ValueError:
            raise UserError(f"user {user!r} is not in the split this model trained on ({len(tokens)} users, "
                            f"e.g. {', '.join(tokens[:3])})") from None

    def scores(self, user: str) -> np.ndarray:
        """Scores of every item for `user` (one per item token of the split), seen items not yet masked."""
        ranking = self.ranking
        with torch.no_grad():
            row = self.model.full_sort_scores(*ranking.inputs(torch.tensor([self.user_index(user)])))[0]
        return row.detach().cpu().numpy().astype(np.float64)

    def seen_items(self, user: str) -> np.ndarray:
        """The item indices `user` interacted with anywhere in the split (train, valid and test)."""
        return self.ranking.seen(self.user_index(user))

    def recommend(self, user: str, k: int = 10) -> list[Recommendation]:
        """The top-k items for `user` among the items they have not interacted with, best first."""
        if k < 1:
            raise UserError(f"k must be a positive integer, got {k}")
        scores = self.scores(user)
        scores[self.seen_items(user)] = -np.inf
        scores[list(self.ranking.never_recommended)] = -np.inf
        ranked = np.argsort(-scores, kind="stable")[: min(k, int(np.isfinite(scores).sum()))]
        return [Recommendation(str(self.split.item_tokens[i]), float(scores[i])) for i in ranked]

    def export(self, path: str | Path) -> Path:
        """A TorchScript file that scores every item: `scores = torch.jit.load(path)(users)` (sequential models:
        `(histories, lengths, users)`). Checked before writing: the exported scores equal the model's on two
        inputs of different sizes (a trace that fixed a size or a branch is refused, not written)."""
        ranking = self.ranking
        scorer = ranking.scorer()
        small, large = (ranking.inputs(torch.arange(min(n, int(self.split.n_users)))) for n in (2, 5))
        self.model._jit_is_scripting = True  # as Lightning's to_torchscript: no Trainer is attached here
        try:
            with torch.no_grad():
                traced = torch.jit.trace(scorer, small, check_trace=False)
                same = all(torch.allclose(scorer(*x), traced(*x), rtol=1e-4, atol=1e-5) for x in (small, large))
        except RuntimeError as exc:
            raise UserError(f"no TorchScript export for this model: tracing failed ({str(exc).splitlines()[0]})"
                            ) from None
        finally:
            self.model._jit_is_scripting = False
        if not same:
            raise UserError("no TorchScript export for this model: its traced scores differ from the model's "
                            "(the code depends on the input's size or branches on its values)")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        torch.jit.save(traced, str(partial))
        partial.replace(path)
        return path


class UserScorer(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.model.full_sort_scores(users)


class FrozenStateScorer(UserScorer):
    """A top-k model's scores with its encoded state computed once: the export holds the trained
    representations, as the evaluation does."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        with torch.no_grad():
            self.state = model.encode()

    def forward(self, users: torch.Tensor) -> torch.Tensor:
        return self.model.full_sort_with(self.state, users)


class SequenceScorer(UserScorer):
    def forward(self, histories: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        return self.model.full_sort_scores(histories, lengths, users)


def seed_folder(path: str | Path, seed: int | None = None) -> Path:
    """The seed folder under `path`: a seed folder itself, `results/<key>/train`, or `results/<key>`."""
    path = Path(path).expanduser()
    for candidate in (path, path / "train"):
        if (candidate / RESULT_FILE).is_file() and (candidate / MODEL_FILE).is_file():
            return candidate
        seeds = sorted(candidate.glob("seed*"), key=lambda p: p.name)
        if seed is not None:
            seeds = [p for p in seeds if p.name == f"seed{int(seed)}"]
        trained = [p for p in seeds if (p / RESULT_FILE).is_file() and (p / MODEL_FILE).is_file()]
        if trained:
            return trained[0]
    which = f" for seed {seed}" if seed is not None else ""
    raise UserError(f"{path}: no trained model{which} here (expected results/<key> after the train stage, with "
                    f"train/seed<N>/{MODEL_FILE}; rerun the paper if it trained before models were kept)")


def best_checkpoint(folder: Path) -> Path:
    found = sorted((folder / "checkpoints").glob("best-*.ckpt"))  # best-epoch<E>, or best-fit for a fitted model
    if not found:
        raise UserError(f"{folder}: no checkpoint in checkpoints/ (the run saved none)")
    return found[-1]


def load(path: str | Path, seed: int | None = None) -> TrainedModel:
    """The trained model under `path` (results/<key>, its train/ folder or one seed folder) with its best
    weights, on its split, in eval mode."""
    from paper_autotrain.worker.loading import build_model
    from paper_autotrain.worker.train import load_training_data

    folder = seed_folder(path, seed)
    result = RunResult.model_validate_json((folder / RESULT_FILE).read_text(encoding="utf-8"))
    split_info = SplitInfo.model_validate(json.loads((folder / SPLIT_FILE).read_text(encoding="utf-8")))
    if not Path(split_info.path).is_dir():
        raise UserError(f"the split {split_info.path} this model trained on is gone: rerun the paper to save it")
    config = dict(result.config)
    split, _ = load_training_data(config, Path(split_info.path), result.seed)
    model = build_model(folder, config, split)
    state = torch.load(best_checkpoint(folder), map_location="cpu", weights_only=False)  # written by our trainer
    model.load_state_dict(state["state_dict"])
    model.eval()
    return TrainedModel(model=model, split=split, config=config, folder=folder)


def format_recommendations(user: str, items: Sequence[Recommendation]) -> str:
    lines = [f"top {len(items)} for user {user} (items the user has seen are excluded):"]
    lines += [f"{rank:>3}. item {rec.item}  score {rec.score:.4f}" for rank, rec in enumerate(items, 1)]
    return "\n".join(lines)
