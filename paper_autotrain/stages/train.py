"""Train a rendered model in a subprocess with time and memory limits; return its RunResult.

The subprocess is ``python -m paper_autotrain.runtime.train`` run in `out_dir`; trainer settings
from cfg are passed as ``--set trainer.<key>=<value>`` so config.yaml stays the single source.
"""

from __future__ import annotations

import logging
import resource
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from paper_autotrain.errors import StageError
from paper_autotrain.schemas import RunResult, SplitInfo
from paper_autotrain.subprocesses import last_meaningful_line, subprocess_env

log = logging.getLogger(__name__)

TRAINER_KEYS = ("max_epochs", "patience", "accelerator", "devices", "precision", "seed", "deterministic")
DEFAULT_TIMEOUT_S = 3600
DEFAULT_MEMORY_MB = 16384


def run(model_dir: Path, split: SplitInfo, cfg: Mapping, out_dir: Path) -> RunResult:
    """Fit, restore the best checkpoint, score valid/test; StageError with one line on any failure."""
    cfg = dict(cfg or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    command = training_command(Path(model_dir), split, cfg, out_dir)
    timeout = float(cfg.get("timeout_s") or DEFAULT_TIMEOUT_S)
    log.info("train: %s", " ".join(command))
    stderr_path = out_dir / "train.stderr.log"
    with open(out_dir / "train.stdout.log", "w", encoding="utf-8") as stdout, \
            open(stderr_path, "w", encoding="utf-8") as stderr:
        try:
            done = subprocess.run(command, stdout=stdout, stderr=stderr, cwd=str(out_dir),
                                  env=subprocess_env(), timeout=timeout, preexec_fn=memory_limiter(cfg),
                                  check=False)
        except subprocess.TimeoutExpired:
            raise StageError(f"train: timed out after {timeout:g} s (raise train.timeout_s)") from None
    if done.returncode != 0:
        reason = last_meaningful_line(stderr_path.read_text(encoding="utf-8", errors="replace"))
        raise StageError(f"train: exit {done.returncode}: {reason}")
    result_path = out_dir / "result.json"
    if not result_path.exists():
        raise StageError(f"train: the run finished without writing {result_path}")
    return RunResult.model_validate_json(result_path.read_text(encoding="utf-8"))


def training_command(model_dir: Path, split: SplitInfo, cfg: Mapping, out_dir: Path) -> list[str]:
    command = [
        sys.executable, "-m", "paper_autotrain.runtime.train", "--model-dir", str(model_dir.resolve()),
        "--split-dir", str(Path(split.path).resolve()), "--out", str(out_dir.resolve()),
    ]
    for key in TRAINER_KEYS:
        if cfg.get(key) is not None:
            command += ["--set", f"trainer.{key}={cfg[key]}"]
    for override in cfg.get("overrides") or ():
        command += ["--set", str(override)]
    return command


def memory_limiter(cfg: Mapping) -> Callable[[], None] | None:
    """An RLIMIT_AS cap for the child (cfg memory_mb; 0 disables it).

    CUDA maps far more virtual address space than it uses, so the cap is skipped on GPU runs.
    """
    memory_mb = int(cfg.get("memory_mb", DEFAULT_MEMORY_MB) or 0)
    if memory_mb <= 0 or str(cfg.get("accelerator", "cpu")).lower() not in ("cpu",):
        return None
    limit = memory_mb * 1024 * 1024

    def apply_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply_limit




