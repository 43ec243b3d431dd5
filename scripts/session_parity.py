"""Session/sequential parity runs: NARM, STAMP, NextItNet and FPMC read from their fixture papers, end to end, against
RecBole's class of each.

usage: python scripts/session_parity.py [--models NARM,STAMP] [--epochs 5] [--out results/session_parity]
                                       [--threads 1] [hydra overrides for every run]

For every model: write the fixture paper of tests/test_session_papers.py as a PDF and run
`python -m paper_autotrain PAPER trainer.max_epochs=E baselines=[Pop]` on MovieLens-100K (the default sequential
split, one seed; RecBole's class of the paper's model trains as the reference), so both sides train with the spec's
hyperparameters on the same sequences for the same capped epoch budget, scored by our evaluator. Writes
OUT/parity.json and OUT/parity.md (the table of scripts/graph_parity.py), rewritten after every model.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from graph_parity import METRIC, TOLERANCE, markdown
from parity import fixture_pdf, pipeline_command, run_all, run_and_read

from tests.test_session_papers import PAPERS


def run_model(model: str, out: Path, epochs: int, extra: list[str]) -> dict[str, Any]:
    pdf = fixture_pdf(out, model, PAPERS[model][0])
    root = out / "runs"
    row: dict[str, Any] = {"model": model, "epochs": epochs}
    runs = run_and_read(pipeline_command(pdf, root, epochs, "baselines=[Pop]", "force=true", *extra), root, model, row)
    if runs is None:
        return row
    ours, theirs = runs
    row.update({
        "ours": ours["test"][METRIC], "recbole": theirs["test"][METRIC],
        "ours_train_s": ours.get("train_time_s"), "recbole_train_s": theirs.get("train_time_s"),
        "ours_epochs": [ours.get("epochs_run"), ours.get("best_epoch")],
        "recbole_epochs": [theirs.get("epochs_run"), theirs.get("best_epoch")],
        "ours_params": ours.get("n_params"), "recbole_params": theirs.get("n_params"),
    })
    row["relative"] = row["ours"] / row["recbole"] - 1.0
    row["within"] = abs(row["relative"]) <= TOLERANCE
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(PAPERS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("results/session_parity"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of every training process")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for every run (e.g. +hparams.x=1)")
    args = parser.parse_args(argv)
    if args.threads:  # both sides' training processes inherit it
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    out = args.out.resolve()
    return run_all(args.models, out, "parity", lambda model: run_model(model, out, args.epochs, args.overrides),
                   markdown)


if __name__ == "__main__":
    sys.exit(main())
