"""hparams_search=optuna: a sweep over the hyperparameters the paper leaves open, each trial returning our model's
validation main metric, and `ledger search` comparing each model at its best trial."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from paper_autotrain.commands.config import CONF_DIR
from paper_autotrain.commands.ledger import main as ledger_main
from paper_autotrain.commands.ledger import search_text
from paper_autotrain.errors import UserError
from paper_autotrain.records.ledger import Ledger
from paper_autotrain.schemas import HyperParameter
from paper_autotrain.stages.extract.defaults import apply_overrides
from tests.model_fixtures import reference_spec
from tests.test_ledger import add_run

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "papers" / "tinyprop.pdf"


def test_the_optuna_config_sweeps_open_hyperparameters_and_returns_the_valid_metric():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=["paper=x.pdf", "hparams_search=optuna"],
                      return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.sampler.seed == 0 and sweeper.n_trials >= 2
    assert "+hparams.learning_rate" in sweeper.params and str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.search.open_only is True and cfg.search.objective == "valid"
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        plain = compose(config_name="config", overrides=["paper=x.pdf"])
    assert "search" not in plain  # a plain run searches nothing and uses every override as given


def test_open_only_keeps_what_the_paper_states_and_sets_what_it_leaves_open():
    spec = reference_spec("LightGCN")
    stated = {**spec.hyperparameters, "learning_rate": HyperParameter(value=0.005, source="paper", evidence="q")}
    spec = spec.model_copy(update={"hyperparameters": stated})
    spec.hyperparameters.pop("l2_reg", None)
    searched = apply_overrides(spec, {"learning_rate": 0.01, "l2_reg": 0.001}, keep_stated=True)
    assert searched.hyperparameters["learning_rate"].value == 0.005  # the paper's, not the trial's
    assert (searched.hyperparameters["l2_reg"].value, searched.hyperparameters["l2_reg"].source) == (0.001, "user")
    assert apply_overrides(spec, {"learning_rate": 0.01}).hyperparameters["learning_rate"].value == 0.01


def write_job(results: Path, job: str, ours: list[tuple[float, float]], reference: tuple[float, float],
              baseline: tuple[float, float]) -> None:
    folder = results / "tinyprop" / "jobs" / job
    (folder / "train").mkdir(parents=True)
    (folder / "baselines").mkdir(parents=True)
    seeds = [{"model": "TinyProp", "seed": s, "valid": {"ndcg@10": v}, "test": {"ndcg@10": t}}
             for s, (v, t) in enumerate(ours)]
    (folder / "train" / "results.json").write_text(json.dumps(seeds))
    others = [{"model": "LightGCN", "valid": {"ndcg@10": reference[0]}, "test": {"ndcg@10": reference[1]},
               "config": {"reference": True}},
              {"model": "Pop", "valid": {"ndcg@10": baseline[0]}, "test": {"ndcg@10": baseline[1]},
               "config": {"reference": False}}]
    (folder / "baselines" / "results.json").write_text(json.dumps(others))


def test_search_shows_each_model_at_its_best_trial_by_validation(tmp_path, capsys):
    results = tmp_path / "results"
    ledger = Ledger.under(results)
    trials = {  # job: (ours per seed, the reference, Pop): valid and test
        "s-job0": ([(0.20, 0.30), (0.22, 0.28)], (0.25, 0.24), (0.10, 0.10)),
        "s-job1": ([(0.26, 0.21), (0.24, 0.23)], (0.23, 0.27), (0.10, 0.10)),
        "s-job2": ([(0.50, 0.50)], (0.60, 0.60), (0.10, 0.10)),  # failed: not a trial
    }
    for minute, (job, (ours, ref, pop)) in enumerate(trials.items()):
        write_job(results, job, ours, ref, pop)
        add_run(ledger, f"run{minute}xxxxx", "tinyprop", minute, job=job, main_metric="ndcg@10",
                status="failed" if job == "s-job2" else "ok",
                config={"hparams": {"learning_rate": [0.001, 0.01, 0.1][minute]}, "seed": 0})
    text = search_text(ledger, "tinyprop")
    lines = {line.split()[0]: line.split() for line in text.splitlines()[1:] if line.strip("- ")}
    assert text.startswith("tinyprop: 2 finished trial(s) of 3")
    assert lines["ours"][1:6] == ["ours", "2", "s-job1", "0.2500", "0.2200"]  # best mean valid, its own test
    assert lines["LightGCN"][1:6] == ["reference", "2", "s-job0", "0.2500", "0.2400"]
    assert "hparams.learning_rate=0.001" in " ".join(lines["LightGCN"])
    assert list(lines) == ["model", "ours", "LightGCN", "Pop"]  # ours, the reference, then the baselines
    assert ledger_main(["search", "tinyprop", f"paths.results={results}", "--sweep", "s-"]) == 0
    assert "s-job1" in capsys.readouterr().out
    with pytest.raises(UserError, match="no sweep jobs of 'other'"):
        search_text(ledger, "other")


@pytest.mark.slow
def test_an_optuna_sweep_runs_trials_in_their_own_folders_and_maximises_the_valid_metric(tmp_path):
    root, sweep = tmp_path / "root", tmp_path / "sweep"
    done = subprocess.run(
        [sys.executable, "-m", "paper_autotrain", str(EXAMPLE), "hparams_search=optuna", "hydra.sweeper.n_trials=2",
         "search.open_only=false", "until=compare", "baselines=[Pop]", "trainer.max_epochs=1",
         f"paths.root={root}", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = sorted((root / "results" / "tinyprop" / "jobs").iterdir())
    assert len(jobs) == 2
    valid = [sum(r["valid"]["ndcg@10"] for r in runs) / len(runs)
             for runs in (json.loads((job / "train" / "results.json").read_text()) for job in jobs)]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(valid))  # the objective is our valid metric, not a test one
    rates = [yaml.safe_load((root / "generated" / "tinyprop" / "jobs" / job.name / "spec.yaml").read_text())
             ["hyperparameters"]["learning_rate"] for job in jobs]
    assert {r["source"] for r in rates} == {"user"} and rates[0]["value"] != rates[1]["value"]
    text = search_text(Ledger.under(root / "results"), "tinyprop")
    assert "ours" in text and "LightGCN" in text and "reference" in text
