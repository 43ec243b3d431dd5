"""Using a trained model: paper_autotrain.load, recommendations without seen items, the TorchScript export, and the
`recommend` / `export` commands (one-line errors)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import paper_autotrain
from paper_autotrain.errors import UserError
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.stages import render
from paper_autotrain.stages import train as train_stage
from tests.model_fixtures import reference_spec, write_synthetic_split


def rendered(model_name: str, folder: Path, **hyperparameters: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(reference_spec(model_name, batch_size=128, embedding_size=16,
                                                **hyperparameters), {}).items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def split_info(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    folder = tmp_path_factory.mktemp("split")
    data = write_synthetic_split(folder)
    return SplitInfo(dataset="synthetic", split_id="abc123", path=str(folder), n_users=data.n_users,
                     n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                     protocol="synthetic")


@pytest.fixture(scope="module")
def lightgcn_results(split_info: SplitInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """results/<key> as the pipeline leaves it: train/seed<N>/ with the result, the checkpoint, the model."""
    root = tmp_path_factory.mktemp("results") / "paper"
    model_dir = rendered("LightGCN", root.parent / "generated")
    train_stage.run_seeds(model_dir, split_info, {"max_epochs": 2, "timeout_s": 300}, [5], root / "train")
    (model_dir / "model.py").write_text("raise RuntimeError('re-rendered since')\n")  # load uses the kept copy
    return root


def test_load_gives_the_trained_model_with_its_best_weights(lightgcn_results: Path, split_info: SplitInfo):
    trained = paper_autotrain.load(lightgcn_results)
    assert trained.folder.name == "seed5" and trained.regime == "topk"
    assert not trained.model.training
    checkpoint = next((trained.folder / "checkpoints").glob("best-epoch*.ckpt"))
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    for name, value in trained.model.state_dict().items():
        assert torch.equal(value, saved[name]), name
    again = paper_autotrain.load(lightgcn_results / "train" / "seed5")
    assert np.array_equal(again.scores("u3"), trained.scores("u3"))


def test_recommend_excludes_every_item_the_user_has_seen(lightgcn_results: Path):
    trained = paper_autotrain.load(lightgcn_results)
    user = str(trained.split.user_tokens[7])
    seen = {str(trained.split.item_tokens[i]) for i in trained.seen_items(user)}
    assert seen
    top = trained.recommend(user, k=10)
    assert len(top) == 10 and not {rec.item for rec in top} & seen
    scores = [rec.score for rec in top]
    assert scores == sorted(scores, reverse=True)
    everything = trained.recommend(user, k=10_000)  # never more than the unseen items
    assert len(everything) == trained.split.n_items - len(seen)
    raw = trained.scores(user)
    best_unseen = max((i for i in range(trained.split.n_items) if str(trained.split.item_tokens[i]) not in seen),
                      key=lambda i: raw[i])
    assert top[0].item == str(trained.split.item_tokens[best_unseen])


def test_export_scores_like_the_model(lightgcn_results: Path, tmp_path: Path):
    trained = paper_autotrain.load(lightgcn_results)
    path = trained.export(tmp_path / "out" / "model.pt")
    scripted = torch.jit.load(str(path))
    users = torch.tensor([0, 9, 17])
    with torch.no_grad():
        expected = trained.model.full_sort_scores(users)
    assert torch.allclose(scripted(users), expected, atol=1e-5)
    assert not list(path.parent.glob(".*partial"))


def test_unknown_user_and_missing_model_are_one_line_errors(lightgcn_results: Path, tmp_path: Path):
    trained = paper_autotrain.load(lightgcn_results)
    with pytest.raises(UserError, match="user 'nobody' is not in the split"):
        trained.recommend("nobody")
    with pytest.raises(UserError, match="no trained model"):
        paper_autotrain.load(tmp_path)
    with pytest.raises(UserError, match="no trained model for seed 9"):
        paper_autotrain.load(lightgcn_results, seed=9)


def run_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paper_autotrain", *args], capture_output=True, text=True,
                          timeout=300)


def test_recommend_and_export_commands(lightgcn_results: Path, tmp_path: Path):
    trained = paper_autotrain.load(lightgcn_results)
    user = str(trained.split.user_tokens[2])
    done = run_command("recommend", str(lightgcn_results), "--user", user, "-k", "5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith(f"top 5 for user {user}") and len(lines) == 6
    assert [line.split()[2] for line in lines[1:]] == [rec.item for rec in trained.recommend(user, 5)]
    bad = run_command("recommend", str(lightgcn_results), "--user", "nobody")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not in the split" in bad.stderr
    missing = run_command("recommend", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "--user" in missing.stderr
    exported = run_command("export", str(lightgcn_results), str(tmp_path / "m.pt"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "m.pt").is_file() and "Traceback" not in exported.stderr


def test_sequential_model_recommends_after_the_whole_history(sequences, tmp_path: Path):
    model_dir = rendered("SASRec", tmp_path / "generated")
    train_stage.run_seeds(model_dir, sequences, {"max_epochs": 1, "timeout_s": 300}, [0], tmp_path / "r" / "train")
    trained = paper_autotrain.load(tmp_path / "r")
    assert trained.regime == "sequential"
    user = str(trained.split.user_tokens[4])
    seen = {str(trained.split.item_tokens[i]) for i in trained.seen_items(user)}
    top = trained.recommend(user, k=5)
    assert len(top) == 5 and not {rec.item for rec in top} & seen
    assert str(trained.split.item_tokens[0]) not in {rec.item for rec in top}  # padding is not an item
    path = trained.export(tmp_path / "seq.pt")
    histories, lengths, users = trained.ranking.inputs(torch.tensor([4]))
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(path))(histories, lengths, users),
                              trained.model.full_sort_scores(histories, lengths, users), atol=1e-5)
