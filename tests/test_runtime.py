"""Runtime library (sampling, batches, graph, base module) and the validate stage's gates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from paper_autotrain.data.split import load_split
from paper_autotrain.errors import StageError
from paper_autotrain.runtime import module as runtime_module
from paper_autotrain.runtime import sampling
from paper_autotrain.runtime.data import TrainBatches, positives_per_batch
from paper_autotrain.runtime.graph import normalized_adjacency, symmetric_sparse_mm
from paper_autotrain.runtime.sampling import UniformNegativeSampler
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages import render, validate
from paper_autotrain.worker.loading import apply_overrides, build_model, load_config
from tests.model_fixtures import reference_spec, synthetic_split, write_synthetic_split


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("split")
    write_synthetic_split(folder)
    return folder


@pytest.fixture(scope="module")
def split_info(split_dir: Path) -> SplitInfo:
    data = load_split(split_dir)
    return SplitInfo(dataset="synthetic", split_id="test", path=str(split_dir), n_users=data.n_users,
                     n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid),
                     n_test=len(data.test), protocol="synthetic")


def rendered(model_name: str, folder: Path, **hyperparameters: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(reference_spec(model_name, **hyperparameters), {}).items():
        (folder / name).write_text(text)
    return folder


# --- negative sampling and batches -----------------------------------------------------------------

def test_sampler_never_returns_a_train_positive() -> None:
    split = synthetic_split(n_users=30, n_items=25, per_user=20)
    sampler = UniformNegativeSampler(split.train, split.n_items, np.random.default_rng(0))
    users = np.repeat(np.arange(split.n_users), 200)
    negatives = sampler.sample(users, k=3)
    assert negatives.shape == (len(users), 3)
    positives = set(map(tuple, split.train.tolist()))
    assert not any((u, i) in positives for u, row in zip(users, negatives, strict=True) for i in row)


def test_sampler_is_uniform_over_non_interacted_items() -> None:
    train = np.array([[0, i] for i in range(0, 20, 2)], dtype=np.int64)  # user 0 saw the even items
    sampler = UniformNegativeSampler(train, 20, np.random.default_rng(1))
    draws = sampler.sample(np.zeros(50_000, dtype=np.int64), k=1).ravel()
    counts = np.bincount(draws, minlength=20)
    assert counts[::2].sum() == 0
    assert np.allclose(counts[1::2] / len(draws), 0.1, atol=0.01)


def test_the_dense_table_and_the_binary_search_agree_draw_for_draw(monkeypatch) -> None:
    split = synthetic_split(n_users=30, n_items=25, per_user=20)
    users = np.repeat(np.arange(split.n_users + 3), 50)  # three users past the last train user: no positives
    dense = UniformNegativeSampler(split.train, split.n_items, np.random.default_rng(5))
    monkeypatch.setattr(sampling, "DENSE_MASK_MAX_CELLS", 0)
    searched = UniformNegativeSampler(split.train, split.n_items, np.random.default_rng(5))
    assert dense._dense is not None and searched._dense is None
    items = np.random.default_rng(0).integers(0, split.n_items, size=len(users))
    assert np.array_equal(dense.is_positive(users, items), searched.is_positive(users, items))
    assert dense.is_positive(users, items).any() and not dense.is_positive(users, items)[users >= 30].any()
    assert np.array_equal(dense.sample(users[:1500], k=2), searched.sample(users[:1500], k=2))


def test_sampler_refuses_a_user_who_saw_everything() -> None:
    train = np.array([[0, 0], [0, 1], [1, 0]], dtype=np.int64)
    sampler = UniformNegativeSampler(train, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="every item"):
        sampler.sample(np.array([0, 1]))


def test_an_epoch_covers_each_interaction_once_in_a_new_order() -> None:
    split = synthetic_split()
    batches = TrainBatches(split.train, split.n_items, batch_size=64, negative_samples=2, seed=0)
    first = list(batches)
    assert len(first) == len(batches)
    pairs = torch.cat([torch.stack([b["users"], b["pos_items"]], 1) for b in first]).numpy()
    assert sorted(map(tuple, pairs.tolist())) == sorted(map(tuple, split.train.tolist()))
    assert all(b["neg_items"].shape == (len(b["users"]), 2) for b in first)
    second = next(iter(batches))
    assert not torch.equal(second["users"], first[0]["users"])


def test_positives_per_batch_counts_like_recbole() -> None:
    assert positives_per_batch(2048, "bpr", 1) == 2048
    assert positives_per_batch(2048, "bpr", 4) == 512
    assert positives_per_batch(2048, "bce", 4) == 409
    assert positives_per_batch(256, "normalized_ce", 4) == 51  # DMF: instances, RecBole's 51 + 204 rows


# --- graph ---------------------------------------------------------------------------------------

def test_adjacency_is_symmetric_normalised() -> None:
    split = synthetic_split(n_users=12, n_items=15, per_user=6)
    n = split.n_users + split.n_items
    dense = np.zeros((n, n))
    for user, item in split.train:
        dense[user, split.n_users + item] = dense[split.n_users + item, user] = 1.0
    degree = dense.sum(1)
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-12)), 0.0)
    expected = inv_sqrt[:, None] * dense * inv_sqrt[None, :]
    actual = normalized_adjacency(split.train, split.n_users, split.n_items).to_dense().numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(actual, actual.T, atol=1e-7)


def test_symmetric_sparse_mm_matches_dense_gradient() -> None:
    split = synthetic_split(n_users=10, n_items=14, per_user=5)
    adjacency = normalized_adjacency(split.train, split.n_users, split.n_items)
    weights = torch.randn(24, 4, requires_grad=True)
    target = torch.randn(24, 4)
    (symmetric_sparse_mm(adjacency, symmetric_sparse_mm(adjacency, weights)) * target).sum().backward()
    sparse_grad = weights.grad.clone()
    weights.grad = None
    dense = adjacency.to_dense()
    (dense @ (dense @ weights) * target).sum().backward()
    torch.testing.assert_close(sparse_grad, weights.grad)


# --- config and the base module ------------------------------------------------------------------

def test_overrides_set_nested_values_as_yaml() -> None:
    config = {"trainer": {"max_epochs": 300}, "optim": {"learning_rate": 0.001}}
    updated = apply_overrides(config, ["trainer.max_epochs=2", "optim.learning_rate=1e-2", "data.ks=[5, 10]"])
    assert updated == {"trainer": {"max_epochs": 2}, "optim": {"learning_rate": 0.01},
                       "data": {"ks": [5, 10]}}
    assert config["trainer"]["max_epochs"] == 300
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides(config, ["trainer.max_epochs"])


@pytest.mark.parametrize("model_name", ["MF-BPR", "LightGCN", "NeuMF"])
def test_generated_models_score_consistently(model_name: str, split_dir: Path, tmp_path: Path, monkeypatch) -> None:
    folder = rendered(model_name, tmp_path / "model", embedding_size=8)
    split = load_split(split_dir)
    monkeypatch.setitem(runtime_module.PAIRS_PER_CHUNK, "cpu", 2 * split.n_items)  # users in chunks of two
    model = build_model(folder, load_config(folder), split).eval()
    users = torch.tensor([0, 3, 5])
    with torch.no_grad():
        full = model.full_sort_scores(users)
        pairs = model.score(users.unsqueeze(1), torch.arange(split.n_items).unsqueeze(0))
    assert full.shape == (3, split.n_items)
    torch.testing.assert_close(full, pairs, rtol=1e-4, atol=1e-5)
    result = model.evaluate("valid")
    assert 0.0 <= result.mean["ndcg@10"] <= 1.0


# --- validate stage --------------------------------------------------------------------------------

@pytest.mark.parametrize("model_name", [
    "MF-BPR",
    pytest.param("LightGCN", marks=pytest.mark.slow),
    pytest.param("NeuMF", marks=pytest.mark.slow),
])
def test_validate_passes_generated_models(model_name: str, split_info: SplitInfo, tmp_path: Path) -> None:
    report = validate.run(rendered(model_name, tmp_path / "m"), split_info, {})
    assert report["ok"]
    assert [g["name"] for g in report["gates"]] == ["parse", "imports", "calls", "config", "build", "shapes",
                                                   "overfit", "leakage"]
    assert all(g["seconds"] >= 0 for g in report["gates"])


@pytest.mark.parametrize("edit, gate", [
    (lambda src: src.replace("from typing import Any", "import os\nfrom typing import Any"), "imports"),
    (lambda src: src.replace("        rows: list", "        open('/tmp/x')\n        rows: list"), "calls"),
    (lambda src: src.replace("def loss(self", "def loss(self, x)\n"), "parse"),
])
def test_validate_rejects_unsafe_or_broken_source(edit, gate: str, split_info: SplitInfo,
                                                  tmp_path: Path) -> None:
    folder = rendered("MF-BPR", tmp_path / "m")
    (folder / "model.py").write_text(edit((folder / "model.py").read_text()))
    with pytest.raises(StageError, match=f"gate '{gate}' failed"):
        validate.run(folder, split_info, {})


def test_validate_rejects_a_loss_that_cannot_fall(split_info: SplitInfo, tmp_path: Path) -> None:
    folder = rendered("MF-BPR", tmp_path / "m")
    source = (folder / "model.py").read_text()
    frozen = source.replace("loss = bpr_loss(scores[:, 0], scores[:, 1:])",
                            "loss = bpr_loss(scores[:, 0] * 0, scores[:, 1:] * 0)")
    assert frozen != source
    (folder / "model.py").write_text(frozen)
    with pytest.raises(StageError, match="gate 'overfit' failed: .*did not fall") as info:
        validate.run(folder, split_info, {})
    assert "\n" not in str(info.value)


def test_validate_reports_a_crashing_model_in_one_line(split_info: SplitInfo, tmp_path: Path) -> None:
    folder = rendered("LightGCN", tmp_path / "m")
    source = (folder / "model.py").read_text()
    (folder / "model.py").write_text(source.replace("return user_table[users] @ item_table.T",
                                                    "return user_table[users] @ item_table"))
    with pytest.raises(StageError, match="gate 'shapes' failed") as info:
        validate.run(folder, split_info, {})
    assert "\n" not in str(info.value)
