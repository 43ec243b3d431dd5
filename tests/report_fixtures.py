"""Small RunResults, per-user arrays and histories for the report tests (no training).

Per-user values are built so the outcome is known: `shift` moves a model's every user up, and each run's
test means are the means of its own per-user arrays, as our evaluator computes them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from paper_autotrain.schemas import (
    Component,
    Deviation,
    Fidelity,
    HyperParameter,
    MethodSpec,
    PaperMeta,
    Protocol,
    ProtocolItem,
    Reported,
    RunResult,
    SplitInfo,
)
from paper_autotrain.stages.compare import RunFiles, run_key
from tests.model_fixtures import reference_spec

N_USERS = 300
USERS = np.arange(3, 3 + N_USERS)  # our user indices with a test target
SPLIT = SplitInfo(dataset="ml-100k", split_id="abc123", path="/x", n_users=N_USERS, n_items=500, n_train=8000,
                  n_valid=1000, n_test=1000, protocol="per-user 0.8/0.1/0.1 split, full ranking")
INJECTED = '<script>document.title="owned"</script><img src=x onerror=alert(1)>'


def spec() -> MethodSpec:
    return MethodSpec(
        paper=PaperMeta(key="tinyprop", title="TinyProp: propagation for tiny graphs"), family="graph",
        model_name="TinyProp", loss="bpr",
        hyperparameters={
            "embedding_size": HyperParameter(value=32, evidence="p4: the embedding size is fixed to 32"),
            "learning_rate": HyperParameter(value=0.001, evidence=f"p5: we use a learning rate of 0.001 {INJECTED}"),
            "batch_size": HyperParameter(value=2048, source="default"),
        },
        reported=[Reported(dataset="Gowalla", metric="Recall@20", value=0.1831, table="Table 3")],
        unclear=["the negative sampling ratio is not stated"],
    )


def protocol_spec() -> MethodSpec:
    """spec() with the protocol a paper states: leave-one-out, 100 sampled negatives, 10-core, a hostile quote."""
    return spec().model_copy(update={"protocol": Protocol(
        split=ProtocolItem(value="leave-one-out (latest interaction per user)",
                           evidence="p6: we hold out the latest interaction of each user as the test item"),
        ranking=ProtocolItem(value="sampled-100", evidence=f"p6: we randomly sample 100 negative items {INJECTED}"),
        filters=ProtocolItem(value="10-core", evidence="p5: we use the 10-core setting"),
        early_stopping=ProtocolItem(value="early stopping, patience 10",
                                    evidence="p6: we stop training if NDCG@20 does not increase for 10 epochs"),
    )})


def per_user(shift: float, seed: int, noise: float = 0.02) -> dict[str, np.ndarray]:
    """Per-user NDCG@10/Recall@10: a shared base per user, `shift` added, seed-dependent noise."""
    base = np.random.default_rng(7).uniform(0.05, 0.45, N_USERS)
    ndcg = np.clip(base + shift + np.random.default_rng(1000 + seed).normal(0.0, noise, N_USERS), 0.0, 1.0)
    return {"ndcg@10": ndcg, "recall@10": np.clip(ndcg * 1.4, 0.0, 1.0)}


def result(model: str, role: str, seed: int, values: dict[str, np.ndarray], reference: bool = False,
           epochs: int = 8) -> RunResult:
    return RunResult(model=model, role=role, dataset="ml-100k", split_id="abc123", seed=seed,
                     test={name: float(v.mean()) for name, v in values.items()}, best_epoch=epochs - 1,
                     epochs_run=epochs, train_time_s=12.5 + seed, n_params=19_264,
                     config={"reference": reference, "trainer": {"max_epochs": 8, "patience": 10}})


def write_per_user(path: Path, values: dict[str, np.ndarray]) -> Path:
    """The layout worker/train.py write_outputs uses: users plus `ndcg_at_10`-style arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, users=USERS, **{name.replace("@", "_at_"): v for name, v in values.items()})
    return path


def valid_curve(model: str, epoch: int, seed: int) -> float:
    """The known valid NDCG@10 of each fixture model: ours rises and flattens near 0.30, the reference LightGCN
    rises more slowly to near 0.27 over 12 epochs, Pop is one epoch at 0.15."""
    if model == "LightGCN":
        return 0.27 - 0.15 * 0.75 ** epoch + 0.003 * seed
    if model == "Pop":
        return 0.15 + 0.003 * seed
    return 0.30 - 0.2 * 0.6 ** epoch + 0.003 * seed


