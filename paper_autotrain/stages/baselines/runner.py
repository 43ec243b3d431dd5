"""Train one RecBole model on a saved split and score it with our evaluator (run in a subprocess).

    python -m paper_autotrain.stages.baselines.runner REQUEST.json RESULT.json

REQUEST.json: {"model", "dataset", "split_id", "split_path", "seed", "ks", "device", "config"[, "ranking",
"as_shipped"]} (`ranking` sampled-N: scored against the candidates the stage drew, data/candidates.py)
where `config` is the complete RecBole config dict (no YAML files, no command line).
RESULT.json: a RunResult (status "ok"), or {"status": "failed", "error": "<one line>"}. Its config records
the seconds of every training epoch and validation pass (`epoch_train_s`, `epoch_valid_s`), the process's peak
resident memory (`peak_rss_mb`) and its CPU seconds (`cpu_s`), for `scripts/bench.py`. Beside it, in the working
directory, `per_user_test.npz` holds the test values per user in the layout of our own run's file (top-k and
sequential regimes; config `per_user` says whether it was written), for the paired significance test in the report,
and `history.csv` the epochs as our model's history.csv has them (epoch counted from 1, train loss, the valid metric
RecBole stops on, train and eval seconds, then RecBole's other valid metrics), for the report's curves.

While it trains, each epoch is one progress line on stderr (paper_autotrain.progress, as our trainer writes it),
which the stage relays to the terminal. Epochs count from 1 everywhere it reports them: `best_epoch` is RecBole's
epoch index + 1, as ours. `"threads": N` in the request sets torch's intra-op threads (the stage's share of the
cores per concurrent job, baselines.n_jobs).

By default RecBole runs at its fair best: torch's anomaly detection, which RecBole's SINE module switches on
for the whole process when it is imported, is switched off again, and denormal floats are flushed to zero as
our trainer does. `"as_shipped": true` in the request, or PAPER_AUTOTRAIN_RECBOLE_AS_SHIPPED=1 in the
environment (how `scripts/bench.py` asks through `stages.baselines.run_model`), leaves both as RecBole leaves
them, for the benchmark's side figure.

The stage runs this with cwd in a scratch folder (RecBole writes `saved/`, `log/` and
`log_tensorboard/` there) and with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, because RecBole's
checkpoints hold its Config object and torch >= 2.6 loads weights only by default.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paper_autotrain.artifacts import save_npz
from paper_autotrain.data.candidates import FULL, ranking_of
from paper_autotrain.progress import epoch_line
from paper_autotrain.regimes import DEFAULT_REGIME, regime, resolve
from paper_autotrain.stages.baselines import PER_USER_FILE
from paper_autotrain.stages.baselines.ids import token_ids
from paper_autotrain.stages.baselines.kgat_graph import recbole_model_class
from paper_autotrain.stages.baselines.scoring import (
    allow_empty_histories,
    attach_negative_history,
    score_behaviour_rows,
    score_context,
)

log = logging.getLogger("paper_autotrain.stages.baselines.runner")

AS_SHIPPED_ENV = "PAPER_AUTOTRAIN_RECBOLE_AS_SHIPPED"

# numpy aliases RecBole 1.2.1 still uses (np.float in its MRR/NDCG code, np.long in embedding layers)
_NUMPY_ALIASES = {"float": float, "int": int, "bool": bool, "object": object, "long": np.int64}


def _patch_numpy() -> None:
    for name, value in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, value)


def _device_settings(device: str) -> dict[str, Any]:
    """RecBole picks its device from gpu_id (and rewrites CUDA_VISIBLE_DEVICES to it)."""
    if device == "cuda":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
        return {"use_gpu": True, "gpu_id": visible or "0"}
    return {"use_gpu": False, "gpu_id": ""}


def as_shipped(request: dict[str, Any]) -> bool:
    """Whether to leave RecBole's process-wide torch settings as it leaves them (see the module docstring)."""
    return bool(request.get("as_shipped", False)) or os.environ.get(AS_SHIPPED_ENV, "") == "1"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"[:500]


