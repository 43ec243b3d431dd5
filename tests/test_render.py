"""Render stage: deterministic, ruff-clean output; refuses what no template covers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from paper_autotrain.errors import StageError
from paper_autotrain.schemas import MethodSpec
from paper_autotrain.stages import render
from tests.model_fixtures import reference_spec

REPO = Path(__file__).resolve().parents[1]
MODELS = ("MF-BPR", "LightGCN", "NeuMF")


def with_changes(spec: MethodSpec, **changes: object) -> MethodSpec:
    return MethodSpec.model_validate({**spec.model_dump(), **changes})


def ruff_check(path: Path) -> subprocess.CompletedProcess:
    ruff = REPO / ".venv" / "bin" / "ruff"
    command = [str(ruff)] if ruff.exists() else [sys.executable, "-m", "ruff"]
    arguments = ["check", "--no-cache", "--config", str(REPO / "pyproject.toml"), str(path)]
    return subprocess.run([*command, *arguments], capture_output=True, text=True, cwd=REPO, check=False)


@pytest.mark.parametrize("model_name", MODELS)
def test_render_is_deterministic_and_complete(model_name: str) -> None:
    spec = reference_spec(model_name)
    first, second = render.run(spec, {}), render.run(spec, {})
    assert first == second
    assert set(first) == {"model.py", "config.yaml", "README.md"}


@pytest.mark.parametrize("model_name", MODELS)
def test_rendered_model_parses_and_is_ruff_clean(model_name: str, tmp_path: Path) -> None:
    files = render.run(reference_spec(model_name), {})
    ast.parse(files["model.py"])
    path = tmp_path / "model.py"
    path.write_text(files["model.py"])
    done = ruff_check(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_config_carries_hyperparameters_and_round_trips() -> None:
    spec = reference_spec("LightGCN", l2_reg=1e-5, learning_rate=0.002, epochs=7)
    config = yaml.safe_load(render.run(spec, {})["config.yaml"])
    assert config["model"] == {"name": "LightGCN", "class_name": "LightGCN", "loss": "bpr",
                               "embedding_size": 64, "n_layers": 3}
    assert config["optim"] == {"optimizer": "adam", "learning_rate": 0.002, "batch_size": 2048,
                               "l2_reg": 1e-5, "negative_samples": 1}
    assert config["trainer"]["max_epochs"] == 7 and config["trainer"]["patience"] == 10
    assert config["trainer"]["accelerator"] == "cpu" and config["trainer"]["seed"] == 0


def test_model_reads_values_from_config_not_literals() -> None:
    model_py = render.run(reference_spec("NeuMF"), {})["model.py"]
    code = model_py.split('"""', 2)[2]  # skip the module docstring, which cites the values
    assert "mlp_layers: list[int]" in code and "[128, 64]" not in code and "0.001" not in code


def test_docstring_cites_paper_and_evidence_safely() -> None:
    spec = reference_spec("LightGCN")
    hp = spec.hyperparameters | {
        "embedding_size": {"value": 64, "source": "paper",
                           "evidence": 'p6: the embedding size is fixed to 64 """ with a \\ backslash'},
    }
    spec = with_changes(spec, paper={"key": "2002.02126", "title": "LightGCN: Simplifying and Powering",
                                     "arxiv_id": "2002.02126"}, hyperparameters=hp)
    model_py = render.run(spec, {})["model.py"]
    docstring = ast.get_docstring(ast.parse(model_py)) or ""
    assert "LightGCN: Simplifying and Powering" in docstring and "2002.02126" in docstring
    assert "the embedding size is fixed to 64" in docstring and "\\ backslash" in docstring


def test_unknown_block_is_refused_by_name() -> None:
    spec = with_changes(reference_spec("MF-BPR"),
                        architecture=[{"block": "embedding", "dim": 8}, {"block": "hyper_attention"},
                                      {"block": "dot_score"}])
    with pytest.raises(StageError, match="hyper_attention"):
        render.run(spec, {})


def test_custom_part_is_refused_by_name() -> None:
    spec = with_changes(reference_spec("LightGCN"),
                        custom=[{"name": "layer_attention", "description": "weights per layer"}])
    with pytest.raises(StageError, match="layer_attention"):
        render.run(spec, {})


@pytest.mark.parametrize("architecture, fragment", [
    ([{"block": "embedding"}], "scoring block"),
    ([{"block": "light_propagation"}, {"block": "embedding"}, {"block": "dot_score"}], "needs embedding"),
    ([{"block": "embedding"}, {"block": "light_propagation", "combine": "concat"}, {"block": "dot_score"}],
     "combine"),
    ([{"block": "gmf"}, {"block": "neumf_fusion"}], "needs mlp_tower"),
])
def test_bad_compositions_are_refused(architecture: list, fragment: str) -> None:
    spec = with_changes(reference_spec("MF-BPR"), architecture=architecture)
    with pytest.raises(StageError, match=fragment):
        render.run(spec, {})


def test_unsupported_loss_is_refused() -> None:
    with pytest.raises(StageError, match="loss 'ce'"):
        render.run(with_changes(reference_spec("MF-BPR"), loss="ce"), {})


def test_templates_dir_is_configurable(tmp_path: Path) -> None:
    spec = reference_spec("MF-BPR")
    assert render.run(spec, {"templates_dir": str(REPO / "paper_autotrain" / "templates")}) == render.run(spec, {})
    with pytest.raises(StageError, match="no templates"):
        render.run(spec, {"templates_dir": str(tmp_path)})


def test_unused_block_parameters_are_reported() -> None:
    spec = with_changes(reference_spec("MF-BPR"),
                        architecture=[{"block": "embedding", "dim": 32, "init": "normal"},
                                      {"block": "dot_score"}])
    files = render.run(spec, {})
    assert "init='normal' is not used" in files["model.py"] and "init='normal'" in files["README.md"]


def test_yaml_scalar_round_trips_small_floats() -> None:
    for value in (1e-05, 0.001, 2.5e-7, 3.0, 64, "adam", [128, 64]):
        assert yaml.safe_load(render.yaml_scalar(value)) == value


def test_cfg_may_set_trainer_and_data_values_only_by_known_keys() -> None:
    cfg = {"trainer": {"accelerator": "gpu", "strategy": "ddp"}, "data": {"ks": [5, 10], "name": "ml-100k"}}
    config = yaml.safe_load(render.run(reference_spec("MF-BPR"), cfg)["config.yaml"])
    assert config["trainer"]["accelerator"] == "gpu" and "strategy" not in config["trainer"]
    assert config["data"] == {"regime": "topk", "eval_batch_size": 1024, "ks": [5, 10]}


def test_a_training_batch_state_is_rendered_only_where_one_block_restricts_it_and_nothing_reads_the_whole() -> None:
    """batch_state's body: the encodes before the one restricting block, then its batch_encode; none (the base class's
    whole encode) when no block or two restrict, when a later block transforms the state, or when a loss part may
    read the whole state."""
    embedding, pooling = ("state = tables", ""), ("state = pool(*state)", "state = pool(*state, users_once)")
    assert render.batch_encode_parts([embedding, pooling, ("", "")], has_loss_parts=False) == [
        "state = tables", "state = pool(*state, users_once)"]
    assert render.batch_encode_parts([embedding, ("", "")], has_loss_parts=False) == []
    assert render.batch_encode_parts([embedding, pooling, pooling], has_loss_parts=False) == []
    assert render.batch_encode_parts([embedding, pooling, ("state = custom(*state)", "")], has_loss_parts=False) == []
    assert render.batch_encode_parts([embedding, pooling], has_loss_parts=True) == []
