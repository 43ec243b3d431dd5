"""The code fill-in: custom parts written by an LLM (a loopback server) into the fixed slot, gated, repaired."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from paper_autotrain.data.split import SplitData, write_split
from paper_autotrain.errors import StageError, UserError
from paper_autotrain.llm import LLMSettings, make_client
from paper_autotrain.sandbox import gates
from paper_autotrain.schemas import MethodSpec, SplitInfo
from paper_autotrain.stages import render, validate
from paper_autotrain.stages.render import candidates
from paper_autotrain.stages.render.candidates import CandidateSettings
from paper_autotrain.stages.render.fill import FillIn
from tests.fake_openai import FakeOpenAI, Reply
from tests.model_fixtures import reference_spec, write_synthetic_split
from tests.test_render import ruff_check

PART = {"name": "layer_attention", "description": "a learned gate re-weights every embedding dimension",
        "evidence": "p2: an attention over the layers re-weights each user's final embedding"}
GOOD = {"init_body": "self.gate = nn.Parameter(torch.zeros(dim))\nself.scale = math.sqrt(2.0)",
        "forward_body": "weight = 1.0 + self.scale * torch.tanh(self.gate)\nreturn user_table * weight, "
                        "item_table * weight"}
WRONG_SHAPE = {"init_body": "self.gate = nn.Parameter(torch.zeros(dim))",
               "forward_body": "return user_table * self.gate, item_table[:, :-1]"}
SYNTAX_ERROR = {"init_body": "self.gate = nn.Parameter(torch.zeros(dim)",
                "forward_body": "return user_table, item_table"}
FORBIDDEN = {"init_body": "import os\nos.system('true')", "forward_body": "return user_table, item_table"}
HOSTILE = {"init_body": "import socket\nsocket.create_connection(('203.0.113.1', 80))",
           "forward_body": "return user_table, item_table"}


def custom_spec(**changes: Any) -> MethodSpec:
    spec = reference_spec("LightGCN", batch_size=64, embedding_size=16, n_layers=1)
    return MethodSpec.model_validate({**spec.model_dump(), "custom": [PART], **changes})


@pytest.fixture(scope="module")
def split(tmp_path_factory) -> SplitInfo:
    folder = tmp_path_factory.mktemp("split")
    data = write_synthetic_split(folder)
    return SplitInfo(dataset="synthetic", split_id="fill0001", path=str(folder), n_users=data.n_users,
                     n_items=data.n_items, n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test),
                     protocol="synthetic")


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def task_of(body: dict[str, Any]) -> str:
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    return system.split("Task: ", 1)[1].split()[0]


def answers(*drafts: dict[str, str]):
    """A responder answering the fill-in's calls with these drafts in turn (the last one repeated)."""
    queue = list(drafts)

    def respond(body: dict[str, Any]) -> Reply:
        assert task_of(body) in ("fill.part", "fill.repair")
        return Reply(json.dumps(queue.pop(0) if len(queue) > 1 else queue[0]))
    return respond


def fill_in(server: FakeOpenAI, tmp_path: Path, split: SplitInfo, attempts: int = 3,
            drafts: CandidateSettings = CandidateSettings()) -> FillIn:
    settings = LLMSettings(backend="compatible", base_url=server.url, model="fake-model", cache=False, retries=0,
                           timeout_s=10)
    client = make_client(settings, tmp_path / "results", tmp_path / "cache")
    assert client is not None
    return FillIn(client=client, split=split, report_path=tmp_path / "generated" / "fill_report.json",
                  attempts=attempts, gate_settings={"timeout_s": 120, "overfit_steps": 30}, candidates=drafts)


