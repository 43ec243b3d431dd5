"""The code fill-in: custom parts written by an LLM (a loopback server) into the fixed slot, gated, repaired."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paper_autotrain import gates
from paper_autotrain.errors import StageError
from paper_autotrain.llm import LLMSettings, make_client
from paper_autotrain.runtime.testing import reference_spec, write_synthetic_split
from paper_autotrain.schemas import MethodSpec, SplitInfo
from paper_autotrain.stages import render, validate
from paper_autotrain.stages.fill import FillIn
from tests.fake_openai import FakeOpenAI, Reply
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


def fill_in(server: FakeOpenAI, tmp_path: Path, split: SplitInfo, attempts: int = 3) -> FillIn:
    settings = LLMSettings(backend="compatible", base_url=server.url, model="fake-model", cache=False, retries=0,
                           timeout_s=10)
    client = make_client(settings, tmp_path / "results", tmp_path / "cache")
    assert client is not None
    return FillIn(client=client, split=split, report_path=tmp_path / "generated" / "fill_report.json",
                  attempts=attempts, gate_settings={"timeout_s": 120, "overfit_steps": 30})


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
    spec = MethodSpec.model_validate({**reference_spec("SASRec").model_dump(), "custom": [PART]})
    with pytest.raises(StageError, match="no fill-in slot"):
        render.run(spec, {}, fill_in(server, tmp_path, split))
    assert server.requests == []


def test_custom_parts_without_a_composition_get_the_default_one():
    spec = custom_spec(architecture=[])
    placed = render.with_custom_block(spec, render.base_for(spec))
    assert [block.block for block in placed.architecture] == ["embedding", "custom", "dot_score"]
