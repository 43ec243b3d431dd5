"""logger=mlflow: our model's runs recorded in MLflow by the train stage, once training is done.

The training itself runs sandboxed (no network, no processes; paper_autotrain/sandbox), where the MLflow client
cannot work (on import it probes the network and looks for git), so the worker logs to `logs/metrics.csv` as with
logger=csv, and this module, in the pipeline's own process, writes one MLflow run per seed from it: the
per-epoch metrics (step = epoch, counted from 1), the test metrics of the restored best checkpoint, the model's
hyperparameters and trainer settings as params, and the dataset, split and seed as tags.

Where: `logger.tracking_uri`, else a local SQLite store beside the seeds, `results/<key>/train/mlflow.db`
(MLflow 3 retired the file store). Nothing leaves the machine unless the user sets a tracking URI.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from paper_autotrain.schemas import RunResult

log = logging.getLogger(__name__)

DB_FILE = "mlflow.db"
METRICS_CSV = Path("logs") / "metrics.csv"  # below a seed's folder (worker/loggers.py LOG_DIR)
DEFAULT_EXPERIMENT = "paper_autotrain"
MAX_PARAM_LENGTH = 500  # MLflow's limit on a param value (older servers)


def tracking_uri(options: Mapping[str, Any], train_dir: Path) -> str:
    """The user's tracking URI, else the local SQLite store in the train stage's folder."""
    return str(options.get("tracking_uri") or f"sqlite:///{Path(train_dir).resolve() / DB_FILE}")


def metric_key(name: str) -> str:
    """MLflow allows letters, digits, `_ - . / ` and space: ndcg@10 -> ndcg_at_10 (as in per_user_test.npz)."""
    return "".join(ch if ch.isalnum() or ch in "_-./ " else "_" for ch in name.replace("@", "_at_"))


def flat_params(config: Mapping[str, Any], sections: Sequence[str] = ("model", "optim", "trainer", "data")) -> dict:
    """The run's settings as MLflow params: `section.key` -> value (as text, cut to MLflow's length)."""
    params: dict[str, str] = {}
    for section in sections:
        for key, value in dict(config.get(section) or {}).items():
            params[f"{section}.{key}"] = str(value)[:MAX_PARAM_LENGTH]
    return params


def epoch_metrics(seed_dir: Path) -> list[tuple[str, float, int]]:
    """(key, value, epoch from 1) for every value Lightning's CSV logger wrote for the seed (empty when none)."""
    path = Path(seed_dir) / METRICS_CSV
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            epoch = int(float(row.get("epoch") or 0)) + 1
            for name, raw in row.items():
                if name in ("epoch", "step") or raw in (None, ""):
                    continue
                value = float(raw)
                if math.isfinite(value):
                    rows.append((metric_key(name), value, epoch))
    return rows


def record_runs(options: Mapping[str, Any], train_dir: Path, runs: Sequence[tuple[RunResult, Path]]) -> str:
    """One MLflow run per (result, seed folder) in the experiment `options` name; returns the tracking URI."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(options, train_dir)
    client = MlflowClient(tracking_uri=uri)
    name = str(options.get("experiment_name") or DEFAULT_EXPERIMENT)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        experiment_id = experiment.experiment_id
    else:
        local = None if options.get("tracking_uri") else (Path(train_dir).resolve() / "mlartifacts").as_uri()
        experiment_id = client.create_experiment(name, artifact_location=local)
    for result, seed_dir in runs:
        run = client.create_run(experiment_id, run_name=f"{result.model} seed{result.seed}")
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, epoch) for key, value, epoch in epoch_metrics(seed_dir)]
        metrics += [Metric(f"test/{metric_key(k)}", float(v), now, result.epochs_run or 0)
                    for k, v in sorted(result.test.items()) if math.isfinite(float(v))]
        params = [Param(k, v) for k, v in sorted(flat_params(result.config).items())]
        tags = [RunTag(k, str(v)) for k, v in {"model": result.model, "dataset": result.dataset,
                                               "split_id": result.split_id, "seed": result.seed,
                                               "best_epoch": result.best_epoch, "role": result.role}.items()]
        client.log_batch(run.info.run_id, tags=tags)
        for start in range(0, len(params), 100):  # a batch holds at most 100 params, 1000 metrics
            client.log_batch(run.info.run_id, params=params[start:start + 100])
        for start in range(0, len(metrics), 1000):
            client.log_batch(run.info.run_id, metrics=metrics[start:start + 1000])
        client.set_terminated(run.info.run_id)
    return uri
