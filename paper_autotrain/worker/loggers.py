"""The experiment logger of our model's Lightning Trainer: `logger=csv|tensorboard|mlflow` (conf/logger/).

Each writes local files into the training run's own folder, `<seed dir>/logs/` (the only folder the sandboxed
training may write; it has no network, so nothing leaves the machine from there):

- csv: Lightning's CSVLogger, `logs/metrics.csv` (the default);
- tensorboard: TensorBoardLogger, event files in `logs/` (`tensorboard --logdir results/`);
- mlflow: `logs/metrics.csv` as csv, from which the train stage, in the pipeline's own process, records one
  MLflow run per seed once training is done (records/mlflow_runs.py): the MLflow client cannot work inside the
  sandbox (on import it probes the network and looks for git).

mlflow is an optional package (the `mlflow` extra; tensorboard is a dependency): `missing_package` names what to
install, which the run's settings check reports before any work starts (run_settings.check_logger).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOGGERS = ("csv", "tensorboard", "mlflow")
DEFAULT_LOGGER = "csv"
LOG_DIR = "logs"  # below the run's folder: metrics.csv or the event files
# the modules a logger needs (any one of them) and what to install for it
PACKAGES = {"tensorboard": (("tensorboard", "tensorboardX"), "pip install tensorboard"),
            "mlflow": (("mlflow",), "pip install mlflow  (or pip install 'paper_autotrain[mlflow]')")}


def logger_name(options: Mapping[str, Any] | None) -> str:
    return str((options or {}).get("name") or DEFAULT_LOGGER)


def missing_package(name: str) -> str | None:
    """The install command for the package logger `name` needs when it is not installed, else None."""
    modules, install = PACKAGES.get(name, ((), ""))
    if modules and not any(importlib.util.find_spec(module) is not None for module in modules):
        return install
    return None


def check_logger(options: Mapping[str, Any] | None) -> str | None:
    """One line saying what is wrong with the logger settings (unknown name, package missing), else None."""
    name = logger_name(options)
    if name not in LOGGERS:
        return f"logger={name}: not a logger; choose one of {', '.join(LOGGERS)}"
    install = missing_package(name)
    if install:
        return f"logger={name} needs the {name} package, which is not installed: {install}"
    return None


def make_logger(options: Mapping[str, Any] | None, out: Path) -> Any:
    """The Lightning logger `options` (the config's `logger` section) choose, writing below `out`/logs."""
    name = logger_name(options)
    if name not in LOGGERS:
        raise ValueError(f"logger={name}: not a logger; choose one of {', '.join(LOGGERS)}")
    if name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(out), name=LOG_DIR, version="", default_hp_metric=False)
    from lightning.pytorch.loggers import CSVLogger  # csv, and mlflow's metrics.csv (recorded by the train stage)

    return CSVLogger(save_dir=str(out), name=LOG_DIR, version="")
