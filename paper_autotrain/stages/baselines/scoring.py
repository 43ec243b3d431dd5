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
            fields = {dataset.uid_field: uids[rows], model.ITEM_SEQ: sequences[rows],
                      model.ITEM_SEQ_LEN: lengths[rows], model.POS_ITEM_ID: iids[rows]}
            if hasattr(model, "NEG_ITEM_SEQ"):  # DIEN reads it for its auxiliary loss only, which predict drops
                fields[model.NEG_ITEM_SEQ] = torch.zeros_like(sequences[rows])
            inter = Interaction(fields)
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


# --- RecBole's DIEN on the behaviour rows ------------------------------------------------------------------

def attach_negative_history(dataset: Any) -> None:
    """Give the rows of a DIENDataset read from benchmark files their negative history `neg_item_id_list`.

    RecBole's DIENDataset draws one negative item per interaction when it is built (SeqSampler.sample_neg_sequence:
    uniform over the items, never the clicked one; `dataset.neg_item_list`) and, when it augments a sequence, gives
    each row the negatives of its history's interactions. With benchmark files it does not augment (the histories
    come from the files), so the column is never made and DIEN's `calculate_loss` fails. This makes it as the
    augmentation would: the negative at a history position is the one drawn for that (user, item) interaction."""
    from recbole.utils import FeatureSource, FeatureType

    frame = dataset.inter_feat  # still the loaded DataFrame: build() turns it into padded tensors
    histories = frame[dataset.item_id_list_field].to_numpy()  # per row an array of RecBole's item ids
    n_items = int(dataset.item_num)
    keys = frame[dataset.uid_field].to_numpy(np.int64) * n_items + frame[dataset.iid_field].to_numpy(np.int64)
    negatives = np.asarray(dataset.neg_item_list, dtype=np.int64)  # one per row, in the frame's order
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    lengths = np.array([len(h) for h in histories], dtype=np.int64)
    flat = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]) if lengths.sum() else \
        np.zeros(0, dtype=np.int64)
    wanted = np.repeat(keys - frame[dataset.iid_field].to_numpy(np.int64), lengths) + flat  # (user, history item)
    where = np.minimum(np.searchsorted(sorted_keys, wanted), max(len(sorted_keys) - 1, 0))
    found = sorted_keys[where] == wanted
    values = negatives[order[where]]
    if not found.all():  # a history item that is no row of the files (not so in the behaviour regime's files)
        values = np.where(found, values, dataset.seq_sampler.sample_neg_sequence(flat).numpy())
    field = dataset.neg_item_list_field
    frame[field] = list(np.split(values, np.cumsum(lengths)[:-1]))
    dataset.set_field_property(field, FeatureType.TOKEN_SEQ, FeatureSource.INTERACTION,
                               dataset.field2seqlen[dataset.item_id_list_field])


def allow_empty_histories(model: Any) -> None:
    """Let RecBole's DIEN score rows without behaviours, as ours does: the interest of an empty history is the
    evolving GRU's initial state, 0.

    RecBole's DIEN packs each history (`pack_padded_sequence` refuses a length of 0) and picks the state at length - 1
    (none for an empty one), so a batch holding such a row fails. Its two layers get the length clamped to 1 (a row
    with one behaviour or none has no auxiliary pair: the auxiliary loss is unchanged) and the interest evolving
    layer's output of an empty row is set to 0; the rows with behaviours are computed as RecBole computes them."""
    empty: dict[str, torch.Tensor] = {}

    def clamp(module: Any, args: tuple) -> tuple:
        *head, lengths = args[:3]
        empty["rows"] = lengths == 0
        return (*head, lengths.clamp(min=1), *args[3:])

    def clamp_extractor(module: Any, args: tuple) -> tuple:
        keys, lengths, *rest = args
        return (keys, lengths.clamp(min=1), *rest)

    def zero_empty(module: Any, args: tuple, output: torch.Tensor) -> torch.Tensor:
        return output.masked_fill(empty.pop("rows").unsqueeze(-1), 0.0)

    model.interset_extractor.register_forward_pre_hook(clamp_extractor)  # RecBole's spelling
    model.interest_evolution.register_forward_pre_hook(clamp)
    model.interest_evolution.register_forward_hook(zero_empty)
