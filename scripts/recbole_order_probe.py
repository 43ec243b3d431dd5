"""Probe: our NextItNet or GC-SAN trained for one epoch from RecBole's initial weights in RecBole's batch order.

A parity run at one seed differs between the two sides in the random draws: the initial weights (and which item gets
which embedding row: RecBole numbers the items its own way), the order of the training batches, dropout masks. This
probe removes the first two: it builds RecBole's dataset and train dataloader from a parity run's cached RecBole
config at SEED (RecBole's own `data_preparation`, so its batches come in the order of its run at that seed), builds
RecBole's module after `init_seed` (its run's initial weights), copies those weights into our model (rows moved to our
item ids), trains ours on RecBole's batches (ids mapped to ours) with our optimiser, and scores it with our
evaluator. `recbole` trains RecBole's module in the same loop instead (it should give RecBole's parity figure);
`recbole_fused` the same with the fused Adam kernel ours uses (the same update up to rounding): how far rounding alone
moves the figure.

usage: python scripts/recbole_order_probe.py NextItNet|GCSAN SEED ours|recbole|recbole_fused MODEL_DIR RUNS OUT_JSON
  MODEL_DIR: our rendered model (NextItNet with read_position window_end; GC-SAN with RecBole's five words);
  RUNS: a parity run's paths.root (its split under datasets/, RecBole's cached config under results/cache);
  OUT_JSON: the figures; OUT.npz beside it: each test user's NDCG@10. MAX_STEPS=n stops after n steps (smoke).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paper_autotrain.data.sequential import evaluate_next_item, load_sequences
from paper_autotrain.stages.baselines.ids import token_ids
from paper_autotrain.stages.baselines.runner import _device_settings, _patch_numpy, _SequenceScorer
from paper_autotrain.worker.loading import build_model, load_config


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
    from recbole.model.sequential_recommender.gcsan import GCSAN
    from recbole.model.sequential_recommender.nextitnet import NextItNet
    from recbole.utils import init_seed

    values = {**values, "seed": seed, **_device_settings("cpu"), "data_path": str(split),
              "checkpoint_dir": tempfile.mkdtemp()}
    sys.argv = sys.argv[:1]  # RecBole's Config parses --key=value from the command line
    config = Config(model=model, dataset="ml-100k", config_dict=values)
    config["data_path"] = str(split / "ml-100k")
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    return dataset, train_data, {"NextItNet": NextItNet, "GCSAN": GCSAN}[model](config, train_data._dataset)


def copy_weights(model: str, ours: torch.nn.Module, theirs: torch.nn.Module, to_recbole: torch.Tensor) -> None:
    """RecBole's weights into ours; item embedding row j of ours is RecBole's row of the same item."""
    from tests.test_bert_graph_session_papers import recboles_gcsan_in_our_layout

    with torch.no_grad():
        if model == "GCSAN":
            for mine, their in recboles_gcsan_in_our_layout(ours, theirs):
                mine.copy_(their[to_recbole] if mine is ours.item_embedding.weight else their)
            return
        ours.item_embedding.weight.copy_(theirs.item_embedding.weight[to_recbole])
        ours.final_layer.load_state_dict(theirs.final_layer.state_dict())
        for index, block in enumerate(theirs.residual_blocks):
            for layer, (conv, norm) in enumerate(((block.conv1, block.ln1), (block.conv2, block.ln2)), 2 * index):
                ours.convolutions[layer].weight.copy_(conv.weight.squeeze(2))
                ours.convolutions[layer].bias.copy_(conv.bias)
                ours.conv_norms[layer].load_state_dict(norm.state_dict())


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


def main(argv: list[str]) -> int:
    model, seed, mode = argv[0], int(argv[1]), argv[2]
    model_dir, runs, out = Path(argv[3]), Path(argv[4]), Path(argv[5])
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as both runners do
    split_dir = next((runs / "datasets/ml-100k").glob("seq-*"))
    dataset, train_data, theirs = recbole_run(model, seed, split_dir, cached_config(runs, model))
    split = load_sequences(split_dir)
    ours = build_model(model_dir, load_config(model_dir), split)
    to_recbole = torch.from_numpy(np.r_[0, token_ids(dataset, "item_id", split.item_tokens[1:], strict=True)])
    to_ours = torch.empty_like(to_recbole)
    to_ours[to_recbole] = torch.arange(len(to_recbole))
    copy_weights(model, ours, theirs, to_recbole)

    def our_loss(interaction: Any) -> torch.Tensor:
        histories = to_ours[interaction["item_id_list"]]
        return ours.loss({"histories": histories, "lengths": interaction["item_length"],
                          "targets": to_ours[interaction["item_id"]],
                          "users": torch.zeros(len(histories), dtype=torch.long)})

    trained = ours if mode == "ours" else theirs
    optimizer = ours.configure_optimizers() if mode == "ours" else torch.optim.Adam(
        # RecBole's Trainer: Adam, weight decay 0; recbole_fused: the fused kernel (ours), a rounding-only change
        theirs.parameters(), lr=ours.learning_rate, fused=mode == "recbole_fused" or None)
    trained.train()
    started, cpu = time.perf_counter(), time.process_time()
    losses = train_epoch(train_data, our_loss if mode == "ours" else theirs.calculate_loss, optimizer,
                         int(os.environ.get("MAX_STEPS", "0")))
    train_s, train_cpu = time.perf_counter() - started, time.process_time() - cpu
    trained.eval()
    with torch.no_grad():
        score = ours.full_sort_scores if mode == "ours" else _SequenceScorer(theirs, dataset, split,
                                                                              torch.device("cpu"))
        valid = evaluate_next_item(score, split, "valid", ks=[10, 20]).mean
        tested = evaluate_next_item(score, split, "test", ks=[10, 20])
    np.savez(out.with_suffix(".npz"), users=np.asarray(tested.users), ndcg_at_10=tested.per_user["ndcg@10"])
    result = {"model": model, "seed": seed, "mode": mode, "steps": len(losses), "mean_loss": float(np.mean(losses)),
              "last_loss": losses[-1], "valid_ndcg@10": valid["ndcg@10"], "test_ndcg@10": tested.mean["ndcg@10"],
              "train_s": train_s, "train_cpu_s": train_cpu}
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
