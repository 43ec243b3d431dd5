"""`python -m paper_autotrain SOURCE [overrides]` and the `paper-autotrain` console script."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

# `key=value`, `+key=value`, `group/option=value`: what Hydra reads as an override
OVERRIDE = re.compile(r"^[+~]{0,2}[A-Za-z_][\w.@/-]*=")
# Hydra's flags that take a value (`--cfg job`): that value is not the SOURCE
HYDRA_VALUE_FLAGS = frozenset({"--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-path", "-cp",
                               "--config-dir", "-cd", "--experimental-rerun"})
HYDRA_OPTIONAL_VALUE_FLAGS = frozenset({"--info", "-i"})  # `--info` alone, or `--info config`
HYDRA_INFO_TOPICS = frozenset({"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"})

# Subcommands, module:function each: `python -m paper_autotrain ledger runs`, `... leaderboard`, `... recommend`.
COMMANDS = {"ledger": "paper_autotrain.commands.ledger:main",
            "leaderboard": "paper_autotrain.commands.leaderboard:main",
            "recommend": "paper_autotrain.commands.recommend:recommend",
            "export": "paper_autotrain.commands.recommend:export"}
USAGE = ("usage: python -m paper_autotrain SOURCE [key=value ...]   "
         "(SOURCE: arxiv:ID, a URL, a PDF or a LaTeX folder/.tar.gz; see README.md)\n"
         "       python -m paper_autotrain papers=LIST [key=value ...]   (every paper of conf/papers/LIST.yaml)\n"
         "       python -m paper_autotrain ledger {runs,history} ...  |  leaderboard [--fail-on-regression]\n"
         "       python -m paper_autotrain recommend RESULTS_DIR --user U [-k 10]  |  export RESULTS_DIR OUT.pt")


def quote_override_value(value: str) -> str:
    """Quote SOURCE for Hydra's override grammar (paths and ids contain ':' and '/')."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def rewrite_source(args: Sequence[str]) -> list[str]:
    """Hydra rejects a bare `arxiv:ID` or path: the first positional argument becomes `paper=...` (a value of
    one of Hydra's own flags, as in `--cfg job`, is not a positional argument)."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg.startswith("-") or flag_value(out, i):
            continue
        if not OVERRIDE.match(arg) or Path(arg).exists():
            out[i] = f"paper={quote_override_value(arg)}"
        break
    return out


def flags_first(args: Sequence[str]) -> list[str]:
    """Hydra's flags (with their values) before the overrides: Hydra's parser refuses overrides before a flag, and
    `python -m paper_autotrain paper.pdf --multirun x=1,2` is how people type it."""
    flags: list[str] = []
    overrides: list[str] = []
    for i, arg in enumerate(args):
        (flags if arg.startswith("-") or flag_value(args, i) else overrides).append(arg)
    return [*flags, *overrides]


def flag_value(args: Sequence[str], i: int) -> bool:
    """Whether args[i] is the value of the Hydra flag before it."""
    if i == 0:
        return False
    before = args[i - 1]
    return before in HYDRA_VALUE_FLAGS or (before in HYDRA_OPTIONAL_VALUE_FLAGS and args[i] in HYDRA_INFO_TOPICS)


def show_help() -> int:
    """Our usage, then Hydra's own help: the config groups and their options, every key with its default."""
    print(USAGE)
    print("Settings: python -m paper_autotrain --cfg job  (every key),  --info  (Hydra's view of the config)\n")
    from paper_autotrain.commands.run import hydra_main

    sys.argv = [sys.argv[0], "--help"]
    try:
        hydra_main()
    except SystemExit as exit_:  # Hydra exits after printing its help
        return int(exit_.code or 0)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(USAGE)
        return 2
    if args[0] in ("-h", "--help"):
        return show_help()
    if args[0] in COMMANDS:  # `ledger ...`, `leaderboard ...`: before SOURCE is rewritten into paper=...
        module, _, function = COMMANDS[args[0]].partition(":")
        return int(getattr(importlib.import_module(module), function)(args[1:]))
    from paper_autotrain.commands import batch

    if batch.find_list_arg(args) is not None:  # papers=NAME: the list as a Hydra --multirun
        return batch.main(args)
    from paper_autotrain.commands.config import check_overrides, print_error
    from paper_autotrain.commands.run import hydra_main
    from paper_autotrain.errors import UserError

    args = flags_first(rewrite_source(args))
    try:
        check_overrides(args)
    except UserError as exc:
        print_error(exc)
        return 2
    sys.argv = [sys.argv[0], *args]
    hydra_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
