"""The leaderboard: per paper the latest full run, the change since the previous one, the regression flag."""

import pytest

from paper_autotrain.commands import leaderboard as leaderboard_command
from paper_autotrain.records import leaderboard
from paper_autotrain.records.ledger import Ledger


def add(ledger: Ledger, run_id: str, paper: str, minute: int, status: str = "ok", ours: float | None = None,
        **fields) -> None:
    ledger.record(run_id, {"paper_key": paper, "source": f"arxiv:{paper}", "started": f"2026-01-01T00:{minute:02d}:00",
                           "status": status, "ours": ours, "main_metric": fields.pop("main_metric", "ndcg@10"),
                           "until_stage": fields.pop("until_stage", "compare"), **fields})


def board(ledger: Ledger, tolerance: float = 0.05) -> dict[str, leaderboard.BoardRow]:
    return {row.paper_key: row for row in leaderboard.build(ledger, tolerance)}


def test_a_drop_beyond_the_tolerance_is_flagged_and_one_within_is_not(tmp_path):
    ledger = Ledger.under(tmp_path)
    add(ledger, "a1", "down", 1, ours=0.30)
    add(ledger, "a2", "down", 2, ours=0.25)
    add(ledger, "b1", "steady", 1, ours=0.30)
    add(ledger, "b2", "steady", 2, ours=0.29)  # -3.3%: within 5%
    add(ledger, "c1", "new", 1, ours=0.10)
    rows = board(ledger)
    assert rows["down"].regressed and rows["down"].change == pytest.approx(-1 / 6)
    assert "NDCG@10 0.3000 -> 0.2500 (-16.7%, tolerance 5%)" in rows["down"].reason
    assert not rows["steady"].regressed and rows["steady"].change == pytest.approx(-1 / 30)
    assert not rows["new"].regressed and rows["new"].change is None and rows["new"].previous is None
    assert not board(ledger, tolerance=0.2)["down"].regressed


def test_a_paper_that_reproduced_before_and_fails_now_is_flagged(tmp_path):
    ledger = Ledger.under(tmp_path)
    add(ledger, "a1", "broke", 1, ours=0.3)
    add(ledger, "a2", "broke", 2, status="failed", failure_class="training", failure_message="train: exit 1")
    add(ledger, "b1", "still", 1, status="failed", failure_class="extraction")
    add(ledger, "b2", "still", 2, status="failed", failure_class="extraction")
    add(ledger, "c1", "gap", 1, ours=0.3, reference=0.3)
    add(ledger, "c2", "gap", 2, status="gap", ours=0.2, reference=0.3, failure_class="reproduction_gap")
    rows = board(ledger)
    assert rows["broke"].regressed and "now training: train: exit 1" in rows["broke"].reason
    assert not rows["still"].regressed  # failing twice is a failure, not a change
    assert rows["gap"].regressed and rows["gap"].gap == pytest.approx(-1 / 3)


def test_only_full_runs_count_and_a_lower_is_better_metric_turns_the_sign(tmp_path):
    ledger = Ledger.under(tmp_path)
    add(ledger, "a1", "p", 1, ours=0.30)
    add(ledger, "a2", "p", 2, ours=None, until_stage="extract")  # stopped early on purpose: not a result
    add(ledger, "a3", "p", 3, status="running", ours=None)  # still running
    add(ledger, "b1", "spec-only", 1, until_stage="extract")
    add(ledger, "c1", "ctr", 1, ours=0.40, main_metric="logloss")
    add(ledger, "c2", "ctr", 2, ours=0.50, main_metric="logloss")  # log loss up 25%: worse
    rows = board(ledger)
    assert set(rows) == {"p", "ctr"} and rows["p"].latest.run_id == "a1" and rows["p"].runs == 1
    assert rows["ctr"].regressed and rows["ctr"].change == pytest.approx(-0.25)


def test_the_files_show_every_paper_and_the_flag(tmp_path):
    ledger = Ledger.under(tmp_path)
    add(ledger, "a1", "2002.02126", 1, ours=0.3, reference=0.29, reference_model="LightGCN", model_name="LightGCN",
        paper_reported="0.0530 NDCG@20 on Gowalla", dataset="ml-100k")
    add(ledger, "a2", "2002.02126", 2, ours=0.2, reference=0.29, reference_model="LightGCN", model_name="LightGCN",
        paper_reported="0.0530 NDCG@20 on Gowalla", dataset="ml-100k")
    add(ledger, "b1", "bad", 1, status="failed", failure_class="generation", failure_message="render: <b>no</b> | x")
    md_path, html_path = leaderboard.write(leaderboard.build(ledger, 0.05), tmp_path, 0.05)
    md, html = md_path.read_text(), html_path.read_text()
    assert md_path.name == "leaderboard.md" and html_path.name == "leaderboard.html"
    row = next(line for line in md.splitlines() if line.startswith("| `2002.02126`"))
    for cell in ("LightGCN", "NDCG@10 (ml-100k)", "0.2000", "0.2900 (LightGCN)", "-31.0%", "0.0530 NDCG@20 on Gowalla",
                 "-33.3%", "**REGRESSION**"):
        assert cell in row, cell
    assert "1 regression(s)" in md and "`bad` (generation): render: <b>no</b> \\| x" in md
    assert "&lt;b&gt;no&lt;/b&gt;" in html and "<b>no</b>" not in html  # escaped in HTML
    assert html.count('class="regressed"') == 1


