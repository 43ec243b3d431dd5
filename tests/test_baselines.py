"""Baselines stage: RecBole models on our split, scored by our evaluator, cached, failures isolated."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from paper_autotrain.data.split import SplitData, load_split, write_split
from paper_autotrain.schemas import MethodSpec, RunResult, SplitInfo
from paper_autotrain.stages import baselines
from paper_autotrain.stages.compare import History

N_USERS, N_ITEMS = 60, 80
CFG = {"models": {"Pop": {}, "BPR": {}, "NeuMF": {}}, "max_epochs": 2, "patience": 5, "seed": 0,
       "ks": [10, 20], "valid_metric": "NDCG@10", "device": "cpu", "timeout_s": 120}


def synthetic_split(folder: Path) -> SplitInfo:
    """60 users x 80 items, skewed popularity; per user 2 test, 2 valid, the rest train."""
    rng = np.random.default_rng(0)
    popularity = rng.dirichlet(np.full(N_ITEMS, 0.3))
    train, valid, test = [], [], []
    for user in range(N_USERS):
        items = rng.choice(N_ITEMS, size=int(rng.integers(8, 16)), replace=False, p=popularity)
        rows = np.stack([np.full(len(items), user), items], axis=1).astype(np.int64)
        test.append(rows[:2])
        valid.append(rows[2:4])
        train.append(rows[4:])
    data = SplitData(
        n_users=N_USERS, n_items=N_ITEMS,
        train=np.concatenate(train), valid=np.concatenate(valid), test=np.concatenate(test),
        # tokens whose sort order differs from our index order, so a wrong mapping shows
        user_tokens=np.array([f"u{(7 * u) % N_USERS}" for u in range(N_USERS)]),
        item_tokens=np.array([str(1000 - i) for i in range(N_ITEMS)]),
    )
    folder.mkdir(parents=True, exist_ok=True)
    write_split(data, folder, "tiny")
    return SplitInfo(dataset="tiny", split_id="test0001", path=str(folder), n_users=N_USERS, n_items=N_ITEMS,
                     n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                     protocol="synthetic: 2 test, 2 valid per user")


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> SplitInfo:
    return synthetic_split(tmp_path_factory.mktemp("split"))


@pytest.fixture(scope="module")
def stage_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stage")


@pytest.fixture(scope="module")
def first_run(split, tmp_path_factory, stage_folder):
    cache = tmp_path_factory.mktemp("cache")
    return baselines.run(None, split, CFG, cache, history_dir=stage_folder / "history",
                         log_dir=stage_folder / "logs"), cache


def by_model(results: list[RunResult]) -> dict[str, RunResult]:
    return {r.model: r for r in results}


def test_pop_and_bpr_train_and_score(first_run, split):
    results = by_model(first_run[0])
    assert set(results) == {"Pop", "BPR", "NeuMF"}
    for result in results.values():
        assert result.status == "ok", result.error
        assert result.role == "baseline" and result.dataset == "tiny" and result.split_id == "test0001"
        assert set(result.test) == {f"{m}@{k}" for m in ("recall", "ndcg", "hit", "mrr", "precision")
                                    for k in (10, 20)}
        assert all(0.0 <= v <= 1.0 for v in [*result.test.values(), *result.valid.values()])
        assert result.train_time_s is not None and result.eval_time_s is not None
        assert result.config["recbole"]["epochs"] == 2 and result.config["reference"] is False
    bpr = results["BPR"]
    assert bpr.epochs_run == 2 and bpr.best_epoch in (1, 2)  # counted from 1, as ours
    data = load_split(split.path)
    seen_items = len(np.unique(np.concatenate([data.train, data.valid, data.test])[:, 1]))
    assert bpr.n_params == (N_USERS + 1 + seen_items + 1) * 64  # RecBole adds a padding id to both
    assert bpr.config["unknown_items"] == N_ITEMS - seen_items  # never-seen items rank last, as in RecBole
    assert max(bpr.test.values()) > 0


@pytest.mark.parametrize("model", ["BPR", "NeuMF"])
def test_our_evaluator_equals_recbole(first_run, model):
    """Same scores, same masks, same users: the id mapping is right (Pop has ties, so not Pop).

    NeuMF has no full_sort_predict: it is scored through predict over every (user, item) pair.
    """
    result = by_model(first_run[0])[model]
    assert result.config["scored_with"] == ("predict" if model == "NeuMF" else "full_sort_predict")
    theirs = result.config["recbole_test"]
    for name, value in result.test.items():
        assert value == pytest.approx(theirs[name], abs=1e-4), name


def test_second_run_is_served_from_cache(first_run, split, monkeypatch):
    results, cache = first_run

    def no_subprocess(*args, **kwargs):
        raise AssertionError("a cached model must not start a subprocess")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    again = baselines.run(None, split, CFG, cache)
    assert [r.model_dump() for r in again] == [r.model_dump() for r in results]


def test_corrupt_cache_file_is_a_miss_and_rewritten(split, tmp_path):
    cfg = {**CFG, "models": {"Pop": {}}}
    config = baselines.recbole_config({}, cfg)
    cache_file = tmp_path / f"{baselines.cache_key(split, 'Pop', config, 'cpu')}.json"
    cache_file.write_text('{"model": "Pop", "test": ')
    (result,) = baselines.run(None, split, cfg, tmp_path)
    assert result.status == "ok", result.error
    assert RunResult.model_validate_json(cache_file.read_text()) == result


def test_unknown_model_fails_alone_with_one_line_error(split, tmp_path):
    cfg = {**CFG, "models": {"NoSuchModel": {}}}
    (result,) = baselines.run(None, split, cfg, tmp_path)
    assert result.status == "failed" and result.model == "NoSuchModel"
    assert "NoSuchModel" in result.error and "\n" not in result.error
    assert not list(tmp_path.glob("*.json"))  # failures are never cached
    (lower,) = baselines.run(None, split, {**CFG, "models": {"bpr": {}}}, tmp_path)
    assert lower.status == "failed" and "case-sensitive" in lower.error


def test_model_crashing_in_recbole_is_reported_not_cached(split, tmp_path):
    cfg = {**CFG, "models": {"BPR": {"embedding_size": -4}}}
    (result,) = baselines.run(None, split, cfg, tmp_path)
    assert result.status == "failed" and result.error and "\n" not in result.error
    assert not list(tmp_path.glob("*.json"))


def test_timeout_gives_failed_result(split, tmp_path, monkeypatch):
    def too_slow(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs.get("timeout"))

    monkeypatch.setattr(subprocess, "run", too_slow)
    (result,) = baselines.run(None, split, {**CFG, "models": {"BPR": {}}, "timeout_s": 3}, tmp_path)
    assert result.status == "failed" and "timed out after 3s" in result.error


def test_per_user_test_values_are_kept_beside_the_cached_result(first_run, split, tmp_path, monkeypatch):
    """The runner's per-user values (for compare's paired test) reach the cache and the stage folder."""
    results, cache = first_run
    data = load_split(split.path)
    users_with_test = np.flatnonzero(np.bincount(data.test[:, 0], minlength=N_USERS))
    for result in results:
        config = baselines.recbole_config(CFG["models"][result.model], CFG)
        stored = cache / f"{baselines.cache_key(split, result.model, config, 'cpu')}.npz"
        assert result.config["per_user"] is True and stored.is_file()
        with np.load(stored) as per_user:
            assert np.array_equal(per_user["users"], users_with_test)
            for metric in ("ndcg@10", "recall@20"):  # our evaluator's mean is the mean of these values
                assert per_user[metric.replace("@", "_at_")].mean() == pytest.approx(result.test[metric], abs=1e-9)

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("cached models must not retrain"))
    again = baselines.run(None, split, CFG, cache, per_user_dir=tmp_path / "per_user")
    assert [r.model_dump() for r in again] == [r.model_dump() for r in results]
    assert sorted(p.name for p in (tmp_path / "per_user").iterdir()) == ["BPR-seed0.npz", "NeuMF-seed0.npz",
                                                                         "Pop-seed0.npz"]


def fake_runner(calls: list[tuple[str, int]]):
    """run_model without RecBole: a result whose test mean is the mean of the per-user values it writes."""
    def run_model(model, config, split, cfg, extra=None, per_user_out=None, **files_and_threads):
        seed = int(config["seed"])
        calls.append((model, seed))
        values = np.full(4, 0.1 * (seed + 1))
        per_user_out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(per_user_out, users=np.arange(4), ndcg_at_10=values)
        return RunResult(model=model, role="baseline", dataset=split.dataset, split_id=split.split_id, seed=seed,
                         test={"ndcg@10": float(values.mean())}, config={**(extra or {}), "per_user": True})
    return run_model


def test_every_baseline_trains_once_per_seed_and_caches_each(split, tmp_path, monkeypatch):
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(baselines, "run_model", fake_runner(calls))
    cfg = {**CFG, "models": {"Pop": {}, "BPR": {}}, "seeds": [0, 2]}
    results = baselines.run(None, split, cfg, tmp_path / "cache", per_user_dir=tmp_path / "per_user")
    assert calls == [("Pop", 0), ("Pop", 2), ("BPR", 0), ("BPR", 2)]
    assert [(r.model, r.seed, r.test["ndcg@10"]) for r in results] == [
        ("Pop", 0, pytest.approx(0.1)), ("Pop", 2, pytest.approx(0.3)),
        ("BPR", 0, pytest.approx(0.1)), ("BPR", 2, pytest.approx(0.3))]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 4  # the seed is part of the cache key
    assert len(list((tmp_path / "per_user").glob("*.npz"))) == 4

    baselines.run(None, split, cfg, tmp_path / "cache")
    assert len(calls) == 4  # all four served from the cache
    next((tmp_path / "cache").glob("*.npz")).unlink()
    baselines.run(None, split, cfg, tmp_path / "cache")
    assert len(calls) == 5  # a result whose per-user values are gone is trained again


def test_split_tokens_round_trip(split):
    data = load_split(split.path)
    bench = Path(split.path) / "tiny" / "tiny.test.inter"
    header = bench.read_text().splitlines()[0]
    assert header.split("\t")[:2] == ["user_id:token", "item_id:token"]
    assert len(data.test) == split.n_test


# --- the reference model -----------------------------------------------------------------------------

def make_spec(architecture, loss="bpr", **hps) -> MethodSpec:
    return MethodSpec.model_validate({
        "paper": {"key": "x"}, "family": "graph", "model_name": "Paper", "loss": loss,
        "architecture": architecture,
        "hyperparameters": {k: {"value": v, "source": "default"} for k, v in hps.items()},
    })


LIGHTGCN_ARCH = [{"block": "embedding", "dim": 64}, {"block": "light_propagation", "layers": 3},
                 {"block": "dot_score"}]


def test_reference_maps_lightgcn_spec():
    spec = make_spec(LIGHTGCN_ARCH, embedding_size=64, n_layers=3, l2_reg=1e-4, learning_rate=0.001,
                     batch_size=2048, negative_samples=1, optimizer="Adam", epochs=1000)
    assert baselines.recbole_reference(spec) == ("LightGCN", {
        "embedding_size": 64, "n_layers": 3, "reg_weight": 1e-4, "learning_rate": 0.001,
        "train_batch_size": 2048, "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
        "learner": "adam",
    })


def test_reference_falls_back_to_block_params_and_skips_lists():
    spec = make_spec(LIGHTGCN_ARCH, learning_rate=[0.001, 0.01])
    name, overrides, notes = baselines.reference_with_notes(spec)
    assert name == "LightGCN" and overrides == {"embedding_size": 64, "n_layers": 3}
    assert any("learning_rate" in n for n in notes)


def test_reference_bpr_notes_missing_l2_and_neumf_mapping():
    bpr = make_spec([{"block": "embedding", "dim": 32}, {"block": "dot_score"}], l2_reg=0.01)
    name, overrides, notes = baselines.reference_with_notes(bpr)
    assert (name, overrides) == ("BPR", {"embedding_size": 32})
    assert any("l2_reg" in n and "BPR" in n for n in notes)
    bce_mf = make_spec([{"block": "embedding"}, {"block": "dot_score"}], loss="bce")
    assert baselines.recbole_reference(bce_mf) is None

    neumf = make_spec([{"block": "gmf", "dim": 8}, {"block": "mlp_tower", "layers": [64, 32, 16]},
                       {"block": "neumf_fusion"}], loss="bce", dropout=0.2, learning_rate=0.001)
    assert baselines.recbole_reference(neumf) == ("NeuMF", {
        "mf_embedding_size": 8, "mlp_hidden_size": [64, 32, 16], "mlp_embedding_size": 32,
        "dropout_prob": 0.2, "learning_rate": 0.001,
    })
    assert baselines.recbole_reference(make_spec([{"block": "attention"}])) is None


def test_plan_adds_reference_with_spec_values_and_cfg_on_top():
    spec = make_spec(LIGHTGCN_ARCH, embedding_size=64, learning_rate=0.001)
    plan = {name: (overrides, extra) for name, overrides, extra in
            baselines._plan(spec, {"models": {"Pop": {}, "LightGCN": {"learning_rate": 0.01}}})}
    assert plan["LightGCN"][0] == {"embedding_size": 64, "n_layers": 3, "learning_rate": 0.01}
    assert plan["LightGCN"][1]["reference"] is True and plan["Pop"][1]["reference"] is False
    plan = baselines._plan(spec, {"models": ["Pop"]})
    assert [p[0] for p in plan] == ["Pop", "LightGCN"] and plan[1][2]["reference"] is True


def test_shared_protocol_cannot_be_overridden_per_model():
    config = baselines.recbole_config({"epochs": 999, "k": 50}, {"max_epochs": 7, "seed": 3})
    assert config["epochs"] == 7 and config["k"] == 50 and config["seed"] == 3
    assert json.loads(json.dumps(config)) == config  # a plain, hashable-as-JSON dict


def test_auto_baselines_follow_the_spec_family_and_keep_extra_names():
    seq = make_spec([{"block": "item_embedding"}, {"block": "gru_encoder"}, {"block": "last_position"},
                     {"block": "item_dot_score"}], loss="ce").model_copy(update={"family": "sequential"})
    names = [name for name, _, _ in baselines._plan(seq, {"models": ["auto", "Caser"]})]
    assert names == ["Pop", "GRU4Rec", "SASRec", "Caser"]
    assert [name for name, _, _ in baselines._plan(make_spec(LIGHTGCN_ARCH), {})] == [
        "Pop", "ItemKNN", "BPR", "LightGCN"]
    assert [name for name, _, _ in baselines._plan(None, {"models": ["Pop"]})] == ["Pop"]


SASREC_ARCH = [{"block": "item_embedding", "dim": 50}, {"block": "self_attention_encoder", "layers": 2, "heads": 1},
               {"block": "last_position"}, {"block": "item_dot_score"}]


def test_sequential_reference_maps_encoder_and_loss():
    spec = make_spec(SASREC_ARCH, loss="bce", dropout=0.2, max_seq_length=200, learning_rate=0.001,
                     negative_samples=1, l2_reg=0.0).model_copy(update={"family": "sequential"})
    name, overrides, notes = baselines.reference_with_notes(spec)
    assert name == "SASRec"
    assert overrides["hidden_size"] == 50 and overrides["n_layers"] == 2 and overrides["n_heads"] == 1
    assert overrides["hidden_dropout_prob"] == overrides["attn_dropout_prob"] == 0.2
    assert "MAX_ITEM_LIST_LENGTH" not in overrides  # the saved split's length governs both sides
    assert overrides["loss_type"] == "BPR" and overrides["train_neg_sample_args"]["sample_num"] == 1
    assert any("sampled BCE" in n and "trains BPR" in n for n in notes) and not any("l2_reg" in n for n in notes)

    gru = make_spec([{"block": "item_embedding"}, {"block": "gru_encoder", "hidden_size": 100},
                     {"block": "last_position"}, {"block": "item_dot_score"}], loss="ce", embedding_size=64,
                    l2_reg=1e-4).model_copy(update={"family": "sequential"})
    name, overrides, notes = baselines.reference_with_notes(gru)
    assert name == "GRU4Rec" and overrides["hidden_size"] == 100 and overrides["embedding_size"] == 64
    assert overrides["loss_type"] == "CE" and overrides["train_neg_sample_args"] is None
    assert any("l2_reg" in n for n in notes)


def test_sequential_regime_reads_history_files():
    config = baselines.recbole_config({"MAX_ITEM_LIST_LENGTH": 7, "loss_type": "CE"},
                                      {"regime": "sequential", "max_seq_length": 20})
    assert config["load_col"] == {"inter": ["user_id", "item_id_list", "item_id"]}
    assert config["alias_of_item_id"] == ["item_id_list"]
    assert config["MAX_ITEM_LIST_LENGTH"] == 20  # the split's length wins: both sides see the same histories
    assert config["loss_type"] == "CE"


# --- per-epoch history, live progress, concurrent runs -----------------------------------------------------

def test_each_epoch_is_recorded_counted_from_1_and_kept_with_the_result(first_run, split, stage_folder):
    """history.csv in our layout (epoch from 1, loss, the valid metric RecBole stops on, seconds), in the cache and
    the stage folder; the runner's stderr with one progress line per epoch in the stage's logs/."""
    results, cache = first_run
    for result in results:
        config = baselines.recbole_config(CFG["models"][result.model], CFG)
        cached = baselines.history_cache_file(cache / f"{baselines.cache_key(split, result.model, config, 'cpu')}.json")
        staged = stage_folder / "history" / baselines.history_name(result.model, 0)
        assert result.config["history"] is True and cached.read_text() == staged.read_text()
        history = History.read(staged)
        assert history.monitor == "valid_ndcg@10"
        assert history.epochs == list(range(1, result.epochs_run + 1))  # Pop: RecBole trains it for one epoch
        assert result.best_epoch in history.epochs
        best = history.valid[history.epochs.index(result.best_epoch)]
        assert best == pytest.approx(max(history.valid)) == pytest.approx(
            result.config["recbole_best_valid"]["ndcg@10"], abs=1e-5)
        log = (stage_folder / "logs" / baselines.log_name(result.model, 0)).read_text()
        budget = 1 if result.model == "Pop" else 2
        assert [ln.split(":")[0] for ln in log.splitlines() if ln.startswith("progress| ")] == [
            f"progress| epoch {e}/{budget}" for e in range(1, result.epochs_run + 1)]


def test_n_jobs_auto_is_one_job_per_core_and_a_number_is_capped_by_the_runs():
    assert baselines.n_jobs_of("auto", 10, cores=2) == (2, 1)
    assert baselines.n_jobs_of("auto", 10, cores=16) == (4, 4)
    assert baselines.n_jobs_of("auto", 1, cores=16) == (1, None)  # alone: torch's own thread count
    assert baselines.n_jobs_of("auto", 10, device="cuda", cores=16) == (1, None)
    assert baselines.n_jobs_of(3, 2, cores=8) == (2, 4)
    assert baselines.n_jobs_of("2", 5, cores=2) == (2, 1)
    for bad in (0, "many"):
        with pytest.raises(baselines.UserError, match="baselines.n_jobs"):
            baselines.n_jobs_of(bad, 4)
    assert [name for name, _, _ in baselines._plan(None, {"models": {"Pop": {}, "n_jobs": 2}})] == ["Pop"]


def test_two_jobs_at_once_give_the_numbers_of_one_at_a_time_with_live_labelled_progress(split, tmp_path, caplog):
    """Pop and BPR for one epoch, sequentially and two at a time: the same results and histories; each progress
    line reaches the log while the runs go, labelled with its model and with the paper key of the caller."""
    import logging

    from paper_autotrain.commands.config import CURRENT_PAPER, PaperKey

    cfg = {**CFG, "models": {"Pop": {}, "BPR": {}}, "max_epochs": 1}
    one = baselines.run(None, split, cfg, tmp_path / "one", history_dir=tmp_path / "h1", n_jobs=1)
    caplog.handler.addFilter(PaperKey())
    token = CURRENT_PAPER.set("tinyprop")
    try:
        with caplog.at_level(logging.INFO, logger="paper_autotrain"):
            two = baselines.run(None, split, cfg, tmp_path / "two", history_dir=tmp_path / "h2", n_jobs=2)
    finally:
        CURRENT_PAPER.reset(token)
    assert [r.model for r in two] == ["Pop", "BPR"]  # the plan's order, whichever finished first
    for a, b in zip(one, two, strict=True):
        assert a.status == b.status == "ok", (a.error, b.error)
        assert (a.test, a.valid, a.best_epoch, a.epochs_run) == (b.test, b.valid, b.best_epoch, b.epochs_run)
        assert a.config["recbole_best_valid"] == b.config["recbole_best_valid"]
    histories = [[(h.epochs, h.valid, h.train_loss) for h in map(History.read, sorted(folder.glob("*.csv")))]
                 for folder in (tmp_path / "h1", tmp_path / "h2")]
    assert len(histories[0]) == 2 and histories[0] == histories[1]
    progress = [r for r in caplog.records if ": epoch 1/1: loss " in r.getMessage()]
    assert sorted(r.getMessage().split(":")[0] for r in progress) == ["baseline BPR (seed 0)", "baseline Pop (seed 0)"]
    assert {r.paper for r in progress} == {"tinyprop"}  # relayed from other threads, still naming the paper
    assert any("2 at a time" in r.getMessage() for r in caplog.records)


def test_concurrent_runs_start_with_the_reference_and_keep_the_plans_order(split, tmp_path, monkeypatch):
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(baselines, "run_model", fake_runner(calls))
    monkeypatch.setattr(baselines, "_plan", lambda spec, cfg: [
        ("Pop", {}, {"reference": False}), ("BPR", {}, {"reference": False}), ("LightGCN", {}, {"reference": True})])
    results = baselines.run(None, split, CFG, tmp_path / "cache", n_jobs=2)
    assert sorted(calls) == [("BPR", 0), ("LightGCN", 0), ("Pop", 0)]
    assert [r.model for r in results] == ["Pop", "BPR", "LightGCN"]  # whichever finished first
    assert baselines.start_order(baselines._plan(None, {})) == [2, 0, 1]  # LightGCN submitted first
