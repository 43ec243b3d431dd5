"""Progress lines: what the children print, and what the parent relays to the terminal."""

from __future__ import annotations

import logging
import sys
import time

from paper_autotrain import progress
from paper_autotrain.sandbox.process import run_sandboxed


def test_an_epoch_line_has_the_epoch_of_the_budget_loss_metric_seconds_and_time_left():
    line = progress.epoch_line(3, 20, 0.31204, "valid_ndcg@10", 0.25111, 4.12, 0.81, 5.0)
    assert line == ("progress| epoch 3/20: loss 0.3120, valid_ndcg@10 0.2511, 4.1 s + 0.8 s eval, "
                    "at most 85 s left")
    assert progress.epoch_line(1, None, 1.0, "valid_auc", float("nan"), 1.0, 0.0).endswith(
        "valid_auc n/a, 1.0 s + 0.0 s eval")


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
