"""Sequential and session parity runs: the models of tests/test_session_papers.py (NARM, STAMP, NextItNet, FPMC),
tests/test_bert_graph_session_papers.py (BERT4Rec, SR-GNN, GC-SAN), tests/test_transrec_papers.py (TransRec) and
tests/test_feature_sequence_papers.py (SASRecF, FDSA: ML-100K's genres and release year), each read from its fixture
paper and run end to end against RecBole's class of it, by scripts/graph_parity.py's runner.

usage: python scripts/session_parity.py [--models NARM,BERT4Rec] [--epochs 3] [--out results/session_parity]
                                       [--threads 1] [--set BLOCK.WORD=VALUE ...] [hydra overrides for every run]

`--set BLOCK.WORD=VALUE` (repeatable; NAME=VALUE: a hyperparameter) gives a block its structural word, e.g. on GC-SAN:
`--set session_graph_encoder.edge_weights=unit --set graph_self_attention.layer_form=transformer`; the paper is read
first (until=extract), the words put on the run's spec.yaml (bench.py's `--set`: tests/fixture_papers.with_settings),
then the run goes on from the render stage (RecBole's side trains with the config mapped from the edited spec; a
block option giving RecBole's choice leaves that config as it was, so a second run into the same --out reuses RecBole's
runs from the baselines cache). The spec's `unclear` notes still say where the paper left a value set this way open.

Same table and tolerance as graph_parity.py (OUT/parity.json and OUT/parity.md, ours vs RecBole's test NDCG@10 on
MovieLens-100K's leave-one-out split, the same capped epoch budget on both sides).
"""

from __future__ import annotations

import sys

import graph_parity

SESSION_PAPERS = ("tests.test_session_papers,tests.test_bert_graph_session_papers,tests.test_transrec_papers,"
                  "tests.test_feature_sequence_papers")
DEFAULTS = ["--papers", SESSION_PAPERS, "--epochs", "3", "--out", "results/session_parity"]


def main(argv: list[str]) -> int:
    return graph_parity.main(DEFAULTS + argv)  # a flag given again on the command line wins (argparse keeps the last)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
