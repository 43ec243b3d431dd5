"""Baselines stage: RecBole models trained on the identical split, scored by our one evaluator.

Each model runs in its own subprocess (`paper_autotrain.stages.baselines.runner`) with an explicit
RecBole config dict, a wall-clock limit and a scratch working directory, once per seed (`seeds`). Results
are cached per (dataset, split, model, config with its seed, RecBole version), with the test values per
user (`<key>.npz`, for the paired significance test) and the per-epoch history (`<key>.history.csv`, for the
report's curves) beside them; failures are reported, never cached.

While a model trains, its runner prints one progress line per epoch on stderr; the stage relays each to the
log as `baseline <model> (seed N): epoch 3/20: loss ..., valid_ndcg@10 ..., seconds, time left at most`, and
keeps the runner's whole stderr in `log_dir` (the stage folder's `logs/<model>-seed<N>.stderr.log`).

`n_jobs` runs several models (or seeds) at once, each in its own subprocess with its share of the cores
(torch threads and OMP/MKL threads = cores // n_jobs); `auto` is one job per core, at most four, and one on a
GPU. RecBole's models on data of this size gain little from a second thread and lose much when the cores are
shared (the baselines stage of tinyprop.pdf, Pop, ItemKNN, BPR and LightGCN for 10 epochs, on 2 cores at a
load average of 2.3-3.6 from other work: 165 s one at a time with torch's two threads, 69 s one at a time with
one thread, 52 s two at a time with one thread each). Concurrent runs give the same numbers as
sequential ones (same configs, same seeds); the reference, usually the longest, starts first.

The spec's reference model (`stages/references`) always runs beside the configured baselines.
"""

from __future__ import annotations

import contextvars
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
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from paper_autotrain.data.candidates import candidates_identity, negatives_of, prepare_for_seeds, ranking_of
from paper_autotrain.errors import UserError
from paper_autotrain.progress import relay
from paper_autotrain.regimes import DEFAULT_REGIME, family_training_regime, regime, resolve
from paper_autotrain.sandbox.process import following
from paper_autotrain.sandbox.subprocesses import last_meaningful_line, subprocess_env
from paper_autotrain.schemas import MethodSpec, RunResult, SplitInfo
from paper_autotrain.stages.baselines.references import recbole_reference, reference_with_notes  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

# `baselines=[auto]` (the default) runs the default models of the regime the spec's family trains in
# (paper_autotrain/regimes.py); the reference model joins them
AUTO = "auto"
DEFAULT_KS = (10, 20)
RECBOLE_METRICS = ["Recall", "NDCG", "Hit", "MRR", "Precision"]
CACHE_VERSION = 4  # 2: non-parametric models report 0 parameters; 3: per-user test values kept beside;
# 4: best_epoch counted from 1 (as ours), the per-epoch history kept beside
PER_USER_FILE = "per_user_test.npz"  # what the runner writes beside its result (RunResult.config["per_user"])
HISTORY_FILE = "history.csv"  # the runner's epochs, in our history.csv layout (RunResult.config["history"])
REFERENCE_KEYS = ("reference", "reference_of", "reference_notes")
STAGE_KEYS = ("n_jobs",)  # settings of the stage in the `baselines` config section, not models
AUTO_MAX_JOBS = 4  # n_jobs=auto: one job per core, at most this many (each RecBole process holds its data)


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
    negatives = negatives_of(ranking_of(cfg.get("ranking")))
    if negatives is not None:  # RecBole's own valid (its early stopping) and test on its own draw of N negatives
        config["eval_args"] = {**config["eval_args"], "mode": f"uni{negatives}"}
    shared = {"epochs", "valid_metric", "seed", "benchmark_filename", "eval_args", "topk", "metrics", "load_col",
              "MAX_ITEM_LIST_LENGTH"}
    for key, value in overrides.items():
        if key == "load_col" and isinstance(value, Mapping) and isinstance(config.get("load_col"), Mapping):
            # a model's own feature files (SASRecF's, FDSA's .item fields) load beside the shared interactions
            own = {side: cols for side, cols in value.items() if side != "inter"}
            config["load_col"] = {**config["load_col"], **own}
            continue
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


