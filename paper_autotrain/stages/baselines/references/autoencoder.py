"""RecBole references of the autoencoder family: MultiVAE (variational), MultiDAE (denoising), CDAE (user node).

RecBole trains all three on batches of whole user rows and scores a user's training row, as our
AutoEncoderModule does, so the top-k baselines path scores them with our evaluator.
"""

from __future__ import annotations

from paper_autotrain.library import load_library
from paper_autotrain.recbole_models import composition_class
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages.baselines.references.common import Reference, SpecMapping, int_list, number

CDAE_ACTIVATIONS = ("sigmoid", "relu", "tanh")  # RecBole's CDAE hid_activation choices
RECBOLE_NOISE_STD = 0.01  # RecBole's MultiVAE draws eps ~ N(0, 0.01^2) (the paper's eps ~ N(0, I))


def architecture_model(spec: MethodSpec) -> str | None:
    return composition_class("autoencoder", [b.block for b in spec.architecture], spec.trained_loss)


def reference(spec: MethodSpec) -> Reference | None:
    model = architecture_model(spec)
    if model is None:
        return None
    (encoder,) = load_library().base_for("autoencoder").recbole_blocks(model)  # its telltale encoder block
    m = SpecMapping(spec)
    m.optimisation(negatives=False)
    m.put("weight_decay", m.scalar("l2_reg", integral=False))  # our l2_reg is the optimiser's weight decay
    _input(m, model)
    latent = m.block_value(encoder, "latent_size", integral=True)
    if model == "CDAE":
        _cdae(m, latent)
    else:
        _mult(m, model, encoder, latent)
    return m.result(model)


def _input(m: SpecMapping, model: str) -> None:
    """Input dropout (RecBole's dropout_prob / CDAE's corruption_ratio) and row normalisation."""
    dropout = m.block_value("user_row_input", "input_dropout", integral=False)
    m.put("corruption_ratio" if model == "CDAE" else "dropout_prob", dropout)
    norm = str(m.model_value("user_row_input", "input_norm")).lower()
    recbole_norm = "none" if model == "CDAE" else "l2"
    if norm != recbole_norm:
        m.notes.append(f"user_row_input norm={norm!r} not mapped: RecBole's {model} always uses {recbole_norm!r}")


def _mult(m: SpecMapping, model: str, encoder: str, latent: int | float | None) -> None:
    m.put("mlp_hidden_size", int_list(m.stated(encoder, "hidden_layers")))
    if model == "MultiVAE":
        # RecBole's MultiVAE splits its last encoder layer into mean and log-variance halves
        m.put("latent_dimension", None if latent is None else 2 * int(latent))
        m.put("anneal_cap", m.block_value(encoder, "anneal_cap", integral=False))
        m.put("total_anneal_steps", m.block_value(encoder, "total_anneal_steps", integral=True))
        noise = number(m.model_value(encoder, "noise_std"), integral=False)
        m.notes.append(f"reparameterisation noise eps ~ N(0, {noise:g}^2 I) not mapped: RecBole's MultiVAE "
                       f"uses std {RECBOLE_NOISE_STD:g}")
    else:
        m.put("latent_dimension", latent)
    activation = str(m.model_value(encoder, "activation")).lower()
    if activation != "tanh":
        m.notes.append(f"{encoder} activation={activation!r} not mapped: RecBole's {model} uses tanh")
    if m.spec.trained_loss != "multinomial":
        m.notes.append(f"loss={m.spec.trained_loss!r} not mapped: RecBole's {model} uses the multinomial likelihood")


def _cdae(m: SpecMapping, latent: int | float | None) -> None:
    m.put("embedding_size", latent)
    activation = str(m.model_value("cdae_encoder", "activation")).lower()
    if activation in CDAE_ACTIVATIONS:
        m.put("hid_activation", activation)
    else:
        m.notes.append(f"cdae_encoder activation={activation!r} not mapped: RecBole's CDAE offers "
                       f"{', '.join(CDAE_ACTIVATIONS)}")
    # our L2 is weight decay on every weight; RecBole's own L1/L2 terms (on two weight tables) are switched off
    m.overrides.update({"reg_weight_1": 0.0, "reg_weight_2": 0.0})
    m.overrides["loss_type"] = "BCE"
    if m.spec.trained_loss != "bce":
        m.notes.append(f"loss={m.spec.trained_loss!r} not mapped: RecBole's CDAE offers BCE or MSE; BCE stands in")
