"""The run ledger: schema and WAL, rows and history, two writers at once, and how the pipeline records into it."""

import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from paper_autotrain.artifacts import ArtifactStore
from paper_autotrain.commands import ledger as ledger_command
from paper_autotrain.records.ledger import (
    RUN_STATUSES,
    SCHEMA_V1,
    SCHEMA_VERSION,
    Ledger,
    LedgerError,
    StageRow,
    results_dir,
)
from paper_autotrain.records.run_record import RunRecorder, llm_usage

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "papers" / "tinyprop.pdf"


def config(root: Path, *overrides: str) -> dict:
    """The composed config of a run of the example paper under the scratch `root`."""
    from paper_autotrain.commands.config import compose_config

    return compose_config([f"paper={EXAMPLE}", f"paths.root={root}", *overrides])


def started(minute: int) -> str:
    return f"2026-01-01T00:{minute:02d}:00.000000+00:00"


def add_run(ledger: Ledger, run_id: str, paper: str, minute: int, **fields) -> None:
    row = {"paper_key": paper, "source": f"{paper}.pdf", "started": started(minute), "status": "ok", **fields}
    ledger.record(run_id, row, [StageRow(run_id, "fetch", "ok", 0.5, False, "h1"),
                                StageRow(run_id, "parse", "skipped", 0.0, True, "h2")])


def test_a_missing_ledger_is_created_in_wal_mode_with_its_schema_version(tmp_path):
    ledger = Ledger.under(tmp_path / "results")
    assert not ledger.exists()
    ledger.create()
    assert ledger.exists() and ledger.path == tmp_path / "results" / "ledger.sqlite"
    assert ledger.journal_mode() == "wal"
    assert ledger.schema_version() == SCHEMA_VERSION
    ledger.create()  # a second time changes nothing
    assert ledger.runs() == []


def test_runs_are_written_updated_and_read_back(tmp_path):
    ledger = Ledger.under(tmp_path)
    ledger.record("r1", {"paper_key": "bpr", "source": "arxiv:1205.2618", "started": started(1), "status": "running",
                         "seeds": [0, 1]})
    ledger.record("r1", {"status": "ok", "ours": 0.25, "metrics": {"ndcg@10": 0.25}, "llm_tokens": 12})
    add_run(ledger, "r2", "lightgcn", 2, status="failed", failure_class="training", failure_message="boom")
    add_run(ledger, "r3", "bpr", 3, ours=0.2)

    first = ledger.history("bpr")[0]
    assert (first.run_id, first.status, first.ours, first.seeds, first.metrics, first.llm_tokens) == (
        "r1", "ok", 0.25, [0, 1], {"ndcg@10": 0.25}, 12)
    assert [r.run_id for r in ledger.runs()] == ["r3", "r2", "r1"]  # newest first
    assert [r.run_id for r in ledger.runs(limit=1)] == ["r3"]
    assert [r.run_id for r in ledger.history("bpr")] == ["r1", "r3"]  # oldest first
    assert ledger.runs(paper="lightgcn")[0].failure_class == "training"
    assert ledger.papers() == ["bpr", "lightgcn"]
    assert [(s.stage, s.status, s.skipped) for s in ledger.stages("r3")] == [("fetch", "ok", False),
                                                                           ("parse", "skipped", True)]


def test_a_status_outside_the_schema_and_an_unknown_column_are_refused(tmp_path):
    ledger = Ledger.under(tmp_path)
    with pytest.raises(sqlite3.IntegrityError):
        add_run(ledger, "r1", "bpr", 1, status="great")
    with pytest.raises(LedgerError, match="unknown ledger column"):
        ledger.record("r1", {"colour": "blue"})
    assert ledger.runs() == []  # the failed transaction left nothing behind


def test_every_run_status_is_accepted(tmp_path):
    ledger = Ledger.under(tmp_path)
    for i, status in enumerate(RUN_STATUSES):
        add_run(ledger, f"r{i}", "bpr", i, status=status)
    assert sorted(r.status for r in ledger.runs()) == sorted(RUN_STATUSES)


