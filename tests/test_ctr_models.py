"""Context (CTR) models rendered from a spec: ruff-clean code, validate's gates, training, the RecBole reference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from paper_autotrain.data.ctr import load_ctr
from paper_autotrain.errors import StageError
from paper_autotrain.stages import baselines, render, validate
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.worker.train import train as train_rows
from tests.model_fixtures import CONTEXT_MODELS, reference_spec


def rendered(model_name: str, folder: Path, **hyperparameters) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(reference_spec(model_name, batch_size=64, **hyperparameters), {}).items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("model_name", CONTEXT_MODELS)
def test_rendered_context_model_is_ruff_clean_and_uses_the_ctr_base(model_name, tmp_path):
    folder = rendered(model_name, tmp_path)
    source = (folder / "model.py").read_text()
    assert f"class {render.class_name(model_name)}(CTRModule):" in source  # xDeepFM -> XDeepFM
    assert 'regime: "context"' in (folder / "config.yaml").read_text()
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--line-length", "120",
                           str(folder / "model.py")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


def test_blocks_compose_as_their_models_do(tmp_path):
    deepfm = (rendered("DeepFM", tmp_path / "deepfm") / "model.py").read_text()
    assert "fields.sum(dim=1).pow(2) - fields.pow(2).sum(dim=1)" in deepfm  # FM second order
    assert "self.deep_output(self.deep(fields.flatten(1)))" in deepfm and "torch.stack(parts).sum(dim=0)" in deepfm
    dcn = (rendered("DCN", tmp_path / "dcn") / "model.py").read_text()
    assert "self.head(torch.cat(parts, dim=1))" in dcn and "def regularization" in dcn
    assert "deep_output" not in dcn  # DCN's tower feeds the shared head
    lr = (rendered("LR", tmp_path / "lr") / "model.py").read_text()
    assert "FieldEmbedding(split, 1)" in lr and "field_embedding" not in lr


def test_a_context_spec_with_a_topk_task_or_a_missing_head_is_refused():
    spec = reference_spec("FM").model_copy(update={"task": "topk"})
    with pytest.raises(StageError, match="task 'topk' has no context template"):
        render.run(spec, {})
    headless = reference_spec("FM")
    headless = headless.model_copy(update={"architecture": headless.architecture[:-1]})
    with pytest.raises(StageError, match="scoring block"):
        render.run(headless, {})


def test_dcn_passes_validates_gates_on_the_ctr_rows(rows, tmp_path):
    report = validate.run(rendered("DCN", tmp_path), rows, {"overfit_steps": 30})
    assert report["ok"]
    assert [gate["name"] for gate in report["gates"]][-4:] == ["build", "shapes", "overfit", "leakage"]


def test_deepfm_trains_and_valid_auc_rises(rows, tmp_path):
    """In process (the train stage's subprocess runs this same function), so the fast suite stays fast."""
    folder = rendered("DeepFM", tmp_path / "model")
    result = train_rows(folder, Path(rows.path), tmp_path / "out", ["trainer.max_epochs=8", "trainer.patience=8",
                                                                    "trainer.csv_logger=false"])
    assert set(result.test) == {"auc", "logloss"}
    history = (tmp_path / "out" / "history.csv").read_text().splitlines()
    assert history[0].split(",")[2] == "valid_auc"
    aucs = [float(line.split(",")[2]) for line in history[1:]]
    assert max(aucs) > aucs[0] + 0.02, aucs
    assert result.valid["auc"] == pytest.approx(max(aucs), abs=1e-6)  # the best checkpoint was restored
    assert result.test["auc"] > 0.7
    assert result.best_epoch == aucs.index(max(aucs)) + 1
    assert len(load_ctr(rows.path).labels["test"]) == rows.n_test


@pytest.mark.parametrize(("model_name", "recbole"), [("LR", "LR"), ("FM", "FM"), ("WideDeep", "WideDeep"),
                                                      ("DeepFM", "DeepFM"), ("DCN", "DCN")])
def test_reference_names_recboles_model_with_the_specs_values(model_name, recbole):
    found = reference_with_notes(reference_spec(model_name, learning_rate=0.005, batch_size=512, l2_reg=1e-5))
    assert found is not None
    model, overrides, notes = found
    assert model == recbole
    assert overrides["learning_rate"] == 0.005 and overrides["train_batch_size"] == 512
    assert overrides["weight_decay"] == 1e-5 and "train_neg_sample_args" not in overrides
    if model != "LR":
        assert overrides["embedding_size"] == 8
    if model in ("WideDeep", "DeepFM", "DCN"):
        assert overrides["mlp_hidden_size"] == [32, 16] and overrides["dropout_prob"] == 0.1
    if model == "DCN":
        assert overrides["cross_layer_num"] == 2 and overrides["reg_weight"] == 0.1
    assert notes == []


def test_reference_notes_a_squared_loss_and_the_recbole_config_is_the_ctr_protocol():
    spec = reference_spec("FM").model_copy(update={"loss": "mse"})
    model, overrides, notes = reference_with_notes(spec)
    assert model == "FM" and any("loss='mse'" in note for note in notes)
    config = baselines.recbole_config(overrides, {"regime": "context", "valid_metric": "NDCG@10"})
    assert config["metrics"] == ["AUC", "LogLoss"] and config["valid_metric"] == "AUC"
    assert config["eval_args"]["mode"] == "labeled" and config["eval_args"]["group_by"] is None
    assert config["LABEL_FIELD"] == "label" and config["train_neg_sample_args"] is None
    assert config["embedding_size"] == 8


@pytest.mark.slow
def test_recbole_deepfm_reads_the_same_rows_and_our_auc_equals_recboles(rows, tmp_path):
    """RecBole trains on the benchmark files; our evaluator's AUC of its predictions equals its own AUC."""
    # 1,200 training rows: enough updates to learn the fixture's group-by-genre pattern
    _, overrides, _ = reference_with_notes(reference_spec("DeepFM", batch_size=64, learning_rate=0.01))
    config = baselines.recbole_config(overrides, {"regime": "context", "max_epochs": 8, "seed": 0})
    result = baselines.run_model("DeepFM", config, rows, {"regime": "context", "timeout_s": 600})
    assert result.status == "ok", result.error
    assert result.config["fields"] == ["user_id", "item_id", "group", "age", "release_year", "class"]
    assert result.test["auc"] == pytest.approx(result.config["recbole_test"]["auc"], abs=1e-6)
    assert result.test["logloss"] == pytest.approx(result.config["recbole_test"]["logloss"], abs=1e-5)
    assert result.test["auc"] > 0.6
    json.dumps(result.model_dump(mode="json"))
