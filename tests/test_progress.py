"""Progress lines: what the children print, and what the parent relays to the terminal."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from paper_autotrain import progress
from paper_autotrain.sandbox.process import run_sandboxed


def test_an_epoch_line_has_the_epoch_of_the_budget_loss_metric_seconds_and_time_left():
    line = progress.epoch_line(3, 20, 0.31204, "valid_ndcg@10", 0.25111, 4.12, 0.81, 5.0)
    assert line == ("progress| epoch 3/20: loss 0.3120, valid ndcg@10 0.2511, 4.1 s + 0.8 s eval, "
                    "at most 85 s left")
    assert progress.epoch_line(3, 20, 0.31204, "valid/ndcg@10", 0.25111, 4.12, 0.81, 5.0) == line  # ours, alike
    assert progress.epoch_line(1, None, 1.0, "valid_auc", float("nan"), 1.0, 0.0).endswith(
        "valid auc n/a, 1.0 s + 0.0 s eval")


def test_relay_logs_progress_lines_only_with_who_they_are_about(caplog):
    log = logging.getLogger("paper_autotrain.test_progress")
    forward = progress.relay(log, "baseline LightGCN (seed 0)")
    with caplog.at_level(logging.INFO, logger=log.name):
        forward("12:00:01 WARNING something else entirely")
        forward("12:00:02 INFO progress| epoch 1/5: loss 0.6, valid_ndcg@10 0.1, 1.0 s + 0.2 s eval")
    assert [r.getMessage() for r in caplog.records] == [
        "baseline LightGCN (seed 0): epoch 1/5: loss 0.6, valid_ndcg@10 0.1, 1.0 s + 0.2 s eval"]


def test_the_childs_stderr_lines_reach_a_callback_while_it_runs(tmp_path):
    """Live progress: each line is seen while the child still runs (before it ends), the last one even without
    a newline; the file keeps everything."""
    seen: list[tuple[str, float]] = []
    code = ("import sys, time\n"
            "for i in range(3):\n"
            "    print(f'progress| epoch {i}', file=sys.stderr, flush=True)\n"
            "    time.sleep(0.5)\n"
            "sys.stderr.write('tail without newline')\n")
    started = time.monotonic()
    result = run_sandboxed([sys.executable, "-c", code], workdir=tmp_path / "w", stderr_path=tmp_path / "err.log",
                           on_stderr_line=lambda line: seen.append((line, time.monotonic() - started)))
    assert result.ok
    assert [line for line, _ in seen] == ["progress| epoch 0", "progress| epoch 1", "progress| epoch 2",
                                          "tail without newline"]
    assert seen[0][1] < result.seconds - 0.5  # the first line arrived while the child was still sleeping
    assert (tmp_path / "err.log").read_text().startswith("progress| epoch 0\n")


def test_a_failing_progress_callback_does_not_stop_the_run(tmp_path):
    def broken(line: str) -> None:
        raise RuntimeError("callback bug")

    result = run_sandboxed([sys.executable, "-c", "import sys; print('x', file=sys.stderr)"], workdir=tmp_path,
                           on_stderr_line=broken)
    assert result.ok and result.stderr.strip() == "x"


def test_a_line_relayed_from_the_follower_thread_names_the_paper(caplog):
    """The follower thread starts with an empty context: the relay logs in its maker's, so the paper key shows."""
    import threading

    from paper_autotrain.commands.config import CURRENT_PAPER, PaperKey

    caplog.handler.addFilter(PaperKey())
    token = CURRENT_PAPER.set("tinyprop")
    try:
        forward = progress.relay(logging.getLogger("paper_autotrain.test_progress"), "baseline BPR (seed 0)")
    finally:
        CURRENT_PAPER.reset(token)
    with caplog.at_level(logging.INFO, logger="paper_autotrain.test_progress"):
        thread = threading.Thread(target=forward, args=("progress| epoch 1/2: loss 0.5",))
        thread.start()
        thread.join()
    assert [(r.paper, r.getMessage()) for r in caplog.records] == [
        ("tinyprop", "baseline BPR (seed 0): epoch 1/2: loss 0.5")]


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "papers" / "tinyprop.pdf"


def tiny_dataset(folder: Path, n_users: int = 120, n_items: int = 150, per_user: int = 15) -> Path:
    """A RecBole atomic file `tiny.inter`: each user with `per_user` items of a skewed popularity."""
    import numpy as np

    rng = np.random.default_rng(0)
    popularity = rng.dirichlet(np.full(n_items, 0.5))
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    for user in range(n_users):
        for item in rng.choice(n_items, size=per_user, replace=False, p=popularity):
            rows.append(f"u{user}\ti{item}\t1\t0")
    (folder / "tiny.inter").write_text("\n".join(rows) + "\n")
    return folder


def test_the_command_prints_each_epoch_of_ours_and_of_recbole_then_the_result(tmp_path):
    """The real CLI on the example paper, a tiny dataset, one epoch and Pop beside the reference (LightGCN): a
    progress line per epoch for our model and for each RecBole model, live, each naming the paper; the result line
    at the end; the baselines' histories and logs in their stage folder, the overlaid curves in report.html."""
    import os
    import subprocess

    root = tmp_path / "root"
    done = subprocess.run(
        [sys.executable, "-m", "paper_autotrain", str(EXAMPLE), "trainer.max_epochs=1", "baselines=[Pop]",
         f"paths.root={root}", "dataset.name=tiny", f"dataset.path={tiny_dataset(tmp_path / 'data')}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, "PAPER_AUTOTRAIN_LOG": "INFO"})
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.splitlines()

    def epoch_lines(who: str) -> list[str]:
        return [line for line in lines if f"[tinyprop] {who}: epoch 1/1: loss " in line]

    for who in ("train ours (seed 0)", "baseline Pop (seed 0)", "baseline LightGCN (seed 0)"):
        (line,) = epoch_lines(who)
        assert ", valid ndcg@10 0." in line and " s eval" in line, line
    started = next(i for i, line in enumerate(lines) if "LightGCN (seed 0): training on" in line)
    finished = next(i for i, line in enumerate(lines) if "] LightGCN: hit@10=" in line)
    assert started < lines.index(epoch_lines("baseline LightGCN (seed 0)")[0]) < finished  # while it trained
    (result,) = [line for line in done.stdout.splitlines() if line.startswith("result: ")]
    assert "vs RecBole LightGCN" in result and "NDCG@10" in result and "%" in result
    stage = root / "results" / "tinyprop" / "baselines"
    assert sorted(p.name for p in (stage / "history").iterdir()) == ["LightGCN-seed0.csv", "Pop-seed0.csv"]
    assert "progress| epoch 1/1" in (stage / "logs" / "LightGCN-seed0.stderr.log").read_text()
    report = (root / "results" / "tinyprop" / "report.html").read_text()
    assert 'class="curve ours"' in report and 'class="curve reference"' in report
    # the exact command that reproduces the run, in both reports, with the overrides as typed
    md = (root / "results" / "tinyprop" / "report.md").read_text()
    (command,) = [line for line in md.splitlines() if line.startswith("- Reproduce: ")]
    typed = f"python -m paper_autotrain {EXAMPLE} trainer.max_epochs=1 'baselines=[Pop]'"
    assert command.startswith(f"- Reproduce: `{typed}")
    assert "dataset.name=tiny" in command and 'class="command">python -m paper_autotrain' in report
