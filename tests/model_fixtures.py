"""Fixtures for tests and the benchmark: reference MethodSpecs (one per composable RecBole class) and a
synthetic split, so every test file and scripts/bench.py build the same reference models without a PDF."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paper_autotrain.data.split import SplitData, write_split
from paper_autotrain.schemas import MethodSpec

REFERENCE_ARCHITECTURES: dict[str, list[dict[str, Any]]] = {
    "MF-BPR": [{"block": "embedding", "dim": 64}, {"block": "dot_score"}],
    "LightGCN": [{"block": "embedding", "dim": 64},
                 {"block": "light_propagation", "layers": 3, "combine": "mean"},
                 {"block": "dot_score"}],
    "NeuMF": [{"block": "gmf", "dim": 64},
              {"block": "mlp_tower", "layers": [128, 64], "activation": "relu", "dropout": 0.1},
              {"block": "neumf_fusion"}],
    "SASRec": [{"block": "item_embedding", "dim": 32},
               {"block": "self_attention_encoder", "layers": 2, "heads": 2, "inner_size": 64, "dropout": 0.2},
               {"block": "last_position"}, {"block": "item_dot_score"}],
    "GRU4Rec": [{"block": "item_embedding", "dim": 32},
                {"block": "gru_encoder", "hidden_size": 48, "layers": 1, "dropout": 0.2},
                {"block": "last_position"}, {"block": "item_dot_score"}],
    "Caser": [{"block": "item_embedding", "dim": 16},
              {"block": "caser_encoder", "vertical_filters": 2, "horizontal_filters": 4, "dropout": 0.2},
              {"block": "item_dot_score"}],
    "Mult-VAE": [{"block": "user_row_input", "norm": "l2", "dropout": 0.5},
                 {"block": "variational_encoder", "layers": [48], "latent": 16, "activation": "tanh",
                  "total_anneal_steps": 200, "anneal_cap": 0.2},
                 {"block": "item_decoder"}],
    "Mult-DAE": [{"block": "user_row_input", "norm": "l2", "dropout": 0.5},
                 {"block": "denoising_encoder", "layers": [48], "latent": 16, "activation": "tanh"},
                 {"block": "item_decoder"}],
    "CDAE": [{"block": "user_row_input", "norm": "none", "dropout": 0.2},
             {"block": "cdae_encoder", "latent": 16, "activation": "sigmoid"},
             {"block": "item_decoder"}],
    "LR": [{"block": "linear"}, {"block": "sum_logits"}],
    "FM": [{"block": "field_embedding", "dim": 8}, {"block": "linear"}, {"block": "fm_interaction"},
           {"block": "sum_logits"}],
    "WideDeep": [{"block": "field_embedding", "dim": 8}, {"block": "linear"},
                 {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1}, {"block": "sum_logits"}],
    "DeepFM": [{"block": "field_embedding", "dim": 8}, {"block": "linear"}, {"block": "fm_interaction"},
               {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1}, {"block": "sum_logits"}],
    "DCN": [{"block": "field_embedding", "dim": 8}, {"block": "cross_network", "layers": 2, "reg_weight": 0.1},
            {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1, "batch_norm": True},
            {"block": "concat_head"}],
    # RecBole's choices where the paper's differ (its NFM: sigmoid hidden layers with batch norm; its AFM: no bias in
    # the attention layer, ||W|| as the penalty; its FwFM: untrained field-pair weights; its xDeepFM: ReLU, split-half
    # CIN with biases), so the bench compares the same model on both sides
    "NFM": [{"block": "field_embedding", "dim": 8}, {"block": "linear"}, {"block": "bi_interaction"},
            {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1, "activation": "sigmoid", "batch_norm": True},
            {"block": "sum_logits"}],
    "AFM": [{"block": "field_embedding", "dim": 8}, {"block": "linear"},
            {"block": "attentional_interaction", "attention_size": 12, "dropout": 0.1, "reg_weight": 0.5,
             "bias": False, "penalty": "norm"},
            {"block": "sum_logits"}],
    "FwFM": [{"block": "field_embedding", "dim": 8}, {"block": "linear"},
             {"block": "field_weighted_interaction", "learned": False}, {"block": "sum_logits"}],
    "xDeepFM": [{"block": "field_embedding", "dim": 8}, {"block": "linear"},
                {"block": "compressed_interaction", "layers": [16, 16], "activation": "relu", "split_half": True,
                 "bias": True},
                {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1}, {"block": "sum_logits"}],
    # RecBole's AutoInt has a first-order part and a DNN beside the interacting layers (the paper's AutoInt has neither)
    "AutoInt": [{"block": "field_embedding", "dim": 8}, {"block": "linear"},
                {"block": "interacting_layer", "layers": 2, "heads": 2, "head_size": 4, "dropout": 0.1},
                {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1}, {"block": "sum_logits"}],
    "DCNV2": [{"block": "field_embedding", "dim": 8},
              {"block": "matrix_cross_network", "layers": 2, "reg_weight": 0.1, "penalty": "norm"},
              {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1, "batch_norm": True}, {"block": "sum_logits"}],
    "PNN": [{"block": "field_embedding", "dim": 8}, {"block": "product_layer", "inner": True},
            {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1}, {"block": "sum_logits"}],
    "FFM": [{"block": "field_aware_interaction", "dim": 8}, {"block": "linear"}, {"block": "sum_logits"}],
    # RecBole's FNN: no pre-training, the embeddings alone into a tanh MLP
    "FNN": [{"block": "field_embedding", "dim": 8},
            {"block": "fm_pretraining", "pretrain_epochs": 0, "first_order": False},
            {"block": "mlp_tower", "layers": [32, 16], "dropout": 0.1, "activation": "tanh"}, {"block": "sum_logits"}],
    # fitted once on the train split (the fit regime), with the manifests' defaults
    "EASE": [{"block": "ease"}], "ItemKNN": [{"block": "item_knn"}], "SLIM": [{"block": "slim"}],
}
CONTEXT_MODELS = ("LR", "FM", "WideDeep", "DeepFM", "DCN", "NFM", "AFM", "FwFM", "xDeepFM", "AutoInt", "DCNV2", "PNN",
                  "FFM", "FNN")
REFERENCE_LOSSES = {"MF-BPR": "bpr", "LightGCN": "bpr", "NeuMF": "bce", "SASRec": "bce", "GRU4Rec": "ce",
                    "Caser": "bce",
                    "Mult-VAE": "multinomial", "Mult-DAE": "multinomial", "CDAE": "bce",
                    **{name: "bce" for name in CONTEXT_MODELS}, "EASE": "mse", "ItemKNN": "other", "SLIM": "mse"}
REFERENCE_FAMILIES = {"LightGCN": "graph", **{name: "sequential" for name in ("SASRec", "GRU4Rec", "Caser")},
                      "Mult-VAE": "autoencoder", "Mult-DAE": "autoencoder", "CDAE": "autoencoder",
                      **{name: "context" for name in CONTEXT_MODELS}}


def reference_spec(model_name: str, **hyperparameters: Any) -> MethodSpec:
    """A MethodSpec for a reference architecture above; keyword values become `user` hyperparameters."""
    values: dict[str, Any] = {"learning_rate": 0.001, "batch_size": 2048, "optimizer": "adam", "epochs": 300,
                              "l2_reg": 1e-4 if model_name == "LightGCN" else 0.0,
                              "negative_samples": 4 if model_name == "NeuMF" else 1}
    values.update(hyperparameters)
    return MethodSpec(
        paper={"key": f"reference-{model_name.lower()}", "title": f"{model_name} (reference spec)"},
        family=REFERENCE_FAMILIES.get(model_name, "general"),
        task="ctr" if model_name in CONTEXT_MODELS else "topk",
        model_name=model_name, loss=REFERENCE_LOSSES[model_name],
        architecture=REFERENCE_ARCHITECTURES[model_name],
        hyperparameters={name: {"value": value, "source": "user"} for name, value in values.items()},
    )


def synthetic_split(n_users: int = 40, n_items: int = 60, per_user: int = 12, seed: int = 0) -> SplitData:
    """Random interactions with a popularity skew, split 80/10/10 per user (at least 1 valid and test)."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.7
    popularity /= popularity.sum()
    parts: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for user in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False, p=popularity)
        n_held = max(1, per_user // 10)
        chunks = {"test": items[:n_held], "valid": items[n_held:2 * n_held], "train": items[2 * n_held:]}
        for name, chunk in chunks.items():
            parts[name].append(np.stack([np.full(len(chunk), user), chunk], axis=1))
    arrays = {name: np.concatenate(chunks).astype(np.int64) for name, chunks in parts.items()}
    return SplitData(n_users=n_users, n_items=n_items, **arrays,
                     user_tokens=np.array([f"u{i}" for i in range(n_users)]),
                     item_tokens=np.array([f"i{i}" for i in range(n_items)]))


def write_synthetic_split(folder: Path, dataset: str = "synthetic", **kwargs: Any) -> SplitData:
    folder.mkdir(parents=True, exist_ok=True)
    split = synthetic_split(**kwargs)
    write_split(split, folder, dataset)
    return split


def write_walks(folder: Path) -> None:
    """`walks.inter`: 60 users walking 30 items in short cycles, 10% noise, timestamps in order: learnable and small."""
    rng = np.random.default_rng(0)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user in range(60):
        start = int(rng.integers(30))
        for t in range(12):
            item = (start + t) % 30 if rng.random() > 0.1 else int(rng.integers(30))
            lines.append(f"u{user}\ti{item}\t{t}")
    (folder / "walks.inter").write_text("\n".join(lines) + "\n")


def train_pair_batch(split_path: str, negatives: int, n_items: int | None = None, n: int = 256) -> dict[str, Any]:
    """The first `n` train pairs of a saved split as a top-k batch with `negatives` negative columns: item 0 in each,
    or, given `n_items`, items drawn uniformly among them (seeded)."""
    import torch

    from paper_autotrain.data.split import load_split

    train = torch.as_tensor(load_split(split_path).train)[:n]
    shape = (len(train), negatives)
    neg_items = (torch.zeros(shape, dtype=torch.long) if n_items is None
                 else torch.randint(n_items, shape, generator=torch.Generator().manual_seed(0)))
    return {"users": train[:, 0], "pos_items": train[:, 1], "neg_items": neg_items}


def adam_losses(model: Any, batch: dict[str, Any], steps: int, lr: float) -> list[float]:
    """The model's loss on `batch` before each of `steps` Adam steps on that batch (a rendered model should learn
    what it is shown)."""
    import torch  # only the tests that train a model pay for it

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