def cache_key(split: SplitInfo, model: str, config: Mapping[str, Any], device: str,
              candidates: Mapping[str, Any] | None = None) -> str:
    """The cache file's name. `candidates` (sampled ranking: candidates_identity, its format version, N, seed
    and digest) joins the key, which RecBole's config alone does not tell apart: another format or draw is a miss;
    full ranking keeps its keys."""
    payload = {
        "dataset": split.dataset, "split_id": split.split_id, "model": model, "config": config,
        "device": device, "recbole": _recbole_version(), "v": CACHE_VERSION,
        **({"candidates": dict(candidates)} if candidates else {}),
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


def history_cache_file(cache_file: Path) -> Path:
    """Where a cached result keeps its per-epoch history: beside it, same key."""
    return cache_file.with_suffix(".history.csv")


def per_user_name(model: str, seed: int) -> str:
    """A baseline run's per-user file in the stage folder (`per_user/<model>-seed<N>.npz`)."""
    return f"{model}-seed{seed}.npz"


def history_name(model: str, seed: int) -> str:
    """A baseline run's per-epoch history in the stage folder (`history/<model>-seed<N>.csv`)."""
    return f"{model}-seed{seed}.csv"


def log_name(model: str, seed: int) -> str:
    """A baseline run's stderr (its progress lines among RecBole's output) in the stage folder's `logs/`."""
    return f"{model}-seed{seed}.stderr.log"


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
              extra: Mapping[str, Any] | None = None, per_user_out: Path | None = None,
              history_out: Path | None = None, log_path: Path | None = None, threads: int | None = None
              ) -> RunResult:
    """Train and score one RecBole model in a subprocess; never raises for a model's failure.

    The runner's per-user test values and per-epoch history, when it writes them, are copied to `per_user_out`
    and `history_out`; its stderr goes to `log_path` (else a scratch file), its progress lines to the log as they
    come. `threads` caps its torch/OpenMP threads (its share of the cores when several run at once).
    """
    seed = int(config.get("seed", 0))
    device = str(cfg.get("device", "cpu"))
    timeout = float(cfg.get("timeout_s", 3600))
    record = {"recbole": config, **(extra or {})}
    request = {
        "model": model, "dataset": split.dataset, "split_id": split.split_id,
        "split_path": str(Path(split.path).resolve()), "seed": seed,
        "ks": [int(k) for k in cfg.get("ks") or DEFAULT_KS], "device": device, "config": config,
        "regime": str(cfg.get("regime", DEFAULT_REGIME)), "ranking": ranking_of(cfg.get("ranking")),
        **({"threads": int(threads)} if threads else {}),
    }
    try:
        check_model_name(model)
    except ValueError as exc:
        return _failed(model, split, seed, str(exc), record)
    env = subprocess_env(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1",  # RecBole's checkpoint load under torch>=2.6
                         **({name: str(threads) for name in THREAD_VARIABLES} if threads else {}))
    with tempfile.TemporaryDirectory(prefix=f"baseline-{model}-") as tmp:
        workdir = Path(tmp)
        req_path, res_path = workdir / "request.json", workdir / "result.json"
        req_path.write_text(json.dumps(request, indent=1))
        err_path = Path(log_path) if log_path is not None else workdir / "runner.stderr.log"
        err_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        try:
            with open(err_path, "wb") as err, open(workdir / "runner.stdout.log", "wb") as out, \
                    following(err_path, relay(log, f"baseline {model} (seed {seed})")):
                proc = subprocess.run(
                    [sys.executable, "-m", "paper_autotrain.stages.baselines.runner", str(req_path), str(res_path)],
                    cwd=workdir, env=env, stdout=out, stderr=err, timeout=timeout, check=False,
                )
        except subprocess.TimeoutExpired:
            return _failed(model, split, seed, f"timed out after {timeout:g}s (timeout_s)", record)
        except OSError as exc:
            return _failed(model, split, seed, f"could not start the RecBole runner: {exc}", record)
        elapsed = time.perf_counter() - started
        stderr = read_tail(err_path)
        try:
            payload = json.loads(res_path.read_text())
        except (OSError, ValueError):
            reason = last_meaningful_line(stderr) if stderr.strip() else f"exit status {proc.returncode}"
            return _failed(model, split, seed, f"runner produced no result: {reason}", record)
        if payload.get("status") == "ok":
            for name, target in ((PER_USER_FILE, per_user_out), (HISTORY_FILE, history_out)):
                if target is not None and (workdir / name).is_file():
                    _copy_atomic(workdir / name, target)
    if payload.get("status") != "ok":
        log.debug("%s runner stderr:\n%s", model, stderr[-4000:])
        record = {**record, "stderr_tail": stderr[-2000:]}
        return _failed(model, split, seed, str(payload.get("error") or "runner failed"), record)
    payload["config"] = {**payload.get("config", {}), **record, "wall_time_s": round(elapsed, 3)}
    try:
        return RunResult.model_validate(payload)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        return _failed(model, split, seed, f"runner result does not validate: {reason}", record)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