MISSING = ["attention network over pairwise interactions"]


def test_an_approximation_is_never_reproduced_nor_a_regression_from_a_reproduction(tmp_path):
    ledger = Ledger.under(tmp_path)
    add(ledger, "a1", "afm", 1, ours=0.30, reference=0.30)  # reproduced ...
    add(ledger, "a2", "afm", 2, status="approximation", ours=0.10, reference=0.30, missing=MISSING)  # ... then not
    add(ledger, "b1", "approx", 1, status="approximation", ours=0.30, missing=MISSING)
    add(ledger, "b2", "approx", 2, status="approximation", ours=0.20, missing=MISSING)  # like with like: compared
    add(ledger, "c1", "back", 1, status="approximation", ours=0.10, missing=MISSING)
    add(ledger, "c2", "back", 2, ours=0.30)  # a reproduction after an approximation: nothing to compare with
    add(ledger, "d1", "trying", 1, ours=0.30)
    add(ledger, "d2", "trying", 2, status="failed", failure_class="training", missing=MISSING)  # a failed attempt
    rows = board(ledger)
    assert rows["afm"].status == f"approximation: {MISSING[0]}"
    assert not rows["afm"].regressed and rows["afm"].previous is None and rows["afm"].change is None
    assert rows["approx"].regressed and rows["approx"].previous.run_id == "b1"
    assert not rows["back"].regressed and rows["back"].previous is None and rows["back"].status == "ok"
    assert not rows["trying"].regressed and rows["trying"].status == "failed"
    assert [r.paper_key for r in leaderboard.approximations(rows.values())] == ["afm", "approx"]


def test_the_files_say_approximation_and_what_it_leaves_out(tmp_path, capsys):
    ledger = Ledger.under(tmp_path / "results")
    add(ledger, "a1", "afm", 1, status="approximation", ours=0.1, reference=0.3, reference_model="AFM",
        model_name="AFM", missing=[*MISSING, "a <b>| part"])
    assert leaderboard_command.main([f"paths.root={tmp_path}"]) == 0
    assert "1 paper(s), 0 regression(s), 1 approximation(s)" in capsys.readouterr().out
    md = (tmp_path / "results" / "leaderboard.md").read_text()
    html = (tmp_path / "results" / "leaderboard.html").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| `afm`"))
    assert f"| approximation: {MISSING[0]}, a <b>\\| part |" in row and "REGRESSION" not in row
    assert "1 approximation(s), not reproductions:** `afm`" in md and "No regressions." in md
    assert 'class="status-approximation"' in html and f">approximation: {MISSING[0]}, a &lt;b&gt;| part<" in html


def test_the_command_writes_the_files_and_fails_on_a_regression_only_when_asked(tmp_path, capsys):
    ledger = Ledger.under(tmp_path / "results")
    add(ledger, "a1", "p", 1, ours=0.3)
    add(ledger, "a2", "p", 2, ours=0.2)
    root = f"paths.root={tmp_path}"
    assert leaderboard_command.main([root]) == 0
    assert (tmp_path / "results" / "leaderboard.md").exists() and (tmp_path / "results" / "leaderboard.html").exists()
    assert leaderboard_command.main(["--fail-on-regression", root]) == 1
    assert "regressed: p: NDCG@10 0.3000 -> 0.2000" in capsys.readouterr().err
    assert leaderboard_command.main(["--fail-on-regression", "--tolerance", "0.5", root]) == 0
    assert leaderboard_command.main(["--tolerance", "5", root]) == 2
    loose = tmp_path / "loose.yaml"
    loose.write_text("tolerance: 0.5\npapers: [{source: p.pdf}]\n")
    assert leaderboard_command.main(["--fail-on-regression", "--papers", str(loose), root]) == 0  # the list's 50%
    assert leaderboard_command.main(["--fail-on-regression", "--papers", "nightly", root]) == 1  # nightly's 5%
    assert leaderboard_command.main(["--papers", "no-such-list", root]) == 2
    assert leaderboard_command.main([f"paths.root={tmp_path / 'elsewhere'}"]) == 2
    assert "no ledger at" in capsys.readouterr().err
