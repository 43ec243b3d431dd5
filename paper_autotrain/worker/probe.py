"""Dynamic checks of a rendered model, run by the gates (paper_autotrain.sandbox.gates) in a sandboxed subprocess.

    python -m paper_autotrain.worker.probe --model-dir D --split-dir S [--steps 40] [--lr 0.01]

Gates, each run only when the one before passed: build, shapes, overfit, leakage (the model never sees
validation or test interactions: runtime/leakage.py). Prints one JSON line:
{"gates": [{"name", "ok", "seconds", "detail"}, ...]}.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from paper_autotrain.data.ctr import load_ctr
from paper_autotrain.data.sequential import SequenceSplit, load_sequences
from paper_autotrain.data.split import SplitData, load_split
from paper_autotrain.runtime.autoencoder import AutoEncoderModule, UserRowBatches
from paper_autotrain.runtime.ctr import CTRModule, ctr_batch
from paper_autotrain.runtime.data import TrainBatches, positives_per_batch
from paper_autotrain.runtime.module import TopKModule
from paper_autotrain.runtime.sequential import SequentialModule, training_batches
from paper_autotrain.worker.leakage import adam_steps, check_no_leakage
from paper_autotrain.worker.loading import build_model, load_config

Gate = dict[str, Any]
MIN_RELATIVE_DROP = 0.3  # the one-batch loss must fall by at least 30%


def run_gate(name: str, check: Callable[[], str]) -> Gate:
    """Run one check; any exception is the gate's failure, reported in one line."""
    started = time.perf_counter()
    try:
        detail, ok = check(), True
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure as data
        detail, ok = f"{type(exc).__name__}: {exc}".splitlines()[0], False
    return {"name": name, "ok": ok, "seconds": round(time.perf_counter() - started, 3), "detail": detail}


