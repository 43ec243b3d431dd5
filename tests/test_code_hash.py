"""Stage code versions come from each stage's import closure (code_hash.py), not from hand-written lists."""

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from paper_autotrain import code_hash, pipeline
from paper_autotrain.code_hash import closure, closure_files, module_closure, module_graph, stage_code_version

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "paper_autotrain"
EXAMPLE = REPO / "examples" / "papers" / "tinyprop.pdf"
READING = ("fetch", "parse", "extract")


def rel_files(stage: str, package_dir: Path = PACKAGE) -> set[str]:
    return {p.relative_to(package_dir).as_posix() for p in closure_files(stage, package_dir)}


def versions(package_dir: Path) -> dict[str, str]:
    return {stage: stage_code_version(stage, package_dir) for stage in pipeline.STAGES}


@pytest.fixture
def copy(tmp_path) -> Path:
    """A copy of the package, its templates and conf inside it: the package dir the hasher reads in these tests."""
    shutil.copytree(PACKAGE, tmp_path / "paper_autotrain", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "paper_autotrain"


def append(path: Path, text: str = "\n# edited\n") -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


# --- the closures ------------------------------------------------------------------------------------


def test_every_stage_has_entries_and_only_the_pipeline_stages():
    assert tuple(code_hash.STAGE_ENTRIES) == pipeline.STAGES


def test_baselines_closure_holds_the_evaluator_references_and_scoring():
    files = rel_files("baselines")
    references = {p.relative_to(PACKAGE).as_posix()
                  for p in (PACKAGE / "stages" / "baselines" / "references").glob("*.py")}
    assert references and references <= files
    assert {"data/evaluator.py", "stages/baselines/scoring.py", "stages/baselines/ids.py", "recbole_models.yaml",
            "stages/baselines/__init__.py", "stages/baselines/runner.py"} <= files  # the runner: a `-m` subprocess


def test_train_and_validate_closures_hold_data_runtime_and_the_sandbox():
    data = {p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "data").glob("*.py")}
    runtime = {p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "runtime").glob("*.py")}
    train, validate = rel_files("train"), rel_files("validate")
    assert data <= train and data <= validate
    assert runtime <= train and runtime <= validate
    assert {"worker/train.py", "sandbox/process.py", "sandbox/boot.py", "stages/train.py"} <= train
    assert {"worker/probe.py", "sandbox/gates.py", "sandbox/boot.py", "stages/validate.py"} <= validate


def test_reading_stages_do_not_reach_the_training_code():
    for stage in READING:
        files = rel_files(stage)
        assert not {f for f in files if f.startswith(("data/", "runtime/", "worker/", "stages/baselines/"))}, stage
    assert "sources/html.py" in rel_files("parse") and "stages/extract/components.yaml" in rel_files("extract")


def test_every_package_yaml_is_read_by_some_stage():
    read = set().union(*(rel_files(stage) for stage in pipeline.STAGES))
    shipped = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.yaml")
               if p.relative_to(PACKAGE).parts[0] not in code_hash.DATA_FOLDERS}  # templates: STAGE_TEMPLATES
    assert shipped and shipped <= read  # a yaml no string names (read by a glob?) would go unhashed
    assert not {f for f in read if f.startswith(("conf/", "templates/"))}  # no "config.yaml" string names conf/'s


def test_modules_outside_every_stage_are_left_out():
    everything = set().union(*(closure(stage) for stage in pipeline.STAGES))
    for name in ("paper_autotrain.pipeline", "paper_autotrain.commands.run", "paper_autotrain.records.leaderboard",
                 "paper_autotrain.code_hash", "paper_autotrain.commands.batch"):
        assert name not in everything


def test_the_import_graph_is_parsed_once_per_process():
    assert module_graph(PACKAGE) is module_graph(PACKAGE)
    assert closure("train") is closure("train")


def test_pipeline_uses_the_closure_hash():
    for stage in pipeline.STAGES:
        assert pipeline.code_version(stage) == stage_code_version(stage, PACKAGE)


# --- the kinds of edge, on a made-up package ------------------------------------------------------------


