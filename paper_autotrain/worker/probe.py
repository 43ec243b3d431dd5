"""Dynamic checks of a rendered model, run by the gates (paper_autotrain.sandbox.gates) in a sandboxed subprocess.

    python -m paper_autotrain.worker.probe --model-dir D --split-dir S [--steps 40] [--lr 0.01]

Gates, each run only when the one before passed: build, shapes, overfit (fit, for a model fitted once), leakage
(the model never sees validation or test interactions: worker/leakage.py). The split, the batch and the shape
check are the data regime's (config data.regime; paper_autotrain/regimes.py). Prints one JSON line:
{"gates": [{"name", "ok", "seconds", "detail"}, ...]}.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from paper_autotrain.regimes import config_regime, resolve
from paper_autotrain.worker import slot_shapes
from paper_autotrain.worker.leakage import adam_steps, check_no_leakage
from paper_autotrain.worker.loading import build_model, load_config

Gate = dict[str, Any]
MIN_RELATIVE_DROP = 0.3  # the one-batch loss must fall by at least 30%
# the overfit gate's rates, times its lr: a Transformer can stay on the plateau of its context-free solution for
# 40 steps at the first and not at a third of it (docs/measurements.md, "BERT4Rec's overfit gate")
LR_FACTORS = (1.0, 0.3, 0.1)


def run_gate(name: str, check: Callable[[], str]) -> Gate:
    """Run one check; any exception is the gate's failure, reported in one line."""
    started = time.perf_counter()
    try:
        detail, ok = check(), True
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure as data
        detail, ok = f"{type(exc).__name__}: {exc}".splitlines()[0], False
    return {"name": name, "ok": ok, "seconds": round(time.perf_counter() - started, 3), "detail": detail}


def check_overfit(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float) -> str:
    """Adam at a high learning rate on one fixed batch: a correct model drives the loss down. A model whose loss
    does not fall at `lr` is tried again from its initial weights at the lower rates of LR_FACTORS: the gate asks
    whether the model can fit the batch, not whether it can at one rate."""
    initial = copy.deepcopy(model.state_dict())
    failures = []
    for factor in LR_FACTORS:
        model.load_state_dict(initial)
        rate = lr * factor
        try:
            first, last = overfit_losses(model, batch, steps, rate)
        except ValueError as exc:
            failures.append(f"{exc} at lr {rate:g}")
            continue
        return f"loss {first:.4f} -> {last:.4f} in {steps} steps at lr {rate:g}"
    raise ValueError("; ".join(failures))


def overfit_losses(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int, lr: float
                   ) -> tuple[float, float]:
    """(the first loss, the mean of the last five) of `steps` Adam steps; ValueError when the loss did not fall."""
    losses = adam_steps(model, batch, steps, lr)
    first, last = losses[0], sum(losses[-5:]) / len(losses[-5:])
    if not all(math.isfinite(value) for value in losses):
        raise ValueError("loss became non-finite")
    # a loss bounded below by more than 0 (a multinomial likelihood's entropy) must fall towards its floor
    floor = float(model.loss_floor(batch)) if hasattr(model, "loss_floor") else 0.0
    if last - floor > (first - floor) * (1 - MIN_RELATIVE_DROP):
        raise ValueError(f"loss did not fall: {first:.4f} -> {last:.4f} in {steps} steps")
    return first, last


def check_fit(model: torch.nn.Module, config: dict[str, Any], batch: dict[str, torch.Tensor]) -> str:
    """A model fitted once (its regime's `fit`) fits the train rows: finite weights, and the batch users' own train
    items scored above their other items on average (what a fitted item-item model reproduces)."""
    started = time.perf_counter()
    resolve(config_regime(config).fit)(model)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        scores = model.full_sort_scores(batch["users"])
    if not torch.isfinite(scores).all():
        raise ValueError("the fitted model's scores are not finite")
    rows = batch["rows"].to(scores.device) > 0
    own, other = scores[rows].mean(), scores[~rows].mean()
    if not own > other:
        raise ValueError(f"the fit does not reproduce the train rows: their items score {own:.4f} on average, "
                         f"the others {other:.4f}")
    return f"fitted in {seconds:.2f} s; train items score {own:.4f} on average, the others {other:.4f}"


def probe(model_dir: str, split_dir: str, steps: int, lr: float, batch_size: int) -> list[Gate]:
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    state: dict[str, Any] = {}

    def build() -> str:
        config = state["config"] = load_config(model_dir)
        regime = config_regime(config)  # the regime's split, probe batch and shape check
        split = state["split"] = resolve(regime.load_split)(split_dir)
        state["batch"] = resolve(regime.probe_batch)(split, config, batch_size)
        state["shapes"] = resolve(regime.shape_check)
        state["model"] = build_model(model_dir, config, split)
        slot_shapes.attach(state["model"])  # every call of a custom part is checked against its slot's shapes
        return f"{type(state['model']).__name__}: {state['model'].n_parameters()} parameters"

    gates = [run_gate("build", build)]
    if gates[-1]["ok"]:
        gates.append(run_gate("shapes", lambda: state["shapes"](state["model"], state["batch"])))
    if gates[-1]["ok"] and config_regime(state["config"]).fit is not None:  # fitted once: no steps to overfit
        gates.append(run_gate("fit", lambda: check_fit(state["model"], state["config"], state["batch"])))
    elif gates[-1]["ok"]:
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
