"""paper_autotrain: from a recommender-systems paper to a trained, benchmarked reproduction.

`paper_autotrain.load(results_dir)` gives a trained model back (paper_autotrain/trained.py); importing the
package itself stays light (no torch).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def load(path: Any, seed: int | None = None) -> Any:
    """The trained model under results/<key> with its best weights: `.recommend(user, k)`, `.export(path)`,
    `.model`, `.split` (see paper_autotrain.trained.load)."""
    from paper_autotrain.trained import load as load_trained

    return load_trained(path, seed)
