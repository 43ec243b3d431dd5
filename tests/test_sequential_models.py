"""Sequential models rendered from a spec: ruff-clean code, validate's gates, a short training run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from paper_autotrain.errors import StageError
from paper_autotrain.stages import render, validate
from paper_autotrain.stages import train as train_stage
from tests.model_fixtures import reference_spec

MODELS = ["SASRec", "GRU4Rec", "Caser"]


def rendered(model_name: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(reference_spec(model_name, batch_size=64), {}).items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("model_name", MODELS)
def test_rendered_sequential_model_is_ruff_clean_and_uses_the_sequential_base(model_name, tmp_path):
    folder = rendered(model_name, tmp_path)
    source = (folder / "model.py").read_text()
    assert f"class {model_name}(SequentialModule):" in source
    assert "regime: \"sequential\"" in (folder / "config.yaml").read_text()
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "120",
                           str(folder / "model.py")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_a_sequential_block_in_a_top_k_spec_is_refused():
    spec = reference_spec("SASRec").model_copy(update={"family": "general"})
    with pytest.raises(StageError, match="block 'item_embedding' has no general template"):
        render.run(spec, {})


@pytest.mark.parametrize("model_name", MODELS)
def test_sequential_models_pass_the_gates_and_train(model_name, sequences, tmp_path):
    folder = rendered(model_name, tmp_path / "model")
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"] and {g["name"] for g in report["gates"]} >= {"build", "shapes", "overfit"}
    result = train_stage.run(folder, sequences, {"max_epochs": 3, "seed": 0, "timeout_s": 300}, tmp_path / "out")
    assert result.status == "ok" and result.epochs_run == 3
    assert result.split_id == sequences.split_id
    assert 0.0 < result.test["ndcg@10"] <= 1.0 and 0.0 < result.test["hit@20"] <= 1.0


def test_an_other_loss_trains_the_family_stand_in_and_says_so():
    spec = reference_spec("GRU4Rec").model_copy(update={"loss": "other"})
    files = render.run(spec, {})
    assert "loss: \"ce\"" in files["config.yaml"] or "loss: ce" in files["config.yaml"]
    assert "stand-in `ce`" in files["README.md"] and "spec loss: other" in files["README.md"]
    with pytest.raises(StageError, match="loss 'other' has no general template"):
        render.run(reference_spec("MF-BPR").model_copy(update={"loss": "other"}), {})


def test_caser_matrix_products_equal_the_convolutions(sequences):
    """The rendered Caser computes its filters as matrix products; they must equal nn.Conv2d on the image."""
    import torch

    from paper_autotrain.data.sequential import load_sequences
    from paper_autotrain.worker.loading import build_model, load_config

    folder = rendered("Caser", Path(sequences.path).parent / "caser-model")
    model = build_model(folder, load_config(folder), load_sequences(sequences.path)).eval()
    histories = torch.randint(1, model.n_items + 1, (6, model.max_seq_length))
    image = model.item_embedding(histories).unsqueeze(1)
    vertical = model.vertical(image).flatten(1)
    horizontal = [torch.relu(conv(image).squeeze(3)).amax(dim=2) for conv in model.horizontal]
    hidden = torch.relu(model.conv_to_hidden(torch.cat([vertical, *horizontal], dim=1)))
    users = torch.arange(6)
    expected = torch.relu(model.with_user(torch.cat([hidden, model.user_embedding(users)], dim=1)))
    lengths = torch.full((6,), model.max_seq_length)
    assert torch.allclose(model.encode_sequence(histories, lengths, users), expected, atol=1e-5)
