"""Sequential models rendered from a spec: ruff-clean code, validate's gates, a short training run."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
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


def recboles_gru4rec_in_our_layout(model, theirs, of=lambda tensor: tensor):
    """(our parameter, `of` RecBole's GRU4Rec's matching tensor) for every parameter: the same tensors under other
    names (its gru_layers our gru, its dense our gru_projection); both GRUs have no biases."""
    yield model.item_embedding.weight, of(theirs.item_embedding.weight)
    for name, tensor in model.gru.named_parameters():
        yield tensor, of(getattr(theirs.gru_layers, name))
    yield model.gru_projection.weight, of(theirs.dense.weight)
    yield model.gru_projection.bias, of(theirs.dense.bias)


def test_gru4rec_with_bpr_is_recboles_gru4rec_module_with_the_same_weights(sequences, tmp_path):
    """RecBole's GRU4Rec (BPR) weights copied into ours: the full ranking, the BPR loss on the same negatives and
    every gradient equal (eval mode: dropout off); what remains between the two in a parity run is the draws."""
    import torch
    from recbole.data.interaction import Interaction
    from recbole.model.sequential_recommender.gru4rec import GRU4Rec

    from paper_autotrain.data.sequential import load_sequences
    from paper_autotrain.worker.loading import build_model, load_config
    from tests.recbole_stub import (
        RIGHT_PADDED,
        RIGHT_PADDED_LENGTHS,
        RecBoleStub,
        assert_same_loss_and_gradients,
        right_padded_batch,
    )

    folder = tmp_path / "model"
    folder.mkdir()
    for name, text in render.run(reference_spec("GRU4Rec", batch_size=64).model_copy(update={"loss": "bpr"}),
                                 {}).items():
        (folder / name).write_text(text)
    split = load_sequences(sequences.path)
    model = build_model(folder, load_config(folder), split).eval()
    stub = RecBoleStub(split.n_items, 6, embedding_size=32, hidden_size=48, num_layers=1, dropout_prob=0.2,
                       loss_type="BPR")
    torch.manual_seed(0)
    theirs = GRU4Rec(stub.config, stub).eval()
    with torch.no_grad():
        theirs.dense.bias.normal_()  # RecBole leaves it at PyTorch's draw: nonzero, so a missed copy shows
        for mine, their in recboles_gru4rec_in_our_layout(model, theirs):
            mine.copy_(their)
    users, batch, interaction = right_padded_batch(stub)
    negatives = torch.tensor([7, 2, 9, 5])
    batch["neg_items"] = negatives.unsqueeze(1)
    interaction = Interaction({**interaction.interaction, "neg_item_id": negatives})
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_scores(RIGHT_PADDED, RIGHT_PADDED_LENGTHS, users),
                                   theirs.full_sort_predict(interaction))
    assert_same_loss_and_gradients(model.loss(batch), theirs.calculate_loss(interaction),
                                   partial(recboles_gru4rec_in_our_layout, model, theirs))
