"""What the LLM client keeps on disk: the call log (llm_calls.jsonl), the response cache and the replay book.

The call log is append-only, one JSON object a line, each line written with one write() to a file opened for
appending, so a crash never leaves half a line in the middle of the log (a torn last line from a power cut is
skipped by readers and fenced off by the next writer). Cache entries are written atomically; a corrupt one is a
miss. The replay book answers requests from a recorded log."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from paper_autotrain.artifacts import atomic_write_json, hash_obj

log = logging.getLogger(__name__)

LOG_FIELDS = ("time", "purpose", "backend", "model", "base_url", "request_hash", "prompt_hash", "attempt",
              "prompt_tokens", "completion_tokens", "latency_s", "cost_usd", "cached", "status", "error", "response")


def request_hash(model: str, messages: list[dict[str, str]], schema: Mapping[str, Any] | None, temperature: float,
                 max_tokens: int) -> str:
    """What makes two requests the same question: model, messages, answer schema, temperature, max_tokens."""
    return hash_obj({"model": model, "messages": messages, "schema": schema, "temperature": temperature,
                     "max_tokens": max_tokens})


def prompt_hash(messages: list[dict[str, str]]) -> str:
    return hash_obj(messages)


class CallLog:
    """results/<paper_key>/llm_calls.jsonl: one line per call, appended."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: Mapping[str, Any]) -> None:
        line = (json.dumps(dict(record), ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if _ends_mid_line(fd):
                    line = b"\n" + line  # fence off a torn line left by an earlier crash
                os.write(fd, line)
            finally:
                os.close(fd)


def _ends_mid_line(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def read_log(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a call log; unreadable lines (a torn last line) are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.debug("llm: skipping unreadable line %d of %s", number, path)
            continue
        if isinstance(record, dict):
            yield record


class ResponseCache:
    """<cache_dir>/<request_hash>.json holding the raw answer of a request that gave an accepted answer."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.directory / f"{key}.json"
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.warning("llm: ignoring the corrupt cache entry %s (%s)", path, err)
            return None
        valid = isinstance(entry, dict) and entry.get("request_hash") == key and isinstance(entry.get("response"), str)
        if not valid:
            log.warning("llm: ignoring the corrupt cache entry %s", path)
            return None
        return entry

    def put(self, key: str, entry: Mapping[str, Any]) -> None:
        try:
            atomic_write_json(self.directory / f"{key}.json", {**entry, "request_hash": key})
        except OSError as err:  # a cache that cannot be written costs money later, not correctness now
            log.warning("llm: cannot write the cache entry for %s (%s)", key[:8], err)


class ReplayBook:
    """Answers by request hash (or, when the model is left open, by purpose and messages) from a recorded log.

    Where a request was recorded several times, an accepted answer wins over a rejected one, a later over an
    earlier."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._by_request: dict[str, dict[str, Any]] = {}
        self._by_prompt: dict[tuple[str, str], dict[str, Any]] = {}
        for record in read_log(self.path):
            if isinstance(record.get("response"), str) and record.get("status") in ("ok", "invalid"):
                _keep_best(self._by_request, str(record.get("request_hash")), record)
                _keep_best(self._by_prompt, (str(record.get("purpose")), str(record.get("prompt_hash"))), record)

    def __len__(self) -> int:
        return len(self._by_request)

    def by_request(self, key: str) -> dict[str, Any] | None:
        return self._by_request.get(key)

    def by_prompt(self, purpose: str, prompt_key: str) -> dict[str, Any] | None:
        return self._by_prompt.get((purpose, prompt_key))


def _keep_best(index: dict[Any, dict[str, Any]], key: Any, record: dict[str, Any]) -> None:
    previous = index.get(key)
    if previous is None or record.get("status") == "ok" or previous.get("status") != "ok":
        index[key] = record