def _float_metrics(result: Any) -> dict[str, float]:
    if not result:
        return {}
    return {str(k).lower(): float(v) for k, v in dict(result).items()}


class _Scorer:
    """Full-sort scores of a trained RecBole model for our users, columns in our item order."""

    def __init__(self, model, dataset, split, device: torch.device, pair_batch: int = 200_000):
        from recbole.data.interaction import Interaction

        self._interaction = Interaction
        self.model = model
        self.dataset = dataset
        self.device = device
        self.pair_batch = pair_batch
        self.uid_field, self.iid_field = dataset.uid_field, dataset.iid_field
        self.user_ids = torch.from_numpy(token_ids(dataset, self.uid_field, split.user_tokens, strict=True))
        self.n_recbole_items = int(dataset.item_num)  # includes the padding id 0
        item_ids = token_ids(dataset, self.iid_field, split.item_tokens, strict=False)
        # column j of our scores = RecBole item item_ids[j]; unknown items -> the extra -inf column
        self.columns = torch.from_numpy(np.where(item_ids < 0, self.n_recbole_items, item_ids))
        self.n_unknown_items = int((item_ids < 0).sum())
        self.use_full_sort = True

    def __call__(self, users: torch.Tensor) -> torch.Tensor:
        uids = self.user_ids[users.cpu()]
        scores = None
        if self.use_full_sort:
            try:
                inter = self.dataset.join(self._interaction({self.uid_field: uids}))
                scores = self.model.full_sort_predict(inter.to(self.device))
                scores = scores.view(len(uids), self.n_recbole_items).float()
            except NotImplementedError:
                self.use_full_sort = False
        if scores is None:
            scores = self._pairwise(uids)
        # our items RecBole never saw (no interaction in any part) rank last, as if absent
        scores = torch.cat([scores, torch.full_like(scores[:, :1], float("-inf"))], dim=1)
        return scores[:, self.columns.to(scores.device)]

    def _pairwise(self, uids: torch.Tensor) -> torch.Tensor:
        """[B, n_recbole_items] scores from model.predict over every (user, item) pair."""
        n_items = self.n_recbole_items
        pair_users = uids.repeat_interleave(n_items)
        pair_items = torch.arange(n_items).repeat(len(uids))
        out = []
        for start in range(0, len(pair_users), self.pair_batch):
            inter = self._interaction({
                self.uid_field: pair_users[start:start + self.pair_batch],
                self.iid_field: pair_items[start:start + self.pair_batch],
            })
            out.append(self.model.predict(self.dataset.join(inter).to(self.device)).float().reshape(-1))
        return torch.cat(out).view(len(uids), n_items)


