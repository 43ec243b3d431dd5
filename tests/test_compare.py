"""The report: our numbers in the table, the paper's numbers apart, defaults visible; seeds and the paired test."""

import csv
import dataclasses
import io
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from scipy import stats

from paper_autotrain import pipeline
from paper_autotrain.commands.config import CONF_DIR
from paper_autotrain.errors import UserError
from paper_autotrain.schemas import HyperParameter, MethodSpec, PaperMeta, Reported, RunResult, SplitInfo
from paper_autotrain.stages import compare
from paper_autotrain.stages.compare import significance
from tests import report_fixtures

SPLIT = SplitInfo(dataset="ml-100k", split_id="abc", path="/x", n_users=10, n_items=20, n_train=80, n_valid=10,
                  n_test=10, protocol="per-user 0.8/0.1/0.1 split")


def spec():
    return MethodSpec(
        paper=PaperMeta(key="lightgcn", title="LightGCN"), family="graph", model_name="LightGCN", loss="bpr",
        hyperparameters={
            "embedding_size": HyperParameter(value=64, evidence="p6: the embedding size is fixed to 64"),
            "batch_size": HyperParameter(value=2048, source="default"),
        },
        reported=[Reported(dataset="Gowalla", metric="Recall@20", value=0.183, table="Table 4")],
        unclear=["batch_size not stated"],
    )


def result(model, role, ndcg, reference=False, status="ok"):
    return RunResult(model=model, role=role, dataset="ml-100k", split_id="abc",
                     test={"ndcg@10": ndcg, "recall@10": ndcg / 2}, train_time_s=1.5, n_params=100,
                     config={"reference": reference}, status=status, error=None if status == "ok" else "boom")


def test_report_tables_and_relative_difference():
    ours = result("LightGCN", "reproduced", 0.21)
    others = [result("Pop", "baseline", 0.10), result("LightGCN", "baseline", 0.20, reference=True),
              result("NGCF", "baseline", 0.0, status="failed")]
    files = compare.run(spec(), ours, others, SPLIT, {"ks": [10], "main_metric": "ndcg@10"})
    md = files["report.md"]
    assert "| **LightGCN** (ours, generated) | 0.2100 | 0.1050 |" in md
    assert md.index("same architecture") < md.index("Pop (RecBole)")  # sorted by the main metric
    assert "+5.0%" in md
    assert "NGCF: boom" in md
    assert "| Gowalla | Recall@20 | 0.183 | Table 4 |" in md
    assert "| batch_size | 2048 | **default** |" in md and "batch_size." in md
    rows = list(csv.DictReader(io.StringIO(files["report.csv"])))
    assert {r["role"] for r in rows} == {"reproduced", "baseline", "paper"}
    assert {"model": "LightGCN", "role": "reproduced", "dataset": "ml-100k", "split_id": "abc", "seed": "0",
            "metric": "NDCG@10", "value": "0.210000", "ranking": "full"} in rows
    assert not any(r["model"] == "NGCF" for r in rows)  # a failed run has no numbers to report
    assert {"model": "LightGCN", "role": "paper", "dataset": "Gowalla", "split_id": "", "seed": "",
            "metric": "Recall@20", "value": "0.183", "ranking": ""} in rows


def test_report_without_reference_says_so():
    md = compare.run(spec(), result("X", "reproduced", 0.1), [], SPLIT, {"ks": [10]})["report.md"]
    assert "No RecBole model shares this architecture, so there is no like-for-like reference" in md


def test_reference_notes_say_where_recbole_differs_from_the_spec():
    reference = result("SASRec", "baseline", 0.20, reference=True)
    reference.config["reference_notes"] = ["loss=bce with sampled negatives: RecBole's SASRec offers only CE or BPR"]
    md = compare.run(spec(), result("SASRec", "reproduced", 0.21), [reference], SPLIT, {"ks": [10]})["report.md"]
    assert "Where RecBole's SASRec differs from the spec:\n- loss=bce with sampled negatives" in md
    plain = compare.run(spec(), result("X", "reproduced", 0.21), [result("LightGCN", "baseline", 0.2, True)], SPLIT,
                        {"ks": [10]})["report.md"]
    assert "differs from the spec" not in plain