def write(files: dict[str, str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_wrong_shapes_are_repaired_with_the_gate_message(server, tmp_path, split):
    server.responder = answers(WRONG_SHAPE, GOOD)
    files = render.run(custom_spec(), {}, fill_in(server, tmp_path, split))
    assert [task_of(body) for body in server.requests] == ["fill.part", "fill.repair"]
    report = json.loads(files["fill_report.json"])
    [part] = report["parts"]
    assert part["status"] == "ok" and [a["passed"] for a in part["attempts"]] == [False, True]
    failed = gates.first_failure(part["attempts"][0]["gates"])
    assert failed["name"] == "shapes"
    repair_prompt = server.requests[1]["messages"][-1]["content"]
    assert "`shapes`" in repair_prompt and failed["detail"] in repair_prompt and "item_table[:, :-1]" in repair_prompt
    assert json.loads((tmp_path / "generated" / "fill_report.json").read_text()) == report

    model_py = files["model.py"]
    assert "class CustomLayerAttention(nn.Module):" in model_py and "import math" in model_py
    assert "state = self.custom_layer_attention(*state)" in model_py
    folder = write({k: v for k, v in files.items() if k != "fill_report.json"}, tmp_path / "model")
    assert ruff_check(folder / "model.py").returncode == 0
    assert validate.run(folder, split, {"timeout_s": 120, "overfit_steps": 30})["ok"]


def test_code_that_keeps_failing_is_reported_never_replaced(server, tmp_path, split):
    server.responder = answers(SYNTAX_ERROR, FORBIDDEN)
    with pytest.raises(StageError, match=r"custom part 'layer_attention' failed the gates 2 time\(s\); last: "
                                         r"gate 'imports' failed"):
        render.run(custom_spec(), {}, fill_in(server, tmp_path, split, attempts=2))
    report = json.loads((tmp_path / "generated" / "fill_report.json").read_text())
    [part] = report["parts"]
    assert part["status"] == "failed"
    assert [gates.first_failure(a["gates"])["name"] for a in part["attempts"]] == ["parse", "imports"]
    assert [a["init_body"] for a in part["attempts"]] == [SYNTAX_ERROR["init_body"], FORBIDDEN["init_body"]]
    assert report["llm"]["calls"] == 2


def test_hostile_code_is_rejected_without_ever_running(server, tmp_path, split, monkeypatch):
    def must_not_run(*args: Any, **kwargs: Any) -> list:
        raise AssertionError("the dynamic gates ran code that failed a static gate")
    monkeypatch.setattr(gates, "dynamic_gates", must_not_run)
    server.responder = answers(HOSTILE)
    with pytest.raises(StageError, match="layer_attention"):
        render.run(custom_spec(), {}, fill_in(server, tmp_path, split, attempts=1))
    [attempt] = json.loads((tmp_path / "generated" / "fill_report.json").read_text())["parts"][0]["attempts"]
    failed = gates.first_failure(attempt["gates"])
    assert (failed["name"], failed["scope"]) == ("imports", "part") and "socket" in failed["detail"]


def test_without_an_llm_custom_parts_are_refused_by_name():
    with pytest.raises(StageError, match=r"layer_attention.*llm=compatible"):
        render.run(custom_spec(), {})


def test_a_family_without_a_slot_refuses_custom_parts(server, tmp_path, split):
    """Slots are data: a family.yaml that lists none has no fill-in (every family lists some today)."""
    root = tmp_path / "templates"
    shutil.copytree(render.templates_dir(), root)
    family = root / "sequential" / "family.yaml"
    family.write_text("\n".join(line for line in family.read_text().splitlines() if not line.startswith("slots:")))
    spec = MethodSpec.model_validate({**reference_spec("SASRec").model_dump(), "custom": [PART]})
    with pytest.raises(StageError, match=r"a sequential model has no fill-in slot for them \(its family.yaml lists no"):
        render.run(spec, {"templates_dir": str(root)}, fill_in(server, tmp_path, split))
    assert server.requests == []


def test_custom_parts_without_a_composition_get_the_default_one():
    spec = custom_spec(architecture=[])
    placed = render.with_custom_block(spec, render.base_for(spec))
    assert [block.block for block in placed.architecture] == ["embedding", "custom", "dot_score"]


# --- k drafts per part, ranked by the validation metric of a short training ----------------------------------

# forgets the user: every user gets the same ranking (item scores only), which carries no signal on a split where
# every cluster of users has its own items and all items are about equally popular. It passes every gate.
IGNORES_THE_USER = {"init_body": "self.scale = 1.0",
                    "forward_body": "return torch.ones_like(user_table) * self.scale, item_table"}


@pytest.fixture(scope="module")
def clustered_split(tmp_path_factory) -> SplitInfo:
    """4 clusters of 12 users, each interacting with 10 of its cluster's 12 items: 8 train, 1 valid, 1 test."""
    rng = np.random.default_rng(0)
    clusters, size = 4, 12
    parts: dict[str, list[list[int]]] = {"train": [], "valid": [], "test": []}
    for user in range(clusters * size):
        block = (user // size) * size
        items = block + rng.permutation(size)[:10]
        for name, chosen in (("test", items[:1]), ("valid", items[1:2]), ("train", items[2:])):
            parts[name] += [[user, int(item)] for item in chosen]
    n = clusters * size
    arrays = {name: np.array(rows, dtype=np.int64) for name, rows in parts.items()}
    data = SplitData(n_users=n, n_items=n, **arrays, user_tokens=np.array([f"u{i}" for i in range(n)]),
                     item_tokens=np.array([f"i{i}" for i in range(n)]))
    folder = tmp_path_factory.mktemp("clustered")
    write_split(data, folder, "clustered")
    return SplitInfo(dataset="clustered", split_id="clustered01", path=str(folder), n_users=n, n_items=n,
                     n_train=len(data.train), n_valid=len(data.valid), n_test=len(data.test), protocol="synthetic")


@pytest.mark.slow  # two probes and two short trainings in the sandbox: about a minute on 2 cores
def test_k_drafts_are_ranked_by_their_validation_metric_not_their_order(server, tmp_path, clustered_split):
    server.responder = answers(IGNORES_THE_USER, GOOD)
    drafts = CandidateSettings(count=2, epochs=8, timeout_s=300)
    spec = reference_spec("LightGCN", batch_size=64, embedding_size=16, n_layers=1, learning_rate=0.01)
    spec = MethodSpec.model_validate({**spec.model_dump(), "custom": [PART]})
    files = render.run(spec, {}, fill_in(server, tmp_path, clustered_split, attempts=1, drafts=drafts))

    prompts = [body["messages"][-1]["content"] for body in server.requests]
    assert [task_of(body) for body in server.requests] == ["fill.part", "fill.part"]
    assert "Draft 1 of 2" in prompts[0] and "Draft 2 of 2" in prompts[1]  # two prompts, two cache entries
    report = json.loads((tmp_path / "generated" / "fill_report.json").read_text())
    assert report["candidates_per_part"] == 2
    assert report["ranking"] == {"split": "valid", "metric": "ndcg@10", "epochs": 8}
    [part] = report["parts"]
    assert [(a["candidate"], a["passed"]) for a in part["attempts"]] == [(1, True), (2, True)]
    first, second = part["candidates"]
    assert "error" not in first and "error" not in second, part["candidates"]
    assert first["passed_gates"] and second["passed_gates"] and first["epochs_run"] == second["epochs_run"] == 8
    assert set(first["valid"]) >= {"ndcg@10", "recall@20"} and "test" not in json.dumps(part["candidates"])
    assert first["value"] == first["valid"]["ndcg@10"]
    assert second["value"] > first["value"] + 0.1, part["candidates"]  # the embeddings carry the clusters
    assert part["chosen"] == 2 and part["status"] == "ok"
    assert "weight = 1.0 + self.scale * torch.tanh(self.gate)" in files["model.py"]
    assert "torch.ones_like(user_table)" not in files["model.py"]


def test_the_best_draft_is_the_highest_finite_valid_metric_earliest_on_a_tie():
    assert candidates.best_candidate([{"value": 0.2}, {"value": 0.5}, {"value": 0.5}]) == 1
    assert candidates.best_candidate([{"value": None, "error": "x"}, {"value": float("nan")}, {"value": 0.0}]) == 2
    assert candidates.best_candidate([{"value": None, "failed_gate": "shapes"}]) is None


def test_candidate_settings_come_from_the_config_and_refuse_nonsense():
    settings = CandidateSettings.from_config({"candidates": 3, "candidate_epochs": 2}, {"accelerator": "gpu"},
                                             {"main_metric": "Recall@20"})
    assert (settings.count, settings.epochs, settings.metric, settings.accelerator) == (3, 2, "recall@20", "gpu")
    assert CandidateSettings.from_config({}) == CandidateSettings()  # extractor=rules: one draft, as before
    for bad in ({"candidates": -1}, {"candidate_epochs": "many"}):
        with pytest.raises(UserError, match="extractor.candidate"):
            CandidateSettings.from_config(bad)


def test_when_no_draft_passes_the_gates_the_part_fails_without_training(server, tmp_path, split, monkeypatch):
    def must_not_train(*args: Any, **kwargs: Any) -> dict:
        raise AssertionError("a draft that failed the gates was trained")
    monkeypatch.setattr(candidates, "score_candidate", must_not_train)
    server.responder = answers(SYNTAX_ERROR, FORBIDDEN)
    with pytest.raises(StageError, match=r"'layer_attention' failed the gates 2 time\(s\); last: gate 'imports'"):
        render.run(custom_spec(), {}, fill_in(server, tmp_path, split, attempts=1, drafts=CandidateSettings(count=2)))
    [part] = json.loads((tmp_path / "generated" / "fill_report.json").read_text())["parts"]
    assert part["status"] == "failed" and "chosen" not in part
    assert [(a["candidate"], a["passed"]) for a in part["attempts"]] == [(1, False), (2, False)]
