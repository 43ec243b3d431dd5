"""Training entry point for a rendered model folder.

    python -m paper_autotrain.worker.train --model-dir D --split-dir S --out O [--set key=value ...]

Fits with early stopping on valid NDCG@10 (checked every epoch), restores the best checkpoint (a model of a
regime with `fit`, paper_autotrain/regimes.py, is fitted once on the train split instead: no epochs), scores
valid and test with the project's evaluator and writes O/result.json (a RunResult),
O/per_user_test.npz and O/history.csv.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader

from paper_autotrain.artifacts import save_npz
from paper_autotrain.data.candidates import load_candidates, negatives_of, ranking_of
from paper_autotrain.regimes import config_regime, resolve
from paper_autotrain.runtime.data import evaluation_trigger
from paper_autotrain.runtime.module import MONITOR
from paper_autotrain.schemas import RunResult
from paper_autotrain.worker.history import EpochHistory
from paper_autotrain.worker.loading import apply_overrides, build_model, load_config
from paper_autotrain.worker.loggers import logger_name, make_logger

log = logging.getLogger("paper_autotrain.worker.train")

FIT_CHECKPOINT = "best-fit.ckpt"  # a fitted model's one checkpoint (trained.py loads best-*.ckpt)
TRAINER_DEFAULTS: dict[str, Any] = {
    "max_epochs": 300, "patience": 10, "accelerator": "cpu", "devices": 1, "precision": 32,
    "seed": 0, "deterministic": "warn", "csv_logger": True, "strategy": "auto",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m paper_autotrain.worker.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, type=Path, help="folder with model.py and config.yaml")
    parser.add_argument("--split-dir", required=True, type=Path,
                        help="folder with split.npz (SplitInfo.path)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config.yaml value, e.g. trainer.max_epochs=5 (repeatable)")
    return parser.parse_args(argv)


def quiet_known_warnings() -> None:
    """Warnings that do not apply: Lightning's (our dataset batches itself and runs in one worker) and torch's
    note that its CSR tensors are in beta (KGAT's sparse products use the operations that are tested)."""
    warnings.filterwarnings("ignore", message=".*IterableDataset.*has `__len__` defined")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


def trainer_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**TRAINER_DEFAULTS, **(config.get("trainer") or {})}


def make_trainer(settings: Mapping[str, Any], out: Path, history: EpochHistory, monitor: str = MONITOR,
                 logger_options: Mapping[str, Any] | None = None) -> tuple[L.Trainer, ModelCheckpoint]:
    """The Trainer; its logger is the config's `logger` section's (csv by default, none when
    trainer.csv_logger=false: the candidates' short runs log nothing)."""
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", filename="best-epoch{epoch}", monitor=monitor,
                                 mode="max", save_top_k=1, save_weights_only=True,
                                 auto_insert_metric_name=False)
    stopper = EarlyStopping(monitor=monitor, mode="max", patience=int(settings["patience"]))
    logger = make_logger(logger_options, out) if settings["csv_logger"] else False
    trainer = L.Trainer(
        max_epochs=int(settings["max_epochs"]), accelerator=settings["accelerator"],
        devices=settings["devices"], strategy=settings["strategy"], precision=settings["precision"],
        deterministic=settings["deterministic"], enable_progress_bar=False, enable_model_summary=False,
        logger=logger, callbacks=[stopper, checkpoint, history], check_val_every_n_epoch=1,
        num_sanity_val_steps=0, default_root_dir=str(out), log_every_n_steps=1,
    )
    return trainer, checkpoint


def restore_best(model: L.LightningModule, checkpoint: ModelCheckpoint) -> None:
    """Load the best checkpoint's weights (we wrote it ourselves, so a full unpickling load is safe)."""
    if not checkpoint.best_model_path:
        log.warning("no checkpoint was saved; scoring the last weights")
        return
    state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["state_dict"])


def split_identity(split_dir: Path, config: Mapping[str, Any]) -> tuple[str, str]:
    """(dataset, split_id) from S/split.json when the split was saved by prepare_split."""
    info_path = split_dir / "split.json"
    if info_path.exists():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        return str(info.get("dataset", split_dir.name)), str(info.get("split_id", "unknown"))
    dataset = (config.get("data") or {}).get("dataset") or split_dir.name
    return str(dataset), "unknown"