# --- fidelity: an approximation says so, a faithful spec lists its components ------------------------------

CTR_EVAL = {"ks": [10]}
APPROXIMATION_HEADING = f"DeepFM: approximation: {report_fixtures.MISSING}"


def test_an_approximation_says_so_in_every_report_and_claims_no_reproduction():
    ours, baselines = report_fixtures.ctr_runs()
    files = compare.run(report_fixtures.partial_spec(), ours, baselines, report_fixtures.SPLIT, CTR_EVAL)
    md, html = files["report.md"], files["report.html"]
    rows = list(csv.DictReader(io.StringIO(files["report.csv"])))
    assert {r["role"] for r in rows if r["model"] == "DeepFM"} == {"approximation"}
    assert "reproduced" not in {r["role"] for r in rows}
    assert md.splitlines()[0] == f"# {APPROXIMATION_HEADING}"
    assert f"<title>{APPROXIMATION_HEADING}</title>" in html and f">{APPROXIMATION_HEADING}</h1>" in html
    assert "| **DeepFM** (ours, approximation) | 0.7800 |" in md and "DeepFM (ours, approximation)" in html
    line = "Approximation DeepFM vs RecBole AFM (the paper&#39;s model; same split and epoch budget): AUC 0.7800"
    assert line.replace("&#39;", "'") in md and line in html
    assert "AFM (RecBole, the paper's model)" in md
    for text in (md, html):
        assert "Reproduced" not in text and "reproduction report" not in text and "same architecture" not in text
    assert f"- {report_fixtures.MISSING} → **not built**" in md and "- factorization machine → `fm_interaction`" in md


def test_without_a_recbole_class_of_the_papers_model_the_reference_line_says_so():
    ours, baselines = report_fixtures.ctr_runs(reference=None)
    md = compare.run(report_fixtures.faithful_spec(reference=None), ours, baselines, report_fixtures.SPLIT,
                     CTR_EVAL)["report.md"]
    assert "RecBole has no implementation of DeepFM, so there is no like-for-like reference row." in md
    assert "No RecBole model shares" not in md


def test_a_faithful_spec_lists_its_components_and_deviations():
    ours, baselines = report_fixtures.ctr_runs(reference="DeepFM")
    files = compare.run(report_fixtures.faithful_spec(), ours, baselines, report_fixtures.SPLIT, CTR_EVAL)
    md, html = files["report.md"], files["report.html"]
    assert md.splitlines()[0] == "# DeepFM: reproduction report" and "approximation" not in md
    assert "Reproduced DeepFM vs RecBole DeepFM" in md
    assert {r["role"] for r in csv.DictReader(io.StringIO(files["report.csv"])) if r["model"] == "DeepFM"
            and r["role"] != "baseline"} == {"reproduced"}
    assert "## Components of the paper's method\n\n- factorization machine → `fm_interaction`\n" \
           "- deep component → `mlp_tower`\n" in md
    assert "## Deviations from the paper\n\n| Component | The paper | Ours |" in md
    assert ("| factorization machine | p3: pairwise interactions are summed &lt;script>" in md
            and "| inner products of the field embeddings, summed |" in md)
    assert "<h2>Deviations from the paper</h2>" in html and "<h2>Components of the paper's method</h2>" in html
    assert "&lt;script&gt;" in html and "inner products of the field embeddings, summed" in html


def test_a_hand_written_spec_without_fidelity_keeps_the_report_as_it_was():
    ours, baselines = report_fixtures.ctr_runs(reference=None)
    files = compare.run(spec(), ours, baselines, SPLIT, CTR_EVAL)
    for text in (files["report.md"], files["report.html"].split("</style>")[1]):  # the page, not its CSS
        assert "LightGCN: reproduction report" in text and "No RecBole model shares this architecture" in text
        assert "Components of the paper" not in text and "Deviations" not in text and "pproximation" not in text


# --- seeds and the paired test -------------------------------------------------------------------------