class _SequenceScorer:
    """RecBole's next-item scores for our histories: our item ids in, columns in our item order out."""

    def __init__(self, model, dataset, split, device: torch.device):
        from recbole.data.interaction import Interaction

        self._interaction = Interaction
        self.model, self.device = model, device
        # a general model (Pop) scores from the user alone; Caser uses the user and the history
        self.seq_field, self.len_field = getattr(model, "ITEM_SEQ", None), getattr(model, "ITEM_SEQ_LEN", None)
        self.uid_field = dataset.uid_field
        self.user_ids = torch.from_numpy(token_ids(dataset, dataset.uid_field, split.user_tokens, strict=True))
        self.n_recbole_items = int(dataset.item_num)
        ids = token_ids(dataset, dataset.iid_field, split.item_tokens[1:], strict=False)
        self.n_unknown_items = int((ids < 0).sum())
        # our id i (1..n) -> RecBole id; padding 0 stays 0; an unknown item is fed as padding
        self.to_recbole = torch.from_numpy(np.r_[0, np.where(ids < 0, 0, ids)])
        # our column j -> RecBole column; padding and unknown items -> the extra -inf column
        self.columns = torch.from_numpy(np.r_[self.n_recbole_items, np.where(ids < 0, self.n_recbole_items, ids)])

    def __call__(self, histories: torch.Tensor, lengths: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        fields = {self.uid_field: self.user_ids[users.cpu()]}
        if self.seq_field is not None:
            fields.update({self.seq_field: self.to_recbole[histories.cpu()], self.len_field: lengths.cpu()})
        inter = self._interaction(fields).to(self.device)
        scores = self.model.full_sort_predict(inter).view(len(lengths), self.n_recbole_items).float()
        scores = torch.cat([scores, torch.full_like(scores[:, :1], float("-inf"))], dim=1)
        return scores[:, self.columns.to(scores.device)]


@dataclass
class Trained:
    """A RecBole model after training, with its best checkpoint loaded, and what scoring needs."""

    name: str
    config: Any  # recbole.config.Config
    dataset: Any
    model: Any
    trainer: Any
    test_data: Any
    device: torch.device
    n_params: int
    train_time: float
    epochs_run: int
    best_epoch: int | None  # counted from 1, as ours
    epochs: EpochRecorder
    anomaly_detection: bool
    build_time: float = 0.0  # the model's constructor: where EASE, ItemKNN and SLIMElastic fit (train_time excludes it)
    fitted: bool = False  # a traditional model: fitted in its constructor, its one epoch a formality


HISTORY_FILE = "history.csv"
HISTORY_FIXED = ("epoch", "train_loss", "train_s", "eval_s")  # as worker/history.py; the monitor column follows


def _loss_value(loss: Any) -> float:
    """RecBole's epoch loss: a float, or a tuple of loss terms (summed, as RecBole's train_loss_dict does)."""
    try:
        return float(sum(loss)) if isinstance(loss, tuple | list) else float(loss)
    except (TypeError, ValueError):
        return math.nan


class EpochRecorder:
    """Every epoch of `trainer.fit`, recorded as it calls `_train_epoch` and `_valid_epoch`: seconds of each (for
    scripts/bench.py), a history row per epoch (epoch from 1, as ours), and a progress line on stderr after each
    validation (or after a training epoch that has none)."""

    def __init__(self, trainer: Any, monitor: str, max_epochs: int | None, stream: Any = None) -> None:
        self.monitor = f"valid_{monitor.lower()}"  # `valid_ndcg@10`, `valid_auc`: our history's column names
        self.max_epochs = max_epochs
        self.stream = stream
        self.train_s: list[float] = []
        self.valid_s: list[float] = []
        self.rows: list[dict[str, float]] = []
        self._open: dict[str, float] | None = None  # the epoch trained, its validation still to come
        train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

        def timed_train(train_data: Any, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
            self.close()  # the previous epoch had no validation pass
            started = time.perf_counter()
            loss = train_epoch(train_data, epoch_idx, *args, **kwargs)
            self.train_s.append(time.perf_counter() - started)
            self._open = {"epoch": int(epoch_idx) + 1, "train_loss": _loss_value(loss), "train_s": self.train_s[-1]}
            return loss

        def timed_valid(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            out = valid_epoch(*args, **kwargs)
            self.valid_s.append(time.perf_counter() - started)
            score, result = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
            self.close(self.valid_s[-1], score, result)
            return out

        trainer._train_epoch, trainer._valid_epoch = timed_train, timed_valid

    def close(self, eval_s: float = 0.0, score: Any = None, result: Any = None) -> None:
        """Finish the open epoch's row (with its validation, when it had one) and print its progress line."""
        if self._open is None:
            return
        row, self._open = self._open, None
        valid = _float_metrics(result)
        row[self.monitor] = float(score) if score is not None else valid.get(self.monitor[6:], math.nan)
        row["eval_s"] = eval_s
        row.update({f"valid_{name}": value for name, value in valid.items() if f"valid_{name}" != self.monitor})
        self.rows.append(row)
        if self.stream is not None:
            mean_epoch_s = sum(r["train_s"] + r["eval_s"] for r in self.rows) / len(self.rows)
            print(epoch_line(int(row["epoch"]), self.max_epochs, row["train_loss"], self.monitor, row[self.monitor],
                             row["train_s"], row["eval_s"], mean_epoch_s), file=self.stream, flush=True)

    def write_csv(self, path: Path) -> None:
        """history.csv in our layout: epoch, train_loss, the monitored metric, train_s, eval_s, other valid metrics."""
        extra = sorted({key for row in self.rows for key in row} - {*HISTORY_FIXED, self.monitor})
        fields = ["epoch", "train_loss", self.monitor, "train_s", "eval_s", *extra]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, restval="")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train_recbole(request: dict[str, Any], workdir: Path) -> Trained:
    """Train on the benchmark files, then load the checkpoint RecBole chose on its valid score."""
    _patch_numpy()
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import ModelType, get_trainer, init_seed

    from paper_autotrain.stages.baselines import check_model_name

    name, dataset_name = request["model"], request["dataset"]
    check_model_name(name)
    split_path = str(Path(request["split_path"]).resolve())
    config_dict = dict(request["config"])
    config_dict.update(_device_settings(request.get("device", "cpu")))
    config_dict["data_path"] = split_path
    config_dict["checkpoint_dir"] = str(workdir / "saved")

    sys.argv = sys.argv[:1]  # RecBole's Config parses --key=value from the command line
    config = Config(model=name, dataset=dataset_name, config_dict=config_dict)
    # Config points "ml-100k" at the copy inside the wheel whatever data_path says; use the split
    config["data_path"] = os.path.join(split_path, dataset_name)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    dien_rows = hasattr(dataset, "neg_item_list") and config["benchmark_filename"] is not None
    if dien_rows:  # DIENDataset on benchmark files: the negative history its augmentation would make (scoring.py)
        attach_negative_history(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    # values RecBole averages over users (SLIMElastic's alpha: references/topk.py) divided by them, now counted
    for key, value in dict(config_dict.get("per_user_values") or {}).items():
        config[key] = float(value) / dataset.user_num
    init_seed(config["seed"], config["reproducibility"])
    started = time.perf_counter()
    model = recbole_model_class(config["model"])(config, train_data._dataset).to(config["device"])
    build_time = time.perf_counter() - started
    if dien_rows:  # rows without behaviours: the interest state 0, as ours (scoring.py)
        allow_empty_histories(model)
    if not as_shipped(request):
        torch.autograd.set_detect_anomaly(False)  # RecBole's SINE module switches it on at import
        torch.set_flush_denormal(True)  # as our trainer does: denormal floats are very slow on CPU
    # RecBole gives its non-parametric models (Pop, ItemKNN, EASE) a one-element `fake_loss` to satisfy its trainer
    n_params = int(sum(p.numel() for pname, p in model.named_parameters() if pname != "fake_loss"))
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    epochs = EpochRecorder(trainer, str(config["valid_metric"]), int(trainer.epochs), stream=sys.stderr)

    started = time.perf_counter()
    trainer.fit(train_data, valid_data, saved=True, show_progress=False, verbose=False)
    train_time = time.perf_counter() - started
    epochs.close()

    best_epoch = None
    checkpoint_file = Path(trainer.saved_model_file)
    if checkpoint_file.is_file():
        checkpoint = torch.load(checkpoint_file, map_location=config["device"], weights_only=False)
        model.load_state_dict(checkpoint["state_dict"])
        model.load_other_parameter(checkpoint.get("other_parameter"))
        # RecBole's epoch index counts from 0; ours (and the report's "Epochs (best)") from 1
        best_epoch = int(checkpoint["epoch"]) + 1 if checkpoint.get("epoch", -1) >= 0 else None
    else:
        log.warning("%s: no checkpoint was saved; scoring the final weights", name)
    model.eval()
    return Trained(name=name, config=config, dataset=dataset, model=model, trainer=trainer, test_data=test_data,
                   device=torch.device(config["device"]), n_params=n_params, train_time=train_time,
                   epochs_run=len(trainer.train_loss_dict), best_epoch=best_epoch,
                   epochs=epochs,
                   anomaly_detection=torch.is_anomaly_enabled(), build_time=build_time,
                   fitted=config["MODEL_TYPE"] == ModelType.TRADITIONAL)


# --- scoring with our evaluator, one function per data regime -------------------------------------------

@dataclass
class Scores:
    """What scoring a trained model yields: test and valid means, facts for the record, and the test values
    per user (None where the metric is one value over all rows, as CTR's AUC)."""

    test: dict[str, float]
    valid: dict[str, float]
    facts: dict[str, Any]
    per_user: Any = None  # paper_autotrain.data.evaluator.EvalResult of the test phase


def sampled_candidates(split_path: str, split: Any, ranking: str, seed: int) -> Any:
    """The candidates the stage drew for `seed` (eval.ranking=sampled-N), None for full ranking."""
    from paper_autotrain.data.candidates import load_candidates, negatives_of

    negatives = negatives_of(ranking)
    return None if negatives is None else load_candidates(split_path, split, negatives, seed)


def score_topk(trained: Trained, split_path: str, ks: list[int], ranking: str = "full", seed: int = 0) -> Scores:
    """Full ranking of every item for each user, training items masked (the general/graph protocol); with
    `ranking` sampled-N, each user's held-out items among the candidates the stage drew for `seed`, as ours."""
    from paper_autotrain.data.evaluator import full_sort_evaluate
    from paper_autotrain.data.split import load_split

    split = load_split(split_path)
    candidates = sampled_candidates(split_path, split, ranking, seed)
    scorer = _Scorer(trained.model, trained.dataset, split, trained.device)
    with torch.no_grad():
        test = full_sort_evaluate(scorer, split, "test", ks=ks, device=trained.device, candidates=candidates)
        valid = full_sort_evaluate(scorer, split, "valid", ks=ks, device=trained.device,
                                   candidates=candidates).mean
    facts = {"scored_with": "full_sort_predict" if scorer.use_full_sort else "predict",
             "unknown_items": scorer.n_unknown_items}
    return Scores(test.mean, valid, facts, per_user=test)


def score_sequential(trained: Trained, split_path: str, ks: list[int], ranking: str = "full",
                     seed: int = 0) -> Scores:
    """Next-item full ranking from each user's history (the sequential protocol), via full_sort_predict; with
    `ranking` sampled-N, each user's next item among the candidates the stage drew for `seed`, as ours."""
    from paper_autotrain.data.sequential import evaluate_next_item, load_sequences

    split = load_sequences(split_path)
    candidates = sampled_candidates(split_path, split, ranking, seed)
    scorer = _SequenceScorer(trained.model, trained.dataset, split, trained.device)
    test = evaluate_next_item(scorer, split, "test", ks=ks, device=trained.device, candidates=candidates)
    valid = evaluate_next_item(scorer, split, "valid", ks=ks, device=trained.device, candidates=candidates).mean
    facts = {"scored_with": "full_sort_predict", "unknown_items": scorer.n_unknown_items}
    return Scores(test.mean, valid, facts, per_user=test)


def score_ctr(trained: Trained, split_path: str, ks: list[int]) -> Scores:
    """AUC/LogLoss of model.predict on the saved rows (scoring.py beside this module): no per-user values."""
    return Scores(*score_context(trained, split_path, ks))


def score_behaviour(trained: Trained, split_path: str, ks: list[int]) -> Scores:
    """score_ctr on the behaviour rows: RecBole's DIN and DIEN also get each row's history (scoring.py)."""
    return Scores(*score_behaviour_rows(trained, split_path, ks))


def ranking_arguments(request: dict[str, Any]) -> dict[str, Any]:
    """What a sampled ranking adds to the scorer's call (the top-k and sequential scorers take it; the pipeline
    refuses a sampled ranking for the CTR regimes); nothing for full ranking."""
    ranking = ranking_of(request.get("ranking"))
    return {} if ranking == FULL else {"ranking": ranking, "seed": int(request.get("seed", 0))}


def regime_scorer(name: str) -> Callable[[Trained, str, list[int]], Scores]:
    """The data regime's scorer (its baseline_scorer in paper_autotrain/regimes.py); RegimeError when unknown."""
    return resolve(regime(name).baseline_scorer)


def write_per_user(path: Path, evaluation: Any) -> None:
    """The test values per user, in the layout of our own run's per_user_test.npz (`ndcg@10` -> `ndcg_at_10`)."""
    arrays = {name.replace("@", "_at_"): np.asarray(values) for name, values in evaluation.per_user.items()}
    save_npz(path, users=np.asarray(evaluation.users), **arrays)


def run_request(request: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Train, pick the best checkpoint on RecBole's valid score, score with our evaluator."""
    regime_name = str(request.get("regime", DEFAULT_REGIME))
    scorer = regime_scorer(regime_name)  # before training: an unknown regime fails at once
    if request.get("threads"):  # this job's share of the cores when several baselines train at once
        torch.set_num_threads(max(1, int(request["threads"])))
    trained = train_recbole(request, workdir)
    recbole_test = _float_metrics(trained.trainer.evaluate(trained.test_data, load_best_model=False,
                                                           show_progress=False))
    ks = [int(k) for k in request.get("ks", [10, 20])]
    started = time.perf_counter()
    scores = scorer(trained, str(Path(request["split_path"]).resolve()), ks, **ranking_arguments(request))
    eval_time = time.perf_counter() - started
    test, valid = scores.test, scores.valid
    for part, values in (("test", test), ("valid", valid)):
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"non-finite {part} metrics {bad}")
    if scores.per_user is not None:  # kept beside the result for the paired significance test in compare
        write_per_user(workdir / PER_USER_FILE, scores.per_user)
    if trained.epochs.rows:  # the valid curve, for the report's chart beside ours
        trained.epochs.write_csv(workdir / HISTORY_FILE)

    return {
        "model": trained.name, "role": "baseline", "dataset": request["dataset"], "split_id": request["split_id"],
        "seed": int(request.get("seed", 0)), "ranking": ranking_of(request.get("ranking")),
        "test": test, "valid": valid,
        "best_epoch": trained.best_epoch, "epochs_run": trained.epochs_run,
        "train_time_s": round(trained.train_time, 3), "eval_time_s": round(eval_time, 3),
        "n_params": trained.n_params,
        "config": {
            "recbole": request["config"],
            "recbole_test": recbole_test,
            "recbole_best_valid": _float_metrics(trained.trainer.best_valid_result),
            "device": str(trained.device),
            "regime": regime_name,
            **scores.facts,
            "per_user": scores.per_user is not None,
            "as_shipped": as_shipped(request),
            "anomaly_detection": trained.anomaly_detection,
            "epoch_train_s": [round(s, 4) for s in trained.epochs.train_s],
            "epoch_valid_s": [round(s, 4) for s in trained.epochs.valid_s],
            "history": bool(trained.epochs.rows),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "cpu_s": round(time.process_time(), 3),  # this process's CPU seconds so far, for scripts/bench.py
            "build_time_s": round(trained.build_time, 3),
            # RecBole's traditional models (Pop, ItemKNN, EASE, SLIMElastic) fit in their constructor; their one
            # epoch is a formality, so the report says `fit` and warns of no under-training
            "fitted": trained.fitted,
        },
        "status": "ok",
    }


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 2:
        sys.stderr.write("usage: python -m paper_autotrain.stages.baselines.runner REQUEST.json RESULT.json\n")
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    request_path, result_path = Path(argv[0]), Path(argv[1])
    try:
        request = json.loads(request_path.read_text())
        result = run_request(request, Path.cwd())
    except Exception as exc:  # noqa: BLE001 - every failure becomes a one-line error for the stage
        traceback.print_exc(file=sys.stderr)
        _write_json(result_path, {"status": "failed", "error": _one_line(exc)})
        return 1
    _write_json(result_path, result)
    return 0


if __name__ == "__main__":
    # run as `-m`, this module is __main__; the regime table names its scorers by the package path: one module
    sys.modules.setdefault("paper_autotrain.stages.baselines.runner", sys.modules[__name__])
    sys.exit(main())
