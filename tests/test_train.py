"""Training: the runtime entry point end to end and the train stage's subprocess contract."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from paper_autotrain.data.split import load_split
from paper_autotrain.errors import StageError
from paper_autotrain.schemas import RunResult, SplitInfo
from paper_autotrain.stages import render
from paper_autotrain.stages import train as train_stage
from paper_autotrain.worker.train import train as train_in_process
from tests.model_fixtures import reference_spec


def rendered(model_name: str, folder: Path, **hyperparameters: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = reference_spec(model_name, batch_size=128, embedding_size=16, **hyperparameters)
    for name, text in render.run(spec, {}).items():
        (folder / name).write_text(text)
    return folder


def assert_complete_run(result: RunResult, out: Path, epochs: int) -> None:
    assert result.status == "ok" and result.role == "reproduced"
    assert result.dataset == "synthetic" and result.split_id == "abc123"
    for metrics in (result.test, result.valid):
        assert {"ndcg@10", "recall@10", "hit@20"} <= set(metrics)
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
    assert result.epochs_run == epochs and 1 <= (result.best_epoch or 0) <= epochs
    assert result.n_params and result.train_time_s is not None and result.eval_time_s is not None
    assert list((out / "checkpoints").glob("*.ckpt"))
    with open(out / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == list(range(1, epochs + 1))
    with np.load(out / "per_user_test.npz") as per_user:
        assert len(per_user["users"]) == len(per_user["ndcg_at_10"]) > 0
    assert RunResult.model_validate_json((out / "result.json").read_text()) == result


@pytest.mark.parametrize("model_name", ["MF-BPR", "LightGCN"])
def test_train_stage_two_epochs(model_name: str, split_info: SplitInfo, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train_stage.run(rendered(model_name, tmp_path / "model"), split_info,
                             {"max_epochs": 2, "seed": 3, "timeout_s": 300}, out)
    assert_complete_run(result, out, epochs=2)
    assert result.model == model_name and result.seed == 3
    assert result.config["trainer"]["max_epochs"] == 2


def test_set_overrides_reach_the_model(split_info: SplitInfo, tmp_path: Path) -> None:
    folder = rendered("MF-BPR", tmp_path / "model")
    split = load_split(split_info.path)
    result = train_in_process(folder, Path(split_info.path), tmp_path / "run",
                              ["trainer.max_epochs=1", "model.embedding_size=4", "trainer.csv_logger=false"])
    assert result.n_params == 4 * (split.n_users + split.n_items)
    assert result.config["model"]["embedding_size"] == 4


def test_neumf_trains_in_process(split_info: SplitInfo, tmp_path: Path) -> None:
    folder = rendered("NeuMF", tmp_path / "model", mlp_layers=[16, 8])
    out = tmp_path / "run"
    result = train_in_process(folder, Path(split_info.path), out, ["trainer.max_epochs=2"])
    assert_complete_run(result, out, epochs=2)


def test_broken_model_fails_with_one_line(split_info: SplitInfo, tmp_path: Path) -> None:
    folder = rendered("MF-BPR", tmp_path / "model")
    source = (folder / "model.py").read_text()
    (folder / "model.py").write_text(source + '\nraise RuntimeError("model file is broken on purpose")\n')
    with pytest.raises(StageError, match="broken on purpose") as info:
        train_stage.run(folder, split_info, {"max_epochs": 1}, tmp_path / "run")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("memory_mb, reported", [
    (4096, "train: killed: memory limit of 4096 MB reached (SIGSEGV; "),
    (0, "train: exit -11: SIGSEGV; "),
], ids=["under-a-memory-cap", "without-one"])
def test_a_crashed_training_run_is_out_of_memory_only_under_a_cap(memory_mb: int, reported: str,
                                                                  split_info: SplitInfo, tmp_path: Path) -> None:
    """Training that runs out of address space may die of SIGSEGV with nothing on stderr: under the cap that
    is reported as out of memory, with the setting to change; without one it is a plain crash."""
    folder = rendered("MF-BPR", tmp_path / "model")
    source = (folder / "model.py").read_text()
    (folder / "model.py").write_text(source + "\nimport os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    with pytest.raises(StageError) as info:
        train_stage.run(folder, split_info, {"max_epochs": 1, "memory_mb": memory_mb}, tmp_path / "run")
    message = str(info.value)
    assert message.startswith(reported) and "\n" not in message
    assert message.endswith(train_stage.MEMORY_HINT) == bool(memory_mb)


def test_timeout_is_reported(split_info: SplitInfo, tmp_path: Path) -> None:
    with pytest.raises(StageError, match="timed out"):
        train_stage.run(rendered("MF-BPR", tmp_path / "model"), split_info,
                        {"max_epochs": 50, "timeout_s": 0.5}, tmp_path / "run")


def test_training_command_passes_trainer_settings(split_info: SplitInfo, tmp_path: Path) -> None:
    command = train_stage.training_command(tmp_path, split_info, {"max_epochs": 5, "accelerator": "gpu",
                                                                  "devices": 2, "timeout_s": 9}, tmp_path)
    assert command[1:3] == ["-m", "paper_autotrain.worker.train"]
    sets = [command[i + 1] for i, part in enumerate(command) if part == "--set"]
    assert sets == ["trainer.max_epochs=5", "trainer.accelerator=gpu", "trainer.devices=2"]
    assert train_stage.memory_limiter({"accelerator": "gpu"}) is None
    assert train_stage.memory_limiter({"memory_mb": 0}) is None
    assert train_stage.memory_limiter({}) is not None


def test_run_seeds_gives_each_seed_its_own_run_and_folder(split_info: SplitInfo, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_run(model_dir, split, cfg, out_dir):
        calls.append((cfg["seed"], cfg["max_epochs"], out_dir))
        return RunResult(model="M", role="reproduced", dataset="d", split_id="s", seed=cfg["seed"], test={})

    monkeypatch.setattr(train_stage, "run", fake_run)
    results = train_stage.run_seeds(tmp_path, split_info, {"max_epochs": 3, "seed": 0}, [2, 0, 7], tmp_path / "t")
    assert [r.seed for r in results] == [2, 0, 7]
    assert calls == [(seed, 3, tmp_path / "t" / f"seed{seed}") for seed in (2, 0, 7)]


@pytest.mark.slow  # two sandboxed training subprocesses: ~15 s each on a busy 2-core machine
def test_each_seed_trains_in_its_own_folder(split_info: SplitInfo, tmp_path: Path) -> None:
    out = tmp_path / "run"
    results = train_stage.run_seeds(rendered("MF-BPR", tmp_path / "model"), split_info,
                                    {"max_epochs": 1, "seed": 0, "timeout_s": 300}, [1, 4], out)
    assert [r.seed for r in results] == [1, 4]
    assert sorted(p.name for p in out.iterdir()) == ["seed1", "seed4"]
    for result in results:
        assert_complete_run(result, train_stage.seed_dir(out, result.seed), epochs=1)
        assert result.config["trainer"]["seed"] == result.seed
    assert results[0].test != results[1].test  # another seed, another initialisation and negative sampling


def test_no_seeds_is_a_stage_error(split_info: SplitInfo, tmp_path: Path) -> None:
    with pytest.raises(StageError, match="no seeds"):
        train_stage.run_seeds(tmp_path, split_info, {}, [], tmp_path / "run")
