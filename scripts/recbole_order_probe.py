"""Probe: our sequential model (any RecBole class in COPIES; EPOCHS epochs, default 1) or GC-MC (EPOCHS epochs,
default 5) trained from RecBole's initial weights in RecBole's batch order.

A parity run at one seed differs between the two sides in the random draws: the initial weights (and which item gets
which embedding row: RecBole numbers the items its own way), the order of the training batches, dropout masks. This
probe removes the first two: it builds RecBole's dataset and train dataloader from a parity run's cached RecBole
config at SEED (RecBole's own `data_preparation`, so its batches come in the order of its run at that seed), builds
RecBole's module after `init_seed` (its run's initial weights), copies those weights into our model (rows moved to our
item ids), trains ours on RecBole's batches (ids mapped to ours) with our optimiser, and scores it with our
evaluator. `recbole` trains RecBole's module in the same loop instead (it should give RecBole's parity figure);
`recbole_fused` the same with the fused Adam kernel ours uses (the same update up to rounding): how far rounding alone
moves the figure.

GC-MC (the graph family: `graph_main`): RecBole's train dataloader gives each step's users, positives and its
negatives (one per positive, sampled by RecBole); ours trains on them (ids mapped) for EPOCHS epochs (default 5), and
after every epoch both sides are scored by our evaluator, RecBole's module ranked by the log-odds of its two class
logits (the paper's ranking, as ours), so valid and test NDCG@10 are comparable epoch by epoch; the best epoch is the
best valid one. Dropout masks are the one draw not shared (RecBole's module draws them over its padding rows too).

`ours_init` trains ours from its own initial draw at SEED in RecBole's order (the initial weights put back).
`ours_unfused` trains ours with RecBole's unfused Adam instead of our fused one (sequential models).

usage: python scripts/recbole_order_probe.py MODEL|GCMC SEED ours|ours_init|ours_unfused|recbole|recbole_fused
         MODEL_DIR RUNS OUT_JSON [model.KEY=VALUE ...]
  MODEL_DIR: our rendered model (NextItNet with read_position window_end; GC-SAN with RecBole's five words; TransRec
  with RecBole's three: distance l2, unit_ball false, translation_penalty l1; GC-MC
  any form: overrides such as model.dense_weights=shared after OUT_JSON);
  RUNS: a parity run's paths.root (its split under datasets/, RecBole's cached config under results/cache);
  OUT_JSON: the figures (each epoch's under `epochs`; `best_test_ndcg@10` at the first epoch of best valid
  NDCG@10, the one both runners test); OUT.npz beside it: each test user's NDCG@10 at every epoch (`epochN`), at
  the best one (`best`) and, sequential, after the last (`ndcg_at_10`). EPOCHS=n trains n epochs; MAX_STEPS=n
  stops each epoch after n steps (smoke). RecBole's module trains with its Trainer's optimiser (the config's
  learner: Adam for most, Adagrad for the GRU4Rec row).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paper_autotrain.data.evaluator import full_sort_evaluate
from paper_autotrain.data.sequential import evaluate_next_item, load_sequences
from paper_autotrain.data.split import load_split
from paper_autotrain.runtime.data import train_dataloader
from paper_autotrain.stages.baselines.ids import token_ids
from paper_autotrain.stages.baselines.runner import _device_settings, _patch_numpy, _SequenceScorer
from paper_autotrain.worker.loading import apply_overrides, build_model, load_config


def cached_config(runs: Path, model: str) -> dict[str, Any]:
    """RecBole's config of the parity run's cached `model` (the same at every seed but the seed)."""
    for path in sorted((runs / "results/cache/baselines").glob("*.json")):
        record = json.loads(path.read_text())
        if record["model"] == model:
            return dict(record["config"]["recbole"])
    raise SystemExit(f"no cached RecBole {model} under {runs}")


def recbole_run(model: str, seed: int, split: Path, values: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(dataset, train dataloader, module) as RecBole's parity run at `seed` builds them (the runner's steps)."""
    _patch_numpy()
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, init_seed

    values = {**values, "seed": seed, **_device_settings("cpu"), "data_path": str(split),
              "checkpoint_dir": tempfile.mkdtemp()}
    sys.argv = sys.argv[:1]  # RecBole's Config parses --key=value from the command line
    config = Config(model=model, dataset="ml-100k", config_dict=values)
    config["data_path"] = str(split / "ml-100k")
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    return dataset, train_data, get_model(model)(config, train_data._dataset)


