"""Where the package's own files are: the one place that names them.

The Hydra configs (`conf/`) and the templates (`templates/`: block templates and manifests, losses, slots, prompts,
the report's and the leaderboard's pages) are package data inside the package, so a wheel carries them and an
installed `paper-autotrain` works from any folder, editable install or not.
"""

from __future__ import annotations

import os
import site
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CONF_DIR = PACKAGE_DIR / "conf"  # Hydra's primary config folder (config.yaml and its groups)
TEMPLATES_DIR = PACKAGE_DIR / "templates"  # the block library (top-k scaffold at its root, families in folders)
PROMPTS_DIR = TEMPLATES_DIR / "prompts"
REPORT_TEMPLATES_DIR = TEMPLATES_DIR / "report"
LEADERBOARD_TEMPLATES_DIR = TEMPLATES_DIR / "leaderboard"
PRICES_FILE = CONF_DIR / "llm_prices.yaml"
IMPORT_ROOT = PACKAGE_DIR.parent  # the folder a child process must import `paper_autotrain` from


def child_pythonpath(existing: str | None = None) -> str:
    """PYTHONPATH for a child Python process that imports the package: IMPORT_ROOT first, unless the interpreter
    finds the package there anyway (an installed wheel in site-packages: putting site-packages on PYTHONPATH
    would move it ahead of the standard library); then `existing`."""
    site_dirs = {Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()]}
    root = None if IMPORT_ROOT in site_dirs else str(IMPORT_ROOT)
    return os.pathsep.join(p for p in (root, existing or "") if p)


def checkout_root() -> Path | None:
    """The source checkout the package runs from (its pyproject.toml beside the package), None when installed."""
    return IMPORT_ROOT if (IMPORT_ROOT / "pyproject.toml").is_file() else None


__all__ = ["CONF_DIR", "IMPORT_ROOT", "LEADERBOARD_TEMPLATES_DIR", "PACKAGE_DIR", "PRICES_FILE", "PROMPTS_DIR",
           "REPORT_TEMPLATES_DIR", "TEMPLATES_DIR", "checkout_root", "child_pythonpath"]
