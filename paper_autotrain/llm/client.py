"""The one LLM client: OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp) through the `openai`
package, plus offline replay of recorded calls.

Every call is logged to results/<paper_key>/llm_calls.jsonl with its tokens, latency, cost and raw answer; an
accepted answer is cached by its request hash; a per-paper budget refuses further live calls once spent.
Structured answers are validated by pydantic and re-asked with the validation error."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from paper_autotrain.errors import StageError, UserError

from .answers import AnswerSchema, InvalidAnswer, one_line, parse_answer, repair_message
from .prices import FREE, PRICES_FILE, Price, load_price_table, price_for
from .records import CallLog, ReplayBook, ResponseCache, prompt_hash, request_hash
from .settings import LLMSettings

if TYPE_CHECKING:
    import openai

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
Messages = list[dict[str, str]]

REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")  # OpenAI models that refuse a temperature other than the default
SCHEMA_REJECTION = re.compile(r"response_format|json_schema|schema|structured", re.I)

# Base URLs whose server rejected response_format json_schema: JSON mode from then on, for the rest of the run.
_NO_JSON_SCHEMA: set[str] = set()
_NO_JSON_SCHEMA_LOCK = threading.Lock()


class LLMError(StageError):
    """The model could not give a valid answer, or the server failed after retries (one line)."""


class BudgetExceeded(StageError):
    """The paper's token or cost budget is spent; no further live call is made."""