def tiny_batch(split: SplitData, config: dict[str, Any], size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The first batch of `size` train interactions, with negatives sampled as in training."""
    optim = config.get("optim") or {}
    k = int(optim.get("negative_samples", 1))
    loss = str(config["model"].get("loss", "bpr"))
    positives = min(size, positives_per_batch(int(optim.get("batch_size", size)), loss, k), len(split.train))
    return next(iter(TrainBatches(split.train, split.n_items, max(positives, 1), k, seed)))


def finite_training_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The training loss on `batch`, which must be a finite scalar; leaves the model in eval mode."""
    model.train()
    loss = model.loss(batch)
    if loss.dim() != 0 or not torch.isfinite(loss):
        raise ValueError(f"loss must be a finite scalar, got shape {tuple(loss.shape)} value {loss}")
    model.eval()
    return loss


def check_full_sort(scores: torch.Tensor, expected: tuple[int, int]) -> None:
    if tuple(scores.shape) != expected:
        raise ValueError(f"full_sort_scores gave shape {tuple(scores.shape)}, expected {expected}")
    if not torch.isfinite(scores).all():
        raise ValueError("full_sort_scores returned non-finite values")


def check_shapes(model: TopKModule, batch: dict[str, torch.Tensor]) -> str:
    loss = finite_training_loss(model, batch)
    with torch.no_grad():
        users = batch["users"][:8]
        scores = model.full_sort_scores(users)
        expected = (len(users), model.n_items)
        check_full_sort(scores, expected)
        pair_scores = model.score(batch["users"], batch["pos_items"])
        if tuple(pair_scores.shape) != (len(batch["users"]),):
            raise ValueError(f"score(users, items) gave shape {tuple(pair_scores.shape)}, "
                             f"expected ({len(batch['users'])},)")
    return f"loss {float(loss.detach()):.4f}; full_sort_scores {expected}"


def sequence_batch(sequences: SequenceSplit, config: dict[str, Any], size: int) -> dict[str, torch.Tensor]:
    """The first `size` training positions, with negatives when the loss samples them."""
    return next(iter(training_batches(sequences, config, size, seed=0)))


def check_sequence_shapes(model: SequentialModule, batch: dict[str, torch.Tensor]) -> str:
    loss = finite_training_loss(model, batch)
    with torch.no_grad():
        scores = model.full_sort_scores(batch["histories"][:8], batch["lengths"][:8], batch["users"][:8])
        expected = (min(8, len(batch["lengths"])), model.n_items + 1)
        check_full_sort(scores, expected)
    return f"loss {float(loss.detach()):.4f}; full_sort_scores {expected}"


def check_row_shapes(model: AutoEncoderModule, batch: dict[str, torch.Tensor]) -> str:
    loss = finite_training_loss(model, batch)
    with torch.no_grad():
        scores = model.full_sort_scores(batch["users"][:8])
        expected = (min(8, len(batch["users"])), model.n_items)
        check_full_sort(scores, expected)
    return f"loss {float(loss.detach()):.4f}; full_sort_scores {expected}"


def check_ctr_shapes(model: CTRModule, batch: dict[str, torch.Tensor]) -> str:
    loss = finite_training_loss(model, batch)
    with torch.no_grad():
        probabilities = model.predict(batch)
    expected = (len(batch["label"]),)
    if tuple(probabilities.shape) != expected:
        raise ValueError(f"predict gave shape {tuple(probabilities.shape)}, expected {expected}")
    if not ((probabilities >= 0) & (probabilities <= 1)).all():
        raise ValueError("predict returned values outside [0, 1]")
    return f"loss {float(loss.detach()):.4f}; predict {expected}"


def check_overfit(model: TopKModule | SequentialModule | AutoEncoderModule, batch: dict[str, torch.Tensor],
                  steps: int, lr: float) -> str:
    """Adam at a high learning rate on one fixed batch: a correct model drives the loss down."""
    losses = adam_steps(model, batch, steps, lr)
    first, last = losses[0], sum(losses[-5:]) / len(losses[-5:])
    if not all(math.isfinite(value) for value in losses):
        raise ValueError("loss became non-finite")
    # a loss bounded below by more than 0 (a multinomial likelihood's entropy) must fall towards its floor
    floor = float(model.loss_floor(batch)) if hasattr(model, "loss_floor") else 0.0
    if last - floor > (first - floor) * (1 - MIN_RELATIVE_DROP):
        raise ValueError(f"loss did not fall: {first:.4f} -> {last:.4f} in {steps} steps at lr {lr:g}")
    return f"loss {first:.4f} -> {last:.4f} in {steps} steps at lr {lr:g}"


def probe(model_dir: str, split_dir: str, steps: int, lr: float, batch_size: int) -> list[Gate]:
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    state: dict[str, Any] = {}

    def build() -> str:
        config = state["config"] = load_config(model_dir)
        regime = (config.get("data") or {}).get("regime")
        if regime == "context":  # the first `batch_size` labelled training rows
            split: Any = load_ctr(split_dir)
            rows = slice(0, min(batch_size, split.n_rows("train")))
            state["batch"], state["shapes"] = ctr_batch(split, "train", rows), check_ctr_shapes
        elif regime == "sequential":
            split = load_sequences(split_dir)
            state["batch"], state["shapes"] = sequence_batch(split, config, batch_size), check_sequence_shapes
        elif regime == "user_rows":  # autoencoders: the first `batch_size` users' training rows
            split = load_split(split_dir)
            state["batch"], state["shapes"] = next(iter(UserRowBatches(split, batch_size))), check_row_shapes
        else:
            split = load_split(split_dir)
            state["batch"], state["shapes"] = tiny_batch(split, config, batch_size), check_shapes
        state["split"] = split
        state["model"] = build_model(model_dir, config, split)
        return f"{type(state['model']).__name__}: {state['model'].n_parameters()} parameters"

    gates = [run_gate("build", build)]
    if gates[-1]["ok"]:
        gates.append(run_gate("shapes", lambda: state["shapes"](state["model"], state["batch"])))
    if gates[-1]["ok"]:
        gates.append(run_gate("overfit", lambda: check_overfit(state["model"], state["batch"], steps, lr)))
    if gates[-1]["ok"]:
        gates.append(run_gate("leakage", lambda: check_no_leakage(model_dir, state["config"], split_dir,
                                                                  state["split"], state["batch"], lr)))
    return gates


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m paper_autotrain.worker.probe")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--split-dir", required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    gates = probe(args.model_dir, args.split_dir, args.steps, args.lr, args.batch_size)
    print(json.dumps({"gates": gates}))  # noqa: T201 - stdout is this tool's output channel


if __name__ == "__main__":
    main()
