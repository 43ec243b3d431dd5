"""Train a rendered model in a sandboxed subprocess with time and memory limits; return its RunResult.

The subprocess is ``python -m paper_autotrain.worker.train`` run through
:func:`paper_autotrain.sandbox.process.run_sandboxed` in `out_dir`, the only folder it may write (the model and
split folders are read-only to it; no network, no processes). Trainer settings from cfg are passed as
``--set trainer.<key>=<value>`` so config.yaml stays the single source.

With several seeds (`run_seeds`) each seed trains in its own sandboxed subprocess and folder,
`out_dir/seed<N>/` (result.json, per_user_test.npz, history.csv, checkpoints, logs), with the model code as it
trained and the split beside them (`keep_for_use`), so `paper_autotrain.load` works after a re-render.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from paper_autotrain.data.candidates import prepare_for_seeds, ranking_of
from paper_autotrain.errors import StageError
from paper_autotrain.progress import relay
from paper_autotrain.regimes import config_regime, resolve
from paper_autotrain.sandbox.process import SandboxLimits, mentions_out_of_memory, run_sandboxed
from paper_autotrain.schemas import RunResult, SplitInfo
from paper_autotrain.worker.loading import load_config
from paper_autotrain.worker.loggers import logger_name

log = logging.getLogger(__name__)

TRAINER_KEYS = ("max_epochs", "patience", "accelerator", "devices", "precision", "seed", "deterministic", "strategy")
DEFAULT_TIMEOUT_S = 3600
DEFAULT_MEMORY_MB = 16384
MEMORY_HINT = " (out of memory: lower the batch size, e.g. +hparams.batch_size=512, or raise trainer.memory_mb)"
HINTS = {"memory": MEMORY_HINT, "cpu": " (raise trainer.timeout_s)"}
KEPT_MODEL_FILE, SPLIT_FILE = "model.py", "split.json"  # beside each seed's result.json (paper_autotrain.trained)


def run(model_dir: Path, split: SplitInfo, cfg: Mapping, out_dir: Path) -> RunResult:
    """Fit, restore the best checkpoint, score valid/test; StageError with one line on any failure."""
    cfg = dict(cfg or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    load = resolve(config_regime(load_config(model_dir)).load_split)  # the split in the model's regime
    prepare_for_seeds(split.path, ranking_of(cfg.get("ranking")), [int(cfg.get("seed", 0))], load)
    command = training_command(Path(model_dir), split, cfg, out_dir)
    timeout = float(cfg.get("timeout_s") or DEFAULT_TIMEOUT_S)
    limits = SandboxLimits(wall_s=timeout, memory_mb=memory_limit_mb(cfg), workers=multi_device(cfg))
    log.info("train: %s", " ".join(command))
    # generated code runs here: it may write only into out_dir (and its own TMPDIR there)
    done = run_sandboxed(command, workdir=out_dir, limits=limits, stdout_path=out_dir / "train.stdout.log",
                         stderr_path=out_dir / "train.stderr.log",
                         on_stderr_line=relay(log, f"train ours (seed {cfg.get('seed', 0)})"))
    if done.killed == "timeout":
        raise StageError(f"train: timed out after {timeout:g} s (raise trainer.timeout_s)")
    if not done.ok:
        line = done.one_line()
        raise StageError(f"train: {line}{failure_hint(done.killed, line)}")
    result_path = out_dir / "result.json"
    if not result_path.exists():
        raise StageError(f"train: the run finished without writing {result_path}")
    keep_for_use(Path(model_dir), split, out_dir)
    return RunResult.model_validate_json(result_path.read_text(encoding="utf-8"))


def keep_for_use(model_dir: Path, split: SplitInfo, seed_dir: Path) -> None:
    """The model code as it trained and the split it trained on, beside the seed's result and checkpoint."""
    (seed_dir / KEPT_MODEL_FILE).write_bytes((model_dir / KEPT_MODEL_FILE).read_bytes())
    (seed_dir / SPLIT_FILE).write_text(split.model_dump_json(indent=1), encoding="utf-8")


