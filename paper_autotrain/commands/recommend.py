"""`python -m paper_autotrain recommend RESULTS_DIR --user U [-k 10] [--seed N]`: a trained model's top-k items for
a user, the items the user has seen excluded; `python -m paper_autotrain export RESULTS_DIR OUT.pt`: the model
as TorchScript."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from paper_autotrain.commands.config import EXIT_USER, print_error
from paper_autotrain.errors import UserError

WHERE = "RESULTS_DIR: results/<key> of a trained paper (or its train/seed<N> folder)"


class Parser(argparse.ArgumentParser):
    """argparse that raises a UserError (one line, exit 2) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def recommend_parser() -> Parser:
    parser = Parser(prog="python -m paper_autotrain recommend", description=__doc__.split(";")[0])
    parser.add_argument("results", help=WHERE)
    parser.add_argument("--user", required=True, help="the user's token in the dataset (e.g. 196 for ml-100k)")
    parser.add_argument("-k", type=int, default=10, help="how many items (default 10)")
    parser.add_argument("--seed", type=int, default=None, help="which seed's model (default: the first)")
    return parser


def export_parser() -> Parser:
    parser = Parser(prog="python -m paper_autotrain export",
                    description="The trained model as a TorchScript file that scores every item.")
    parser.add_argument("results", help=WHERE)
    parser.add_argument("out", help="the .pt file to write")
    parser.add_argument("--seed", type=int, default=None, help="which seed's model (default: the first)")
    return parser


def recommend(argv: Sequence[str]) -> int:
    from paper_autotrain.trained import format_recommendations, load

    try:
        args = recommend_parser().parse_args(list(argv))
        trained = load(args.results, args.seed)
        print(format_recommendations(args.user, trained.recommend(args.user, args.k)))
    except UserError as exc:
        print_error(exc)
        return EXIT_USER
    return 0


def export(argv: Sequence[str]) -> int:
    from paper_autotrain.trained import load

    try:
        args = export_parser().parse_args(list(argv))
        path = load(args.results, args.seed).export(args.out)
    except UserError as exc:
        print_error(exc)
        return EXIT_USER
    print(f"exported: {path} (scores = torch.jit.load(path)(users); sequential: (histories, lengths, users))")
    return 0


if __name__ == "__main__":
    sys.exit(recommend(sys.argv[1:]))
