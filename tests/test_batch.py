"""Paper lists run as a batch: list files, overrides, failure classes, and the whole batch offline."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paper_autotrain.commands import paper_list
from paper_autotrain.errors import StageError, UserError, stage_of, tag_stage
from paper_autotrain.records import failures
from paper_autotrain.records.ledger import Ledger
from tests.pdf_fixtures import write_pdf

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "papers" / "tinyprop.pdf"
NOT_A_RECSYS_PAPER = [["Bread at Home", "Mix flour, water, yeast and salt. Knead the dough for ten minutes, let it "
                       "rise for two hours and bake it at 220 degrees until the crust is brown."]]


# --- list files -------------------------------------------------------------------------------------


def write_list(path: Path, papers: list, **settings) -> Path:
    path.write_text(yaml.safe_dump({**settings, "papers": papers}, sort_keys=False))
    return path


def test_the_shipped_lists_load_and_name_the_classic_papers():
    path, base = paper_list.list_path("nightly")
    nightly = paper_list.load_list(path)
    assert base == REPO and {e.source for e in nightly.papers} == {
        f"arxiv:{i}" for i in ("1205.2618", "1708.05031", "2002.02126", "1905.08108", "1802.05814", "1808.09781",
                               "1511.06939", "1809.07426", "1703.04247", "1606.07792", "1708.05123")}
    jobs = paper_list.plan_jobs(nightly, base, ["trainer=gpu"])
    assert [j.key for j in jobs][:3] == ["1205.2618", "1708.05031", "2002.02126"]
    assert jobs[2].overrides == ["baselines=[Pop,NGCF]", "trainer=gpu"]  # the paper's own baselines win

    dev_path, dev_base = paper_list.list_path("dev")
    dev_jobs = paper_list.plan_jobs(paper_list.load_list(dev_path), dev_base, [])
    assert dev_jobs[0].source == str(REPO.parent / "shared" / "papers" / "BPR.pdf") and dev_jobs[0].key == "bpr"


def test_a_bad_list_is_one_line(tmp_path):
    with pytest.raises(UserError, match=r"papers=nope: no list conf/papers/nope.yaml \(choose from dev, nightly"):
        paper_list.list_path("nope")
    bad = write_list(tmp_path / "bad.yaml", [{"source": "a.pdf", "overides": {}}])
    with pytest.raises(UserError, match=r"bad.yaml: papers.0.overides: Extra inputs are not permitted"):
        paper_list.load_list(bad)
    with pytest.raises(UserError, match=r"tolerance: Input should be less than or equal to 1"):
        paper_list.load_list(write_list(tmp_path / "t.yaml", [{"source": "a.pdf"}], tolerance=5))
    twice = paper_list.load_list(write_list(tmp_path / "twice.yaml", [{"source": "arxiv:2002.02126"},
                                                                  {"source": "arxiv:2002.02126v2"}]))
    with pytest.raises(UserError, match="same paper key '2002.02126'"):
        paper_list.plan_jobs(twice, tmp_path, [])
    elsewhere = paper_list.load_list(write_list(tmp_path / "p.yaml", [{"source": "a.pdf",
                                                                  "overrides": {"paths.root": "x"}}]))
    with pytest.raises(UserError, match=r"papers\[0\] \(a.pdf\) sets paths"):
        paper_list.plan_jobs(elsewhere, tmp_path, [])


def test_overrides_become_hydra_syntax_and_later_ones_win():
    assert paper_list.override_strings({"trainer.max_epochs": 2, "baselines": ["Pop", "BPR"], "force": True,
                                   "from_stage": None, "+hparams.note": "a b's", "dataset.path": "/d/x-1"}) == [
        "trainer.max_epochs=2", "baselines=[Pop,BPR]", "force=true", "from_stage=null", "+hparams.note='a b\\'s'",
        "dataset.path=/d/x-1"]
    assert paper_list.merge_overrides(["seed=1", "baselines=[Pop]"], ["+seed=2"], ["trainer=gpu"]) == [
        "baselines=[Pop]", "+seed=2", "trainer=gpu"]
    assert paper_list.resolve_source("papers/a.pdf", Path("/repo")) == "/repo/papers/a.pdf"
    assert paper_list.resolve_source("arxiv:1205.2618", Path("/repo")) == "arxiv:1205.2618"


# --- failure classes ---------------------------------------------------------------------------------


def tagged(exc: BaseException, stage: str) -> BaseException:
    tag_stage(exc, stage)
    return exc


class FetchError(UserError):
    """Stands for sources.http.FetchError: recognised by its name, anywhere in the cause chain."""


def chained(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(("exc", "stage", "source", "expected"), [
    (UserError("arxiv:1: not in the cache and fetch.offline is set"), "fetch", "arxiv:1205.2618", "infrastructure"),
    (chained(UserError("arxiv:1205.2618: unreachable"), FetchError("x")), "extract", "arxiv:1205.2618",
     "infrastructure"),
    (UserError("x.pdf: not a PDF (no %PDF- header)"), "fetch", "EXISTING", "extraction"),
    (UserError("nope.pdf: no such file or folder"), None, "nope.pdf", "infrastructure"),
    (UserError("x.pdf: the PDF is corrupt"), "parse", "EXISTING", "extraction"),
    (StageError("render: spec.custom has parts no template covers"), "render", "EXISTING", "generation"),
    (StageError("validate: gate 'overfit' failed: loss did not fall"), "validate", "EXISTING", "generation"),
    (StageError("train: exit 1: ValueError: shapes"), "train", "EXISTING", "training"),
    (StageError("train: killed: memory limit of 16384 MB reached (MemoryError)"), "train", "EXISTING",
     "infrastructure"),
    (StageError("train: timed out after 3600 s (raise trainer.timeout_s)"), "train", "EXISTING", "infrastructure"),
    (MemoryError(), "baselines", "EXISTING", "infrastructure"),
    (StageError("llm: extract: cannot reach http://x/v1 (refused)"), "extract", "EXISTING", "infrastructure"),
    (ValueError("a bug"), "compare", "EXISTING", "training"),
])
def test_failure_classes(exc, stage, source, expected):
    source = str(EXAMPLE) if source == "EXISTING" else source
    message = str(exc)
    if stage:
        tagged(exc, stage)
    assert failures.classify(exc, source) == expected
    assert str(exc) == message and stage_of(exc) == stage  # the tag never changes the one line


def test_the_innermost_stage_tag_wins_and_a_gap_needs_both_numbers():
    exc = tagged(tagged(StageError("x"), "train"), "compare")
    assert stage_of(exc) == "train"
    assert failures.reproduction_gap(0.25, 0.30, "ndcg@10", 0.05).startswith("ndcg@10 0.2500 is 16.7% worse")
    assert failures.reproduction_gap(0.29, 0.30, "ndcg@10", 0.05) is None
    assert failures.reproduction_gap(0.25, None, "ndcg@10", 0.05) is None
    assert failures.reproduction_gap(0.50, 0.40, "logloss", 0.05) is not None  # lower is better


# --- the batch, offline ------------------------------------------------------------------------------

SCORES: dict[str, tuple[float, float]] = {}  # paper key -> (ours, RecBole reference): what the fake training gives


def fake_validate(ctx) -> None:
    """The sandboxed gates (a subprocess per paper) are tested elsewhere; here they pass at once."""
    from paper_autotrain import pipeline
    from paper_autotrain.artifacts import atomic_write_json, hash_obj

    out = ctx.store.stage_dir("validate") / "validation.json"

    def produce():
        atomic_write_json(out, {"passed": True, "note": "test double"})
        return [out]

    pipeline.step(ctx, "validate", hash_obj(["fake", ctx.store.output_hash("render")]), produce)


def fake_run(ctx, model: str, role: str, ndcg: float, **config):
    from paper_autotrain.schemas import RunResult

    split = ctx.split()  # the real split: compare reads it
    return RunResult(model=model, role=role, dataset=split.dataset, split_id=split.split_id,
                     test={"ndcg@10": ndcg, "recall@10": min(1.0, 2 * ndcg)}, epochs_run=1, best_epoch=1,
                     config={"trainer": {"max_epochs": 1}, **config}).model_dump(mode="json")


def fake_train(ctx) -> None:
    """Training stands in with the score the test chose for the paper (the real one runs in the slow test)."""
    from paper_autotrain import pipeline
    from paper_autotrain.artifacts import atomic_write_json, hash_obj

    ours, _ = SCORES[ctx.store.key]
    final = ctx.store.stage_dir("train")

    def produce():
        run = fake_run(ctx, ctx.spec().model_name, "reproduced", ours)
        atomic_write_json(final / "results.json", [run])
        atomic_write_json(final / "result.json", run)
        return [final / "result.json", final / "results.json"]

    pipeline.step(ctx, "train", hash_obj(["fake", ours]), produce)


def fake_baselines(ctx) -> None:
    from paper_autotrain import pipeline
    from paper_autotrain.artifacts import atomic_write_json, hash_obj

    _, reference = SCORES[ctx.store.key]
    out = ctx.store.stage_dir("baselines") / "results.json"

    def produce():
        atomic_write_json(out, [fake_run(ctx, "LightGCN", "baseline", reference, reference=True),
                                fake_run(ctx, "Pop", "baseline", reference / 3, reference=False)])
        return [out]

    pipeline.step(ctx, "baselines", hash_obj(["fake", reference]), produce)


@pytest.fixture
def papers(tmp_path):
    """Two good papers (the example paper under two names) and one broken on purpose (not a recsys paper)."""
    folder = tmp_path / "papers"
    folder.mkdir()
    shutil.copyfile(EXAMPLE, folder / "alpha.pdf")
    shutil.copyfile(EXAMPLE, folder / "beta.pdf")
    write_pdf(folder / "bread.pdf", NOT_A_RECSYS_PAPER)
    three = write_list(folder / "three.yaml", [{"source": "alpha.pdf"}, {"source": "bread.pdf"},
                                               {"source": "beta.pdf", "overrides": {"seed": 7}}],
                       overrides={"trainer.max_epochs": 2, "baselines": ["Pop"]})
    good = write_list(folder / "good.yaml", [{"source": "alpha.pdf"}, {"source": "beta.pdf"}],
                      overrides={"trainer.max_epochs": 2, "baselines": ["Pop"]})
    return three, good


def run_batch(monkeypatch, capsys, list_path: Path, root: Path, *overrides: str) -> tuple[int, list[str], str]:
    from paper_autotrain.__main__ import main

    monkeypatch.setattr(sys, "argv", ["paper-autotrain"])  # the batch hands its command line to Hydra
    code = main([f"papers={list_path}", f"paths.root={root}", *overrides])
    captured = capsys.readouterr()
    problems = [ln for ln in captured.err.splitlines() if ln.startswith(("failed:", "regressed:", "error:"))]
    return code, problems, captured.out


def test_a_list_of_three_papers_one_broken_then_a_regression(tmp_path, papers, monkeypatch, capsys):
    from paper_autotrain import pipeline

    for stage, fake in (("validate", fake_validate), ("train", fake_train), ("baselines", fake_baselines)):
        monkeypatch.setitem(pipeline.STEPS, stage, fake)
    three, good = papers
    root = tmp_path / "run"
    SCORES.update(alpha=(0.30, 0.30), beta=(0.20, 0.195))

    code, problems, out = run_batch(monkeypatch, capsys, three, root)
    assert code == 1 and "2 of 3 papers ok" in out
    assert len(problems) == 1 and problems[0].startswith(
        "failed: bread [extraction in extract]: 'Bread at Home") and "not read as a recommender-systems" in problems[0]
    results = root / "results"
    for key, ours in (("alpha", "0.3000"), ("beta", "0.2000")):
        assert ours in (results / key / "report.md").read_text()
    assert not (results / "bread" / "report.md").exists()
    ledger = Ledger.under(results)
    rows = {r.paper_key: r for r in ledger.runs()}
    assert {k: (r.status, r.failure_class) for k, r in rows.items()} == {
        "alpha": ("ok", None), "beta": ("ok", None), "bread": ("failed", "extraction")}
    assert len({r.batch_id for r in rows.values()}) == 1 and rows["alpha"].batch_id
    assert (rows["alpha"].ours, rows["alpha"].reference, rows["alpha"].reference_model) == (0.30, 0.30, "LightGCN")
    assert rows["beta"].seeds == [7]  # the paper's own override reached its run
    assert [s.stage for s in ledger.stages(rows["alpha"].run_id)] == list(pipeline.STAGES)
    board = (results / "leaderboard.md").read_text()
    assert "No regressions." in board and all(f"| `{k}`" in board for k in ("alpha", "beta", "bread"))
    assert (results / "leaderboard.html").exists()

    SCORES.update(alpha=(0.24, 0.24))  # a change makes alpha's model and its reference 20% worse
    code, problems, _ = run_batch(monkeypatch, capsys, good, root)
    assert code == 1
    assert problems == ["regressed: alpha: NDCG@10 0.3000 -> 0.2400 (-20.0%, tolerance 5%) since the run of "
                        f"{rows['alpha'].started[:16]}"]
    assert "**REGRESSION**" in (results / "leaderboard.md").read_text()
    history = ledger.history("beta")
    assert len(history) == 2 and {s.status for s in ledger.stages(history[-1].run_id)} == {"skipped"}



def test_a_bad_list_or_override_stops_before_anything_runs(tmp_path, papers, monkeypatch, capsys):
    three, _ = papers
    code, problems, _ = run_batch(monkeypatch, capsys, three, tmp_path, "trainer.max_epoch=2")
    assert code == 2 and len(problems) == 1 and "trainer.max_epoch" in problems[0]
    code, problems, _ = run_batch(monkeypatch, capsys, three, tmp_path, "stray.pdf")
    assert code == 2 and "drop stray.pdf" in problems[0]
    assert not (tmp_path / "results").exists()


def test_the_command_line_names_a_missing_list_in_one_line(tmp_path):
    env = {**os.environ, "PAPER_AUTOTRAIN_LOG": "WARNING"}
    proc = subprocess.run([sys.executable, "-m", "paper_autotrain", "papers=nope", f"paths.root={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "choose from dev, nightly" in proc.stderr


@pytest.mark.slow
def test_a_list_of_three_papers_through_the_real_pipeline(tmp_path, papers, monkeypatch, capsys):
    """The issue's done-when with real training and RecBole baselines (small budget); then a regression."""
    three, good = papers
    for path in (three, good):  # the chain is the point here: a reproduction gap is tested above
        write_list(path, yaml.safe_load(path.read_text())["papers"], gap_tolerance=1.0,
                   overrides={"trainer.max_epochs": 2, "baselines": ["Pop"]})
    root = tmp_path / "run"
    code, problems, _ = run_batch(monkeypatch, capsys, three, root)
    assert code == 1 and len(problems) == 1 and problems[0].startswith("failed: bread [extraction in extract]")
    results = root / "results"
    assert (results / "alpha" / "report.md").exists() and (results / "beta" / "report.md").exists()
    ledger = Ledger.under(results)
    rows = {r.paper_key: r for r in ledger.runs()}
    assert {k: r.status for k, r in rows.items()} == {"alpha": "ok", "beta": "ok", "bread": "failed"}
    assert all(0 < rows[k].ours <= 1 and rows[k].reference for k in ("alpha", "beta"))
    assert (results / "leaderboard.md").exists()

    # the previous result edited upwards: the unchanged rerun (every stage skipped) is now a 50% drop
    with sqlite3.connect(ledger.path) as conn:
        conn.execute("UPDATE runs SET ours = ours * 2 WHERE run_id = ?", (rows["alpha"].run_id,))
    code, problems, _ = run_batch(monkeypatch, capsys, good, root)
    assert code == 1 and len(problems) == 1 and problems[0].startswith("regressed: alpha: NDCG@10")
    assert json.loads(json.dumps(ledger.history("alpha")[-1].metrics))  # the rerun recorded its metrics again