EVAL = {"ks": [10], "main_metric": "ndcg@10"}


def test_several_seeds_show_mean_std_and_count(tmp_path):
    ours, baselines, files = report_fixtures.runs(tmp_path, [0, 1, 2])
    md = compare.run(report_fixtures.spec(), ours, baselines, report_fixtures.SPLIT, EVAL, files)["report.md"]
    ndcg = [r.test["ndcg@10"] for r in ours]
    cell = f"{statistics.mean(ndcg):.4f} ± {statistics.stdev(ndcg):.4f}"  # sample std over the 3 seeds
    assert f"| **TinyProp** (ours, generated) | {cell} |" in md
    assert "| Model | NDCG@10 | Recall@10 | Seeds | Train s |" in md
    pop = [r.test["ndcg@10"] for r in baselines if r.model == "Pop"]
    assert f"| Pop (RecBole) | {statistics.mean(pop):.4f} ± {statistics.stdev(pop):.4f} |" in md
    assert "| 3 | 13.5 | 19,264 | 8, 8, 8 (7, 7, 7) |" in md  # seeds, mean train seconds (12.5 + seed)
    assert "seeds 0, 1, 2 (each row: mean ± sample standard deviation" in md
    assert "NGCF (seed 0): CUDA out of memory" in md
    rows = list(csv.DictReader(io.StringIO(compare.run(report_fixtures.spec(), ours, baselines,
                                                       report_fixtures.SPLIT, EVAL, files)["report.csv"])))
    ours_csv = {r["seed"]: float(r["value"]) for r in rows if r["role"] == "reproduced" and r["metric"] == "NDCG@10"}
    assert ours_csv.pop("mean") == pytest.approx(statistics.mean(ndcg), abs=1e-6)
    assert sorted(ours_csv.values()) == pytest.approx(sorted(ndcg), abs=1e-6)  # one row per seed beside the mean
    assert {r["split_id"] for r in rows if r["role"] != "paper"} == {"abc123"}


def test_one_seed_table_looks_as_before(tmp_path):
    ours, baselines, files = report_fixtures.runs(tmp_path, [5], with_failure=False)
    md = compare.run(report_fixtures.spec(), ours, baselines, report_fixtures.SPLIT, EVAL, files)["report.md"]
    assert "±" not in md.split("## What the paper reports")[0].split("Paired test")[0]
    assert "| Model | NDCG@10 | Recall@10 | Train s | Params | Epochs (best) | p vs best (NDCG@10) |" in md
    assert f"| **TinyProp** (ours, generated) | {ours[0].test['ndcg@10']:.4f} |" in md
    assert "Split `abc123`, seed 5:" in md and "with one seed, how much a model varies" in md


def test_paired_test_finds_a_clearly_better_model(tmp_path):
    ours, baselines, files = report_fixtures.runs(tmp_path, [0, 1])
    report = compare.build(report_fixtures.spec(), ours, baselines, report_fixtures.SPLIT, EVAL, files)
    test = report.significance.test
    assert test is not None and test.baseline == "LightGCN" and test.n_users == report_fixtures.N_USERS
    assert test.t_p < 1e-6 and test.wilcoxon_p < 1e-6 and test.significant
    assert test.mean_ours == pytest.approx(statistics.mean(r.test["ndcg@10"] for r in ours))
    line = report.significance_line()
    assert "paired t-test p < 0.0001" in line and "TinyProp is better on this split" in line
    assert "averaged over 2 seeds" in line
    ours_row = next(t for t in report.table() if t.row is report.ours)
    assert ours_row.cells[-1] == "< 0.0001"  # the p-value in our row
    assert [t.cells[-1] for t in report.table()[1:]] == ["best baseline", "–"]


def ndcg(shift: float, seed: int) -> np.ndarray:
    return report_fixtures.per_user(shift, seed)["ndcg@10"]


