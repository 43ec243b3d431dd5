"""The experiment logger of our model's Lightning Trainer: `logger=csv|tensorboard|mlflow` (conf/logger/).

Each writes a local file store into the training run's own folder, `<seed dir>/logs/` (the only folder the
sandboxed training may write, and it has no network, so nothing leaves the machine):

- csv: Lightning's CSVLogger, `logs/metrics.csv` (the default);
- tensorboard: TensorBoardLogger, event files in `logs/` (`tensorboard --logdir results/`);
- mlflow: MLFlowLogger, a file store `logs/mlruns/` (`mlflow ui --backend-store-uri <seed dir>/logs/mlruns`).

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
LOG_DIR = "logs"  # below the run's folder: metrics.csv, the event files, mlruns/
DEFAULT_EXPERIMENT = "paper_autotrain"
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


def make_logger(options: Mapping[str, Any] | None, out: Path, run_name: str) -> Any:
    """The Lightning logger `options` (the config's `logger` section) choose, writing below `out`/logs."""
    problem = check_logger(options)
    if problem:
        raise ValueError(problem)
    name = logger_name(options)
    if name == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(out), name=LOG_DIR, version="", default_hp_metric=False)
    if name == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        experiment = str((options or {}).get("experiment_name") or DEFAULT_EXPERIMENT)
        return MLFlowLogger(experiment_name=experiment, run_name=run_name,
                            tracking_uri=(Path(out).resolve() / LOG_DIR / "mlruns").as_uri())
    from lightning.pytorch.loggers import CSVLogger

    return CSVLogger(save_dir=str(out), name=LOG_DIR, version="")
