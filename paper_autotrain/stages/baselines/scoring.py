"""The context (CTR) side of the RecBole baselines: the config of the protocol and scoring with our evaluator.

`context_config` is what the CTR regime changes in RecBole's config (the context entry of the regime table,
paper_autotrain/regimes.py); `score_context` scores a trained RecBole context model on the saved valid/test rows
with our AUC and LogLoss (runner.py score_ctr, the entry's scorer). RecBole reads the benchmark files of the
split folder, whose `.user` / `.item` files hold exactly the fields our model uses, so `load_col: None` (load
every column) gives both sides the same fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from paper_autotrain.stages.baselines.ids import token_ids

PREDICT_BATCH = 8192


def context_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Labelled rows, every column of the benchmark files, one AUC/LogLoss over all rows, early stopping on AUC."""
    return {
        "load_col": None,  # the split folder's files hold exactly the chosen fields
        "unload_col": None,
        "LABEL_FIELD": "label",
        "threshold": None,  # the label is already in the files (rating >= threshold, computed once)
        "RATING_FIELD": None,
        "TIME_FIELD": None,
        "eval_args": {"group_by": None, "order": "RO", "mode": "labeled", "split": {"RS": [0.8, 0.1, 0.1]}},
        "metrics": ["AUC", "LogLoss"],
        "valid_metric": "AUC",
        "train_neg_sample_args": None,
        "normalize_all": False,
    }


def recbole_probabilities(model: Any, dataset: Any, users: np.ndarray, items: np.ndarray,
                          device: torch.device) -> np.ndarray:
    """RecBole's `model.predict` (a click probability) for each (user, item) row, features joined by RecBole."""
    from recbole.data.interaction import Interaction

    uids = torch.from_numpy(token_ids(dataset, dataset.uid_field, users, strict=True))
    iids = torch.from_numpy(token_ids(dataset, dataset.iid_field, items, strict=True))
    out = []
    with torch.no_grad():
        for start in range(0, len(uids), PREDICT_BATCH):
            inter = Interaction({dataset.uid_field: uids[start:start + PREDICT_BATCH],
                                 dataset.iid_field: iids[start:start + PREDICT_BATCH]})
            out.append(model.predict(dataset.join(inter).to(device)).float().reshape(-1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def score_context(trained: Any, split_path: str, ks: list[int]) -> tuple[dict, dict, dict]:
    """(test, valid, facts): our AUC/LogLoss of RecBole's predictions on the saved rows (ks unused)."""
    from paper_autotrain.data.ctr import load_ctr
    from paper_autotrain.data.evaluator import ctr_metrics

    split = load_ctr(split_path)
    scores = {}
    for phase in ("test", "valid"):
        probabilities = recbole_probabilities(trained.model, trained.dataset, split.users[phase],
                                              split.items[phase], trained.device)
        scores[phase] = ctr_metrics(probabilities, split.labels[phase])
    fields = list(trained.model.token_field_names + trained.model.token_seq_field_names)
    return scores["test"], scores["valid"], {"scored_with": "predict", "fields": fields}


# --- the behaviour regime (data/behaviour.py): the context rows with each row's behaviour sequence ---------------

def behaviour_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The context protocol on the behaviour rows: RecBole's context models leave the history column unloaded (they
    read the rows as the context regime writes them); DIN and DIEN load it (their reference: `unload_col: None`)."""
    from paper_autotrain.data.behaviour import HISTORY_FIELD

    config = context_config(cfg)
    # RecBole's sequential datasets insist on order TO; with benchmark files no model's rows are reordered by it
    config["eval_args"] = {**config["eval_args"], "order": "TO"}
    return {**config, "unload_col": {"inter": [HISTORY_FIELD]},
            "MAX_ITEM_LIST_LENGTH": int(cfg.get("max_seq_length", 50))}


def recbole_sequence_probabilities(model: Any, dataset: Any, split: Any, phase: str,
                                   device: torch.device) -> np.ndarray:
    """RecBole's `model.predict` of a sequential-context model (DIN, DIEN) on each row of `phase`, given the row's
    user, candidate item and behaviour sequence (RecBole's ids of the split's tokens, padded to its width)."""
    from recbole.data.interaction import Interaction

    uids = torch.from_numpy(token_ids(dataset, dataset.uid_field, split.users[phase], strict=True))
    iids = torch.from_numpy(token_ids(dataset, dataset.iid_field, split.items[phase], strict=True))
    width = int(model.max_seq_length)
    history = split.history[phase][:, :width]
    known = history > 0
    sequences = np.zeros((len(history), width), dtype=np.int64)
    sequences[:, :history.shape[1]][known] = token_ids(dataset, dataset.iid_field,
                                                       split.vocab["item_id"][history[known]], strict=True)
    sequences = torch.from_numpy(sequences)
    lengths = torch.from_numpy(known.sum(axis=1).astype(np.int64))
    out = []
    with torch.no_grad():
        for start in range(0, len(uids), PREDICT_BATCH):
            rows = slice(start, start + PREDICT_BATCH)
            inter = Interaction({dataset.uid_field: uids[rows], model.ITEM_SEQ: sequences[rows],
                                 model.ITEM_SEQ_LEN: lengths[rows], model.POS_ITEM_ID: iids[rows]})
            out.append(model.predict(inter.to(device)).float().reshape(-1).cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def score_behaviour_rows(trained: Any, split_path: str, ks: list[int]) -> tuple[dict, dict, dict]:
    """(test, valid, facts): score_context for RecBole's context models; DIN and DIEN (sequential classes that read
    a history) get each row's behaviour sequence as well."""
    from paper_autotrain.data.behaviour import load_behaviour
    from paper_autotrain.data.evaluator import ctr_metrics

    if not hasattr(trained.model, "ITEM_SEQ"):
        return score_context(trained, split_path, ks)
    split = load_behaviour(split_path)
    scores = {phase: ctr_metrics(recbole_sequence_probabilities(trained.model, trained.dataset, split, phase,
                                                                trained.device), split.labels[phase])
              for phase in ("test", "valid")}
    return scores["test"], scores["valid"], {"scored_with": "predict", "behaviour_history": "item_id_list"}
