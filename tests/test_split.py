"""The split: RecBole's per-user ratio rule, saved once, identical files for both sides."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from paper_autotrain.data.split import compute_split, load_split, prepare_split, publish_split, ratio_counts
from paper_autotrain.errors import UserError


def write_inter(folder, rows, header="user_id:token\titem_id:token\trating:float\ttimestamp:float"):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [header] + ["\t".join(map(str, r)) for r in rows]
    (folder / "toy.inter").write_text("\n".join(lines) + "\n")
    return {"name": "toy", "path": str(folder)}


def toy_rows(n_users=12, per_user=10):
    rng = np.random.default_rng(0)
    return [(f"u{u}", f"i{i}", 4, 1000 + k) for u in range(n_users)
            for k, i in enumerate(rng.choice(40, per_user, replace=False))]


@pytest.mark.parametrize("total", [1, 2, 3, 9, 10, 27, 100])
def test_ratio_counts_follow_recbole(total):
    counts = ratio_counts(total, [0.8, 0.1, 0.1])
    assert sum(counts) == total and all(c >= 0 for c in counts)
    if total >= 10:
        assert counts[1] == counts[2] == int(0.1 * total)


def test_split_partitions_every_users_interactions(tmp_path):
    dataset = write_inter(tmp_path / "raw", toy_rows())
    info = prepare_split(dataset, {"ratios": [0.8, 0.1, 0.1], "order": "RO", "seed": 1}, tmp_path / "ds")
    split = load_split(info.path)
    all_pairs = np.concatenate([split.train, split.valid, split.test])
    assert len(all_pairs) == 120 == info.n_train + info.n_valid + info.n_test
    assert len({tuple(p) for p in all_pairs.tolist()}) == 120  # disjoint
    assert (np.bincount(split.valid[:, 0], minlength=12) == 1).all()
    assert (np.bincount(split.test[:, 0], minlength=12) == 1).all()
    bench = pd.read_csv(f"{info.path}/toy/toy.test.inter", sep="\t", dtype=str)
    tokens = set(zip(bench["user_id:token"], bench["item_id:token"], strict=True))
    assert tokens == {(split.user_tokens[u], split.item_tokens[i]) for u, i in split.test.tolist()}


def test_split_is_saved_once_and_reused(tmp_path):
    dataset = write_inter(tmp_path / "raw", toy_rows())
    cfg = {"ratios": [0.8, 0.1, 0.1], "order": "RO", "seed": 1}
    first = prepare_split(dataset, cfg, tmp_path / "ds")
    stamp = (tmp_path / "ds" / "toy" / first.split_id / "split.npz").stat().st_mtime_ns
    second = prepare_split(dataset, cfg, tmp_path / "ds")
    assert second == first
    assert (tmp_path / "ds" / "toy" / first.split_id / "split.npz").stat().st_mtime_ns == stamp
    other = prepare_split(dataset, {**cfg, "seed": 2}, tmp_path / "ds")
    assert other.split_id != first.split_id


def test_corrupt_saved_split_is_recomputed(tmp_path):
    dataset = write_inter(tmp_path / "raw", toy_rows())
    cfg = {"ratios": [0.8, 0.1, 0.1]}
    info = prepare_split(dataset, cfg, tmp_path / "ds")
    (tmp_path / "ds" / "toy" / info.split_id / "split.npz").write_bytes(b"garbage")
    again = prepare_split(dataset, cfg, tmp_path / "ds")
    assert load_split(again.path).n_users == 12


def test_leave_one_out_tests_each_users_last_item_and_validates_the_one_before(tmp_path):
    rows = [("a", f"i{k}", 4, 100 - k) for k in range(6)]  # time runs backwards: i0 is a's latest
    rows += [("b", "i1", 4, 5), ("b", "i2", 4, 9), ("c", "i3", 4, 1)]  # b: two interactions, c: one
    dataset = write_inter(tmp_path / "raw", rows)
    cfg = {"order": "TO", "leave_one_out": True}
    info = prepare_split(dataset, cfg, tmp_path / "ds")
    split = load_split(info.path)
    named = {part: sorted((split.user_tokens[u], split.item_tokens[i]) for u, i in split.part(part).tolist())
             for part in ("train", "valid", "test")}
    assert named["test"] == [("a", "i0"), ("b", "i2")] and named["valid"] == [("a", "i1")]  # RecBole's LS
    assert ("c", "i3") in named["train"] and ("b", "i1") in named["train"]
    assert "leave-one-out" in info.protocol and "time order" in info.protocol
    ratio = prepare_split(dataset, {"order": "TO", "leave_one_out": False}, tmp_path / "ds")
    assert ratio.split_id == prepare_split(dataset, {"order": "TO"}, tmp_path / "ds").split_id != info.split_id
    from paper_autotrain.stages.compare.protocol import ratio_split_protocol, split_difference

    ours = ratio_split_protocol(info, None)
    assert ours.leave_one_out and split_difference("leave-one-out (latest interaction per user)", ours) is None
    assert split_difference("leave-one-out", ratio_split_protocol(ratio, None)) is not None


def test_time_order_puts_latest_interactions_in_test():
    frame = pd.DataFrame({"user": ["a"] * 10, "item": [f"i{k}" for k in range(10)], "timestamp": range(10)})
    split, _ = compute_split(frame, {"ratios": [0.8, 0.1, 0.1], "order": "TO"})
    assert split.item_tokens[split.test[0, 1]] == "i9"
    assert split.item_tokens[split.valid[0, 1]] == "i8"


def test_missing_columns_and_unknown_dataset_are_user_errors(tmp_path):
    bad = write_inter(tmp_path / "bad", [("u1", 3)], header="user_id:token\trating:float")
    with pytest.raises(UserError, match="item_id"):
        prepare_split(bad, {}, tmp_path / "ds")
    with pytest.raises(UserError, match="not found"):
        prepare_split({"name": "nope", "path": str(tmp_path / "missing")}, {}, tmp_path / "ds")


def test_a_split_published_first_by_another_run_is_kept(tmp_path):
    """Two papers of a batch compute the same split at once: the second never deletes the folder the first
    published (and may be reading); it drops its own copy. A corrupt folder there is replaced."""
    dataset = write_inter(tmp_path / "raw", toy_rows())
    info = prepare_split(dataset, {"ratios": [0.8, 0.1, 0.1]}, tmp_path / "ds")
    folder = Path(info.path)
    spare = tmp_path / "spare"
    shutil.copytree(folder, spare)
    (folder / "reader-was-here").write_text("a file another process holds open")
    ours = folder.with_name(".ours")
    shutil.copytree(spare, ours)
    publish_split(ours, folder, load_split)
    assert (folder / "reader-was-here").exists() and load_split(folder).n_users == 12
    (folder / "split.npz").write_bytes(b"garbage")
    shutil.rmtree(ours, ignore_errors=True)
    shutil.copytree(spare, ours)
    publish_split(ours, folder, load_split)
    assert not (folder / "reader-was-here").exists() and load_split(folder).n_users == 12 and not ours.exists()
