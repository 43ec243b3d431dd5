"""SASRec's encoder as the paper builds it (pre-norm, ReLU, d x d feed-forward) next to RecBole's (post-norm, GELU)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from paper_autotrain.data.sequential import load_sequences
from paper_autotrain.errors import StageError
from paper_autotrain.schemas import Block, MethodSpec
from paper_autotrain.stages import baselines, render, validate
from paper_autotrain.worker.loading import build_model, load_config
from tests.model_fixtures import reference_spec

PAPER_LAYOUT = {"norm": "pre", "activation": "relu", "inner_size": 32}  # the reference spec's embedding is 32
# SHA-256 of the encoder's code (its __init__ part to encode_positions' end) in the reference SASRec's model.py,
# recorded before norm/activation existed: a spec that names neither must render exactly that code (re-recorded when
# the layer became runtime.CausalEncoderLayer, nn.TransformerEncoderLayer with fused causal attention: the same values
# and gradients, tests/test_feature_sequence_papers.py)
POST_NORM_ENCODER_SHA256 = "0422ecbabf94a0599f2426da1898fab9f353b5bf1f406b77cc9c360a440eb1ee"


def sasrec_spec(**encoder: object) -> MethodSpec:
    """The reference SASRec spec with extra parameters on its self_attention_encoder block."""
    spec = reference_spec("SASRec", batch_size=64)
    blocks = [Block(**{**b.model_dump(), **(encoder if b.block == "self_attention_encoder" else {})})
              for b in spec.architecture]
    return spec.model_copy(update={"architecture": blocks})


def write_model(spec: MethodSpec, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(spec, {}).items():
        (folder / name).write_text(text)
    return folder


def encoder_code(model_py: str) -> str:
    start = model_py.index("        # --- block: self_attention_encoder")
    return model_py[start:model_py.index("    def encode_sequence")]




def test_a_spec_without_norm_or_activation_renders_the_post_norm_encoder_as_before():
    default = render.run(sasrec_spec(), {})
    assert hashlib.sha256(encoder_code(default["model.py"]).encode()).hexdigest() == POST_NORM_ENCODER_SHA256
    assert render.run(sasrec_spec(norm="post", activation="gelu"), {}) == default  # the defaults, said aloud


def test_pre_norm_encoder_has_the_papers_layers_and_computes_its_formula(sequences, tmp_path):
    folder = write_model(sasrec_spec(**PAPER_LAYOUT), tmp_path / "model")
    model = build_model(folder, load_config(folder), load_sequences(sequences.path)).eval()
    d = model.item_embedding.embedding_dim
    assert not hasattr(model, "input_norm") and isinstance(model.attention.norm, nn.LayerNorm)
    for layer in model.attention.layers:
        assert layer.norm_first and layer.activation is torch.nn.functional.relu
        assert layer.linear1.weight.shape == layer.linear2.weight.shape == (d, d)

    histories = torch.randint(1, model.n_items + 1, (5, model.max_seq_length))
    lengths, users = torch.full((5,), model.max_seq_length), torch.arange(5)
    with torch.no_grad():
        assert torch.allclose(model.encode_positions(histories, lengths, users), paper_encoder(model, histories),
                              atol=1e-5)


def paper_encoder(model: nn.Module, histories: torch.Tensor) -> torch.Tensor:
    """Kang & McAuley's blocks written out (eval mode, so no dropout): x + f(LayerNorm(x)), then a last LayerNorm."""
    length = histories.shape[1]
    x = model.item_embedding(histories) + model.position_embedding(torch.arange(length))
    causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
    for layer in model.attention.layers:
        h = layer.norm1(x)
        x = x + layer.self_attn(h, h, h, attn_mask=causal, need_weights=False)[0]
        x = x + layer.linear2(torch.relu(layer.linear1(layer.norm2(x))))
    return model.attention.norm(x)


def test_pre_norm_sasrec_passes_the_gates_and_overfits_a_batch(sequences, tmp_path):
    folder = write_model(sasrec_spec(**PAPER_LAYOUT), tmp_path / "model")
    report = validate.run(folder, sequences, {"timeout_s": 300})
    assert report["ok"], report
    assert {g["name"] for g in report["gates"]} >= {"build", "shapes", "overfit"}


def test_reference_maps_the_activation_and_notes_recboles_post_norm():
    name, overrides, notes = baselines.reference_with_notes(sasrec_spec(**PAPER_LAYOUT))
    assert name == "SASRec" and overrides["hidden_act"] == "relu" and overrides["inner_size"] == 32
    assert any("post-norm" in note and "pre-norm" in note for note in notes)

    _, overrides, notes = baselines.reference_with_notes(sasrec_spec())
    assert "hidden_act" not in overrides and overrides["inner_size"] == 64  # RecBole's default gelu, as ours
    assert not any("norm" in note for note in notes)


@pytest.mark.parametrize(("word", "value"), [("norm", "sandwich"), ("activation", "swish")])
def test_an_unknown_layout_word_is_refused_by_name(word, value):
    with pytest.raises(StageError, match=f"self_attention_encoder {word}='{value}' has no template"):
        render.run(sasrec_spec(**{word: value}), {})