FIXTURE_EPOCHS = {"TinyProp": 8, "LightGCN": 12, "Pop": 1}


def write_history(path: Path, seed: int, epochs: int = 8, model: str = "TinyProp") -> Path:
    """history.csv as worker/history.py (ours) and the baselines' runner write it: loss falls, valid NDCG@10 as
    `valid_curve`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["epoch", "train_loss", "valid_ndcg@10", "train_s", "eval_s"])
        writer.writeheader()
        for epoch in range(1, epochs + 1):
            writer.writerow({"epoch": epoch, "train_loss": 0.69 * 0.8 ** epoch + 0.01 * seed,
                             "valid_ndcg@10": valid_curve(model, epoch, seed), "train_s": 1.2, "eval_s": 0.3})
    return path


def runs(folder: Path, seeds: list[int], ours_shift: float = 0.05, with_failure: bool = True,
         baseline_curves: bool = True) -> tuple[list[RunResult], list[RunResult], RunFiles]:
    """Ours (TinyProp), the reference LightGCN and Pop, once per seed, with their files written under `folder`
    (the baselines' per-epoch histories too, unless `baseline_curves` is False)."""
    ours, baselines, paths = [], [], {}
    for seed in seeds:
        for model, role, shift, reference in (("TinyProp", "reproduced", ours_shift, False),
                                              ("LightGCN", "baseline", 0.0, True),
                                              ("Pop", "baseline", -0.04, False)):
            values = per_user(shift, seed if role == "baseline" else seed + 50)
            run = result(model, role, seed, values, reference=reference)
            (ours if role == "reproduced" else baselines).append(run)
            paths[run_key(run)] = write_per_user(folder / f"{role}-{model}-seed{seed}.npz", values)
    if with_failure:
        baselines.append(RunResult(model="NGCF", role="baseline", dataset="ml-100k", split_id="abc123",
                                   seed=seeds[0], test={}, status="failed", error="CUDA out of memory"))
    histories = {seed: write_history(folder / f"history-seed{seed}.csv", seed) for seed in seeds}
    curves = {run_key(run): write_history(folder / f"history-{run.model}-seed{run.seed}.csv", run.seed,
                                          FIXTURE_EPOCHS[run.model], run.model)
              for run in baselines if run.status == "ok"} if baseline_curves else {}
    return ours, baselines, RunFiles.read(paths, histories, curves)


# --- fidelity: an approximation and a faithful spec with a deviation (CTR: DeepFM's blocks) ------------------

MISSING = "attention network over pairwise interactions"
DEVIATION = Deviation(component="factorization machine", paper=f"p3: pairwise interactions are summed {INJECTED}",
                      ours="inner products of the field embeddings, summed")


def deepfm_with(fidelity: Fidelity, reference: str | None) -> MethodSpec:
    """The DeepFM reference spec with a component inventory, validated (its blocks must be in the architecture)."""
    spec = reference_spec("DeepFM").model_copy(update={"fidelity": fidelity, "reference": reference})
    return MethodSpec.model_validate(spec.model_dump())


def partial_spec() -> MethodSpec:
    """AFM read as DeepFM's blocks: its attention network over the pairwise interactions is not built."""
    return deepfm_with(Fidelity(verdict="partial", components=[
        Component(name=MISSING, evidence="p3: an attention network weighs each pairwise interaction", block=None),
        Component(name="factorization machine", evidence="p2: pairwise interactions", block="fm_interaction"),
    ]), reference="AFM")


def faithful_spec(reference: str | None = "DeepFM") -> MethodSpec:
    """DeepFM with every component built and one deviation from the paper."""
    return deepfm_with(Fidelity(verdict="faithful", components=[
        Component(name="factorization machine", evidence="p2: an FM component", block="fm_interaction"),
        Component(name="deep component", evidence="p3: a feed-forward network", block="mlp_tower"),
    ], deviations=[DEVIATION]), reference=reference)


def ctr_runs(reference: str | None = "AFM") -> tuple[RunResult, list[RunResult]]:
    """Our DeepFM (the train stage writes role `reproduced` either way), the RecBole reference and FM."""
    def ctr(model: str, role: str, auc: float, is_reference: bool = False) -> RunResult:
        return RunResult(model=model, role=role, dataset="ml-100k", split_id="abc123", test={"auc": auc,
                         "logloss": 1 - auc}, config={"reference": is_reference})

    baselines = [ctr("FM", "baseline", 0.75)] + ([ctr(reference, "baseline", 0.79, True)] if reference else [])
    return ctr("DeepFM", "reproduced", 0.78), baselines
