"""Baselines stage: RecBole models trained on the identical split, scored by our one evaluator.

Each model runs in its own subprocess (`paper_autotrain.stages.baselines.runner`) with an explicit
RecBole config dict, a wall-clock limit and a scratch working directory, once per seed (`seeds`). Results
are cached per (dataset, split, model, config with its seed, RecBole version), with the test values per
user beside them (`<key>.npz`, for the paired significance test); failures are reported, never cached.

The spec's reference model (`stages/references`) always runs beside the configured baselines.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from paper_autotrain.regimes import DEFAULT_REGIME, family_training_regime, regime, resolve
from paper_autotrain.sandbox.subprocesses import last_meaningful_line, subprocess_env
from paper_autotrain.schemas import MethodSpec, RunResult, SplitInfo
from paper_autotrain.stages.baselines.references import recbole_reference, reference_with_notes  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

# `baselines=[auto]` (the default) runs the default models of the regime the spec's family trains in
# (paper_autotrain/regimes.py); the reference model joins them
AUTO = "auto"
DEFAULT_KS = (10, 20)
RECBOLE_METRICS = ["Recall", "NDCG", "Hit", "MRR", "Precision"]
CACHE_VERSION = 3  # 2: non-parametric models report 0 parameters; 3: per-user test values kept beside
PER_USER_FILE = "per_user_test.npz"  # what the runner writes beside its result (RunResult.config["per_user"])
REFERENCE_KEYS = ("reference", "reference_of", "reference_notes")


# --- config and cache --------------------------------------------------------------------------------

def sequential_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Benchmark rows `user, history, target`: RecBole reads the histories as they are (no augmentation)."""
    return {
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"]},
        "alias_of_item_id": ["item_id_list"],
        "MAX_ITEM_LIST_LENGTH": int(cfg.get("max_seq_length", 50)),
        "eval_args": {"group_by": "user", "order": "TO", "mode": "full"},
        "train_neg_sample_args": None,  # softmax CE over all items, RecBole's default loss_type
    }


def regime_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What cfg's data regime changes in RecBole's config beyond the shared top-k protocol (its recbole_config)."""
    changes = regime(str(cfg.get("regime", DEFAULT_REGIME))).recbole_config
    return resolve(changes)(cfg) if changes is not None else {}


def recbole_config(overrides: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The complete RecBole config dict for one model: the shared protocol plus model overrides."""
    ks = [int(k) for k in cfg.get("ks") or DEFAULT_KS]
    config: dict[str, Any] = {
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id"]},
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
        "metrics": list(RECBOLE_METRICS),
        "topk": ks,
        "valid_metric": str(cfg.get("valid_metric", "NDCG@10")),
        "metric_decimal_place": 6,
        "eval_step": 1,
        "epochs": int(cfg.get("max_epochs", 50)),
        "stopping_step": int(cfg.get("patience", 10)),
        "seed": int(cfg.get("seed", 0)),
        "reproducibility": True,
        "show_progress": False,
        "log_wandb": False,
        "state": "WARNING",
        "save_dataset": False,
        "save_dataloaders": False,
        "worker": 0,
    }
    config.update(regime_config(cfg))
    shared = {"epochs", "valid_metric", "seed", "benchmark_filename", "eval_args", "topk", "metrics", "load_col",
              "MAX_ITEM_LIST_LENGTH"}
    for key, value in overrides.items():
        if key in shared:
            log.warning("ignoring override %s=%r: every baseline shares the protocol value", key, value)
            continue
        config[key] = value
    return config


