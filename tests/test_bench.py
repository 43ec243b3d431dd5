"""scripts/bench.py: both sides trained interleaved on one split, medians over repeats, bench.json/bench.md."""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest

from paper_autotrain.schemas import SplitInfo
from tests.model_fixtures import write_synthetic_split

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
FIELDS = {"model", "family", "metric", "ours_s_per_epoch", "recbole_s_per_epoch", "ours_eval_s", "recbole_eval_s",
          "ours_metric", "recbole_metric", "ours_peak_mb", "recbole_peak_mb", "ratio_train", "ratio_eval",
          "metric_delta_pct", "epochs", "repeats", "cpu_count", "torch_threads", "date", "runs"}


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench = load_bench()
MACHINE = {"date": "2026-01-01T00:00:00+00:00", "cpu_count": 2, "torch_threads": 2, "load_avg_1m": 0.1,
           "platform": "test", "python": "3.11", "torch": "x", "lightning": "x", "recbole": "1.2.1"}


def sample(side: str, repeat: int, train: list[float], evals: list[float], metric: float, peak: float):
    return bench.Sample(side=side, repeat=repeat, epoch_train_s=train, epoch_eval_s=evals, metric=metric,
                        peak_mb=peak, wall_s=10.0, final_eval_s=0.5, cpu_s=2 * peak)


@pytest.fixture(scope="module")
def split_info(tmp_path_factory: pytest.TempPathFactory) -> SplitInfo:
    folder = tmp_path_factory.mktemp("split")
    data = write_synthetic_split(folder)
    info = SplitInfo(dataset="synthetic", split_id="bench01", path=str(folder), n_users=data.n_users,
                     n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                     protocol="synthetic")
    (folder / "split.json").write_text(info.model_dump_json())
    return info


def test_medians_over_repeats_and_paired_ratios(split_info: SplitInfo, tmp_path: Path) -> None:
    settings = bench.Settings(epochs=3, repeats=3, as_shipped=True)
    case = bench.make_case("MF-BPR", split_info, settings)
    assert case.model == "BPR" and case.metric == "ndcg@10" and case.epochs == 3
    samples = []
    for repeat, (ours, theirs) in enumerate([(1.0, 4.0), (3.0, 3.0), (2.0, 10.0)]):
        samples += [sample("ours", repeat, [9.0, ours, ours], [0.1, 0.1, 0.1], 0.20, 300.0 + repeat),
                    sample("recbole", repeat, [theirs, theirs, 0.0], [0.4, 0.4, 0.4], 0.25, 500.0),
                    sample("recbole_as_shipped", repeat, [2 * theirs] * 3, [0.5] * 3, 0.25, 600.0)]
    samples.append(bench.Sample(side="recbole", repeat=3, error="boom"))  # a failed run joins no median
    row = bench.summarise(case, samples, settings, MACHINE)
    assert row["ours_s_per_epoch"] == 2.0  # per run: median over epochs (1, 3, 2), then median over repeats
    assert row["recbole_s_per_epoch"] == 4.0  # runs 4, 3, 10
    assert row["ratio_train"] == pytest.approx(statistics.median([4 / 1, 3 / 3, 10 / 2]))  # paired per repeat
    assert row["ratio_eval"] == pytest.approx(4.0)
    assert row["ours_peak_mb"] == 301.0 and row["recbole_peak_mb"] == 500.0
    assert row["ours_cpu_s"] == 602.0 and row["recbole_cpu_s"] == 1000.0
    assert row["metric_delta_pct"] == pytest.approx(-20.0)
    assert row["recbole_as_shipped_s_per_epoch"] == 8.0 and row["ratio_train_as_shipped"] == pytest.approx(8.0)
    assert row["errors"] == ["recbole #4: boom"] and len(row["runs"]) == 10
    json_path, md_path = bench.write_outputs([row], tmp_path)
    assert json.loads(json_path.read_text())[0]["ratio_train"] == row["ratio_train"]
    text = md_path.read_text()
    assert "| BPR | general | 3 | 2.000 | 4.000 | 4.00× | 8.000 | 8.00× |" in text and "as shipped" in text