def test_a_version_1_ledger_is_migrated_keeping_its_rows_and_accepts_an_approximation(tmp_path):
    ledger = Ledger.under(tmp_path)
    with sqlite3.connect(ledger.path) as conn:  # a ledger as the first schema wrote it, one run with its stages
        conn.executescript(SCHEMA_V1 + "PRAGMA user_version = 1;")
        conn.execute("INSERT INTO runs (run_id, paper_key, source, started, status, ours, seeds) VALUES "
                     "('old', 'bpr', 'bpr.pdf', ?, 'gap', 0.2, '[0]')", (started(1),))
        conn.execute("INSERT INTO stages (run_id, stage, status) VALUES ('old', 'fetch', 'ok')")
    with sqlite3.connect(ledger.path) as conn, pytest.raises(sqlite3.IntegrityError):  # the old CHECK refuses it
        conn.execute("INSERT INTO runs (run_id, paper_key, source, started, status) VALUES "
                     "('x', 'p', 'p', 'now', 'approximation')")

    add_run(ledger, "new", "afm", 2, status="approximation", missing=["attention network"])
    assert ledger.schema_version() == SCHEMA_VERSION == 3
    old, new = ledger.history("bpr")[0], ledger.history("afm")[0]
    assert (old.config, old.job) == (None, None)  # columns a later schema added are empty for old rows
    assert (old.status, old.ours, old.seeds, old.missing, old.approximation) == ("gap", 0.2, [0], None, False)
    assert [(s.stage, s.status) for s in ledger.stages("old")] == [("fetch", "ok")]  # no cascade on the rebuild
    assert (new.status, new.missing, new.approximation) == ("approximation", ["attention network"], True)
    with sqlite3.connect(ledger.path) as conn:
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert {r[1] for r in conn.execute("PRAGMA index_list(runs)")} >= {"runs_by_paper", "runs_by_batch"}
    with pytest.raises(sqlite3.IntegrityError):
        add_run(ledger, "bad", "bpr", 3, status="great")  # the new CHECK still guards the column
    ledger.record("old", {"status": "failed"})  # deleting a run still cascades to its stages: foreign keys back on
    with sqlite3.connect(ledger.path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("DELETE FROM runs WHERE run_id = 'old'")
        assert conn.execute("SELECT COUNT(*) FROM stages WHERE run_id = 'old'").fetchone()[0] == 0


def test_a_ledger_from_a_newer_version_is_refused(tmp_path):
    ledger = Ledger.under(tmp_path)
    ledger.create()
    with sqlite3.connect(ledger.path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LedgerError, match="schema version"):
        ledger.runs()


WRITER = textwrap.dedent("""
    import sys
    from paper_autotrain.records.ledger import Ledger, StageRow
    ledger, tag = Ledger(sys.argv[1]), sys.argv[2]
    for i in range(60):
        run_id = f"{tag}-{i}"
        ledger.record(run_id, {"paper_key": tag, "source": tag, "started": f"2026-01-01T00:00:{i:02d}",
                               "status": "running"}, [StageRow(run_id, "fetch", "ok", 0.1)])
        ledger.record(run_id, {"status": "ok", "ours": i / 100}, [StageRow(run_id, "parse", "ok", 0.2)])
""")


def test_two_processes_writing_at_once_keep_every_row(tmp_path):
    ledger = Ledger.under(tmp_path)  # not created up front: both writers race to create it as well
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(ledger.path), tag], cwd=REPO,
                                stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    rows = ledger.runs()
    assert len(rows) == 120 and all(r.status == "ok" for r in rows)
    assert {r.paper_key for r in rows} == {"a", "b"}
    with sqlite3.connect(ledger.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM stages").fetchone()[0] == 240


def test_results_dir_follows_the_pipelines_rule(tmp_path):
    from paper_autotrain.pipeline import resolve_path

    for paths in ({"root": str(tmp_path), "results": "results"}, {"root": str(tmp_path), "results": "/abs/res"},
                  {"root": str(tmp_path / "x" / ".."), "results": "out/r"}):
        assert results_dir(paths) == resolve_path({"paths": paths}, "results")


# --- the recorder --------------------------------------------------------------------------------------


def test_a_broken_ledger_is_a_warning_and_the_run_goes_on(tmp_path, caplog):
    (tmp_path / "ledger.sqlite").mkdir()  # a folder where the file should be: every write fails
    recorder = RunRecorder.begin(tmp_path, {"paper": "x.pdf"}, "x.pdf", "x", "compare")
    with caplog.at_level(logging.WARNING, logger="paper_autotrain"):
        recorder.stage("fetch", "ok", 0.1, "h")
        recorder.failed(RuntimeError("boom"), None)
    assert any("ledger" in r.getMessage() for r in caplog.records)


def finished_store(tmp_path: Path, ours: list[float], reference: float, spec_fields: dict | None = None
                   ) -> ArtifactStore:
    """A paper's artifacts as a finished run leaves them: spec, one train run per seed, baselines."""
    from paper_autotrain.artifacts import atomic_write_json
    from paper_autotrain.pipeline import dump_spec
    from paper_autotrain.schemas import MethodSpec, RunResult

    store = ArtifactStore(tmp_path, tmp_path / "generated", tmp_path / "results", "p")
    spec = MethodSpec.model_validate({"paper": {"key": "p"}, "family": "general", "model_name": "Ours", "loss": "bpr",
                                      "reported": [{"dataset": "Gowalla", "metric": "Recall@20", "value": 0.1},
                                                   {"dataset": "Yelp", "metric": "NDCG@10", "value": 0.05}],
                                      **(spec_fields or {})})
    store.generated.mkdir(parents=True)
    (store.generated / "spec.yaml").write_text(dump_spec(spec))

    def run(model: str, role: str, ndcg: float, seed: int = 0, **config) -> dict:
        return RunResult(model=model, role=role, dataset="ml-100k", split_id="s", seed=seed, test={"ndcg@10": ndcg},
                         config=config).model_dump(mode="json")

    atomic_write_json(store.stage_dir("train") / "results.json", [run("Ours", "reproduced", v, i)
                                                                  for i, v in enumerate(ours)])
    atomic_write_json(store.stage_dir("baselines") / "results.json", [
        run("LightGCN", "baseline", reference, reference=True), run("Pop", "baseline", 0.1, reference=False)])
    return store


@pytest.mark.parametrize(("ours", "status"), [([0.24, 0.26], "ok"), ([0.20, 0.22], "gap")])
def test_a_finished_run_records_its_numbers_and_a_gap_beyond_the_tolerance(tmp_path, ours, status):
    store = finished_store(tmp_path, ours, reference=0.26)
    recorder = RunRecorder.begin(store.results.parent, {"paper": "p.pdf", "seeds": [0, 1]}, "p.pdf", "p", "compare")
    recorder.succeeded(store)
    (row,) = Ledger.under(store.results.parent).runs()
    assert row.status == status and row.seeds == [0, 1]
    assert row.ours == pytest.approx(sum(ours) / 2) and row.reference == 0.26 and row.reference_model == "LightGCN"
    assert row.paper_reported == "0.05 NDCG@10 on Yelp"  # the paper's number for the same metric
    if status == "gap":
        assert row.failure_class == "reproduction_gap" and "worse than the RecBole reference" in row.failure_message


def test_an_approximation_is_recorded_as_such_with_what_it_leaves_out_and_never_as_a_gap(tmp_path):
    partial = {"verdict": "partial", "components": [{"name": "attention network over pairwise interactions"},
                                                    {"name": "graph propagation"}]}
    store = finished_store(tmp_path, [0.10, 0.12], reference=0.26,  # far below
                           spec_fields={"fidelity": partial, "reference": "AFM"})
    recorder = RunRecorder.begin(store.results.parent, {"paper": "p.pdf", "seeds": [0, 1]}, "p.pdf", "p", "compare")
    recorder.stage("render", "ok", 0.1, "h")  # the model was built
    recorder.succeeded(store)
    (row,) = Ledger.under(store.results.parent).runs()
    assert row.status == "approximation" and row.failure_class is None and row.failure_message is None
    assert row.missing == ["attention network over pairwise interactions", "graph propagation"]
    assert row.ours == pytest.approx(0.11) and row.reference == 0.26  # the numbers are kept, the verdict is not given


def test_a_partial_spec_read_but_not_built_is_an_ok_run_that_keeps_what_it_would_leave_out(tmp_path):
    partial = {"verdict": "partial", "components": [{"name": "graph propagation"}]}
    store = finished_store(tmp_path, [0.10], reference=0.26, spec_fields={"fidelity": partial})
    RunRecorder.begin(store.results.parent, {"paper": "p.pdf"}, "p.pdf", "p", "extract").succeeded(store)
    (row,) = Ledger.under(store.results.parent).runs()
    assert (row.status, row.missing) == ("ok", ["graph propagation"])  # until=extract: no model, no verdict


def test_a_faithful_spec_is_still_judged_for_a_gap(tmp_path):
    faithful = {"verdict": "faithful", "components": []}
    store = finished_store(tmp_path, [0.10], reference=0.26,
                           spec_fields={"fidelity": faithful, "reference": "LightGCN"})
    RunRecorder.begin(store.results.parent, {"paper": "p.pdf"}, "p.pdf", "p", "compare").succeeded(store)
    (row,) = Ledger.under(store.results.parent).runs()
    assert (row.status, row.failure_class, row.missing) == ("gap", "reproduction_gap", None)


def test_llm_usage_counts_this_runs_live_calls_only(tmp_path):
    from datetime import UTC, datetime, timedelta

    log = tmp_path / "llm_calls.jsonl"
    now = datetime.now(UTC)
    earlier = (now - timedelta(hours=1)).isoformat(timespec="milliseconds")
    later = (now + timedelta(seconds=1)).isoformat(timespec="milliseconds")
    log.write_text("\n".join([
        f'{{"time": "{earlier}", "prompt_tokens": 1000, "completion_tokens": 1, "cost_usd": 1.0, "cached": false}}',
        f'{{"time": "{later}", "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.002, "cached": false}}',
        f'{{"time": "{later}", "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.0, "cached": true}}',
        '{"time": "torn',
    ]) + "\n")
    assert llm_usage(log, now) == {"llm_tokens": 120, "llm_cost_usd": 0.002}
    assert llm_usage(tmp_path / "none.jsonl", now) == {}


# --- the pipeline records ------------------------------------------------------------------------------


def test_the_pipeline_records_a_run_its_stages_and_a_rerun(tmp_path):
    from paper_autotrain import pipeline

    pipeline.run(config(tmp_path, "until=parse"))
    pipeline.run(config(tmp_path, "until=parse"))
    ledger = Ledger.under(tmp_path / "results")
    first, second = ledger.history("tinyprop")
    assert first.status == second.status == "ok" and first.until_stage == "extract"
    assert first.model_name == "LightGCN" and first.main_metric == "ndcg@10" and first.seeds == [0]
    assert first.config_hash == second.config_hash and len(first.code_hash or "") == 64
    assert first.config is not None and first.config["until"] == "parse" and "paths" not in first.config
    assert first.config["trainer"] == second.config["trainer"] and first.job is None
    assert [(s.stage, s.status) for s in ledger.stages(first.run_id)] == [
        ("fetch", "ok"), ("parse", "ok"), ("extract", "ok")]
    assert {s.status for s in ledger.stages(second.run_id)} == {"skipped"}
    assert all(s.input_hash for s in ledger.stages(first.run_id))


def test_a_failed_run_gets_its_row_with_the_stage_and_class(tmp_path):
    from paper_autotrain import pipeline
    from paper_autotrain.errors import UserError, stage_of

    pipeline.run(config(tmp_path, "until=parse"))
    spec_path = tmp_path / "generated" / "tinyprop" / "spec.yaml"
    spec_path.write_text(spec_path.read_text().replace("family: graph", "family: telepathy"))
    with pytest.raises(UserError, match="not a valid MethodSpec") as caught:
        pipeline.run(config(tmp_path, "until=render"))
    assert stage_of(caught.value) == "extract" and "\n" not in str(caught.value)  # the one line is unchanged
    latest = Ledger.under(tmp_path / "results").runs(paper="tinyprop")[0]
    assert (latest.status, latest.failure_stage, latest.failure_class) == ("failed", "extract", "extraction")
    assert "not a valid MethodSpec" in latest.failure_message


def test_bad_input_on_a_fresh_results_folder_leaves_no_ledger(tmp_path):
    from paper_autotrain import pipeline
    from paper_autotrain.errors import UserError

    (tmp_path / "notes.pdf").write_text("not a pdf\n")
    with pytest.raises(UserError):
        pipeline.run({**config(tmp_path), "paper": str(tmp_path / "notes.pdf")})
    assert not (tmp_path / "results").exists()  # nothing half-written, the ledger included
    Ledger.under(tmp_path / "results").create()  # once there is a ledger, the same failure is recorded
    with pytest.raises(UserError):
        pipeline.run({**config(tmp_path), "paper": str(tmp_path / "notes.pdf")})
    (row,) = Ledger.under(tmp_path / "results").runs()
    assert (row.paper_key, row.failure_stage, row.failure_class) == ("notes", "fetch", "extraction")


# --- the command -----------------------------------------------------------------------------------------


def test_ledger_runs_and_history_print_tables(tmp_path, capsys):
    ledger = Ledger.under(tmp_path / "results")
    add_run(ledger, "aaaaaaaa1", "bpr", 1, ours=0.2512, main_metric="ndcg@10")
    add_run(ledger, "bbbbbbbb2", "neumf", 2, status="failed", failure_class="extraction", failure_message="bad pdf")
    root = f"paths.root={tmp_path}"

    assert ledger_command.main(["runs", root]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["started", "run", "paper", "status"]
    assert "bbbbbbbb" in out[2] and "extraction" in out[2] and "0.2512" in out[3]

    assert ledger_command.main(["runs", "--paper", "bpr", "--limit", "5", root]) == 0
    assert "neumf" not in capsys.readouterr().out

    assert ledger_command.main(["history", "neumf", root]) == 0
    out = capsys.readouterr().out
    assert "neumf: 1 run(s)" in out and "last run: extraction: bad pdf" in out and "fetch  ok" in out


def test_history_shows_the_settings_a_sweep_varied(tmp_path, capsys):
    ledger = Ledger.under(tmp_path / "results")
    for i, lr in enumerate((0.001, 0.01)):
        add_run(ledger, f"run{i}xxxxx", "bpr", i, job=f"sweep-job{i}", ours=0.25 + i / 100,
                config={"seed": 0, "hparams": {"learning_rate": lr}, "trainer": {"max_epochs": 5}})
    add_run(ledger, "oldxxxxxx", "bpr", 5)  # recorded before configs were: no settings to compare
    assert ledger_command.main(["history", "bpr", f"paths.root={tmp_path}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "settings that differ" in lines[1]
    assert lines[3].rstrip().endswith("hparams.learning_rate=0.001") and "sweep-job0" in lines[3]
    assert lines[4].rstrip().endswith("hparams.learning_rate=0.01") and "sweep-job1" in lines[4]
    assert "trainer.max_epochs" not in "\n".join(lines)  # the same in every run: not a difference


def test_ledger_command_errors_are_one_line(tmp_path, capsys):
    assert ledger_command.main(["runs", f"paths.root={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no ledger at" in err
    Ledger.under(tmp_path / "results").create()
    assert ledger_command.main(["history", "nope", f"paths.root={tmp_path}"]) == 2
    assert "no runs of 'nope'" in capsys.readouterr().err