def _recbole_version() -> str:
    try:
        return metadata.version("recbole")
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_key(split: SplitInfo, model: str, config: Mapping[str, Any], device: str) -> str:
    payload = {
        "dataset": split.dataset, "split_id": split.split_id, "model": model, "config": config,
        "device": device, "recbole": _recbole_version(), "v": CACHE_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _read_cache(path: Path) -> RunResult | None:
    try:
        result = RunResult.model_validate_json(path.read_text())
    except (OSError, ValueError, ValidationError):
        return None
    return result if result.status == "ok" else None


def _write_atomic(path: Path, text: str) -> None:
    _write_atomic_bytes(path, text.encode("utf-8"))


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_atomic(source: Path, target: Path) -> None:
    _write_atomic_bytes(target, source.read_bytes())


def per_user_cache_file(cache_file: Path) -> Path:
    """Where a cached result keeps its per-user test values: beside it, same key."""
    return cache_file.with_suffix(".npz")


def per_user_name(model: str, seed: int) -> str:
    """A baseline run's per-user file in the stage folder (`per_user/<model>-seed<N>.npz`)."""
    return f"{model}-seed{seed}.npz"


# --- running one model --------------------------------------------------------------------------------

MODEL_SUBMODULES = ("general_recommender", "context_aware_recommender", "sequential_recommender",
                    "knowledge_aware_recommender", "exlib_recommender")


def check_model_name(name: str) -> None:
    """Fail early, with a clear message, on a name that is no RecBole model (without importing RecBole)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("RecBole is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "model"
    for sub in MODEL_SUBMODULES:
        source = root / sub / f"{name.lower()}.py"
        if source.is_file():
            if f"class {name}(" not in source.read_text(encoding="utf-8", errors="replace"):
                raise ValueError(f"unknown RecBole model {name!r} (model names are case-sensitive)")
            return
    raise ValueError(f"unknown RecBole model {name!r}")


def _failed(model: str, split: SplitInfo, seed: int, error: str, config: dict[str, Any]) -> RunResult:
    line = " ".join(error.split())[:500] or "unknown error"
    return RunResult(model=model, role="baseline", dataset=split.dataset, split_id=split.split_id, seed=seed,
                     test={}, config=config, status="failed", error=line)


def run_model(model: str, config: dict[str, Any], split: SplitInfo, cfg: Mapping[str, Any],
              extra: Mapping[str, Any] | None = None, per_user_out: Path | None = None) -> RunResult:
    """Train and score one RecBole model in a subprocess; never raises for a model's failure.

    The runner's per-user test values, when it writes them, are copied to `per_user_out`.
    """
    seed = int(config.get("seed", 0))
    device = str(cfg.get("device", "cpu"))
    timeout = float(cfg.get("timeout_s", 3600))
    record = {"recbole": config, **(extra or {})}
    request = {
        "model": model, "dataset": split.dataset, "split_id": split.split_id,
        "split_path": str(Path(split.path).resolve()), "seed": seed,
        "ks": [int(k) for k in cfg.get("ks") or DEFAULT_KS], "device": device, "config": config,
        "regime": str(cfg.get("regime", DEFAULT_REGIME)),
    }
    try:
        check_model_name(model)
    except ValueError as exc:
        return _failed(model, split, seed, str(exc), record)
    env = subprocess_env(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")  # RecBole's checkpoint load under torch>=2.6
    with tempfile.TemporaryDirectory(prefix=f"baseline-{model}-") as tmp:
        workdir = Path(tmp)
        req_path, res_path = workdir / "request.json", workdir / "result.json"
        req_path.write_text(json.dumps(request, indent=1))
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "paper_autotrain.stages.baselines.runner", str(req_path), str(res_path)],
                cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            return _failed(model, split, seed, f"timed out after {timeout:g}s (timeout_s)", record)
        except OSError as exc:
            return _failed(model, split, seed, f"could not start the RecBole runner: {exc}", record)
        elapsed = time.perf_counter() - started
        try:
            payload = json.loads(res_path.read_text())
        except (OSError, ValueError):
            reason = last_meaningful_line(proc.stderr) if proc.stderr.strip() else f"exit status {proc.returncode}"
            return _failed(model, split, seed, f"runner produced no result: {reason}", record)
        per_user = workdir / PER_USER_FILE
        if per_user_out is not None and payload.get("status") == "ok" and per_user.is_file():
            _copy_atomic(per_user, per_user_out)
    if payload.get("status") != "ok":
        log.debug("%s runner stderr:\n%s", model, proc.stderr[-4000:])
        record = {**record, "stderr_tail": proc.stderr[-2000:]}
        return _failed(model, split, seed, str(payload.get("error") or "runner failed"), record)
    payload["config"] = {**payload.get("config", {}), **record, "wall_time_s": round(elapsed, 3)}
    try:
        return RunResult.model_validate(payload)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        return _failed(model, split, seed, f"runner result does not validate: {reason}", record)


def _plain(value: Any) -> Any:
    """Plain dicts/lists all the way down (Hydra hands over DictConfig/ListConfig)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


Plan = list[tuple[str, dict[str, Any], dict[str, Any]]]


def _plan(spec: MethodSpec | None, cfg: Mapping[str, Any]) -> Plan:
    """(model, overrides, extra config to record) for every model to run, the reference included."""
    raw = cfg.get("models")
    if raw is None:
        models: dict[str, Any] = {AUTO: {}}
    elif isinstance(raw, Mapping):
        models = _plain(raw)
    else:  # a plain list of names, e.g. baselines=[BPR,LightGCN]
        models = {str(m): {} for m in raw}
    if AUTO in models:
        family = spec.family if spec is not None else "general"
        expanded = {name: {} for name in family_training_regime(family).default_baselines}
        models = {**expanded, **{k: v for k, v in models.items() if k != AUTO}}
    reference = reference_with_notes(spec) if spec is not None else None
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    if reference is not None and reference[0] not in models:
        models[reference[0]] = {}
    for name, overrides in models.items():
        overrides = dict(overrides or {})
        extra: dict[str, Any] = {"reference": False}
        if reference is not None and name == reference[0]:
            overrides = {**reference[1], **overrides}  # cfg overrides on top of the spec's values
            extra = {"reference": True, "reference_of": spec.display_name, "reference_notes": reference[2]}
        plan.append((str(name), overrides, extra))
    return plan


def seeds_of(cfg: Mapping[str, Any]) -> list[int]:
    """cfg `seeds` (every model trains once per seed), else [cfg `seed`]."""
    seeds = cfg.get("seeds")
    return [int(s) for s in seeds] if seeds else [int(cfg.get("seed", 0))]


def _cached(cache_file: Path) -> RunResult | None:
    """A cached ok result; a miss when the per-user values it was written with are gone."""
    cached = _read_cache(cache_file)
    if cached is not None and cached.config.get("per_user") and not per_user_cache_file(cache_file).is_file():
        return None
    return cached


def run_one(name: str, config: dict[str, Any], split: SplitInfo, cfg: Mapping[str, Any], extra: dict[str, Any],
            cache_dir: Path) -> tuple[RunResult, Path]:
    """One model with one seed, from the cache when it holds the result: (result, its per-user cache file)."""
    cache_file = cache_dir / f"{cache_key(split, name, config, str(cfg.get('device', 'cpu')))}.json"
    per_user = per_user_cache_file(cache_file)
    cached = _cached(cache_file)
    if cached is not None:
        log.info("%s (seed %s): cached result %s", name, config["seed"], cache_file.name)
        for key in REFERENCE_KEYS:
            cached.config.pop(key, None)
        cached.config.update(extra)
        return cached, per_user
    log.info("%s (seed %s): training on %s (%s)%s", name, config["seed"], split.dataset, split.split_id,
             " [reference]" if extra.get("reference") else "")
    result = run_model(name, config, split, cfg, extra, per_user_out=per_user)
    if result.status == "ok":
        _write_atomic(cache_file, result.model_dump_json(indent=1))
        log.info("%s: %s", name, ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.test.items())))
    else:
        log.warning("%s failed: %s", name, result.error)
    return result, per_user


def run(spec: MethodSpec | None, split: SplitInfo, cfg: Mapping[str, Any],
        cache_dir: Path, per_user_dir: Path | None = None) -> list[RunResult]:
    """Train every configured RecBole model (and the spec's reference model) on `split`, once per seed.

    With `per_user_dir`, each ok run's per-user test values are copied there as `per_user_name(model, seed)`.
    """
    cache_dir = Path(cache_dir)
    results: list[RunResult] = []
    for name, overrides, extra in _plan(spec, cfg):
        for seed in seeds_of(cfg):
            config = recbole_config(overrides, {**cfg, "seed": seed})
            result, per_user = run_one(name, config, split, cfg, extra, cache_dir)
            if per_user_dir is not None and result.status == "ok" and per_user.is_file():
                _copy_atomic(per_user, Path(per_user_dir) / per_user_name(name, seed))
            results.append(result)
    return results
