"""The thin Hydra entry: compose the config, run the pipeline (or one paper of a list), turn failures into one
line."""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from paper_autotrain.commands.config import (
    CONF_DIR,
    CURRENT_PAPER,
    EXIT_INTERNAL,
    EXIT_STAGE,
    EXIT_USER,
    describe_os_error,
    one_line,
    print_error,
    setup_logging,
)
from paper_autotrain.errors import StageError, UserError
from paper_autotrain.records.run_record import record_key


@dataclass(frozen=True)
class Finished:
    status: int  # the exit status
    valid_main: float | None = None  # our model's validation main metric (a hyperparameter search's objective)


def run_from_config(cfg: DictConfig) -> Finished:
    """Run the pipeline for a composed config: its exit status and our validation main metric."""
    from paper_autotrain import pipeline  # heavy imports (torch) only once the config is known to be good

    setup_logging()
    log = logging.getLogger("paper_autotrain")
    CURRENT_PAPER.set(record_key(str(cfg.get("paper") or "-")))
    try:
        container = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(container, dict)
        container["job"] = container.get("job") or sweep_job_id()
        container["command"] = reproduce_command(cfg)
        outcome = pipeline.run(container)
    except UserError as exc:
        print_error(exc)
        return Finished(EXIT_USER)
    except StageError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return Finished(EXIT_STAGE)
    except KeyboardInterrupt:
        print("interrupted; completed stages are kept, rerun to resume", file=sys.stderr)
        return Finished(130)
    except OSError as exc:  # a full disk, a read-only folder: which file, and what to do
        print(f"failed: {describe_os_error(exc)}", file=sys.stderr)
        return Finished(EXIT_STAGE)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, and a way to see more
        if os.environ.get("PAPER_AUTOTRAIN_DEBUG"):
            raise
        print(f"internal error: {exc.__class__.__name__}: {one_line(exc)} "
              "(rerun with PAPER_AUTOTRAIN_DEBUG=1 for the traceback)", file=sys.stderr)
        return Finished(EXIT_INTERNAL)
    skipped = f" (skipped, up to date: {', '.join(outcome.skipped)})" if outcome.skipped else ""
    log.info("finished %s through %s%s", outcome.key, outcome.last_stage, skipped)
    print(f"spec:   {outcome.spec}")
    if outcome.summary is not None and outcome.summary.is_file():
        print(f"result: {outcome.summary.read_text(encoding='utf-8').strip()}")
    if outcome.report is not None:
        print(f"report: {outcome.report}")
    return Finished(0, outcome.valid_main)


def reproduce_command(cfg: DictConfig) -> str | None:
    """`python -m paper_autotrain SOURCE overrides...`: this run (a sweep's job with its own values) from the
    command line, quoted for a POSIX shell; None outside Hydra (a run from Python)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    overrides = [o for o in HydraConfig.get().overrides.task
                 if not o.startswith(("paper=", "hparams_search=", "job="))]
    if (cfg.get("search") or {}).get("open_only"):  # a search's trial: the paper's stated values stayed
        overrides.append("+search.open_only=true")
    return shlex.join(["python", "-m", "paper_autotrain", str(cfg.get("paper") or ""), *overrides])


def sweep_job_id() -> str | None:
    """In a --multirun, the job's id: its sweep folder's name and its number (`2026-12-03_19-40-02-job1`);
    None in a single run, whose folders are the paper's own."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hydra_cfg = HydraConfig.get()
    sweep = "_".join(Path(str(hydra_cfg.sweep.dir)).parts[-2:])
    return re.sub(r"[^\w.-]+", "_", f"{sweep}-job{hydra_cfg.job.num}")


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> float | None:
    if cfg.get("batch") is not None:  # one paper of a list (batch.py): it never exits, the batch judges at the end
        from paper_autotrain.commands.paper_list import run_job

        run_job(cfg)
        return None
    finished = run_from_config(cfg)
    if search_objective(cfg):
        # a trial of hparams_search=optuna: the sweeper maximises the returned value; a failed trial scores worst
        # instead of ending the study (its one-line error is printed above)
        return finished.valid_main if finished.status == 0 and finished.valid_main is not None else float("-inf")
    if finished.status:
        sys.exit(finished.status)
    return None


def search_objective(cfg: DictConfig) -> bool:
    return bool((cfg.get("search") or {}).get("objective"))