def test_model_names_and_families() -> None:
    assert bench.parse_models(["bpr,Mult-VAE", "deepfm"]) == ["BPR", "MultiVAE", "DeepFM"]
    assert bench.parse_models([]) == bench.all_models()
    assert bench.all_models()[:len(bench.MODELS)] == list(bench.MODELS)
    assert {bench.model_family(m) for m in bench.MODELS} == {"general", "graph", "autoencoder", "context",
                                                              "sequential"}
    assert bench.parse_models(["srgnn,kgcn"]) == ["SRGNN", "KGCN"]  # the classics' fixture papers
    with pytest.raises(ValueError, match="unknown model"):
        bench.canonical_model("NoSuchModel")


@pytest.mark.parametrize(("model", "family", "regime", "split_settings"), [
    ("DMF", "general", "topk", {}),
    ("KGCN", "knowledge", "knowledge", {}),
    ("SRGNN", "sequential", "sequential", {"max_seq_length": 50}),
])
def test_a_classic_is_benched_as_its_fixture_paper_reads(model, family, regime, split_settings,
                                                         split_info: SplitInfo) -> None:
    """No reference architecture: the spec is the fixture paper read by the rules extractor, RecBole's class of
    it the other side, and RecBole gets the split settings of the spec's data regime, as the pipeline gives it."""
    settings = bench.Settings(epochs=2, sequential_epochs=1, values=bench.parse_values(["learning_rate=0.02"]))
    case = bench.make_case(model.lower(), split_info, settings)
    assert case.model == model and case.family == family and case.regime == regime
    assert case.spec.fidelity.verdict == "faithful"
    assert case.spec.hp("learning_rate") == 0.02 and case.recbole_overrides["learning_rate"] == 0.02
    assert case.epochs == (1 if family == "sequential" else 2)
    config = bench.baseline_cfg(case, settings)
    assert config["regime"] == regime and {k: config[k] for k in split_settings} == split_settings
    assert "max_seq_length" in config or not split_settings


def test_set_values_are_read_as_yaml_and_a_malformed_one_is_refused() -> None:
    assert bench.parse_values(["embedding_size=16", "mlp_layers=[64, 32]", "learning_rate=1e-3"]) == (
        ("embedding_size", 16), ("mlp_layers", [64, 32]), ("learning_rate", 1e-3))
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        bench.parse_values(["embedding_size"])


def test_set_gives_a_block_its_structural_word_where_the_model_has_the_block() -> None:
    values = bench.parse_values(["kgat_propagation.attention=epoch", "embedding_size=16"])
    kgat, kgcn = bench.model_spec("KGAT", values), bench.model_spec("KGCN", values)
    words = {block.block: block.params for block in kgat.architecture}
    assert words["kgat_propagation"]["attention"] == "epoch" and kgat.hp("embedding_size") == 16
    assert not any("attention" in block.params for block in kgcn.architecture) and kgcn.hp("embedding_size") == 16


@pytest.mark.slow
def test_bpr_one_epoch_both_sides(split_info: SplitInfo, tmp_path: Path) -> None:
    """The script's core end to end on a tiny split: our train stage and RecBole's runner, one round."""
    settings = bench.Settings(epochs=1, repeats=1, timeout_s=300)
    row = bench.bench_model("BPR", split_info, settings, tmp_path / "work", MACHINE)
    assert FIELDS <= set(row) and row["errors"] == []
    assert row["model"] == "BPR" and row["family"] == "general" and row["metric"] == "ndcg@10"
    for side in ("ours", "recbole"):
        for name in ("s_per_epoch", "eval_s", "peak_mb", "cpu_s"):
            assert row[f"{side}_{name}"] > 0, (side, name)
        assert 0.0 <= row[f"{side}_metric"] <= 1.0
        (run,) = [r for r in row["runs"] if r["side"] == side]
        assert len(run["epoch_train_s"]) == len(run["epoch_eval_s"]) == 1
        assert row[f"{side}_s_per_epoch"] == pytest.approx(run["epoch_train_s"][0], abs=1e-4)
    assert row["ours_peak_mb"] > 100 and row["recbole_peak_mb"] > 100  # torch alone is more: a real child RSS
    assert row["ratio_train"] == pytest.approx(row["recbole_s_per_epoch"] / row["ours_s_per_epoch"], rel=1e-2)
    assert "recbole_as_shipped_s_per_epoch" not in row
