"""Faults: a run killed with SIGKILL resumes from its last complete stage with nothing lost, and two runs of one
paper never write at once (a lock: the second exits with a clear message, or waits when asked to)."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from paper_autotrain import pipeline
from paper_autotrain.artifacts import ArtifactStore
from paper_autotrain.errors import StageError, UserError
from tests.test_cli import assert_one_line_error, cli
from tests.test_pipeline import EXAMPLE, SMALL, config

KEY = "tinyprop"


def store_for(root: Path) -> ArtifactStore:
    return ArtifactStore(root, Path("generated"), Path("results"), KEY)


def digests(root: Path) -> dict[str, str]:
    """Content hashes of everything the paper's run has written (the ledger is not an artifact)."""
    folders = (root / "generated" / KEY, root / "results" / KEY)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders if folder.exists() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_run_of_a_running_paper_exits_with_one_line_and_writes_nothing(tmp_path):
    with store_for(tmp_path).exclusive():
        proc = cli(tmp_path, str(EXAMPLE), "until=parse")
    assert_one_line_error(proc, "another run of tinyprop is in progress", f"pid {os.getpid()}", "lock_wait_s")
    assert not (tmp_path / "generated" / KEY).exists() and not (tmp_path / "results" / KEY).exists()
    assert not (tmp_path / "results" / ".locks").exists()  # the holder's lock went with it


def test_the_lock_is_exclusive_across_processes_and_reusable_after_a_kill(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError, match=f"pid {holder.pid}"):
        with store_for(tmp_path).exclusive(wait_s=0.5):
            pass
    holder.kill()  # SIGKILL: no cleanup ran, the lock file stays, but the kernel dropped the lock
    holder.wait(10)
    assert store_for(tmp_path).lock_path.exists()
    with store_for(tmp_path).exclusive():
        assert store_for(tmp_path).lock_path.read_text().strip() == str(os.getpid())
    assert not store_for(tmp_path).lock_path.exists()


HOLD_LOCK = """
import sys, time
from pathlib import Path
from paper_autotrain.artifacts import ArtifactStore
with ArtifactStore(Path(sys.argv[1]), Path("generated"), Path("results"), "tinyprop").exclusive():
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_run_waits_for_the_lock_when_asked(tmp_path):
    store = store_for(tmp_path)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.exclusive():
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        with pytest.raises(UserError, match="in progress"):  # no wait: refused at once
            pipeline.run(config(tmp_path, "until=parse"))
        # the release timer starts after the refusal: under load the refused run may take over a second to
        # reach the lock, and a timer started before it could release the lock first
        threading.Timer(1.0, release.set).start()
        started = time.monotonic()
        outcome = pipeline.run(config(tmp_path, "until=parse", "lock_wait_s=30"))
    finally:
        release.set()
        holder.join()
    assert time.monotonic() - started >= 0.9
    assert outcome.spec.is_file()


def start_run(root: Path, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "PAPER_AUTOTRAIN_LOG": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "paper_autotrain", str(EXAMPLE), f"paths.root={root}", *overrides],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its own process group: the kill takes its children too


def kill_when(proc: subprocess.Popen, ready: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before {ready.name} appeared"
        assert time.monotonic() < deadline, f"{ready} did not appear"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def kill_after_and_resume(root: Path, done_stage: str) -> None:
    """SIGKILL the run as soon as `done_stage` is committed; a rerun must skip it and everything before it,
    leave their outputs byte for byte as they were, and finish."""
    kill_when(start_run(root, *SMALL), root / "results" / KEY / "manifests" / f"{done_stage}.json")
    before = digests(root)
    outcome = pipeline.run(config(root, *SMALL))  # the killed run's lock went with its process
    done = pipeline.STAGES[: pipeline.STAGES.index(done_stage) + 1]
    assert outcome.skipped[: len(done)] == list(done)
    assert outcome.report is not None and outcome.report.is_file()
    after = digests(root)
    committed = [json.loads((root / "results" / KEY / "manifests" / f"{stage}.json").read_text())["outputs"]
                 for stage in done]
    outputs = {path for manifest in committed for path in manifest}
    assert outputs and outputs <= set(before)
    for path in outputs:  # every output of a committed stage: untouched by the rerun
        assert after[path] == before[path], path


def test_kill_9_during_training_then_a_rerun_resumes_after_validate(tmp_path):
    kill_after_and_resume(tmp_path, "validate")


@pytest.mark.slow
@pytest.mark.parametrize("done_stage", ["fetch", "parse", "extract", "render", "train", "baselines"])
def test_kill_9_after_every_stage_then_a_rerun_resumes(tmp_path, done_stage):
    kill_after_and_resume(tmp_path, done_stage)


@pytest.mark.parametrize("damage", ["nan metric", "no metrics", "no table", "no result"])
def test_success_needs_a_trained_model_finite_numbers_and_a_table(tmp_path, damage):
    store = store_for(tmp_path)
    train_dir = store.stage_dir("train")
    train_dir.mkdir(parents=True)
    test = {"nan metric": {"ndcg@10": float("nan")}, "no metrics": {}}.get(damage, {"ndcg@10": 0.25})
    result = {"model": "M", "role": "reproduced", "dataset": "d", "split_id": "s", "seed": 0, "test": test}
    if damage != "no result":
        (train_dir / "result.json").write_text(json.dumps(result))
    if damage != "no table":
        (store.results / "report.md").write_text("| model | ndcg@10 |\n|---|---|\n| M | 0.25 |\n")
    with pytest.raises(StageError, match="compare: "):
        pipeline.check_finished(store)
    if damage == "no table":
        (store.results / "report.md").write_text("| model | ndcg@10 |\n|---|---|\n| M | 0.25 |\n")
        pipeline.check_finished(store)  # the same folder with its table is a finished run