TAIL_BYTES = 64 * 1024


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The last `limit` bytes of a log file, as text ('' when it is missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - limit))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


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
        models = {k: v for k, v in _plain(raw).items() if k not in STAGE_KEYS}
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
    """A cached ok result; a miss when the per-user values or the history it was written with are gone."""
    cached = _read_cache(cache_file)
    if cached is not None and cached.config.get("per_user") and not per_user_cache_file(cache_file).is_file():
        return None
    if cached is not None and cached.config.get("history") and not history_cache_file(cache_file).is_file():
        return None
    return cached


def run_one(name: str, config: dict[str, Any], split: SplitInfo, cfg: Mapping[str, Any], extra: dict[str, Any],
            cache_dir: Path, log_dir: Path | None = None, threads: int | None = None,
            candidates: Mapping[str, Any] | None = None) -> tuple[RunResult, Path]:
    """One model with one seed, from the cache when it holds the result: (result, its cache file). `candidates`:
    the identity of the sampled candidates it is scored on (candidates_identity), None for full ranking."""
    key = cache_key(split, name, config, str(cfg.get("device", "cpu")), candidates)
    cache_file = cache_dir / f"{key}.json"
    cached = _cached(cache_file)
    if cached is not None:
        log.info("%s (seed %s): cached result %s", name, config["seed"], cache_file.name)
        for key in REFERENCE_KEYS:
            cached.config.pop(key, None)
        cached.config.update(extra)
        return cached, cache_file
    log.info("%s (seed %s): training on %s (%s)%s", name, config["seed"], split.dataset, split.split_id,
             " [reference]" if extra.get("reference") else "")
    log_path = None if log_dir is None else Path(log_dir) / log_name(name, int(config["seed"]))
    result = run_model(name, config, split, cfg, extra, per_user_out=per_user_cache_file(cache_file),
                       history_out=history_cache_file(cache_file), log_path=log_path, threads=threads)
    if result.status == "ok":
        _write_atomic(cache_file, result.model_dump_json(indent=1))
        log.info("%s: %s", name, ", ".join(f"{k}={v:.4f}" for k, v in sorted(result.test.items())))
    else:
        log.warning("%s failed: %s", name, result.error)
    return result, cache_file


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, e.g. a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def n_jobs_of(value: Any, n_runs: int, device: str = "cpu", cores: int | None = None) -> tuple[int, int | None]:
    """(models trained at once, torch/OpenMP threads of each; None = torch's default) for `baselines.n_jobs`:
    a number, or `auto` = one job per core, at most AUTO_MAX_JOBS, and one on a GPU."""
    cores = cores or usable_cores()
    if value is None or str(value).strip().lower() == AUTO:
        jobs = 1 if device != "cpu" else min(AUTO_MAX_JOBS, cores)
    else:
        try:
            jobs = int(value)
        except (TypeError, ValueError):
            raise UserError(f"baselines.n_jobs={value!r}: a number of models trained at once, or auto") from None
        if jobs < 1:
            raise UserError(f"baselines.n_jobs={value!r}: at least 1 (or auto)")
    jobs = max(1, min(jobs, n_runs))
    return jobs, (None if jobs == 1 else max(1, cores // jobs))


def start_order(runs: Sequence[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[int]:
    """The order concurrent runs start in: the reference's first (usually the longest), then the plan's order."""
    return sorted(range(len(runs)), key=lambda i: not runs[i][2].get("reference"))


def prepare_candidates_of(split: SplitInfo, cfg: Mapping[str, Any]) -> dict[int, Any]:
    """The sampled candidates of every seed (eval.ranking=sampled-N), drawn where missing; {} for full ranking."""
    load = resolve(regime(str(cfg.get("regime", DEFAULT_REGIME))).load_split)
    return prepare_for_seeds(split.path, ranking_of(cfg.get("ranking")), seeds_of(cfg), load)


def run(spec: MethodSpec | None, split: SplitInfo, cfg: Mapping[str, Any], cache_dir: Path,
        per_user_dir: Path | None = None, history_dir: Path | None = None, log_dir: Path | None = None,
        n_jobs: int | str | None = 1) -> list[RunResult]:
    """Train every configured RecBole model (and the spec's reference model) on `split`, once per seed.

    With `per_user_dir` / `history_dir`, each ok run's per-user test values and per-epoch history are copied there
    as `per_user_name(model, seed)` / `history_name(model, seed)`; with `log_dir` each runner's stderr is kept
    there (`log_name`). `n_jobs` models train at once (`n_jobs_of`); the results keep the plan's order.
    """
    cache_dir = Path(cache_dir)
    drawn = prepare_candidates_of(split, cfg)  # what the runners score on
    runs = [(name, recbole_config(overrides, {**cfg, "seed": seed}), extra)
            for name, overrides, extra in _plan(spec, cfg) for seed in seeds_of(cfg)]
    jobs, threads = n_jobs_of(n_jobs, len(runs), str(cfg.get("device", "cpu")))
    if jobs > 1:
        log.info("baselines: %d runs, %d at a time, %d thread%s each", len(runs), jobs, threads,
                 "" if threads == 1 else "s")

    def one(planned: tuple[str, dict[str, Any], dict[str, Any]]) -> tuple[RunResult, Path]:
        name, config, extra = planned
        seed_candidates = drawn.get(int(config["seed"]))
        return run_one(name, config, split, cfg, extra, cache_dir, log_dir=log_dir, threads=threads,
                       candidates=None if seed_candidates is None else candidates_identity(seed_candidates))

    if jobs == 1:
        done = [one(planned) for planned in runs]
    else:  # the threads only wait on subprocesses; each keeps the caller's context (the paper key of its log lines)
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="baseline") as pool:
            futures = {i: pool.submit(contextvars.copy_context().run, one, runs[i]) for i in start_order(runs)}
            done = [futures[i].result() for i in range(len(runs))]
    results = []
    for result, cache_file in done:
        if result.status == "ok":
            for folder, source, target in (
                    (per_user_dir, per_user_cache_file(cache_file), per_user_name(result.model, result.seed)),
                    (history_dir, history_cache_file(cache_file), history_name(result.model, result.seed))):
                if folder is not None and source.is_file():
                    _copy_atomic(source, Path(folder) / target)
        results.append(result)
    return results
