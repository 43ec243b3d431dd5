"""Numeric settings checked before any work starts: a value no run can use is a one-line UserError naming the
setting, not a failure twenty minutes later inside Lightning or RecBole (or, worse, a run that silently does
nothing, like trainer.max_epochs=0)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from paper_autotrain.data.metric_names import TOPK_METRICS
from paper_autotrain.errors import UserError
from paper_autotrain.schemas import FIDELITY_MODES

Check = tuple[str, Callable[[Any], bool], str]
# trainer.* keys the pipeline itself reads (the sandbox's limits, the per-family epoch caps)
RUN_TRAINER_KEYS = ("timeout_s", "memory_mb", "family_max_epochs")

# (dotted setting, test, what it must be); a missing or null setting keeps its default and is not checked
CHECKS: tuple[Check, ...] = (
    ("trainer.max_epochs", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("trainer.patience", lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    ("trainer.timeout_s", lambda v: _is_number(v) and v > 0, "a number of seconds > 0"),
    ("trainer.memory_mb", lambda v: _is_number(v) and v > 0, "a number of MB > 0 (or null: no limit)"),
    ("validate.timeout_s", lambda v: _is_number(v) and v > 0, "a number of seconds > 0"),
    ("validate.overfit_steps", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("validate.memory_mb", lambda v: _is_number(v) and v > 0, "a number of MB > 0 (or null: no limit)"),
    ("parse.max_pages", lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    ("parse.max_mb", lambda v: _is_number(v) and v > 0, "a number of MB > 0"),
    ("lock_wait_s", lambda v: _is_number(v) and v >= 0, "a number of seconds >= 0"),
    ("seed", lambda v: _is_int(v), "an integer"),
    ("job", lambda v: isinstance(v, str | int) and re.fullmatch(r"[\w.-]+", str(v)) is not None,
     "a folder name (letters, digits, _ . -)"),
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def lookup(cfg: Mapping[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def check_run_settings(cfg: Mapping[str, Any]) -> None:
    """Raise UserError for the first setting no run can use."""
    for dotted, test, expected in CHECKS:
        value = lookup(cfg, dotted)
        if value is not None and not test(value):
            raise UserError(f"{dotted}={value!r}: must be {expected}")
    for family, cap in dict(lookup(cfg, "trainer.family_max_epochs") or {}).items():
        if not (_is_int(cap) and cap >= 1):
            raise UserError(f"trainer.family_max_epochs.{family}={cap!r}: must be an integer >= 1")
    check_eval(dict(cfg.get("eval") or {}))
    run_seeds(cfg)
    check_trainer_keys(dict(cfg.get("trainer") or {}))
    check_logger(cfg.get("logger"))
    fidelity = cfg.get("fidelity", "strict")
    if fidelity not in FIDELITY_MODES:
        raise UserError(f"fidelity={fidelity!r}: must be one of {', '.join(FIDELITY_MODES)}")


def check_logger(options: Mapping[str, Any] | None) -> None:
    """logger=csv|tensorboard|mlflow, with its package installed (mlflow is optional: `pip install mlflow`)."""
    from paper_autotrain.worker.loggers import check_logger as problem_with

    problem = problem_with(options)
    if problem:
        raise UserError(problem)


def check_trainer_keys(trainer: Mapping[str, Any]) -> None:
    """A trainer.* key reaches Lightning's Trainer (stages/train.py TRAINER_KEYS) or the run's own limits;
    any other (`+trainer.gradient_clip_val=1.0`) is refused by name instead of silently dropped."""
    from paper_autotrain.stages.train import TRAINER_KEYS  # the one list of what the train stage passes on

    known = (*TRAINER_KEYS, *RUN_TRAINER_KEYS)
    unknown = sorted(set(trainer) - set(known))
    if unknown:
        raise UserError(f"trainer.{unknown[0]} is not a setting paper_autotrain passes to Lightning's Trainer; "
                        f"the trainer settings are: {', '.join(known)}")


def run_seeds(cfg: Mapping) -> list[int]:
    """`seeds` (every model trains once per seed), or [`seed`] when seeds is null."""
    raw = cfg.get("seeds")
    if raw is None:
        return [int(cfg.get("seed", 0))]
    values = list(raw) if isinstance(raw, Sequence) and not isinstance(raw, str) else [raw]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) for v in values) or \
            len(set(values)) != len(values):
        raise UserError(f"seeds={raw} must be a non-empty list of distinct integers, e.g. seeds=[0,1,2]")
    return [int(v) for v in values]


def check_eval(evaluation: Mapping[str, Any]) -> None:
    """eval.ks: positive cut-offs; eval.main_metric: one of our metrics at one of those cut-offs; eval.ranking: full,
    sampled-N or paper."""
    from paper_autotrain.data.candidates import PAPER, negatives_of

    ranking = str(evaluation.get("ranking") or "full").strip().lower()
    if ranking != PAPER:
        negatives_of(ranking)  # UserError naming the choices
    ks = evaluation.get("ks", [10, 20])
    if not isinstance(ks, list | tuple) or not ks or not all(_is_int(k) and k >= 1 for k in ks):
        raise UserError(f"eval.ks={ks!r}: must be a non-empty list of integers >= 1, e.g. eval.ks=[10,20]")
    metric = str(evaluation.get("main_metric", "ndcg@10")).lower()
    name, _, cut = metric.partition("@")
    if name not in TOPK_METRICS or not cut.isdigit() or int(cut) not in ks:
        choices = ", ".join(f"{m}@{k}" for m in TOPK_METRICS for k in ks)
        raise UserError(f"eval.main_metric={metric}: must be one of {choices} (a metric at one of eval.ks)")