def failure_hint(killed: str | None, line: str) -> str:
    """What to change, for the failures whose remedy is a setting: limits hit, memory exhausted."""
    if killed in HINTS:
        return HINTS[killed]
    return MEMORY_HINT if mentions_out_of_memory(line) else ""


def seed_dir(out_dir: Path, seed: int) -> Path:
    """The folder one seed's run writes (and may only write)."""
    return Path(out_dir) / f"seed{int(seed)}"


def run_seeds(model_dir: Path, split: SplitInfo, cfg: Mapping, seeds: Sequence[int], out_dir: Path) -> list[RunResult]:
    """`run` once per seed, each into `seed_dir(out_dir, seed)`; the first failure stops the stage."""
    if not seeds:
        raise StageError("train: no seeds to train (seeds=[...] is empty)")
    return [run(model_dir, split, {**dict(cfg or {}), "seed": int(seed)}, seed_dir(out_dir, seed)) for seed in seeds]


def record_in_mlflow(cfg: Mapping, train_dir: Path, results: Sequence[RunResult]) -> None:
    """logger=mlflow: one MLflow run per seed from its logs/metrics.csv, written here, outside the sandbox
    (records/mlflow_runs.py), once the seeds' folders are in `train_dir`. A store that refuses (a tracking
    server down) costs the record, not the training: a warning says so."""
    options = dict(cfg.get("logger") or {})
    if logger_name(options) != "mlflow":
        return
    from paper_autotrain.records.mlflow_runs import record_runs

    try:
        uri = record_runs(options, train_dir, [(result, seed_dir(train_dir, result.seed)) for result in results])
    except Exception as exc:  # any client or server error: the trained runs stay as they are
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        log.warning("train: the MLflow runs were not recorded: %s", reason)
        return
    log.info("train: MLflow runs recorded in %s (experiment %s)", uri,
             options.get("experiment_name") or "paper_autotrain")


def training_command(model_dir: Path, split: SplitInfo, cfg: Mapping, out_dir: Path) -> list[str]:
    command = [
        sys.executable, "-m", "paper_autotrain.worker.train", "--model-dir", str(model_dir.resolve()),
        "--split-dir", str(Path(split.path).resolve()), "--out", str(out_dir.resolve()),
    ]
    for key in TRAINER_KEYS:
        if cfg.get(key) is not None:
            command += ["--set", f"trainer.{key}={cfg[key]}"]
    if cfg.get("ranking"):  # eval.ranking: full or sampled-N (the worker reads the candidates `run` drew)
        command += ["--set", f"eval.ranking={cfg['ranking']}"]
    if cfg.get("logger"):  # logger=csv|tensorboard|mlflow: the worker needs its name only (worker/loggers.py)
        command += ["--set", f"logger.name={logger_name(cfg['logger'])}"]
    for override in cfg.get("overrides") or ():
        command += ["--set", str(override)]
    return command


def memory_limit_mb(cfg: Mapping) -> int | None:
    """The child's address-space cap in MB (cfg memory_mb; 0 disables it).

    CUDA maps far more virtual address space than it uses, so the cap is skipped on GPU runs.
    """
    memory_mb = int(cfg.get("memory_mb", DEFAULT_MEMORY_MB) or 0)
    if memory_mb <= 0 or str(cfg.get("accelerator", "cpu")).lower() not in ("cpu",):
        return None
    return memory_mb


memory_limiter = memory_limit_mb  # the earlier name


def multi_device(cfg: Mapping) -> bool:
    """Whether Lightning starts a process per device (DDP): the sandbox then lets it re-run this interpreter
    and use loopback sockets."""
    devices = cfg.get("devices", 1)
    if isinstance(devices, list | tuple):
        return len(devices) > 1
    return str(devices).strip() not in ("1", "None", "")