def feature_rows(split: Any, dataset: Any, field: str, to_recbole: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(our value ids, RecBole's token ids of the same values) of an item field, read item by item (each of ours
    maps to one of RecBole's, checked in docs/measurements.md); padding values dropped."""
    mine = torch.as_tensor(split.item_features[field]).reshape(len(to_recbole), -1)
    theirs = dataset.get_item_feature()[field][to_recbole].reshape(len(to_recbole), -1)
    width = min(mine.shape[1], theirs.shape[1])  # both hold an item's values left-aligned, zero-padded
    pairs = torch.stack([mine[:, :width].flatten(), theirs[:, :width].flatten()], 1).unique(dim=0)
    pairs = pairs[pairs[:, 0] > 0]
    if len(pairs[:, 0].unique()) != len(pairs):
        raise SystemExit(f"{field}: a value of ours is two of RecBole's")
    return pairs[:, 0], pairs[:, 1]


def copy_feature_model(model: str, ours: torch.nn.Module, theirs: torch.nn.Module, to_recbole: torch.Tensor,
                       split: Any, dataset: Any) -> None:
    """RecBole's FDSA or SASRecF weights into ours (the module test's copy, with the item and feature rows moved to
    our ids)."""
    from tests.test_feature_sequence_papers import copy_recbole_feature_model

    copy_recbole_feature_model(model, ours, theirs)  # every weight as is; the id-indexed tables fixed below
    layer = theirs.feature_embed_layer
    tables = {"class": layer.token_seq_embedding_table["item"][0].weight,
              "release_year": layer.token_embedding_table["item"].embedding.weight}
    ours.item_embedding.weight.copy_(theirs.item_embedding.weight[to_recbole])
    for index, field in enumerate(ours.item_features.fields):
        mine, their = feature_rows(split, dataset, field, to_recbole)
        ours.item_features.embeddings[index].weight[mine] = tables[field][their]


def rows_moved(module: str, layout: str, with_users: bool = False) -> Any:
    """A COPIES entry from a module-equality test's layout (`module`.`layout`: pairs of our tensor and RecBole's):
    each of RecBole's tensors into ours, its item rows moved to our ids; `with_users`: the layout takes our users'
    and items' RecBole ids and moves the rows itself (models with a user embedding: FPMC, TransRec)."""
    def copy(ours: torch.nn.Module, theirs: torch.nn.Module, to_recbole: torch.Tensor, split: Any,
             dataset: Any) -> None:
        pairs_of = getattr(importlib.import_module(module), layout)
        if with_users:
            users = torch.from_numpy(token_ids(dataset, "user_id", split.user_tokens, strict=True))
            pairs = pairs_of(ours, theirs, users, to_recbole)
        else:
            pairs = [(mine, their[to_recbole] if mine is ours.item_embedding.weight else their)
                     for mine, their in pairs_of(ours, theirs)]
        for mine, their in pairs:
            mine.copy_(their)
    return copy


# RecBole's class name -> how its initial weights go into our model (one entry per model the probe takes)
COPIES = {
    "FDSA": partial(copy_feature_model, "FDSA"),
    "FPMC": rows_moved("tests.test_session_papers", "recboles_fpmc_in_our_layout", with_users=True),
    "GCSAN": rows_moved("tests.test_bert_graph_session_papers", "recboles_gcsan_in_our_layout"),
    "GRU4Rec": rows_moved("tests.test_sequential_models", "recboles_gru4rec_in_our_layout"),
    "NARM": rows_moved("tests.test_session_papers", "recboles_narm_in_our_layout"),
    "NextItNet": rows_moved("tests.test_session_papers", "recboles_nextitnet_in_our_layout"),
    "SASRecF": partial(copy_feature_model, "SASRecF"),
    "STAMP": rows_moved("tests.test_session_papers", "recboles_stamp_in_our_layout"),
    "TransRec": rows_moved("tests.test_transrec_papers", "recboles_transrec_in_our_layout", with_users=True),
}


def copy_weights(model: str, ours: torch.nn.Module, theirs: torch.nn.Module, to_recbole: torch.Tensor,
                 split: Any = None, dataset: Any = None) -> None:
    """RecBole's weights into ours; item embedding row j of ours is RecBole's row of the same item."""
    if model not in COPIES:
        raise SystemExit(f"the probe takes {', '.join(sorted(COPIES))} or GCMC, not {model}")
    with torch.no_grad():
        COPIES[model](ours, theirs, to_recbole, split, dataset)


def recboles_optimizer(theirs: torch.nn.Module, values: dict[str, Any], fused: bool) -> torch.optim.Optimizer:
    """RecBole's Trainer's optimiser for the run's config (its learner, learning rate and weight decay, RecBole's
    defaults where the config names none); fused: Adam's fused kernel (ours), a rounding-only change."""
    from types import SimpleNamespace

    from recbole.trainer import Trainer

    settings = SimpleNamespace(model=theirs, learner=values.get("learner", "adam"),
                               learning_rate=values.get("learning_rate", 0.001),
                               weight_decay=values.get("weight_decay", 0.0),
                               config={"reg_weight": values.get("reg_weight")}, logger=None)
    if fused:
        return torch.optim.Adam(theirs.parameters(), lr=settings.learning_rate, fused=True)
    return Trainer._build_optimizer(settings)


def train_epoch(train_data: Any, loss_of: Any, optimizer: torch.optim.Optimizer, max_steps: int) -> list[float]:
    """One pass over RecBole's batches in its order; the loss of each step."""
    losses = []
    for step, interaction in enumerate(train_data):
        if max_steps and step >= max_steps:
            break
        optimizer.zero_grad()
        loss = loss_of(interaction)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def recbole_ids(dataset: Any, split: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """RecBole's id of each of our users and items (RecBole's 0 is padding)."""
    users = token_ids(dataset, "user_id", split.user_tokens, strict=True)
    items = token_ids(dataset, "item_id", split.item_tokens, strict=True)
    return torch.from_numpy(users), torch.from_numpy(items)


def inverse(ids: torch.Tensor, size: int) -> torch.Tensor:
    """Ours of each RecBole id (-1 for padding)."""
    ours = torch.full((size,), -1, dtype=torch.long)
    ours[ids] = torch.arange(len(ids))
    return ours


def copy_gcmc_weights(ours: torch.nn.Module, theirs: Any, users: torch.Tensor, items: torch.Tensor) -> None:
    """RecBole's GCMC weights into ours: W's rows of our users then our items (RecBole's rows: its users, padding
    first, then its items), its one dense layer into ours (both sides' when ours has two), P_s and a_rs."""
    encoder, decoder = theirs.GcEncoder, theirs.BiDecoder
    with torch.no_grad():
        for mine, its in zip(ours.rating_weights, encoder.weights_u, strict=True):
            mine.copy_(its[torch.cat([users, theirs.n_users + items])])
        ours.dense_user.weight.copy_(encoder.dense_layer_u.weight)
        ours.dense_item.weight.copy_(encoder.dense_layer_u.weight)
        for mine, its in zip(ours.decoder_basis, decoder.weights, strict=True):
            mine.copy_(its)
        ours.decoder_mix.weight.copy_(decoder.dense_layer.weight)


def gcmc_log_odds_scorer(theirs: Any, users: torch.Tensor, items: torch.Tensor) -> Any:
    """Full-sort scores of RecBole's GCMC for our users in our item order, ranked by the log-odds of its two class
    logits (the paper's ranking; ours' expected_rating), the encoder run once."""
    user_table, item_table = theirs.GcEncoder(theirs.user_features, theirs.item_features)

    def score(batch: torch.Tensor) -> torch.Tensor:
        logits = theirs.BiDecoder(user_table, item_table[items], users[batch], None).view(len(batch), len(items), 2)
        return logits[..., 1] - logits[..., 0]
    return score


class RecBolesHiddenDropout(torch.nn.Module):
    """nn.Dropout's mask drawn as RecBole's GcEncoder draws it: over its users' rows (padding first), then its items'
    rows, each [rows, width]; our rows take their RecBole rows' masks."""

    def __init__(self, rate: float, users: torch.Tensor, items: torch.Tensor, shape: tuple[int, int]) -> None:
        super().__init__()
        self.rate, self.users, self.items, self.shape = rate, users, items, shape

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0:
            return hidden
        width = hidden.shape[1]
        user_mask = torch.nn.functional.dropout(torch.ones(self.shape[0], width), self.rate)
        item_mask = torch.nn.functional.dropout(torch.ones(self.shape[1], width), self.rate)
        return hidden * torch.cat([user_mask[self.users], item_mask[self.items]])


def draw_recboles_masks(ours: torch.nn.Module, theirs: Any, users: torch.Tensor, items: torch.Tensor) -> None:
    """Ours draws its node and hidden dropout masks as RecBole's GCMC does (SparseDropout over its users' then its
    items' one-hot rows, the same expression; nn.Dropout over its two hidden tables), in the same order from torch's
    generator, so from the same generator state both sides drop the same nodes and units."""
    keep = 1 - ours.node_dropout_rate
    shape = (theirs.n_users, theirs.n_items)

    def drop_nodes(weights: torch.Tensor) -> torch.Tensor:
        if not ours.training or ours.node_dropout_rate == 0:
            return weights
        user_keep = (torch.rand(shape[0]) + keep).floor()  # RecBole's SparseDropout on the one-hot values
        item_keep = (torch.rand(shape[1]) + keep).floor()
        return weights * (torch.cat([user_keep[users], item_keep[items]]) * (1.0 / keep)).unsqueeze(1)

    ours.drop_nodes = drop_nodes
    ours.hidden_dropout = RecBolesHiddenDropout(ours.node_dropout_rate, users, items, shape)


class OurBatchesInRecBolesIds:
    """Our runner's training batches (its order and negatives at a seed) as RecBole's interactions (its ids)."""

    def __init__(self, loader: Any, users: torch.Tensor, items: torch.Tensor) -> None:
        self.loader, self.users, self.items = loader, users, items

    def __iter__(self) -> Any:
        for batch in self.loader:
            yield {"user_id": self.users[batch["users"]], "item_id": self.items[batch["pos_items"]],
                   "neg_item_id": self.items[batch["neg_items"][:, 0]]}


def graph_main(argv: list[str]) -> int:
    """GC-MC: both sides scored by our evaluator after every epoch (see the module docstring)."""
    seed, mode, model_dir, runs, out = int(argv[1]), argv[2], Path(argv[3]), Path(argv[4]), Path(argv[5])
    split_dir = next(path.parent for path in (runs / "datasets/ml-100k").glob("*/split.json"))
    dataset, train_data, theirs = recbole_run("GCMC", seed, split_dir, cached_config(runs, "GCMC"))
    generators = torch.get_rng_state(), np.random.get_state()  # as RecBole's trainer finds them (dropout, negatives)
    split = load_split(split_dir)
    config = apply_overrides(load_config(model_dir), argv[6:])
    torch.manual_seed(seed)  # ours_own_init: our runner's draw at this seed (seed_everything, then the constructor)
    ours = build_model(model_dir, config, split)
    users, items = recbole_ids(dataset, split)
    our_user, our_item = inverse(users, dataset.user_num), inverse(items, dataset.item_num)
    if mode != "ours_own_init":
        copy_gcmc_weights(ours, theirs, users, items)
    if mode == "ours_own_batches":  # our runner's batches and negatives at this seed, in RecBole's ids
        train_data = OurBatchesInRecBolesIds(train_dataloader(
            split.train, split.n_items, int(config["optim"]["batch_size"]), str(config["model"]["loss"]),
            int(config["optim"]["negative_samples"]), seed), users, items)
    if mode == "ours_same_masks":
        draw_recboles_masks(ours, theirs, users, items)
    trained = ours if mode.startswith("ours") else theirs
    if mode != "ours_own_init":  # training starts from the generators' states in RecBole's run
        torch.set_rng_state(generators[0])
        np.random.set_state(generators[1])
    optimizer = ours.configure_optimizers() if mode.startswith("ours") else torch.optim.Adam(
        theirs.parameters(), lr=ours.learning_rate, fused=mode == "recbole_fused" or None)

    def our_loss(interaction: Any) -> torch.Tensor:
        return ours.loss({"users": our_user[interaction["user_id"]], "pos_items": our_item[interaction["item_id"]],
                          "neg_items": our_item[interaction["neg_item_id"]].unsqueeze(1)})

    epochs, rows, per_user = int(os.environ.get("EPOCHS", "5")), [], {}
    for epoch in range(1, epochs + 1):
        trained.train()
        cpu = time.process_time()
        losses = train_epoch(train_data, our_loss if mode.startswith("ours") else theirs.calculate_loss,
                             optimizer, int(os.environ.get("MAX_STEPS", "0")))
        train_cpu = time.process_time() - cpu
        trained.eval()
        with torch.no_grad():
            if mode.startswith("ours"):
                valid, tested = ours.evaluate("valid"), ours.evaluate("test")
            else:
                score = gcmc_log_odds_scorer(theirs, users, items)
                valid = full_sort_evaluate(score, split, "valid", ks=[10, 20])
                tested = full_sort_evaluate(score, split, "test", ks=[10, 20])
        per_user[f"epoch{epoch}"] = tested.per_user["ndcg@10"]
        rows.append({"epoch": epoch, "mean_loss": float(np.mean(losses)), "valid_ndcg@10": valid.mean["ndcg@10"],
                     "test_ndcg@10": tested.mean["ndcg@10"], "train_cpu_s": train_cpu})
        print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda row: row["valid_ndcg@10"])
    np.savez(out.with_suffix(".npz"), users=np.asarray(tested.users), best=per_user[f"epoch{best['epoch']}"],
             **per_user)
    result = {"model": "GCMC", "seed": seed, "mode": mode, "overrides": argv[6:], "best_epoch": best["epoch"],
              "test_ndcg@10": best["test_ndcg@10"], "valid_ndcg@10": best["valid_ndcg@10"], "epochs": rows}
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({key: result[key] for key in ("seed", "mode", "best_epoch", "test_ndcg@10")}))
    return 0


def main(argv: list[str]) -> int:
    if argv[0] == "GCMC":
        torch.set_num_threads(1)
        torch.set_flush_denormal(True)
        return graph_main(argv)
    model, seed, mode = argv[0], int(argv[1]), argv[2]
    model_dir, runs, out = Path(argv[3]), Path(argv[4]), Path(argv[5])
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as both runners do
    split_dir = next((runs / "datasets/ml-100k").glob("seq-*"))
    dataset, train_data, theirs = recbole_run(model, seed, split_dir, cached_config(runs, model))
    split = load_sequences(split_dir)
    rng = torch.get_rng_state()  # where RecBole's run starts training (its dropout masks draw from here)
    if mode == "ours_init":
        torch.manual_seed(seed)  # our runner's draw at SEED (L.seed_everything seeds torch so)
    ours = build_model(model_dir, load_config(model_dir), split)
    to_recbole = torch.from_numpy(np.r_[0, token_ids(dataset, "item_id", split.item_tokens[1:], strict=True)])
    to_ours = torch.empty_like(to_recbole)
    to_ours[to_recbole] = torch.arange(len(to_recbole))
    user_to_ours = inverse(torch.from_numpy(token_ids(dataset, "user_id", split.user_tokens, strict=True)),
                           dataset.user_num)  # a model with a user embedding (FPMC) reads our user ids

    def our_loss(interaction: Any) -> torch.Tensor:
        histories = to_ours[interaction["item_id_list"]]
        batch = {"histories": histories, "lengths": interaction["item_length"],
                 "targets": to_ours[interaction["item_id"]], "users": user_to_ours[interaction["user_id"]]}
        if "neg_item_id" in interaction:  # a sampled loss: RecBole's draw of one negative per target
            batch["neg_items"] = to_ours[interaction["neg_item_id"]].unsqueeze(-1)
        return ours.loss(batch)

    if mode != "ours_init":
        copy_weights(model, ours, theirs, to_recbole, split, dataset)
    torch.set_rng_state(rng)  # building ours drew from the stream: the `recbole` control's masks are its run's
    trained = theirs if mode.startswith("recbole") else ours
    # RecBole's Trainer's optimiser; recbole_fused: the fused kernel (ours), a rounding-only change; ours_unfused:
    # ours with RecBole's optimiser exactly (the module's arithmetic the one difference left)
    optimizer = ours.configure_optimizers() if trained is ours and mode != "ours_unfused" else recboles_optimizer(
        trained, cached_config(runs, model), fused=mode == "recbole_fused")
    score = ours.full_sort_scores if trained is ours else _SequenceScorer(theirs, dataset, split, torch.device("cpu"))
    epochs, per_user = [], {}
    for _ in range(int(os.environ.get("EPOCHS", "1"))):  # RecBole's loader reshuffles each epoch, as in its run
        trained.train()
        started, cpu = time.perf_counter(), time.process_time()
        losses = train_epoch(train_data, our_loss if trained is ours else theirs.calculate_loss, optimizer,
                             int(os.environ.get("MAX_STEPS", "0")))
        train_s, train_cpu = time.perf_counter() - started, time.process_time() - cpu
        trained.eval()
        with torch.no_grad():
            valid = evaluate_next_item(score, split, "valid", ks=[10, 20]).mean
            tested = evaluate_next_item(score, split, "test", ks=[10, 20])
        per_user[f"epoch{len(epochs) + 1}"] = tested.per_user["ndcg@10"]
        epochs.append({"steps": len(losses), "mean_loss": float(np.mean(losses)), "last_loss": losses[-1],
                       "valid_ndcg@10": valid["ndcg@10"], "test_ndcg@10": tested.mean["ndcg@10"],
                       "train_s": train_s, "train_cpu_s": train_cpu})
        print(json.dumps(epochs[-1]), flush=True)
    # both runners test the first epoch of best valid NDCG@10 (RecBole's best checkpoint, our ModelCheckpoint)
    best = max(range(len(epochs)), key=lambda index: epochs[index]["valid_ndcg@10"])
    np.savez(out.with_suffix(".npz"), users=np.asarray(tested.users), ndcg_at_10=tested.per_user["ndcg@10"],
             best=per_user[f"epoch{best + 1}"], **per_user)
    result = {"model": model, "seed": seed, "mode": mode, **epochs[-1], "best_epoch": best + 1,
              "best_valid_ndcg@10": epochs[best]["valid_ndcg@10"], "best_test_ndcg@10": epochs[best]["test_ndcg@10"],
              "epochs": epochs}
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
