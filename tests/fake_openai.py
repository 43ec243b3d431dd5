"""A loopback OpenAI-compatible server speaking the real Chat Completions protocol, with scripted answers.

`POST /v1/chat/completions` answers `chat.completion` objects shaped like OpenAI's (id, object, created, model,
choices[0].message, finish_reason, usage); `GET /v1/models` lists one model. Tests drive it through the real
`openai` client:

    with FakeOpenAI() as server:
        server.script(Reply("not json"), Reply('{"a": 1}'))
        ...  # LLMSettings(backend="compatible", base_url=server.url, model="m")
        assert len(server.requests) == 2
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackServer

MODEL_ID = "fake-model"


class Headers(dict):
    """Request headers by lower-cased name, looked up case-insensitively (`h["Authorization"]`)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__((str(name).lower(), value) for name, value in dict(items).items())

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


@dataclass
class Reply:
    content: str | None = None
    """The assistant message text (for an error status: the error message)."""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    """e.g. {"Retry-After": "0.01"} with a 429."""
    delay_s: float = 0.0
    """Sleep before answering (a slow server; a timeout when longer than the client waits)."""
    prompt_tokens: int = 100
    completion_tokens: int = 50
    finish_reason: str = "stop"
    """"length" for an answer cut off at max_tokens."""
    refusal: str | None = None
    """The message's refusal text (OpenAI's structured-output refusal), content then None."""


class FakeOpenAI:
    def __init__(self) -> None:
        self.responder: Callable[[dict], Reply] | None = None
        """Answers unscripted requests from the request body (None: 500 "no scripted reply")."""
        self.reject_json_schema: bool = False
        """Answer 400 to response_format json_schema, as a server without schema support does."""
        self.requests: list[dict] = []
        """Chat completion request bodies in arrival order, each with its headers under "_headers" (a dict by
        lower-cased name that also answers `["Authorization"]`)."""
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order."""
        with self._lock:
            self._script.extend(replies)

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake OpenAI server is not running"
        return f"http://127.0.0.1:{self._server.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._server = LoopbackServer(_handler_for(self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.stop()

    # --- answering ---------------------------------------------------------------------------------------------

    def reply_to(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append({**body, "_headers": headers})
            if self.reject_json_schema and (body.get("response_format") or {}).get("type") == "json_schema":
                return Reply("response_format json_schema is not supported", status=400)
            if self._script:
                return self._script.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply("no scripted reply", status=500)


def completion_body(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": reply.content, "refusal": reply.refusal},
            "logprobs": None,
            "finish_reason": reply.finish_reason,
        }],
        "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                  "total_tokens": reply.prompt_tokens + reply.completion_tokens},
    }


def error_body(reply: Reply) -> dict[str, Any]:
    kinds = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
             429: "rate_limit_exceeded"}
    return {"error": {"message": reply.content or f"scripted {reply.status}",
                      "type": kinds.get(reply.status, "server_error"), "param": None, "code": None}}


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [
                    {"id": MODEL_ID, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

        def do_POST(self) -> None:  # noqa: N802 (the http.server API)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {"error": {"message": "the body is not JSON", "type": "invalid_request_error"}})
                return
            reply = fake.reply_to(body, Headers(self.headers.items()))
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.status != 200:
                self._send(reply.status, error_body(reply), reply.headers)
            else:
                self._send(200, completion_body(reply, str(body.get("model", MODEL_ID))), reply.headers)

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server API)
            pass

    return Handler
