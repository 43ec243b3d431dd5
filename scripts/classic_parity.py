"""Classic general-family parity runs (issue 19): the models of tests/test_classic_papers.py (DMF, ENMF, ConvNCF),
each read from its fixture paper and run end to end against RecBole's class of it, by scripts/graph_parity.py's
runner.

usage: python scripts/classic_parity.py [--models DMF,ENMF] [--epochs 3] [--out results/classic_parity]
                                       [--threads 1] [hydra overrides for every run]

Same table and tolerance as graph_parity.py (OUT/parity.json and OUT/parity.md, ours vs RecBole's test NDCG@10 on
MovieLens-100K's default split, the same epoch budget on both sides).
"""

from __future__ import annotations

import sys

import graph_parity

DEFAULTS = ["--papers", "tests.test_classic_papers", "--epochs", "3", "--out", "results/classic_parity"]


def main(argv: list[str]) -> int:
    return graph_parity.main(DEFAULTS + argv)  # a flag given again on the command line wins (argparse keeps the last)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
