"""iALS's lambda and alpha searched on validation for each confidence form, the same search for both.

    PYTHONPATH=. python scripts/ials_confidence_search.py MODEL_DIR SPLIT_DIR OUT [--trials 20] [--threads 1]

MODEL_DIR is an iALS model rendered from its paper (generated/ials: `confidence: log`, the paper's experiments);
the linear form (Eq. 2) is a copy of it with the block word changed. Each form gets an Optuna TPE study with the
same sampler seed, the same trials and the same log ranges as `hparams_search=optuna` would be given
(lambda = l2_reg in [1, 1e4], alpha in [0.1, 100]); each trial is the worker's own fit and evaluation
(`worker.train.train`), the objective its valid NDCG@10. Prints every trial, then each form's best by
validation with its test figures (the test split is read only for the chosen trial's report line).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import optuna
import torch

from paper_autotrain.worker.train import train

FORMS = ("log", "linear")
LAMBDA = (1.0, 1e4)
ALPHA = (0.1, 100.0)
MAIN = "ndcg@10"


def model_for(form: str, model_dir: Path, out: Path) -> Path:
    """The rendered model with its `confidence` block word set to `form`."""
    target = out / f"model_{form}"
    shutil.copytree(model_dir, target, dirs_exist_ok=True)
    source = (target / "model.py").read_text(encoding="utf-8")
    written = [line for line in source.splitlines() if line.strip().startswith("self.confidence = ")]
    if len(written) != 1:
        raise SystemExit(f"{model_dir}/model.py: expected one `self.confidence = ...` line, found {len(written)}")
    (target / "model.py").write_text(source.replace(written[0].strip(), f'self.confidence = "{form}"'),
                                     encoding="utf-8")
    return target


def search(form: str, model_dir: Path, split_dir: Path, out: Path, trials: int) -> list[dict]:
    rows: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        lam = trial.suggest_float("l2_reg", *LAMBDA, log=True)
        alpha = trial.suggest_float("confidence_alpha", *ALPHA, log=True)
        result = train(model_dir, split_dir, out / f"{form}_trial{trial.number}",
                       [f"model.regularization={lam}", f"model.confidence_alpha={alpha}"])
        row = {"form": form, "trial": trial.number, "lambda": lam, "alpha": alpha,
               "valid": result.valid[MAIN], "test": result.test[MAIN], "test_recall": result.test["recall@10"]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        return row["valid"]

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=trials)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("split_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args.out.mkdir(parents=True, exist_ok=True)
    every = []
    for form in FORMS:
        every += search(form, model_for(form, args.model_dir, args.out), args.split_dir, args.out, args.trials)
    (args.out / "trials.json").write_text(json.dumps(every, indent=1), encoding="utf-8")
    for form in FORMS:
        best = max((r for r in every if r["form"] == form), key=lambda r: r["valid"])
        print(f"best {form}: lambda {best['lambda']:.4g} alpha {best['alpha']:.4g} valid {MAIN} {best['valid']:.4f} "
              f"test {MAIN} {best['test']:.4f} test recall@10 {best['test_recall']:.4f} (trial {best['trial']})")


if __name__ == "__main__":
    main()
