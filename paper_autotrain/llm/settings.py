"""LLMSettings: which LLM answers, how it is asked, and what it may spend (conf/llm/*.yaml)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from paper_autotrain.errors import UserError

Backend = Literal["none", "openai", "compatible", "replay"]
StructuredOutput = Literal["auto", "json_schema", "json_object"]

BACKENDS: tuple[str, ...] = get_args(Backend)
STRUCTURED_OUTPUTS: tuple[str, ...] = get_args(StructuredOutput)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class LLMSettings:
    backend: Backend = "none"
    """none (no LLM), openai (api.openai.com), compatible (any OpenAI-compatible server at base_url), replay."""
    model: str = ""
    """e.g. gpt-4o-mini, Qwen/Qwen2.5-7B-Instruct, llama3.1; for replay, "" answers with whatever was recorded."""
    base_url: str | None = None
    """Compatible servers: http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama),
    http://localhost:8080/v1 (llama.cpp server). For openai, None means api.openai.com (or $OPENAI_BASE_URL)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key; compatible servers may need none ("none" is sent)."""
    temperature: float = 0.0
    max_tokens: int = 4096
    """Longest answer of one call."""
    timeout_s: float = 120.0
    """Connect and read timeout of one HTTP request."""
    retries: int = 3
    """Transport retries on 429/5xx/timeouts (the openai client's max_retries, which honours Retry-After)."""
    structured_output: StructuredOutput = "auto"
    """auto: try json_schema, fall back to json_object (JSON mode) when the server rejects it, remembered per
    base_url for the run."""
    max_attempts: int = 3
    """Answers re-asked with the pydantic validation error appended."""
    budget_tokens: int | None = None
    """Per paper and run: live calls are refused once this many tokens (prompt + completion) are spent."""
    budget_usd: float | None = None
    """Per paper and run, priced from conf/llm_prices.yaml; cannot be enforced for a model without a price."""
    cache: bool = True
    """Reuse a response whose request hash was seen before (results/cache/llm/<hash>.json)."""
    replay_from: str | None = None
    """For backend replay: a llm_calls.jsonl to answer from (default: the paper's own results/<key>/llm_calls.jsonl)."""

    def __post_init__(self) -> None:
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("structured_output", self.structured_output, STRUCTURED_OUTPUTS)
        if not isinstance(self.model, str):
            raise UserError(f"llm.model={self.model!r}: expected a model name")
        self.model = self.model.strip()
        if self.backend in ("openai", "compatible") and not self.model:
            raise UserError(f"llm.model: backend {self.backend} needs a model name, e.g. llm.model=gpt-4o-mini")
        self._check_base_url()
        if not isinstance(self.api_key_env, str) or not ENV_NAME.fullmatch(self.api_key_env):
            raise UserError(f"llm.api_key_env={self.api_key_env!r}: expected an environment variable name")
        self.temperature = _number("temperature", self.temperature, low=0.0, high=2.0)
        self.timeout_s = _number("timeout_s", self.timeout_s, low=0.0, allow_low=False)
        _check_whole("max_tokens", self.max_tokens, low=1)
        _check_whole("retries", self.retries, low=0)
        _check_whole("max_attempts", self.max_attempts, low=1)
        if self.budget_tokens is not None:
            _check_whole("budget_tokens", self.budget_tokens, low=0)
        if self.budget_usd is not None:
            self.budget_usd = _number("budget_usd", self.budget_usd, low=0.0)
        if not isinstance(self.cache, bool):
            raise UserError(f"llm.cache={self.cache!r}: expected true or false")
        if self.replay_from is not None and (not isinstance(self.replay_from, str) or not self.replay_from.strip()):
            raise UserError(f"llm.replay_from={self.replay_from!r}: expected a path to a llm_calls.jsonl, or null")

    def _check_base_url(self) -> None:
        if self.base_url is None:
            if self.backend == "compatible":
                raise UserError("llm.base_url: backend compatible needs the server's URL, e.g. "
                                "llm.base_url=http://localhost:8000/v1 (vLLM) or http://localhost:11434/v1 (Ollama)")
            return
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise UserError(f"llm.base_url={self.base_url!r}: expected an http(s):// URL such as "
                            "http://localhost:8000/v1")
        self.base_url = self.base_url.rstrip("/")

    @property
    def live(self) -> bool:
        """True for backends that talk to a server."""
        return self.backend in ("openai", "compatible")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> LLMSettings:
        """Settings from the `llm` config group; a null value keeps the default, an unknown key is a UserError."""
        values = {str(key): value for key, value in (cfg or {}).items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"llm: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**{key: value for key, value in values.items() if value is not None})


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"llm.{name}={value!r}: choose one of {', '.join(choices)}")


def _check_whole(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"llm.{name}={value!r}: expected a whole number >= {low}")


def _number(name: str, value: Any, low: float, high: float | None = None, allow_low: bool = True) -> float:
    is_number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    in_range = is_number and (value >= low if allow_low else value > low) and (high is None or value <= high)
    if not in_range:
        bound = f"{'>=' if allow_low else '>'} {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise UserError(f"llm.{name}={value!r}: expected a number {bound}")
    return float(value)
