"""The GitHub workflows pass actionlint and use the project's real commands and paths; papers run in parallel
through Hydra's joblib launcher."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from paper_autotrain.commands.config import CONF_DIR
from paper_autotrain.records.ledger import LEDGER_FILE

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
EXAMPLE = REPO / "examples" / "papers" / "tinyprop.pdf"


def actionlint_binary() -> str:
    """actionlint from the dev extras (beside this interpreter) or PATH; its absence is a failure, not a skip."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed: make install (it comes with the dev extras)")
    return found


def actionlint(*files: Path, cwd: Path = REPO) -> tuple[int, list[dict[str, Any]]]:
    """(exit status, the problems actionlint reports as JSON) for the given workflow files."""
    done = subprocess.run([actionlint_binary(), "-no-color", "-format", "{{json .}}", *map(str, files)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert not done.stderr.strip(), done.stderr  # a crash or a bad flag, not a finding
    return done.returncode, json.loads(done.stdout or "[]")


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    [job] = data["jobs"].values()
    return job["steps"]


def step_using(data: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps_of(data) if str(step.get("uses", "")).startswith(action + "@")]


def test_every_workflow_passes_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"nightly.yml", "pr.yml"}
    status, problems = actionlint(*files)
    assert problems == [] and status == 0, "\n".join(f"{p['filepath']}:{p['line']}: {p['message']}" for p in problems)


def test_a_broken_workflow_is_reported(tmp_path):
    """The linter test above can fail: a typo in an expression and a step without an action are reported."""
    broken = (WORKFLOWS / "nightly.yml").read_text()
    broken = broken.replace("inputs.papers ||", "inputs.paper ||").replace("- uses: actions/checkout@v6",
                                                                          "- with: {fetch-depth: 1}")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    path = tmp_path / ".github" / "workflows" / "nightly.yml"
    path.write_text(broken)
    status, problems = actionlint(path, cwd=tmp_path)
    assert status == 1
    messages = " | ".join(p["message"] for p in problems)
    assert 'property "paper" is not defined' in messages
    assert any(p["kind"] == "syntax-check" and "uses" in p["message"] for p in problems), messages


def test_pr_workflow_runs_make_install_and_make_test():
    data = workflow("pr.yml")
    assert "pull_request" in data["on"]
    runs = [step.get("run") for step in steps_of(data)]
    assert "make install" in runs and "make test" in runs
    assert runs.index("make install") < runs.index("make test")
    assert step_using(data, "actions/setup-python")[0]["with"]["python-version"] == "3.11"


def covers(cached: set[str], folder: str) -> bool:
    """Whether one of the cached paths is `folder` or a folder above it."""
    target = Path(folder).expanduser()
    return any(Path(path).expanduser() in (target, *target.parents) for path in cached)


def test_nightly_schedules_caches_runs_the_list_and_uploads_results(monkeypatch):
    monkeypatch.delenv("PAPER_AUTOTRAIN_CACHE", raising=False)  # the workflow caches the default folder
    data = workflow("nightly.yml")
    assert data["on"]["schedule"][0]["cron"]
    runner = data["on"]["workflow_dispatch"]["inputs"]["runner"]
    assert runner["type"] == "choice" and set(runner["options"]) == {"ubuntu-latest", "gpu"}
    [job] = data["jobs"].values()
    assert "inputs.runner == 'gpu'" in job["runs-on"] and "self-hosted" in job["runs-on"]
    assert "'gpu'" in job["env"]["TRAINER"] and "'cpu'" in job["env"]["TRAINER"]

    cached = {str(step["with"]["path"]) for step in step_using(data, "actions/cache")}
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="config", overrides=["paper=x.pdf"]), resolve=True)
    assert covers(cached, "~/.cache/pip") and covers(cached, cfg["fetch"]["cache_dir"])
    assert cfg["paths"]["root"] == "." and covers(cached, cfg["paths"]["datasets"])
    ledger = f"{cfg['paths']['results']}/{LEDGER_FILE}"  # the regression check compares with earlier nights
    assert any(path.startswith(ledger) for path in cached), cached

    runs = [str(step.get("run", "")) for step in steps_of(data)]
    assert "make install" in runs
    [papers] = [r for r in runs if "-m paper_autotrain" in r and "papers=" in r]
    assert '"papers=${PAPER_LIST}"' in papers and '"trainer=${TRAINER}"' in papers
    [board] = [step for step in steps_of(data) if "leaderboard --fail-on-regression" in str(step.get("run"))]
    assert board["if"] == "${{ !cancelled() }}"  # the leaderboard is written even when a paper failed
    [upload] = step_using(data, "actions/upload-artifact")
    assert upload["if"] == "${{ always() }}" and "results/" in upload["with"]["path"].split()


def test_a_sweep_over_one_paper_keeps_each_jobs_folders_and_config(tmp_path):
    from paper_autotrain.records.ledger import Ledger

    root, sweep = tmp_path / "root", tmp_path / "multirun"
    done = subprocess.run(
        [sys.executable, "-m", "paper_autotrain", str(EXAMPLE), "--multirun", "+hparams.learning_rate=0.001,0.01",
         "until=extract", f"paths.root={root}", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = sorted((root / "generated" / "tinyprop" / "jobs").iterdir())
    assert [p.name.rsplit("-", 1)[1] for p in jobs] == ["job0", "job1"]
    rates = [yaml.safe_load((p / "spec.yaml").read_text())["hyperparameters"]["learning_rate"] for p in jobs]
    assert [(r["value"], r["source"]) for r in rates] == [(0.001, "user"), (0.01, "user")]  # neither overwrote
    assert not (root / "generated" / "tinyprop" / "spec.yaml").exists()
    rows = Ledger.under(root / "results").history("tinyprop")
    assert sorted(r.job for r in rows) == [p.name for p in jobs]
    assert sorted(r.config["hparams"]["learning_rate"] for r in rows) == [0.001, 0.01]
    assert {r.status for r in rows} == {"ok"}


def test_two_papers_run_in_parallel_through_the_joblib_launcher(tmp_path):
    for name in ("tiny_a.pdf", "tiny_b.pdf"):
        shutil.copy(EXAMPLE, tmp_path / name)
    root, sweep = tmp_path / "root", tmp_path / "multirun"
    done = subprocess.run(
        [sys.executable, "-m", "paper_autotrain", "--multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
         "paper=tiny_a.pdf,tiny_b.pdf", "until=extract", f"paths.root={root}", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    for key in ("tiny_a", "tiny_b"):  # each job in its own folder: <key>/jobs/<sweep>-job<N>
        (spec_path,) = (root / "generated" / key / "jobs").glob("*-job[01]/spec.yaml")
        spec = yaml.safe_load(spec_path.read_text())
        assert spec["paper"]["key"] == key and spec["family"] == "graph"
    multirun = yaml.safe_load((sweep / "multirun.yaml").read_text())
    assert multirun["hydra"]["launcher"]["_target_"].endswith("JoblibLauncher")
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]  # one job per paper