def row_with(tmp_path, model, role, seeds_values, users=report_fixtures.USERS):
    """A ModelRow whose runs' per-user values are given, and the RunFiles holding them."""
    runs, paths = [], {}
    for seed, values in seeds_values.items():
        run = report_fixtures.result(model, role, seed, {"ndcg@10": values})
        path = tmp_path / f"{role}-{model}-{seed}.npz"
        np.savez(path, users=users, ndcg_at_10=values)
        runs.append(run)
        paths[compare.run_key(run)] = path
    return compare.ModelRow(runs), paths


def test_identical_model_is_not_significant(tmp_path):
    values = ndcg(0.0, seed=3)
    ours, a = row_with(tmp_path, "Same", "reproduced", {0: values})
    base, b = row_with(tmp_path, "LightGCN", "baseline", {0: values.copy()})
    result = significance.against_best_baseline(ours, [base], compare.RunFiles.read(a | b, {}), "ndcg@10")
    assert result.test is not None and result.test.t_p == 1.0 and result.test.wilcoxon_p == 1.0
    assert "not shown to differ" in significance.sentence(result, "NDCG@10")


def test_noise_alone_is_not_significant_and_users_are_paired_by_id(tmp_path):
    ours_values, base_values = ndcg(0.0, seed=1), ndcg(0.0, seed=2)  # the same base, independent noise
    ours, a = row_with(tmp_path, "Ours", "reproduced", {0: ours_values})
    base, b = row_with(tmp_path, "BPR", "baseline", {0: base_values})
    in_order = significance.against_best_baseline(ours, [base], compare.RunFiles.read(a | b, {}), "ndcg@10")
    assert in_order.test is not None and in_order.test.t_p > 0.05 and not in_order.test.significant
    assert in_order.test.t_p == pytest.approx(stats.ttest_rel(ours_values, base_values).pvalue)

    order = np.random.default_rng(0).permutation(report_fixtures.N_USERS)  # the baseline's users shuffled
    (tmp_path / "shuffled").mkdir()
    shuffled, c = row_with(tmp_path / "shuffled", "BPR", "baseline", {0: base_values[order]},
                           users=report_fixtures.USERS[order])
    paired = significance.against_best_baseline(ours, [shuffled], compare.RunFiles.read(a | c, {}), "ndcg@10")
    assert paired.test is not None and paired.test.t_p == pytest.approx(in_order.test.t_p)


def test_per_user_values_are_averaged_over_seeds_first(tmp_path):
    v0, v1 = ndcg(0.0, seed=0), ndcg(0.1, seed=1)
    ours, paths = row_with(tmp_path, "Ours", "reproduced", {0: v0, 1: v1})
    users, averaged = significance.seed_averaged(ours, compare.RunFiles.read(paths, {}), "ndcg@10")
    assert np.array_equal(users, report_fixtures.USERS) and np.allclose(averaged, (v0 + v1) / 2)


def test_missing_per_user_values_give_no_p_value_and_say_why(tmp_path):
    ours, baselines, files = report_fixtures.runs(tmp_path, [0])
    files.per_user.pop(("baseline", "LightGCN", 0))
    report = compare.build(report_fixtures.spec(), ours, baselines, report_fixtures.SPLIT, EVAL, files)
    assert report.significance.test is None and "p vs best" not in " ".join(report.header())
    assert report.significance_line() == "No p-value: no per-user ndcg@10 values were kept for LightGCN (seed 0)."


def test_ctr_metrics_have_no_per_user_values_and_no_p_value():
    ctr_spec = spec().model_copy(update={"task": "ctr", "family": "context"})
    ours = RunResult(model="DeepFM", role="reproduced", dataset="ml-100k", split_id="abc",
                     test={"auc": 0.78, "logloss": 0.55})
    base = RunResult(model="FM", role="baseline", dataset="ml-100k", split_id="abc",
                     test={"auc": 0.76, "logloss": 0.57})
    md = compare.run(ctr_spec, ours, [base], SPLIT, {"ks": [10]})["report.md"]
    assert "| **DeepFM** (ours, generated) | 0.7800 | 0.5500 |" in md
    assert "AUC is one value over all test rows" in md and "no p-value" in md and "p vs best" not in md


