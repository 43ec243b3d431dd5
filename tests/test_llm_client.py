"""The LLM client against a loopback OpenAI-compatible server, through the real `openai` client: structured answers
and their repair, transport retries, JSON-mode fallback, accounting, cache, replay and budget."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from paper_autotrain.errors import UserError
from paper_autotrain.llm import BudgetExceeded, LLMClient, LLMError, LLMSettings, Usage, make_client
from paper_autotrain.llm.answers import AnswerSchema
from paper_autotrain.llm.records import LOG_FIELDS, CallLog, read_log
from tests.fake_arxiv import closed_port_url
from tests.fake_openai import FakeOpenAI, Reply

GOOD = '{"name": "LightGCN", "layers": 3, "tags": ["graph"]}'
PROMPT = [{"role": "system", "content": "You read papers."}, {"role": "user", "content": "Name the model."}]
PRICES = {"models": {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}}


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    layers: int
    tags: list[str] = []


class LooseAnswer(BaseModel):
    values: dict[str, int]


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def compatible(server: FakeOpenAI, **overrides) -> LLMSettings:
    values = {"backend": "compatible", "base_url": server.url, "model": "test-model", "timeout_s": 5.0, "retries": 1}
    return LLMSettings(**(values | overrides))


def client_for(settings: LLMSettings, tmp_path: Path, **kwargs) -> LLMClient:
    return LLMClient(settings, tmp_path / "results" / "paper" / "llm_calls.jsonl", tmp_path / "cache" / "llm", **kwargs)


def logged(tmp_path: Path) -> list[dict]:
    return list(read_log(tmp_path / "results" / "paper" / "llm_calls.jsonl"))


def asking(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def user_turns(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


# --- structured answers ----------------------------------------------------------------------------------------


def test_good_answer_validates_and_is_logged_with_tokens_cost_and_hashes(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    settings = LLMSettings(backend="openai", model="gpt-4o-mini", base_url=server.url, retries=0)
    client = client_for(settings, tmp_path, prices=PRICES)
    server.script(Reply(GOOD, prompt_tokens=1000, completion_tokens=200))

    answer = client.structured("extract", PROMPT, Answer)

    assert answer == Answer(name="LightGCN", layers=3, tags=["graph"])
    (request,) = server.requests
    assert request["_headers"]["Authorization"] == "Bearer sk-test-123"
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert request["max_completion_tokens"] == 4096 and request["temperature"] == 0.0
    assert request["messages"] == PROMPT
    (line,) = logged(tmp_path)
    assert tuple(line) == LOG_FIELDS
    expected_cost = round((1000 * 0.15 + 200 * 0.60) / 1e6, 8)
    assert line["purpose"] == "extract" and line["backend"] == "openai" and line["model"] == "gpt-4o-mini"
    assert line["base_url"] == server.url
    assert (line["prompt_tokens"], line["completion_tokens"], line["cost_usd"]) == (1000, 200, expected_cost)
    assert len(line["request_hash"]) == 64 and len(line["prompt_hash"]) == 64
    assert line["request_hash"] != line["prompt_hash"]
    assert line["status"] == "ok" and line["error"] is None and line["cached"] is False and line["attempt"] == 1
    assert line["response"] == GOOD and 0 <= line["latency_s"] < 5
    assert client.usage == Usage(1000, 200, expected_cost) and client.calls == 1


def test_malformed_json_then_a_good_answer(server, tmp_path):
    client = client_for(compatible(server), tmp_path)
    server.script(Reply('{"name": "LightGCN", "layers": '), Reply(GOOD))

    assert client.structured("extract", PROMPT, Answer).layers == 3

    first, second = server.requests
    assert len(second["messages"]) == len(first["messages"]) + 2
    assert second["messages"][-2] == {"role": "assistant", "content": '{"name": "LightGCN", "layers": '}
    repair = second["messages"][-1]["content"]
    assert repair.startswith("Your answer did not validate: invalid JSON") and repair.endswith("with JSON only.")
    statuses = [(line["attempt"], line["status"]) for line in logged(tmp_path)]
    assert statuses == [(1, "invalid"), (2, "ok")]
    assert client.usage.prompt_tokens == 200 and client.usage.cost_usd == 0.0  # a local server costs nothing


def test_a_schema_invalid_answer_is_repaired_with_the_validation_error(server, tmp_path):
    client = client_for(compatible(server), tmp_path)
    server.script(Reply('{"name": "LightGCN", "layers": "three", "extra": 1}'), Reply(GOOD))

    assert client.structured("extract", PROMPT, Answer).name == "LightGCN"

    repair = user_turns(server.requests[1])[-1]
    assert "layers: Input should be a valid integer" in repair and "extra: Extra inputs are not permitted" in repair
    assert "\n" not in repair
    assert logged(tmp_path)[0]["error"].startswith("layers:")


def test_a_fenced_answer_is_accepted(server, tmp_path):
    client = client_for(compatible(server), tmp_path)
    server.script(Reply(f"```json\n{GOOD}\n```"))
    assert client.structured("extract", PROMPT, Answer).tags == ["graph"]
    assert len(server.requests) == 1


def test_exhausted_attempts_raise_one_line_naming_the_purpose_and_last_error(server, tmp_path):
    client = client_for(compatible(server, max_attempts=2), tmp_path)
    server.script(Reply("I think it is LightGCN."), Reply('{"name": "LightGCN"}'))

    with pytest.raises(LLMError) as caught:
        client.structured("extract method", PROMPT, Answer)

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("llm: extract method: no valid answer after 2 attempt(s); last error: layers: Field")
    assert len(server.requests) == 2 and client.calls == 2


def test_a_model_with_free_form_dicts_gets_a_non_strict_schema(server, tmp_path):
    client = client_for(compatible(server), tmp_path)
    server.script(Reply('{"values": {"a": 1}}'))
    assert client.structured("loose", PROMPT, LooseAnswer).values == {"a": 1}
    sent = server.requests[0]["response_format"]["json_schema"]
    assert sent["strict"] is False and sent["schema"] == LooseAnswer.model_json_schema()


def test_strict_schema_closes_every_object_and_requires_every_field():
    schema = AnswerSchema.for_model(Answer).strict_schema
    assert schema is not None
    assert schema["additionalProperties"] is False and schema["required"] == ["name", "layers", "tags"]
    assert "default" not in schema["properties"]["tags"]


class Cat(BaseModel):
    kind: Literal["cat"]


class Dog(BaseModel):
    kind: Literal["dog"]
    bark: str = Field(min_length=1)


class Pets(BaseModel):
    first: Cat | Dog = Field(discriminator="kind")
    best: Cat = Field(description="the best one")
    children: list[Pets] = []


def test_strict_schema_handles_unions_described_refs_and_recursion():
    schema = AnswerSchema.for_model(Pets).strict_schema
    assert schema is not None and schema["type"] == "object"  # the recursive root is resolved from $defs
    assert [part["$ref"] for part in schema["properties"]["first"]["anyOf"]] == ["#/$defs/Cat", "#/$defs/Dog"]
    assert schema["properties"]["best"]["description"] == "the best one"  # a $ref with a sibling is inlined
    assert schema["properties"]["best"]["additionalProperties"] is False
    assert schema["$defs"]["Dog"]["properties"]["bark"] == {"title": "Bark", "type": "string"}


# --- transport -------------------------------------------------------------------------------------------------


def test_429_with_retry_after_then_success(server, tmp_path):
    client = client_for(compatible(server, retries=2), tmp_path)
    server.script(Reply("slow down", status=429, headers={"Retry-After": "0.05"}), Reply(GOOD))
    started = time.monotonic()
    assert client.structured("extract", PROMPT, Answer).name == "LightGCN"
    assert len(server.requests) == 2 and time.monotonic() - started < 2
    assert [line["status"] for line in logged(tmp_path)] == ["ok"]


def test_5xx_then_success(server, tmp_path):
    client = client_for(compatible(server, retries=1), tmp_path)
    server.script(Reply("overloaded", status=503, headers={"retry-after-ms": "10"}), Reply("plain text"))
    assert client.text("fill", PROMPT) == "plain text"
    assert len(server.requests) == 2


def test_429_until_retries_run_out_is_one_line(server, tmp_path):
    client = client_for(compatible(server, retries=1), tmp_path)
    limited = Reply("Rate limit reached", status=429, headers={"Retry-After": "0.01"})
    server.script(limited, limited)
    with pytest.raises(LLMError, match=r"^llm: extract: .* kept answering 429 .*after 1 retry.*raise llm.retries$"):
        client.structured("extract", PROMPT, Answer)


def test_a_timeout_is_one_line(server, tmp_path):
    client = client_for(compatible(server, timeout_s=0.3, retries=0), tmp_path)
    server.script(Reply(GOOD, delay_s=1.5))
    with pytest.raises(LLMError) as caught:
        client.structured("extract", PROMPT, Answer)
    assert "\n" not in str(caught.value)
    assert "did not answer within llm.timeout_s=0.3s (after 0 retries)" in str(caught.value)
    (line,) = logged(tmp_path)
    assert line["status"] == "error" and line["response"] is None and "did not answer" in line["error"]


def test_a_timeout_is_retried(server, tmp_path):
    client = client_for(compatible(server, timeout_s=0.3, retries=1), tmp_path)
    server.script(Reply(GOOD, delay_s=1.0), Reply(GOOD))
    assert client.structured("extract", PROMPT, Answer).layers == 3
    assert len(server.requests) == 2


def test_an_unreachable_server_is_one_line(tmp_path):
    settings = LLMSettings(backend="compatible", base_url=closed_port_url() + "/v1", model="m", retries=0)
    with pytest.raises(LLMError, match=r"^llm: extract: cannot reach http://127\.0\.0\.1:\d+/v1 .*check llm.base_url"):
        client_for(settings, tmp_path).text("extract", PROMPT)


@pytest.mark.parametrize(("status", "words"), [(401, "refused the API key from $OPENAI_API_KEY"),
                                               (404, "answered 404 for model 'test-model'")])
def test_a_refused_key_or_unknown_model_is_a_user_error(server, tmp_path, status, words):
    client = client_for(compatible(server), tmp_path)
    server.script(Reply("nope", status=status))
    with pytest.raises(UserError) as caught:
        client.text("extract", PROMPT)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_rejected_json_schema_falls_back_to_json_mode_and_is_remembered(server, tmp_path):
    server.reject_json_schema = True
    server.script(Reply(GOOD), Reply(GOOD))
    client = client_for(compatible(server), tmp_path)

    assert client.structured("extract", PROMPT, Answer).name == "LightGCN"
    rejected, fallback = server.requests
    assert rejected["response_format"]["type"] == "json_schema"
    assert fallback["response_format"] == {"type": "json_object"}
    system = fallback["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You read papers.")
    assert "JSON schema" in system["content"] and '"layers"' in system["content"]
    assert [line["status"] for line in logged(tmp_path)] == ["error", "ok"]

    other = client_for(compatible(server, cache=False), tmp_path)  # a second paper in the same run
    other.structured("extract", PROMPT, Answer)
    assert server.requests[2]["response_format"] == {"type": "json_object"} and len(server.requests) == 3


def test_json_object_mode_can_be_chosen(server, tmp_path):
    client = client_for(compatible(server, structured_output="json_object"), tmp_path)
    server.script(Reply(GOOD))
    client.structured("extract", [{"role": "user", "content": "Name it."}], Answer)
    (request,) = server.requests
    assert request["response_format"] == {"type": "json_object"}
    assert request["messages"][0]["role"] == "system" and request["messages"][1]["content"] == "Name it."


def test_text_is_a_plain_completion(server, tmp_path):
    client = client_for(compatible(server, temperature=0.2, max_tokens=256), tmp_path)
    server.script(Reply("return x @ y.T"))
    assert client.text("fill score", PROMPT) == "return x @ y.T"
    (request,) = server.requests
    assert "response_format" not in request
    assert request["max_tokens"] == 256 and request["temperature"] == 0.2 and request["model"] == "test-model"
    assert logged(tmp_path)[0]["status"] == "ok"


# --- keys ------------------------------------------------------------------------------------------------------


def test_backend_openai_without_a_key_is_a_user_error(tmp_path):
    settings = LLMSettings(backend="openai", model="gpt-4o-mini")
    with pytest.raises(UserError) as caught:
        client_for(settings, tmp_path)
    assert str(caught.value) == ("llm: backend openai needs an API key in $OPENAI_API_KEY; export it, "
                                 "or use llm=compatible llm.base_url=... or llm=none")


def test_a_compatible_server_gets_the_key_from_the_named_env_var_or_none(server, tmp_path, monkeypatch):
    server.script(Reply("a"), Reply("b"))
    monkeypatch.setenv("MY_LLM_KEY", "local-secret")
    client_for(compatible(server, api_key_env="MY_LLM_KEY"), tmp_path).text("x", PROMPT)
    client_for(compatible(server, cache=False), tmp_path).text("x", PROMPT)
    assert [r["_headers"]["Authorization"] for r in server.requests] == ["Bearer local-secret", "Bearer none"]


# --- cache -----------------------------------------------------------------------------------------------------


def test_the_cache_answers_a_repeated_request_without_the_server(server, tmp_path):
    server.script(Reply(GOOD))
    client_for(compatible(server), tmp_path).structured("extract", PROMPT, Answer)
    again = client_for(compatible(server), tmp_path)

    assert again.structured("extract", PROMPT, Answer).name == "LightGCN"

    assert len(server.requests) == 1
    second = logged(tmp_path)[-1]
    assert second["cached"] is True and second["prompt_tokens"] == 0 and second["status"] == "ok"
    assert again.usage == Usage(0, 0, 0.0) and again.calls == 1


def test_a_corrupt_cache_entry_is_a_miss_and_invalid_answers_are_not_cached(server, tmp_path):
    server.script(Reply("not json"), Reply(GOOD))
    client_for(compatible(server), tmp_path).structured("extract", PROMPT, Answer)
    entries = sorted((tmp_path / "cache" / "llm").glob("*.json"))
    assert len(entries) == 1  # only the accepted answer
    entries[0].write_text('{"response": "trunc')

    server.script(Reply("not json"), Reply(GOOD))
    client_for(compatible(server), tmp_path).structured("extract", PROMPT, Answer)
    assert len(server.requests) == 4


def test_cache_off_always_asks(server, tmp_path):
    server.script(Reply("a"), Reply("a"))
    for _ in range(2):
        client_for(compatible(server, cache=False), tmp_path).text("x", PROMPT)
    assert len(server.requests) == 2


# --- replay ----------------------------------------------------------------------------------------------------


def record_a_run(tmp_path: Path) -> Path:
    """A live run with a repaired answer and a text call; the server is gone afterwards."""
    with FakeOpenAI() as server:
        server.script(Reply("not json"), Reply(GOOD), Reply("return scores"))
        client = client_for(compatible(server, model="qwen2.5"), tmp_path)
        client.structured("extract", PROMPT, Answer)
        client.text("fill", PROMPT)
    return tmp_path / "results" / "paper" / "llm_calls.jsonl"


def test_replay_answers_offline_from_the_recording(tmp_path):
    recording = record_a_run(tmp_path)
    lines_before = len(list(read_log(recording)))
    client = client_for(LLMSettings(backend="replay", cache=False), tmp_path)

    assert client.structured("extract", PROMPT, Answer).name == "LightGCN"  # the repair is replayed too
    assert client.text("fill", PROMPT) == "return scores"

    replayed = list(read_log(recording))[lines_before:]
    assert [(line["backend"], line["status"], line["cached"]) for line in replayed] == [
        ("replay", "invalid", True), ("replay", "ok", True), ("replay", "ok", True)]
    assert replayed[0]["model"] == "qwen2.5" and replayed[0]["base_url"] is None
    assert client.usage == Usage(0, 0, 0.0)


def test_replay_with_the_recorded_model_matches_exact_requests(tmp_path):
    recording = record_a_run(tmp_path)
    settings = LLMSettings(backend="replay", model="qwen2.5", replay_from=str(recording), cache=False)
    client = LLMClient(settings, tmp_path / "elsewhere" / "llm_calls.jsonl", tmp_path / "no-cache")
    assert client.text("fill", PROMPT) == "return scores"


def test_replay_refuses_an_unrecorded_request(tmp_path):
    record_a_run(tmp_path)
    client = client_for(LLMSettings(backend="replay"), tmp_path)
    with pytest.raises(LLMError) as caught:
        client.text("fill", [{"role": "user", "content": "Something new."}])
    assert str(caught.value).startswith("llm=replay: no recorded answer for fill (request ")
    assert str(caught.value).endswith("); rerun with a live backend to record it")


def test_replay_from_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="llm.replay_from=.*: no such file"):
        client_for(LLMSettings(backend="replay", replay_from=str(tmp_path / "nope.jsonl")), tmp_path)


# --- budget ----------------------------------------------------------------------------------------------------


def test_the_token_budget_stops_the_next_call(server, tmp_path):
    client = client_for(compatible(server, budget_tokens=200), tmp_path)
    server.script(Reply("a", prompt_tokens=100, completion_tokens=50), Reply("b", prompt_tokens=100_000,
                                                                             completion_tokens=1_345))
    client.text("one", asking("one"))
    client.text("two", asking("two"))  # 150 used: still within the budget, so this call is made

    with pytest.raises(BudgetExceeded) as caught:
        client.text("three", asking("three"))
    assert str(caught.value) == ("llm: the budget of 200 tokens for this paper is spent (101,495 used); "
                                 "raise llm.budget_tokens or rerun with llm=replay")
    assert len(server.requests) == 2
    assert client.text("one", asking("one")) == "a"  # a cached answer costs nothing and is still given
    assert logged(tmp_path)[2]["status"] == "error"


def test_the_cost_budget_uses_the_price_table(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = LLMSettings(backend="openai", model="gpt-4o-mini-2024-07-18", base_url=server.url, budget_usd=0.001)
    client = client_for(settings, tmp_path, prices=PRICES)
    server.script(Reply("a", prompt_tokens=10_000, completion_tokens=0))
    client.text("one", asking("one"))  # $0.0015
    with pytest.raises(BudgetExceeded, match=r"budget of \$0\.0010 for this paper is spent \(\$0\.0015 used\)"):
        client.text("two", asking("two"))


def test_an_unpriced_model_logs_cost_null_and_says_the_cost_budget_cannot_be_enforced(server, tmp_path, caplog,
                                                                                      monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = LLMSettings(backend="openai", model="gpt-9-turbo", base_url=server.url, budget_usd=1.0)
    with caplog.at_level(logging.WARNING, logger="paper_autotrain.llm"):
        client = client_for(settings, tmp_path, prices=PRICES)
    assert sum("cannot be enforced" in r.getMessage() for r in caplog.records) == 1
    server.script(Reply("a"), Reply("b"))
    client.text("one", asking("one"))
    client.text("two", asking("two"))
    assert [line["cost_usd"] for line in logged(tmp_path)] == [None, None]
    assert client.usage == Usage(200, 100, None)


# --- plumbing --------------------------------------------------------------------------------------------------


def test_make_client_paths_and_none(server, tmp_path):
    assert make_client(LLMSettings(), tmp_path / "results" / "k", tmp_path / "cache") is None
    client = make_client(compatible(server), tmp_path / "results" / "k", tmp_path / "cache")
    server.script(Reply("a"))
    client.text("x", PROMPT)
    assert (tmp_path / "results" / "k" / "llm_calls.jsonl").is_file()
    assert len(list((tmp_path / "cache" / "llm").glob("*.json"))) == 1


def test_the_call_log_fences_off_a_torn_line(tmp_path):
    path = tmp_path / "llm_calls.jsonl"
    path.write_text('{"purpose": "a"}\n{"purpose": "tor')
    CallLog(path).append({"purpose": "b"})
    assert [r["purpose"] for r in read_log(path)] == ["a", "b"]
    assert path.read_text().endswith('\n{"purpose": "b"}\n')
    assert json.loads(path.read_text().splitlines()[-1]) == {"purpose": "b"}