@dataclass(frozen=True)
class Usage:
    """What this client's live calls spent (answers from the cache or a replay cost nothing)."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    """None when the model has no price in conf/llm_prices.yaml."""


@dataclass(frozen=True)
class _Request:
    purpose: str
    messages: Messages
    attempt: int
    schema: AnswerSchema | None
    request_hash: str
    prompt_hash: str


@dataclass(frozen=True)
class _Answer:
    text: str
    model: str
    latency_s: float
    cached: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    finish_reason: str | None = None
    refusal: str | None = None


class LLMClient:
    def __init__(self, settings: LLMSettings, calls_log: Path, cache_dir: Path, *,
                 prices: Mapping[str, Any] | None = None) -> None:
        """calls_log: results/<key>/llm_calls.jsonl; cache_dir: the response cache (results/cache/llm);
        prices: a price table in the layout of conf/llm_prices.yaml (default: that file)."""
        if settings.backend == "none":
            raise UserError("llm=none: no LLM is configured; use llm=openai, or llm=compatible llm.base_url=...")
        self.settings = settings
        self._log = CallLog(calls_log)
        self._cache = ResponseCache(cache_dir)
        self._lock = threading.Lock()
        self._prompt_tokens = self._completion_tokens = self._calls = 0
        self._cost_usd: float | None = 0.0
        self._openai: openai.OpenAI | None = None
        self._replay: ReplayBook | None = None
        self._price: Price | None = FREE
        self.base_url: str | None = None
        if settings.live:
            self._openai = self._connect()
            self.base_url = str(self._openai.base_url).rstrip("/")
            self._price = self._look_up_price(prices)
        else:
            self._replay = self._open_replay(Path(calls_log))

    # --- setup -----------------------------------------------------------------------------------------------

    def _connect(self) -> openai.OpenAI:
        import openai  # a second of imports, paid only when an LLM is used

        key = os.environ.get(self.settings.api_key_env, "").strip()
        if self.settings.backend == "openai" and not key:
            raise UserError(f"llm: backend openai needs an API key in ${self.settings.api_key_env}; export it, "
                            "or use llm=compatible llm.base_url=... or llm=none")
        return openai.OpenAI(api_key=key or "none", base_url=self.settings.base_url,
                             timeout=self.settings.timeout_s, max_retries=self.settings.retries)

    def _look_up_price(self, prices: Mapping[str, Any] | None) -> Price | None:
        table = load_price_table() if prices is None else prices
        price = price_for(self.settings.model, self.settings.backend, self.base_url, table)
        if price is None:
            log.info("llm: no price for model %r in %s; its costs are logged as unknown (null)",
                     self.settings.model, PRICES_FILE.name)
            if self.settings.budget_usd is not None:
                log.warning("llm: llm.budget_usd=%s cannot be enforced: model %r has no price in %s "
                            "(use llm.budget_tokens, or add the model's price)",
                            self.settings.budget_usd, self.settings.model, PRICES_FILE.name)
        return price

    def _open_replay(self, calls_log: Path) -> ReplayBook:
        source = Path(self.settings.replay_from).expanduser() if self.settings.replay_from else calls_log
        if self.settings.replay_from and not source.is_file():
            raise UserError(f"llm.replay_from={self.settings.replay_from}: no such file; point it at a "
                            "recorded llm_calls.jsonl")
        book = ReplayBook(source)
        log.info("llm=replay: %d recorded answer(s) in %s", len(book), source)
        return book

    # --- public ----------------------------------------------------------------------------------------------

    @property
    def usage(self) -> Usage:
        with self._lock:
            cost = None if self._cost_usd is None else round(self._cost_usd, 8)
            return Usage(self._prompt_tokens, self._completion_tokens, cost)

    @property
    def calls(self) -> int:
        """Requests answered (live, from the cache or from a replay); failed requests are not counted."""
        return self._calls

    def structured(self, purpose: str, messages: Messages, model: type[T]) -> T:
        """An answer validated into `model`, re-asked with the validation error up to llm.max_attempts times."""
        schema = AnswerSchema.for_model(model)
        conversation = [dict(message) for message in messages]
        error = ""
        for attempt in range(1, self.settings.max_attempts + 1):
            request = self._request(purpose, conversation, attempt, schema)
            answer = self._answer(request)
            try:
                value = parse_answer(answer.text, model)
            except InvalidAnswer as err:
                error = _explain(err, answer, self.settings.max_tokens)
                self._record(request, answer, "invalid", error)
                log.info("llm: %s attempt %d did not validate: %s", purpose, attempt, error)
                conversation += [{"role": "assistant", "content": answer.text},
                                 {"role": "user", "content": repair_message(error)}]
                continue
            self._record(request, answer, "ok", None)
            self._remember(request, answer)
            return value
        attempts = self.settings.max_attempts
        raise LLMError(one_line(f"llm: {purpose}: no valid answer after {attempts} attempt(s); last error: {error}"
                                f" (check llm.model and the server, raise llm.max_attempts, or use extractor=rules)"))

    def text(self, purpose: str, messages: Messages) -> str:
        """A plain completion (code fill-in bodies)."""
        request = self._request(purpose, [dict(message) for message in messages], 1, None)
        answer = self._answer(request)
        self._record(request, answer, "ok", None)
        self._remember(request, answer)
        if answer.finish_reason == "length":
            log.warning("llm: %s: the answer was cut off at llm.max_tokens=%d", purpose, self.settings.max_tokens)
        return answer.text

    # --- one request -----------------------------------------------------------------------------------------

    def _request(self, purpose: str, messages: Messages, attempt: int, schema: AnswerSchema | None) -> _Request:
        s = self.settings
        key = request_hash(s.model, messages, schema.schema if schema else None, s.temperature, s.max_tokens)
        return _Request(purpose, list(messages), attempt, schema, key, prompt_hash(messages))

    def _answer(self, request: _Request) -> _Answer:
        if self._replay is not None:
            return self._replayed(request, self._replay)
        started = time.monotonic()
        hit = self._cache.get(request.request_hash) if self.settings.cache else None
        if hit is not None:
            return _Answer(hit["response"], self.settings.model, time.monotonic() - started, cached=True)
        self._check_budget(request)
        return self._live(request)

    def _replayed(self, request: _Request, book: ReplayBook) -> _Answer:
        started = time.monotonic()
        record = book.by_request(request.request_hash)
        if record is None and self.settings.cache:
            record = self._cache.get(request.request_hash)
        if record is None and not self.settings.model:  # model left open: whatever was recorded for this prompt
            record = book.by_prompt(request.purpose, request.prompt_hash)
        if record is None:
            error = (f"llm=replay: no recorded answer for {request.purpose} (request {request.request_hash[:8]}); "
                     "rerun with a live backend to record it")
            self._record_failure(request, 0.0, error)
            raise LLMError(error)
        model = str(record.get("model") or self.settings.model)
        return _Answer(record["response"], model, time.monotonic() - started, cached=True)

    def _live(self, request: _Request) -> _Answer:
        import openai

        assert self._openai is not None
        started = time.monotonic()
        try:
            completion = self._send(request)
        except openai.OpenAIError as err:
            failure = self._failure(request, err)
            self._record_failure(request, time.monotonic() - started, str(failure))
            raise failure from err
        latency = time.monotonic() - started
        usage = completion.usage
        prompt_tokens = usage.prompt_tokens if usage else 0
        completion_tokens = usage.completion_tokens if usage else 0
        cost = self._price.cost(prompt_tokens, completion_tokens) if self._price else None
        self._count(prompt_tokens, completion_tokens, cost)
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice else None
        return _Answer(text=(message.content if message else None) or "", model=self.settings.model,
                       latency_s=latency, cached=False, prompt_tokens=prompt_tokens,
                       completion_tokens=completion_tokens, cost_usd=cost,
                       finish_reason=choice.finish_reason if choice else None,
                       refusal=getattr(message, "refusal", None))

    def _send(self, request: _Request) -> Any:
        """One chat completion; in auto mode a server that rejects json_schema is asked again in JSON mode."""
        import openai

        mode = self._mode(request.schema)
        started = time.monotonic()
        try:
            return self._create(request, mode)
        except (openai.BadRequestError, openai.UnprocessableEntityError) as err:
            if mode != "json_schema" or self.settings.structured_output != "auto" or not _rejects_schema(err):
                raise
            with _NO_JSON_SCHEMA_LOCK:
                _NO_JSON_SCHEMA.add(str(self.base_url))
            note = f"{self.base_url} rejected response_format json_schema ({_server_message(err)}); using json_object"
            log.warning("llm: %s", note)
            self._record_failure(request, time.monotonic() - started, one_line(note))
            return self._create(request, "json_object")

    def _mode(self, schema: AnswerSchema | None) -> str | None:
        if schema is None:
            return None
        if self.settings.structured_output != "auto":
            return self.settings.structured_output
        with _NO_JSON_SCHEMA_LOCK:
            return "json_object" if self.base_url in _NO_JSON_SCHEMA else "json_schema"

    def _create(self, request: _Request, mode: str | None) -> Any:
        assert self._openai is not None
        s = self.settings
        arguments: dict[str, Any] = {"model": s.model, "messages": request.messages}
        if request.schema is not None and mode == "json_object":
            arguments["messages"] = _with_instruction(request.messages, request.schema.json_mode_instruction())
            arguments["response_format"] = {"type": "json_object"}
        elif request.schema is not None:
            arguments["response_format"] = request.schema.json_schema_format()
        # OpenAI's newer models take max_completion_tokens only; compatible servers all know max_tokens.
        arguments["max_completion_tokens" if s.backend == "openai" else "max_tokens"] = s.max_tokens
        if not (s.backend == "openai" and REASONING_MODEL.match(s.model)):
            arguments["temperature"] = s.temperature
        return self._openai.chat.completions.create(**arguments)

    def _failure(self, request: _Request, err: Exception) -> StageError | UserError:
        """The openai client's exception as one actionable line."""
        import openai

        s, url, purpose = self.settings, self.base_url, request.purpose
        retried = f"after {s.retries} retr{'y' if s.retries == 1 else 'ies'}"
        if isinstance(err, openai.APITimeoutError):
            return LLMError(f"llm: {purpose}: {url} did not answer within llm.timeout_s={s.timeout_s:g}s ({retried}); "
                            "raise llm.timeout_s or check the server")
        if isinstance(err, openai.APIConnectionError):
            cause = one_line(str(err.__cause__ or err), 160)
            return LLMError(f"llm: {purpose}: cannot reach {url} ({cause}; {retried}); is the server running? "
                            "check llm.base_url")
        if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
            return UserError(f"llm: {url} refused the API key from ${s.api_key_env} ({err.status_code}: "
                             f"{_server_message(err)}); check the key")
        if isinstance(err, openai.NotFoundError):
            return UserError(f"llm: {url} answered 404 for model {s.model!r} ({_server_message(err)}); "
                             "check llm.model, and llm.base_url (it usually ends in /v1)")
        if isinstance(err, openai.RateLimitError):
            return LLMError(f"llm: {purpose}: {url} kept answering 429 Too Many Requests ({retried}): "
                            f"{_server_message(err)}; wait, or raise llm.retries")
        if isinstance(err, openai.APIStatusError):
            again = f"; {retried}" if err.status_code >= 500 or err.status_code in (408, 409) else ""
            status = err.status_code
            return LLMError(one_line(f"llm: {purpose}: {url} answered {status}: {_server_message(err)}{again}"))
        return LLMError(one_line(f"llm: {purpose}: {type(err).__name__}: {err}"))

    # --- accounting ------------------------------------------------------------------------------------------

    def _check_budget(self, request: _Request) -> None:
        s = self.settings
        with self._lock:
            used_tokens, used_usd = self._prompt_tokens + self._completion_tokens, self._cost_usd
        message = None
        if s.budget_tokens is not None and used_tokens >= s.budget_tokens:
            message = (f"llm: the budget of {s.budget_tokens:,} tokens for this paper is spent ({used_tokens:,} used); "
                       "raise llm.budget_tokens or rerun with llm=replay")
        elif s.budget_usd is not None and used_usd is not None and used_usd >= s.budget_usd:
            message = (f"llm: the budget of {_usd(s.budget_usd)} for this paper is spent ({_usd(used_usd)} used); "
                       "raise llm.budget_usd or rerun with llm=replay")
        if message is not None:
            self._record_failure(request, 0.0, message)
            raise BudgetExceeded(message)

    def _count(self, prompt_tokens: int, completion_tokens: int, cost: float | None) -> None:
        with self._lock:
            self._prompt_tokens += prompt_tokens
            self._completion_tokens += completion_tokens
            self._cost_usd = None if cost is None or self._cost_usd is None else self._cost_usd + cost

    def _record(self, request: _Request, answer: _Answer, status: str, error: str | None) -> None:
        with self._lock:
            self._calls += 1
        self._log.append(self._line(request, answer, status, error))

    def _record_failure(self, request: _Request, latency_s: float, error: str) -> None:
        cost = None if self._price is None else 0.0
        failed = _Answer("", self.settings.model, latency_s, cached=False, cost_usd=cost)
        self._log.append(self._line(request, failed, "error", error) | {"response": None})

    def _line(self, request: _Request, answer: _Answer, status: str, error: str | None) -> dict[str, Any]:
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "purpose": request.purpose,
            "backend": self.settings.backend,
            "model": answer.model,
            "base_url": self.base_url,
            "request_hash": request.request_hash,
            "prompt_hash": request.prompt_hash,
            "attempt": request.attempt,
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "latency_s": round(answer.latency_s, 3),
            "cost_usd": answer.cost_usd,
            "cached": answer.cached,
            "status": status,
            "error": error,
            "response": answer.text,
        }

    def _remember(self, request: _Request, answer: _Answer) -> None:
        """Cache an accepted live answer (a rejected one is asked again on a rerun)."""
        if self.settings.cache and not answer.cached and self._replay is None:
            self._cache.put(request.request_hash, {
                "purpose": request.purpose, "model": answer.model, "response": answer.text,
                "prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                "time": datetime.now(UTC).isoformat(timespec="seconds")})


def make_client(settings: LLMSettings, results_dir: Path, cache_root: Path) -> LLMClient | None:
    """The paper's client (None for backend none): calls logged to results_dir/llm_calls.jsonl, answers cached
    in cache_root/llm/ (cache_root is paths.cache, results/cache)."""
    if settings.backend == "none":
        return None
    return LLMClient(settings, Path(results_dir) / "llm_calls.jsonl", Path(cache_root) / "llm")


def _with_instruction(messages: Messages, instruction: str) -> Messages:
    """The messages with the JSON-mode instruction added to the system message (or as one in front)."""
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content', '')}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def _explain(err: InvalidAnswer, answer: _Answer, max_tokens: int) -> str:
    reason = str(err)
    if answer.refusal:
        reason = f"the model refused ({one_line(answer.refusal, 200)}); {reason}"
    if answer.finish_reason == "length":
        reason = f"the answer was cut off at max_tokens={max_tokens}; {reason}"
    return one_line(reason)


def _usd(amount: float) -> str:
    return f"${amount:,.2f}" if round(amount, 2) == amount else f"${amount:,.4f}"


def _server_message(err: Any) -> str:
    body = getattr(err, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    return one_line(str(message or getattr(err, "message", err)), 200)


def _rejects_schema(err: Any) -> bool:
    return bool(SCHEMA_REJECTION.search(_server_message(err)))