def load_training_data(config: Mapping[str, Any], split_dir: Path, seed: int) -> tuple[Any, DataLoader]:
    """The split in the model's data regime (config data.regime) and the loader of its training batches."""
    regime = config_regime(config)
    split = resolve(regime.load_split)(split_dir)
    return split, resolve(regime.training_batches)(split, config, seed)


def run_ranking(config: Mapping[str, Any]) -> str:
    """eval.ranking as the train stage passed it (full unless set): full or sampled-N."""
    return ranking_of((config.get("eval") or {}).get("ranking"))


def use_candidates(model: Any, config: Mapping[str, Any], split_dir: Path, split: Any, seed: int) -> None:
    """Sampled ranking: the candidates the train stage drew for this split and seed, the same the baselines meet."""
    negatives = negatives_of(run_ranking(config))
    if negatives is not None:
        model.candidates = load_candidates(split_dir, split, negatives, seed)


def fit_once(fit: Callable[[Any], None], model: Any, out: Path) -> float:
    """Fit the model once (its regime's `fit`) and keep the weights as the run's checkpoint, as trained.load
    reads it; the seconds the fit took."""
    started = time.perf_counter()
    fit(model)
    seconds = time.perf_counter() - started
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "fitted": True}, out / "checkpoints" / FIT_CHECKPOINT)
    return seconds


def write_outputs(out: Path, result: RunResult, per_user: Mapping[str, np.ndarray], users: np.ndarray,
                  history: EpochHistory) -> None:
    (out / "result.json").write_text(result.model_dump_json(indent=1), encoding="utf-8")
    arrays = {name.replace("@", "_at_"): values for name, values in per_user.items()}
    save_npz(out / "per_user_test.npz", users=users, **arrays)
    history.write_csv(out / "history.csv")


def train(model_dir: Path, split_dir: Path, out: Path, overrides: Sequence[str] = ()) -> RunResult | None:
    quiet_known_warnings()
    config = apply_overrides(load_config(model_dir), overrides)
    settings = trainer_settings(config)
    config["trainer"] = settings
    config["logger"] = {**dict(config.get("logger") or {}), "name": logger_name(config.get("logger"))}
    out.mkdir(parents=True, exist_ok=True)
    torch.set_flush_denormal(True)  # tiny (std 0.01) embeddings otherwise hit slow denormal floats on CPU
    L.seed_everything(int(settings["seed"]), workers=True)
    split, loader = load_training_data(config, split_dir, int(settings["seed"]))
    model = build_model(model_dir, config, split)
    use_candidates(model, config, split_dir, split, int(settings["seed"]))
    monitor = str(getattr(model, "monitor", MONITOR))  # each base module names the valid metric it is judged on
    history = EpochHistory(monitor)
    fit = config_regime(config).fit
    if fit is not None:  # fitted once (closed form, coordinate descent): no epochs, no trainer
        train_time = fit_once(resolve(fit), model, out)
    else:
        trainer, checkpoint = make_trainer(settings, out, history, monitor, config["logger"])
        started = time.perf_counter()
        trainer.fit(model, train_dataloaders=loader, val_dataloaders=evaluation_trigger())
        train_time = time.perf_counter() - started
        if not trainer.is_global_zero:  # under DDP, rank 0 alone scores the best checkpoint and writes the result
            return None
        restore_best(model, checkpoint)
    started = time.perf_counter()
    valid = model.evaluate("valid")
    test = model.evaluate("test")
    eval_time = time.perf_counter() - started

    dataset, split_id = split_identity(split_dir, config)
    result = RunResult(
        model=str(config["model"].get("name", config["model"]["class_name"])), role="reproduced",
        dataset=dataset, split_id=split_id, seed=int(settings["seed"]), ranking=run_ranking(config),
        test=test.mean, valid=valid.mean,
        best_epoch=history.best_epoch(), epochs_run=len(history.rows) if fit is None else None,
        train_time_s=round(train_time, 3),
        eval_time_s=round(eval_time, 3), n_params=model.n_parameters(), config=config,
    )
    write_outputs(out, result, test.per_user, test.users, history)
    main = monitor.split("/", 1)[-1]
    if fit is not None:
        log.info("test %s %.4f after one fit (%.1f s)", main, test.mean.get(main, float("nan")), train_time)
    else:
        log.info("test %s %.4f after %d epochs (best %s)", main, test.mean.get(main, float("nan")),
                 result.epochs_run, result.best_epoch)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    train(args.model_dir, args.split_dir, args.out, args.overrides)


if __name__ == "__main__":
    main()
