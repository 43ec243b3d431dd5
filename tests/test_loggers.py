"""logger=csv|tensorboard|mlflow: the config group, the settings check (mlflow is optional), and our model's
Lightning logger writing its local files into the training run's folder, in process and in the sandbox."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from paper_autotrain.commands.config import CONF_DIR
from paper_autotrain.errors import UserError
from paper_autotrain.records.run_record import recorded_config
from paper_autotrain.run_settings import check_run_settings
from paper_autotrain.stages import render
from paper_autotrain.stages import train as train_stage
from paper_autotrain.worker import loggers
from paper_autotrain.worker.train import train as train_in_process
from tests.model_fixtures import reference_spec


def composed(*overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="config", overrides=["paper=x.pdf", *overrides]),
                                      resolve=True)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    for name, text in render.run(reference_spec("MF-BPR", batch_size=128, embedding_size=8), {}).items():
        (folder / name).write_text(text)
    return folder


# --- the config group -----------------------------------------------------------------------------------------


def test_the_logger_group_defaults_to_csv_and_offers_tensorboard_and_mlflow():
    assert composed()["logger"] == {"name": "csv"}
    options = sorted(p.stem for p in (Path(CONF_DIR) / "logger").glob("*.yaml"))
    assert options == sorted(loggers.LOGGERS)
    for option in options:
        cfg = composed(f"logger={option}")
        assert cfg["logger"]["name"] == option
        assert recorded_config(cfg)["logger"]["name"] == option  # the ledger keeps it with the run's config
    assert composed("logger=mlflow", "logger.experiment_name=mine")["logger"]["experiment_name"] == "mine"


def test_the_choice_reaches_the_training_command(tmp_path, split_info):
    trainer = {**composed("logger=tensorboard")["trainer"], "logger": {"name": "tensorboard"}}
    command = train_stage.training_command(tmp_path, split_info, trainer, tmp_path / "out")
    assert "logger.name=tensorboard" in {command[i + 1] for i, arg in enumerate(command) if arg == "--set"}


def test_mlflow_missing_is_one_actionable_line_before_any_work(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else
                        real(name, *a))
    with pytest.raises(UserError, match=r"^logger=mlflow needs the mlflow package.*pip install mlflow") as info:
        check_run_settings(composed("logger=mlflow"))
    assert "\n" not in str(info.value)
    check_run_settings(composed("logger=tensorboard"))  # installed (RecBole needs it too): accepted
    check_run_settings(composed())


def test_an_unknown_logger_is_refused_by_name():
    with pytest.raises(UserError, match="logger=wandb: not a logger; choose one of csv, tensorboard, mlflow"):
        check_run_settings({**composed(), "logger": {"name": "wandb"}})


# --- what the loggers write ------------------------------------------------------------------------------------


def test_csv_writes_metrics_csv_and_the_choice_is_in_the_result(model_dir, split_info, tmp_path):
    out = tmp_path / "csv"
    result = train_in_process(model_dir, Path(split_info.path), out, ["trainer.max_epochs=2"])
    metrics = (out / "logs" / "metrics.csv").read_text().splitlines()
    assert "epoch" in metrics[0] and len(metrics) > 2
    assert result.config["logger"] == {"name": "csv"}


def test_tensorboard_writes_event_files(model_dir, split_info, tmp_path):
    out = tmp_path / "tb"
    result = train_in_process(model_dir, Path(split_info.path), out,
                              ["trainer.max_epochs=2", "logger.name=tensorboard"])
    assert list((out / "logs").glob("events.out.tfevents.*"))
    assert not (out / "logs" / "metrics.csv").exists()
    assert result.config["logger"]["name"] == "tensorboard"


def test_tensorboard_in_the_sandboxed_train_stage(model_dir, split_info, tmp_path):
    """The stage's subprocess (no network, writes only its folder) logs to the seed folder's logs/."""
    out = tmp_path / "stage"
    result = train_stage.run(model_dir, split_info, {"max_epochs": 1, "timeout_s": 300,
                                                     "logger": {"name": "tensorboard"}}, out)
    events = list((out / "logs").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert result.config["logger"]["name"] == "tensorboard"


def test_mlflow_runs_are_recorded_from_metrics_csv_outside_the_sandbox(model_dir, split_info, tmp_path):
    """Needs mlflow (the `mlflow` extra): skipped without it. One run per seed in a local SQLite store beside the
    seeds, with the per-epoch validation metrics, the test metrics, the settings as params."""
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    cfg = {"max_epochs": 2, "timeout_s": 300, "logger": {"name": "mlflow", "experiment_name": "t"}}
    results = train_stage.run_seeds(model_dir, split_info, cfg, [0, 1], tmp_path)
    assert (tmp_path / "seed0" / "logs" / "metrics.csv").is_file()  # the sandboxed worker logs as csv
    train_stage.record_in_mlflow(cfg, tmp_path, results)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    assert sorted(run.info.run_name for run in runs) == ["MF-BPR seed0", "MF-BPR seed1"]
    for run in runs:
        assert "test/ndcg_at_10" in run.data.metrics and run.data.params["trainer.max_epochs"] == "2"
        history = client.get_metric_history(run.info.run_id, "valid/ndcg_at_10")
        assert sorted(m.step for m in history) == [1, 2]
