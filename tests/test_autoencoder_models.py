"""Autoencoder models (Mult-VAE, Mult-DAE, CDAE): read from a paper, rendered, trained, mapped to RecBole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from paper_autotrain.data.split import load_split
from paper_autotrain.errors import StageError, UserError
from paper_autotrain.runtime.autoencoder import AutoEncoderModule, UserRowBatches, multinomial_nll
from paper_autotrain.schemas import Block, SplitInfo
from paper_autotrain.stages import extract, parse, render, validate
from paper_autotrain.stages import train as train_stage
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker import probe
from paper_autotrain.worker.loading import build_model, load_config
from tests.model_fixtures import reference_spec, write_synthetic_split
from tests.pdf_fixtures import bundle_for, write_pdf

MODELS = ["Mult-VAE", "Mult-DAE", "CDAE"]
RULES = {"name": "rules", "hparams": {}}

VAE_PAPER = [
    [
        "Variational Autoencoders for Implicit Feedback",
        "Abstract. We propose a variational autoencoder named Mult-VAE for collaborative filtering with "
        "implicit feedback. Mult-VAE is a variational model with a multinomial likelihood over all items.",
        "1 INTRODUCTION",
        "Variational autoencoders extend latent factor models. A variational model captures uncertainty. "
        "Denoising autoencoders are a related, non-variational family.",
    ],
    [
        "2 METHOD",
        "The encoder of the variational autoencoder maps the click vector to a Gaussian latent. "
        "We use a multinomial likelihood for the data distribution.",
        "We use a tanh non-linearity as the activation function between layers. We sample epsilon ~ N(0, I) "
        "and reparametrize the latent.",
        "3 EXPERIMENTS",
        "We use the ML-20M and Netflix datasets. The ML-20M data is large. The Netflix data is larger.",
        "We report Recall@20 and NDCG@100.",
        "We set the dimension of the latent representation K to 200 and any hidden layer to 600. "
        "We anneal the Kullback-Leibler term linearly for 100,000 gradient updates. "
        "We apply dropout at the input layer with probability 0.5. "
        "We train Mult-VAE using Adam with batch size of 500 users.",
    ],
]

CDAE_PAPER = [
    [
        "Collaborative Denoising Auto-Encoders for Top-N Recommendation",
        "Abstract. We propose a denoising auto-encoder named CDAE for top-N recommendation. CDAE adds a "
        "user node to the input of a denoising auto-encoder.",
        "1 INTRODUCTION",
        "Denoising auto-encoders learn from corrupted input. A denoising model is robust to noise.",
    ],
    [
        "2 METHOD",
        "The user node is a user-specific vector added to the hidden layer. Denoising corrupts the input by "
        "dropping items. We use a sigmoid activation for the hidden layer.",
        "The model is trained with the logistic loss over all items.",
        "3 EXPERIMENTS",
        "We use the ML-1M and Netflix datasets. The ML-1M data is small. The Netflix data is large.",
        "We report Recall@10 and NDCG@10. The latent dimension is set to 50.",
    ],
]


def spec_from(pages: list[list[str]], folder: Path, name: str):
    bundle, root = bundle_for(write_pdf(folder / f"{name}.pdf", pages))
    return extract.run(parse.run(bundle, root, {"max_pages": 60, "max_mb": 50}), RULES)


# --- extractor ------------------------------------------------------------------------------------------

def test_variational_paper_maps_to_blocks_with_its_stated_values(tmp_path):
    spec = spec_from(VAE_PAPER, tmp_path, "clickvae")
    assert (spec.family, spec.loss, spec.custom) == ("autoencoder", "multinomial", [])
    blocks = {block.block: block.params for block in spec.architecture}
    assert list(blocks) == ["user_row_input", "variational_encoder", "item_decoder"]
    # each value once: the blocks keep their structural words, the sizes are hyperparameters the model reads
    assert blocks["user_row_input"] == {"norm": "l2"} and blocks["variational_encoder"] == {"activation": "tanh"}
    encoder = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert (encoder["input_dropout"], encoder["hidden_layers"], encoder["latent_size"]) == (0.5, [600], 200)
    assert encoder["total_anneal_steps"] == 100000
    steps = spec.hyperparameters["total_anneal_steps"]
    assert steps.source == "paper" and "100,000 gradient updates" in steps.evidence
    assert spec.hyperparameters["anneal_cap"].source == "default"  # the paper states no cap
    assert (spec.hp("noise_std"), encoder["noise_std"]) == (1.0, 1.0)  # eps ~ N(0, I) as the paper writes it
    assert spec.hp("batch_size") == 500

    config = render.run(spec, {})["config.yaml"]
    assert 'regime: "user_rows"' in config and "total_anneal_steps: 100000" in config
    assert render.base_for(spec).regime == "topk"  # split and baselines stay on the top-k protocol


def test_a_spec_own_hyperparameter_can_be_overridden_and_reaches_the_block(tmp_path):
    bundle, root = bundle_for(write_pdf(tmp_path / "clickvae.pdf", VAE_PAPER))
    doc = parse.run(bundle, root, {"max_pages": 60, "max_mb": 50})
    spec = extract.run(doc, {"name": "rules", "hparams": {"noise_std": 0.01, "anneal_cap": 0.5}})
    assert spec.hyperparameters["noise_std"].source == "user"
    params = render.resolve_block_params(spec, render.base_for(spec).blocks)[0]
    assert (params["noise_std"], params["anneal_cap"]) == (0.01, 0.5)
    with pytest.raises(UserError, match="unknown hyperparameter.*noise_sd.*choose from .*noise_std"):
        extract.run(doc, {"name": "rules", "hparams": {"noise_sd": 0.01}})


def test_denoising_paper_with_a_user_node_maps_to_the_cdae_encoder(tmp_path):
    spec = spec_from(CDAE_PAPER, tmp_path, "coldae")
    assert spec.family == "autoencoder" and spec.loss == "bce"
    assert [block.block for block in spec.architecture] == ["user_row_input", "cdae_encoder", "item_decoder"]
    assert spec.architecture[0].params["norm"] == "none"
    assert spec.architecture[1].params["activation"] == "sigmoid"
    assert reference_with_notes(spec)[0] == "CDAE"


# --- rendering ------------------------------------------------------------------------------------------

def rendered(model_name: str, folder: Path, **hyperparameters) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(reference_spec(model_name, batch_size=16, **hyperparameters), {}).items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("model_name", MODELS)
def test_rendered_autoencoder_is_ruff_clean_and_uses_the_autoencoder_base(model_name, tmp_path):
    folder = rendered(model_name, tmp_path)
    source = (folder / "model.py").read_text()
    assert "(AutoEncoderModule):" in source and "def forward(self, rows: torch.Tensor" in source
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "120",
                           str(folder / "model.py")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize(("blocks", "message"), [
    (["user_row_input", "variational_encoder", "denoising_encoder", "item_decoder"], "more than one block provides"),
    (["user_row_input", "item_decoder"], "needs latent before it"),
    (["variational_encoder", "item_decoder"], "needs user_row_input before it"),
])
def test_broken_compositions_are_refused(blocks, message):
    spec = reference_spec("Mult-VAE").model_copy(update={"architecture": [Block(block=b) for b in blocks]})
    with pytest.raises(StageError, match=message):
        render.run(spec, {})


def test_unknown_activation_and_loss_are_refused():
    spec = reference_spec("Mult-DAE")
    bad = [spec.architecture[0], Block(block="denoising_encoder", activation="swishy"), spec.architecture[2]]
    with pytest.raises(StageError, match="activation='swishy' has no template"):
        render.run(spec.model_copy(update={"architecture": bad}), {})
    with pytest.raises(StageError, match="loss 'bpr' has no autoencoder template"):
        render.run(spec.model_copy(update={"loss": "bpr"}), {})


# --- training -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("split")
    write_synthetic_split(folder, n_users=48, n_items=40, per_user=12)
    return folder


@pytest.mark.parametrize("model_name", MODELS)
def test_rendered_model_trains_and_scores_every_item(model_name, split_dir, tmp_path):
    folder = rendered(model_name, tmp_path, learning_rate=0.01)
    torch.manual_seed(0)
    split = load_split(split_dir)
    model = build_model(folder, load_config(folder), split)
    assert isinstance(model, AutoEncoderModule)
    batch = next(iter(UserRowBatches(split, 48)))
    assert torch.equal(batch["rows"].sum(1), torch.from_numpy(np.diff(split.matrix("train").indptr)[
        batch["users"].numpy()]).float())  # each row holds exactly the user's training items
    optimizer = model.configure_optimizers()
    model.train()
    losses = []
    for _ in range(30):
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses)) and np.mean(losses[-5:]) < 0.9 * np.mean(losses[:3])
    model.eval()
    with torch.no_grad():
        scores = model.full_sort_scores(torch.arange(7))
    assert scores.shape == (7, split.n_items) and torch.isfinite(scores).all()
    result = model.evaluate("test")
    assert 0.0 <= result.mean["ndcg@10"] <= 1.0 and len(result.users) == split.n_users


def test_kl_weight_rises_linearly_and_stops_at_the_cap(split_dir, tmp_path):
    model = build_model(rendered("Mult-VAE", tmp_path), load_config(tmp_path), load_split(split_dir))
    assert (model.total_anneal_steps, model.anneal_cap) == (200, 0.2)
    assert model.kl_weight() == pytest.approx(1 / 200)  # the first update, as RecBole counts it
    model.total_anneal_steps = 0
    assert model.kl_weight() == 0.2


def test_multinomial_loss_and_its_floor():
    rows = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    uniform = torch.zeros(2, 4)
    assert float(multinomial_nll(uniform, rows)) == pytest.approx((2 * np.log(4) + np.log(4)) / 2)
    perfect = torch.tensor([[20.0, 20.0, -20.0, -20.0], [20.0, -20.0, -20.0, -20.0]])
    floor = (2 * np.log(2) + 0.0) / 2  # two items share the mass: -2 log(1/2); one item takes it all
    assert float(multinomial_nll(perfect, rows)) == pytest.approx(floor, abs=1e-6)


@pytest.mark.parametrize("model_name", MODELS)
def test_probe_gates_accept_the_user_row_regime(model_name, split_dir, tmp_path):
    gates = probe.probe(str(rendered(model_name, tmp_path)), str(split_dir), steps=40, lr=0.01, batch_size=64)
    assert [(g["name"], g["ok"]) for g in gates] == [("build", True), ("shapes", True), ("overfit", True),
                                                     ("leakage", True)], gates
    assert f"full_sort_scores (8, {load_split(split_dir).n_items})" in gates[1]["detail"]


@pytest.mark.slow
def test_mult_vae_passes_the_gates_and_trains(split_dir, tmp_path):
    info = SplitInfo(dataset="synthetic", split_id="ae000001", path=str(split_dir), n_users=48, n_items=40,
                     n_train=0, n_valid=0, n_test=0, protocol="synthetic")
    folder = rendered("Mult-VAE", tmp_path / "model")
    report = validate.run(folder, info, {"timeout_s": 300})
    assert report["ok"] and {g["name"] for g in report["gates"]} >= {"build", "shapes", "overfit"}
    result = train_stage.run(folder, info, {"max_epochs": 3, "seed": 0, "timeout_s": 300}, tmp_path / "out")
    assert result.status == "ok" and result.epochs_run == 3
    assert 0.0 < result.test["ndcg@10"] <= 1.0


# --- RecBole reference ----------------------------------------------------------------------------------

def test_reference_maps_mult_vae_with_the_latent_split_into_mean_and_variance():
    model, overrides, notes = reference_with_notes(reference_spec("Mult-VAE", batch_size=500, l2_reg=0.0))
    assert model == "MultiVAE"
    assert overrides["mlp_hidden_size"] == [48] and overrides["latent_dimension"] == 32  # mu and logvar of 16
    assert (overrides["dropout_prob"], overrides["anneal_cap"], overrides["total_anneal_steps"]) == (0.5, 0.2, 200)
    assert (overrides["train_batch_size"], overrides["weight_decay"], overrides["learner"]) == (500, 0.0, "adam")
    assert any("RecBole's MultiVAE uses std 0.01" in note for note in notes)


def test_reference_maps_mult_dae_and_cdae():
    model, overrides, notes = reference_with_notes(reference_spec("Mult-DAE", l2_reg=0.01))
    assert model == "MultiDAE" and overrides["latent_dimension"] == 16 and overrides["weight_decay"] == 0.01
    assert "anneal_cap" not in overrides and notes == []
    model, overrides, notes = reference_with_notes(reference_spec("CDAE"))
    assert model == "CDAE" and notes == []
    assert (overrides["embedding_size"], overrides["corruption_ratio"], overrides["hid_activation"]) == (16, 0.2,
                                                                                                     "sigmoid")
    assert (overrides["loss_type"], overrides["reg_weight_2"]) == ("BCE", 0.0)


def test_reference_notes_what_recbole_cannot_express():
    spec = reference_spec("Mult-DAE")
    blocks = [Block(block="user_row_input", norm="none", dropout=0.5),
              Block(block="denoising_encoder", layers=[48], latent=16, activation="relu"), Block(block="item_decoder")]
    _, _, notes = reference_with_notes(spec.model_copy(update={"architecture": blocks}))
    assert any("norm='none' not mapped" in note for note in notes)
    assert any("activation='relu' not mapped" in note for note in notes)


@pytest.mark.slow
def test_recbole_mult_vae_trains_on_the_same_split_and_is_scored_by_our_evaluator(split_dir, tmp_path):
    from paper_autotrain.stages import baselines

    info = SplitInfo(dataset="synthetic", split_id="ae000001", path=str(split_dir), n_users=48, n_items=40,
                     n_train=0, n_valid=0, n_test=0, protocol="synthetic")
    spec = reference_spec("Mult-VAE", batch_size=16)
    cfg = {"models": {}, "max_epochs": 3, "patience": 3, "seed": 0, "ks": [10, 20], "timeout_s": 600}
    (result,) = baselines.run(spec, info, cfg, tmp_path / "cache")
    assert result.status == "ok", result.error
    assert result.model == "MultiVAE" and 0.0 < result.test["ndcg@10"] <= 1.0
    assert result.config["recbole"]["latent_dimension"] == 32
