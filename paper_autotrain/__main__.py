"""`python -m paper_autotrain SOURCE [overrides]` and the `paper-autotrain` console script."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

# `key=value`, `+key=value`, `group/option=value`: what Hydra reads as an override
OVERRIDE = re.compile(r"^[+~]{0,2}[A-Za-z_][\w.@/-]*=")

USAGE = ("usage: python -m paper_autotrain SOURCE [key=value ...]   "
         "(SOURCE: arxiv:ID, a URL, a PDF or a LaTeX folder/.tar.gz; see README.md)")


def quote_override_value(value: str) -> str:
    """Quote SOURCE for Hydra's override grammar (paths and ids contain ':' and '/')."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def rewrite_source(args: Sequence[str]) -> list[str]:
    """Hydra rejects a bare `arxiv:ID` or path: the first positional argument becomes `paper=...`."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg.startswith("-"):
            continue
        if not OVERRIDE.match(arg) or Path(arg).exists():
            out[i] = f"paper={quote_override_value(arg)}"
        break
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        if args:
            print("Settings: python -m paper_autotrain --cfg job  (shows every configurable key)")
        return 0 if args else 2
    from paper_autotrain.cli import check_overrides, hydra_main, print_error
    from paper_autotrain.errors import UserError

    args = rewrite_source(args)
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