def test_seeds_config_defaults_to_seed_and_rejects_bad_lists():
    assert pipeline.run_seeds({"seed": 3, "seeds": None}) == [3]
    assert pipeline.run_seeds({"seed": 3, "seeds": [0, 1, 2]}) == [0, 1, 2]
    for bad in ([], [0, 0], ["a"], [1.5]):
        with pytest.raises(UserError, match="seeds=.* distinct integers"):
            pipeline.run_seeds({"seeds": bad})
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        alone = OmegaConf.to_container(compose(config_name="config", overrides=["paper=x.pdf", "seed=3"]))
        several = OmegaConf.to_container(compose(config_name="config", overrides=["paper=x.pdf", "seeds=[0,1,2]"]))
    assert pipeline.run_seeds(alone) == [3] and pipeline.run_seeds(several) == [0, 1, 2]


@pytest.mark.slow  # the whole chain with two seeds: ~2.5 min on a busy 2-core machine
def test_pipeline_with_two_seeds_writes_per_seed_runs_and_the_html_report(tmp_path):
    example = Path(__file__).resolve().parents[1] / "examples" / "papers" / "tinyprop.pdf"
    overrides = [f"paper={example}", f"paths.root={tmp_path}", "trainer.max_epochs=1", "baselines=[Pop]"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        two = OmegaConf.to_container(compose(config_name="config", overrides=[*overrides, "seeds=[0,1]"]))
        one = OmegaConf.to_container(compose(config_name="config", overrides=[*overrides, "until=baselines"]))
    pipeline.run(two)
    results = tmp_path / "results" / "tinyprop"
    ours = [RunResult.model_validate(r) for r in json.loads((results / "train" / "results.json").read_text())]
    assert [r.seed for r in ours] == [0, 1]
    assert all((results / "train" / f"seed{s}" / name).is_file() for s in (0, 1)
               for name in ("result.json", "per_user_test.npz", "history.csv"))
    others = json.loads((results / "baselines" / "results.json").read_text())
    assert sorted((r["model"], r["seed"]) for r in others) == [("LightGCN", 0), ("LightGCN", 1), ("Pop", 0),
                                                               ("Pop", 1)]
    assert len(list((results / "baselines" / "per_user").glob("*.npz"))) == 4
    md = (results / "report.md").read_text()
    ndcg = [r.test["ndcg@10"] for r in ours]
    assert f"| **TinyProp** (ours, generated) | {statistics.mean(ndcg):.4f} ± {statistics.stdev(ndcg):.4f} |" in md
    assert "Paired test of TinyProp against the best baseline" in md and "averaged over 2 seeds" in md
    html = (results / "report.html").read_text()
    assert "<svg" in html and html.count("<polyline") == 4  # valid metric and loss curves, one per seed

    outcome = pipeline.run(one)  # one seed: the train and baselines hashes change (baselines: from the cache)
    assert {"train", "baselines"} <= set(outcome.timings)
    assert [r["seed"] for r in json.loads((results / "train" / "results.json").read_text())] == [0]


def test_protocol_section_stands_before_the_papers_numbers():
    md = compare.run(spec(), result("X", "reproduced", 0.1), [], SPLIT, {"ks": [10]})["report.md"]
    assert md.index("## Protocol: the paper's and ours") < md.index("## What the paper reports")
    assert "The paper's protocol was not read" in md and "- Split: 80/10/10 per user" in md


def test_the_paired_test_tells_ours_from_recbole_s_class_of_the_same_name(tmp_path):
    """The paper's model and RecBole's class of it share a name (LightGCN vs LightGCN): the sentence says which."""
    ours, baselines, files = report_fixtures.runs(tmp_path, [0], ours_shift=-0.03, with_failure=False)
    renamed = [run.model_copy(update={"model": "LightGCN"}) for run in ours]
    per_user = {key: values for key, values in files.per_user.items() if key[0] != "reproduced"}
    per_user |= {compare.run_key(r): files.per_user[compare.run_key(o)] for r, o in zip(renamed, ours, strict=True)}
    files = dataclasses.replace(files, per_user=per_user)
    spec = report_fixtures.spec().model_copy(update={"model_name": "LightGCN"})
    line = compare.build(spec, renamed, baselines, report_fixtures.SPLIT, EVAL, files).significance_line()
    assert "Paired test of our LightGCN against the best baseline, RecBole's LightGCN" in line
    assert "RecBole's LightGCN is better on this split" in line


def with_epochs(run: RunResult, best: int, ran: int, budget: int) -> RunResult:
    return run.model_copy(update={"best_epoch": best, "epochs_run": ran,
                                  "config": {**run.config, "trainer": {"max_epochs": budget}}})


def test_a_run_still_improving_at_its_last_epoch_is_flagged_as_under_trained():
    ours = with_epochs(result("LightGCN", "reproduced", 0.21), best=20, ran=20, budget=20)
    stopped = with_epochs(result("Pop", "baseline", 0.10), best=3, ran=13, budget=20)  # early stopping worked
    reference = with_epochs(result("LightGCN", "baseline", 0.20, reference=True), best=20, ran=20, budget=20)
    files = compare.run(spec(), ours, [stopped, reference], SPLIT, {"ks": [10], "main_metric": "ndcg@10"})
    md, html = files["report.md"], files["report.html"]
    assert "**Under-training warning.**" in md and "Under-training warning." in html
    assert "LightGCN (ours, seed 0): best validation epoch is the last of its 20" in md
    assert "LightGCN (RecBole, seed 0): best validation epoch is the last of its 20" in md
    assert "Pop (" not in md.split("**Under-training warning.**")[1].split("\n\n")[1]
    recbole = result("LightGCN", "baseline", 0.20, reference=True).model_copy(update={  # as the runner records it
        "best_epoch": 20, "epochs_run": 20, "config": {"reference": True, "recbole": {"epochs": 20}}})
    md = compare.run(spec(), with_epochs(ours, best=12, ran=20, budget=20), [recbole], SPLIT,
                     {"ks": [10], "main_metric": "ndcg@10"})["report.md"]
    assert "LightGCN (RecBole, seed 0): best validation epoch is the last of its 20" in md
    calm = compare.run(spec(), with_epochs(ours, best=12, ran=20, budget=20), [stopped], SPLIT,
                       {"ks": [10], "main_metric": "ndcg@10"})["report.md"]
    assert "Under-training" not in calm


def test_the_report_names_versions_and_device():
    from importlib import metadata

    md = compare.run(spec(), result("LightGCN", "reproduced", 0.21), [], SPLIT, {"ks": [10]})["report.md"]
    line = next(ln for ln in md.splitlines() if ln.startswith("- Software:"))
    assert f"torch {metadata.version('torch')}" in line and f"recbole {metadata.version('recbole')}" in line
    assert line.endswith("device: cpu.")
    assert "Reproduce:" not in md  # not run from the command line: no command to show
    typed = "python -m paper_autotrain paper.pdf 'baselines=[Pop]'"
    files = compare.run(spec(), result("LightGCN", "reproduced", 0.21), [], SPLIT, {"ks": [10], "command": typed})
    assert f"- Reproduce: `{typed}`" in files["report.md"]
    shown = typed.replace("'", "&#39;")  # as Jinja escapes it
    assert f'class="command">{shown}</code>' in files["report.html"]


def test_the_summary_line_says_ours_against_the_reference_in_one_line():
    ours = result("LightGCN", "reproduced", 0.21)
    others = [result("Pop", "baseline", 0.10), result("LightGCN", "baseline", 0.20, reference=True)]
    files = compare.run(spec(), ours, others, SPLIT, {"ks": [10], "main_metric": "ndcg@10"})
    line = files[compare.SUMMARY_FILE]
    assert line.endswith("\n") and line.count("\n") == 1
    assert "Reproduced LightGCN vs RecBole LightGCN" in line and "0.2100 vs 0.2000" in line and "+5.0%" in line
    no_reference = compare.run(spec(), ours, others[:1], SPLIT, {"ks": [10]})[compare.SUMMARY_FILE]
    assert "0.2100 vs" not in no_reference and no_reference.count("\n") == 1
