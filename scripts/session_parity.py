"""Session and cloze parity runs: the sequential models of tests/test_bert_graph_session_papers.py (BERT4Rec), each
read from its fixture paper and run end to end against RecBole's class of it, by scripts/graph_parity.py's runner.

usage: python scripts/session_parity.py [--models BERT4Rec] [--epochs 2] [--out results/session_parity]
                                       [--threads 1] [hydra overrides for every run]

Same table and tolerance as graph_parity.py (OUT/parity.json and OUT/parity.md, ours vs RecBole's test NDCG@10 on
MovieLens-100K's leave-one-out split, the same epoch budget on both sides).
"""

from __future__ import annotations

import sys

import graph_parity

from tests.test_bert_graph_session_papers import PAPERS

if __name__ == "__main__":
    graph_parity.PAPERS = PAPERS  # the graph runner over this file's fixture papers
    sys.exit(graph_parity.main(sys.argv[1:] or ["--epochs", "2", "--out", "results/session_parity"]))
