"""Parity runs of the models fitted once (EASE, ItemKNN, SLIM): each read from its fixture paper, end to end, against
RecBole's class of it.

usage: python scripts/closed_form_parity.py [--models EASE,ItemKNN,SLIM] [--out results/closed_form_parity]
                                           [--threads 1] [hydra overrides for every run, e.g. +hparams.shrink=0]

For every model: write the fixture paper of tests/test_closed_form_papers.py as a PDF and run
`python -m paper_autotrain PAPER trainer.max_epochs=1 baselines=[Pop]` on MovieLens-100K (the default split, one
seed): ours is fitted once on the train split; RecBole's class (the reference) fits in its constructor and passes
its one epoch of a fake loss, both with the spec's values and scored by our evaluator. Writes OUT/parity.json and
OUT/parity.md (graph_parity.py's table: ours vs RecBole's test NDCG@10, the relative difference, seconds: ours the
fit, RecBole's its constructor, where it fits, and its epoch).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import graph_parity
from parity import fixture_pdf, pipeline_command, run_all, run_and_read

from tests.test_closed_form_papers import PAPERS

EPOCHS = 1  # the baselines' budget; a fitted model has none, RecBole's fitted classes run one fake-loss epoch


def run_model(model: str, out: Path, extra: list[str]) -> dict[str, Any]:
    pdf = fixture_pdf(out, model, PAPERS[model][0])
    root = out / "runs"
    row: dict[str, Any] = {"model": model, "epochs": "fit"}
    runs = run_and_read(pipeline_command(pdf, root, EPOCHS, "baselines=[Pop]", "force=true", *extra), root, model,
                        row)
    if runs is None:
        return row
    ours, theirs = runs
    metric = graph_parity.METRIC
    row.update({
        "ours": ours["test"][metric], "recbole": theirs["test"][metric],
        # RecBole's fitted classes fit in their constructor (build_time_s), before their one fake-loss epoch
        "ours_train_s": ours.get("train_time_s"),
        "recbole_train_s": theirs.get("train_time_s", 0.0) + theirs["config"].get("build_time_s", 0.0),
        "ours_epochs": [ours.get("epochs_run"), ours.get("best_epoch")],
        "recbole_epochs": [theirs.get("epochs_run"), theirs.get("best_epoch")],
        "ours_params": ours.get("n_params"), "recbole_params": theirs.get("n_params"),
    })
    row["relative"] = row["ours"] / row["recbole"] - 1.0
    row["within"] = abs(row["relative"]) <= graph_parity.TOLERANCE
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(PAPERS))
    parser.add_argument("--out", type=Path, default=Path("results/closed_form_parity"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every process")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for every run (e.g. +hparams.x=1)")
    args = parser.parse_args(argv)
    if args.threads:  # both sides' processes inherit it
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    out = args.out.resolve()
    return run_all(args.models, out, "parity", lambda model: run_model(model, out, args.overrides),
                   graph_parity.markdown)


if __name__ == "__main__":
    sys.exit(main())
