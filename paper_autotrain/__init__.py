"""paper_autotrain: from a recommender-systems paper to a trained, benchmarked reproduction.

`paper_autotrain.load(results_dir)` gives a trained model back (paper_autotrain/trained.py). Importing the
package stays light (no torch): `load` is looked up when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """`load` from paper_autotrain.trained, imported on first use. The module name is computed, not written out,
    so the package root does not depend on the training code: every module imports its parent package, and a
    static edge here would put torch and the worker into every stage's import closure (and code hash)."""
    if name == "load":
        return importlib.import_module(f"{__name__}.{'trained'}").load
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
