"""The CTR split: labels from the rating threshold, a seeded 8:1:1 cut, reuse, benchmark files, AUC/LogLoss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from recbole.evaluator import metrics as recbole_metrics

from paper_autotrain.data.ctr import decode_field, load_ctr, prepare_ctr
from paper_autotrain.data.evaluator import auc, ctr_metrics, logloss
from paper_autotrain.errors import UserError
from tests.ctr_fixtures import write_ctr_dataset


@pytest.fixture()
def dataset(tmp_path: Path) -> dict:
    return write_ctr_dataset(tmp_path / "raw")


def test_labels_follow_the_rating_threshold_and_the_split_is_8_1_1(dataset, tmp_path):
    info = prepare_ctr(dataset, tmp_path / "datasets")
    split = load_ctr(info.path)
    raw = pd.read_csv(Path(dataset["path"]) / "tinyctr.inter", sep="\t")
    assert (info.n_train, info.n_valid, info.n_test) == (1200, 150, 150)  # 60 users x 25 rows
    assert info.split_id.startswith("ctr-")
    ratings = {(f"{u}", f"{i}"): r for u, i, r in zip(raw["user_id:token"], raw["item_id:token"], raw["rating:float"],
                                                      strict=True)}
    for part in ("train", "valid", "test"):
        expected = [float(ratings[(u, i)] >= 4) for u, i in zip(split.users[part], split.items[part], strict=True)]
        assert split.labels[part].tolist() == expected
    assert split.token_fields == ("user_id", "item_id", "group", "age", "release_year")
    assert split.seq_fields == ("class",)
    # features travel with their user / item
    groups = decode_field(split, "test", "group")
    assert all(g == ("a" if int(u[1:]) % 2 else "b") for u, g in zip(split.users["test"], groups, strict=True))


def test_a_higher_threshold_gives_fewer_clicks_and_another_split(dataset, tmp_path):
    base = prepare_ctr(dataset, tmp_path / "datasets")
    strict = prepare_ctr({**dataset, "ctr": {**dataset["ctr"], "threshold": 5}}, tmp_path / "datasets")
    assert strict.split_id != base.split_id
    assert load_ctr(strict.path).labels["train"].sum() < load_ctr(base.path).labels["train"].sum()


def test_the_split_is_reused_and_a_corrupt_folder_is_recomputed(dataset, tmp_path):
    first = prepare_ctr(dataset, tmp_path / "datasets")
    stamp = (Path(first.path) / "ctr.npz").stat().st_mtime_ns
    again = prepare_ctr(dataset, tmp_path / "datasets")
    assert again == first and (Path(first.path) / "ctr.npz").stat().st_mtime_ns == stamp
    (Path(first.path) / "ctr.npz").write_bytes(b"broken")
    fixed = prepare_ctr(dataset, tmp_path / "datasets")
    assert fixed.split_id == first.split_id
    assert load_ctr(fixed.path).labels["test"].tolist() == load_ctr(first.path).labels["test"].tolist()


def test_benchmark_files_hold_the_same_rows_and_only_the_chosen_fields(dataset, tmp_path):
    info = prepare_ctr(dataset, tmp_path / "datasets")
    split = load_ctr(info.path)
    bench = Path(info.path) / "tinyctr"
    for part in ("train", "valid", "test"):
        frame = pd.read_csv(bench / f"tinyctr.{part}.inter", sep="\t", dtype=str)
        assert list(frame.columns) == ["user_id:token", "item_id:token", "label:float"]
        assert frame["user_id:token"].tolist() == split.users[part].tolist()
        assert frame["label:float"].astype(float).tolist() == split.labels[part].tolist()
    assert (bench / "tinyctr.user").read_text().splitlines()[0] == "user_id:token\tgroup:token\tage:token"
    item_header = (bench / "tinyctr.item").read_text().splitlines()[0].split("\t")
    assert sorted(item_header) == ["class:token_seq", "item_id:token", "release_year:token"]


def test_an_unknown_field_is_a_one_line_user_error(dataset, tmp_path):
    with pytest.raises(UserError, match="zip_code.*set dataset.ctr.fields"):
        prepare_ctr({**dataset, "ctr": {"fields": ["user_id", "item_id", "zip_code"]}}, tmp_path / "datasets")


def test_auc_counts_ties_half_and_matches_the_pairwise_definition():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300), 1)  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert auc(scores, labels) == pytest.approx(pairwise, abs=1e-12)
    assert auc(np.array([0.1, 0.9]), np.array([0, 1])) == 1.0
    assert np.isnan(auc(np.array([0.3, 0.4]), np.array([1, 1])))


def test_auc_and_logloss_equal_recboles_on_the_same_predictions():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 2000).astype(float)
    preds = np.clip(0.35 * labels + rng.random(2000) * 0.65, 0, 1)
    preds[:50] = np.round(preds[:50], 1)  # ties
    preds[50:53] = [0.0, 1.0, 1.0]  # clipped by both sides
    config = {"metric_decimal_place": 10}
    recbole = {"auc": recbole_metrics.AUC(config).metric_info(preds, labels),
               "logloss": recbole_metrics.LogLoss(config).metric_info(preds, labels)}
    ours = ctr_metrics(preds, labels)
    assert ours["auc"] == pytest.approx(recbole["auc"], abs=1e-6)
    assert ours["logloss"] == pytest.approx(recbole["logloss"], abs=1e-6)
    assert logloss(np.array([0.5]), np.array([1.0])) == pytest.approx(np.log(2))