def test_relative_function_level_and_module_name_edges(tmp_path):
    pkg = tmp_path / "fakepkg"
    files = {
        "__init__.py": "",
        "entry/__init__.py": "from .helper import x\n",
        "entry/helper.py": "from ..util import y\nx = y\n",
        "util.py": "y = 1\n",
        "lazy.py": "def f():\n    from fakepkg.sub import deep\n    return deep\n",
        "sub/__init__.py": "import fakepkg.side\n",
        "sub/deep.py": "CMD = ['python', '-m', 'fakepkg.child']\nDATA = 'table.yaml'\n",
        "sub/table.yaml": "a: 1\n",
        "child.py": "from . import leaf\n",
        "leaf.py": "",
        "side.py": "",
        "orphan.py": "import fakepkg.util\n",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    assert module_closure(("entry",), pkg) == ("fakepkg", "fakepkg.entry", "fakepkg.entry.helper", "fakepkg.util")
    assert module_closure(("lazy",), pkg) == (
        "fakepkg", "fakepkg.child", "fakepkg.lazy", "fakepkg.leaf", "fakepkg.side", "fakepkg.sub", "fakepkg.sub.deep")
    assert module_graph(pkg)["fakepkg.sub.deep"].data_files == {pkg / "sub" / "table.yaml"}


# --- edits: what reruns ----------------------------------------------------------------------------------


def test_editing_the_evaluator_changes_train_baselines_and_compare_not_reading(copy):
    before = versions(copy)
    assert before == versions(PACKAGE)  # the hash is of contents and relative paths, not of where they lie
    append(copy / "data" / "evaluator.py")
    after = versions(copy)
    changed = {stage for stage in pipeline.STAGES if before[stage] != after[stage]}
    assert {"train", "baselines", "compare"} <= changed
    assert changed.isdisjoint(READING)


def test_a_module_no_stage_imports_changes_no_stage_hash(copy):
    before = versions(copy)
    append(copy / "commands" / "run.py")
    append(copy / "records" / "leaderboard.py")
    append(copy / "pipeline.py")
    assert versions(copy) == before


def test_a_new_module_nobody_imports_changes_nothing(copy, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(copy.parent, other)
    (other / "paper_autotrain" / "orphan.py").write_text("from paper_autotrain.data import evaluator\n")
    assert versions(other / "paper_autotrain") == versions(copy)


def test_yaml_and_templates_reach_the_stages_that_read_them(copy):
    before = versions(copy)
    append(copy / "stages" / "extract" / "components.yaml")
    after = versions(copy)
    assert {s for s in pipeline.STAGES if before[s] != after[s]} == {"extract"}

    append(copy / "recbole_models.yaml")
    again = versions(copy)
    assert {s for s in pipeline.STAGES if after[s] != again[s]} == {"extract", "baselines"}

    append(copy / "templates" / "report" / next(p.name for p in (copy / "templates" / "report").iterdir()
                                                 if p.is_file()))
    last = versions(copy)
    assert {s for s in pipeline.STAGES if again[s] != last[s]} == {"render", "compare"}

    append(copy / "templates" / "blocks" / "dot_score.j2")  # the block library: read by extract too
    block = versions(copy)
    assert {s for s in pipeline.STAGES if last[s] != block[s]} == {"extract", "render"}


# --- the pipeline, through the reading stages and render (no training: seconds) -------------------------


def config(root: Path, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=str(PACKAGE / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"paper={EXAMPLE}", f"paths.root={root}", *overrides])
        return OmegaConf.to_container(cfg, resolve=True)


def test_an_evaluator_edit_reruns_render_but_not_reading(copy, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "PACKAGE_DIR", copy)  # the hashes read the copy; the code run is the real one
    root = tmp_path / "run"
    first = pipeline.run(config(root, "until=render"))
    assert first.skipped == []
    assert pipeline.run(config(root, "until=render")).skipped == ["fetch", "parse", "extract", "render"]
    append(copy / "data" / "evaluator.py")
    outcome = pipeline.run(config(root, "until=render"))
    assert outcome.skipped == list(READING) and set(outcome.timings) == {"render"}


def test_module_attribute_strings_are_edges_fenced_at_other_stages(tmp_path):
    """The regime table names code as "package.module:attribute": an edge, except into another stage's package
    for a stage's closure (each stage runs its own side of the table)."""
    pkg = tmp_path / "fakepkg"
    files = {
        "__init__.py": "",
        "table.py": "PARTS = ('fakepkg.part:build', 'fakepkg.stages.b.score:run', 'fakepkg.util: not a name')\n",
        "part.py": "",
        "util.py": "",
        "stages/__init__.py": "",
        "stages/a.py": "import fakepkg.table\n",
        "stages/b/__init__.py": "",
        "stages/b/score.py": "",
    }
    for rel, text in files.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    assert module_graph(pkg)["fakepkg.table"].references == {"fakepkg.part", "fakepkg.stages.b.score"}
    assert module_closure(("stages.a",), pkg) == (
        "fakepkg", "fakepkg.part", "fakepkg.stages", "fakepkg.stages.a", "fakepkg.stages.b", "fakepkg.stages.b.score",
        "fakepkg.table")
    assert module_closure(("stages.a",), pkg, ("stages.b",)) == (
        "fakepkg", "fakepkg.part", "fakepkg.stages", "fakepkg.stages.a", "fakepkg.table")


def test_the_regime_table_brings_each_stage_its_own_side():
    train, baselines = rel_files("train"), rel_files("baselines")
    assert {"regimes.py", "worker/batches.py", "worker/shapes.py", "worker/leakage.py"} <= train
    assert not {f for f in train if f.startswith("stages/baselines/")}  # the RecBole scorers the table names
    assert {"regimes.py", "stages/baselines/runner.py", "stages/baselines/scoring.py"} <= baselines
    assert {"data/split.py", "data/sequential.py", "data/ctr.py"} <= rel_files("compare")  # the split it prepares
