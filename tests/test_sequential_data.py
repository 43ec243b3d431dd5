"""The sequential regime: time order, leave-one-out positions, benchmark files RecBole reads the same way."""

import sys

import numpy as np
import pandas as pd
import pytest
import torch

from paper_autotrain.data.sequential import (
    compute_sequences,
    evaluate_next_item,
    load_sequences,
    prepare_sequences,
)
from paper_autotrain.errors import UserError

# user a: 5 items, given out of time order, with a tie at t=3 (file order decides); user b: 2 items
FRAME = pd.DataFrame({
    "user": ["a", "a", "b", "a", "a", "a", "b"],
    "item": ["i3", "i1", "i2", "i4", "i5", "i2", "i1"],
    "timestamp": [3.0, 1.0, 7.0, 3.0, 9.0, 2.0, 8.0],
})


def tokens(split, ids):
    return [str(split.item_tokens[i]) for i in ids]


def test_sequences_are_time_ordered_with_stable_ties():
    split = compute_sequences(FRAME, max_seq_length=3)
    assert tokens(split, split.sequence(0)) == ["i1", "i2", "i3", "i4", "i5"]
    assert tokens(split, split.sequence(1)) == ["i2", "i1"]
    assert split.item_tokens[0] == "[PAD]" and split.n_items == 5


def test_leave_one_out_positions_and_padded_histories():
    split = compute_sequences(FRAME, max_seq_length=3)
    assert [list(x) for x in split.examples("train")] == [[0, 0, 1], [1, 2, 1]]  # a: 1..2, b: 1
    assert [list(x) for x in split.examples("valid")] == [[0], [3]]  # b is too short to evaluate
    assert [list(x) for x in split.examples("test")] == [[0], [4]]
    histories, lengths, targets = split.batch(*split.examples("test"))
    assert tokens(split, histories[0].tolist()) == ["i2", "i3", "i4"]  # the 3 most recent, left-aligned
    assert lengths.tolist() == [3] and tokens(split, targets.tolist()) == ["i5"]
    histories, lengths, _ = split.batch(np.array([1]), np.array([1]))
    assert histories.tolist() == [[split.sequence(1)[0], 0, 0]] and lengths.tolist() == [1]


def test_missing_timestamps_and_bad_length_are_user_errors():
    with pytest.raises(UserError, match="timestamp"):
        compute_sequences(FRAME.drop(columns="timestamp"), 3)
    with pytest.raises(UserError, match="max_seq_length"):
        compute_sequences(FRAME, 0)


def test_next_item_metrics_from_the_rank_of_the_target():
    split = compute_sequences(FRAME, max_seq_length=3)
    _, _, targets = split.batch(*split.examples("test"))

    def third_place(histories, lengths, users):
        scores = torch.zeros(len(histories), split.n_items + 1)
        scores[:, 0] = 100.0  # padding must never be ranked, whatever its score
        for row, target in enumerate(targets.tolist()):
            others = [i for i in range(1, split.n_items + 1) if i != target]
            scores[row, others[:2]] = torch.tensor([3.0, 2.0])  # two items above the target
            scores[row, target] = 1.0
        return scores

    result = evaluate_next_item(third_place, split, "test", ks=(1, 5))
    assert result.mean["hit@1"] == 0.0 and result.mean["mrr@5"] == pytest.approx(1 / 3)
    assert result.mean["ndcg@5"] == pytest.approx(1 / np.log2(4))
    assert result.users.tolist() == [0]


def test_saved_split_is_reused_and_recbole_reads_the_same_histories(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "toy.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n" + "".join(
        f"{u}\t{i}\t{t}\n" for u, i, t in zip(FRAME.user, FRAME.item, FRAME.timestamp, strict=True)))
    cfg = {"name": "toy", "path": str(folder)}
    info = prepare_sequences(cfg, 3, tmp_path / "datasets")
    assert prepare_sequences(cfg, 3, tmp_path / "datasets") == info
    assert (info.n_train, info.n_valid, info.n_test) == (3, 1, 1)
    ours = load_sequences(info.path)

    from recbole.config import Config
    from recbole.data import create_dataset

    monkeypatch.setattr(sys, "argv", ["recbole"])  # RecBole reads --key=value from the command line
    anomaly = torch.is_anomaly_enabled()
    config = Config(model="GRU4Rec", dataset="toy", config_dict={
        "data_path": info.path, "benchmark_filename": ["train", "valid", "test"],
        "load_col": {"inter": ["user_id", "item_id_list", "item_id"]}, "alias_of_item_id": ["item_id_list"],
        "MAX_ITEM_LIST_LENGTH": 3, "train_neg_sample_args": None, "checkpoint_dir": str(tmp_path / "saved"),
        "show_progress": False,
    })
    torch.autograd.set_detect_anomaly(anomaly)
    dataset = create_dataset(config)
    _, _, test = dataset.build()
    row = test.inter_feat
    history = [dataset.id2token("item_id", int(i)) for i in row["item_id_list"][0] if int(i) != 0]
    assert history == tokens(ours, ours.batch(*ours.examples("test"))[0][0][:3].tolist())
    assert dataset.id2token("item_id", int(row["item_id"][0])) == "i5"
    assert torch.is_anomaly_enabled() == anomaly  # RecBole's import switched it on; the test put it back
