"""The report: our numbers in the table, the paper's numbers apart, defaults visible."""

import csv
import io

from paper_autotrain.schemas import HyperParameter, MethodSpec, PaperMeta, Reported, RunResult, SplitInfo
from paper_autotrain.stages import compare

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
    assert {"model": "LightGCN", "role": "reproduced", "dataset": "ml-100k", "metric": "NDCG@10",
            "value": "0.210000"} in rows
    assert not any(r["model"] == "NGCF" for r in rows)  # a failed run has no numbers to report
    assert {"model": "LightGCN", "role": "paper", "dataset": "Gowalla", "metric": "Recall@20",
            "value": "0.183"} in rows


def test_report_without_reference_says_so():
    md = compare.run(spec(), result("X", "reproduced", 0.1), [], SPLIT, {"ks": [10]})["report.md"]
    assert "no like-for-like reference" in md


def test_reference_notes_say_where_recbole_differs_from_the_spec():
    reference = result("SASRec", "baseline", 0.20, reference=True)
    reference.config["reference_notes"] = ["loss=bce with sampled negatives: RecBole's SASRec offers only CE or BPR"]
    md = compare.run(spec(), result("SASRec", "reproduced", 0.21), [reference], SPLIT, {"ks": [10]})["report.md"]
    assert "Where RecBole's SASRec differs from the spec:\n- loss=bce with sampled negatives" in md
    plain = compare.run(spec(), result("X", "reproduced", 0.21), [result("LightGCN", "baseline", 0.2, True)], SPLIT,
                        {"ks": [10]})["report.md"]
    assert "differs from the spec" not in plain
