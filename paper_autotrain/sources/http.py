"""A polite downloader: User-Agent, timeouts, retries with backoff and Retry-After, a cross-process throttle for
arXiv, size-capped streaming and atomic writes. Failures are one-line FetchErrors (UserErrors naming the URL)."""

from __future__ import annotations

import contextlib
import email.utils
import errno
import fcntl
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal, TypeVar

import httpx

from paper_autotrain.errors import UserError
from paper_autotrain.sources.settings import FetchSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], None]
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FailureReason = Literal["unreachable", "timeout", "http", "too_large", "not_expected"]
THROTTLE_FILE = ".arxiv-throttle"


class FetchError(UserError):
    """A request that failed for good; the message is one line starting with the URL."""

    def __init__(self, url: str, reason: FailureReason, detail: str, status: int | None = None, problem: str = ""):
        super().__init__(f"{url}: {detail}")
        self.url, self.reason, self.detail, self.status = url, reason, detail, status
        self.problem = problem or detail
        """The failure in a few words, without the retry count: "connection refused", "HTTP 503"."""

    @property
    def is_network_down(self) -> bool:
        """True when the server could not be reached or kept failing, as opposed to a definite answer."""
        return self.reason in ("unreachable", "timeout") or (self.reason == "http" and self.status in RETRY_STATUSES)


class Retryable(Exception):
    """One failed try that deserves another (429, 5xx, connection error, timeout)."""

    def __init__(self, reason: FailureReason, detail: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.status, self.retry_after = reason, detail, status, retry_after

    @classmethod
    def from_status(cls, status: int, retry_after_header: str | None) -> Retryable:
        return cls("http", f"HTTP {status}", status=status, retry_after=parse_retry_after(retry_after_header))

    @classmethod
    def from_connection_error(cls, exc: BaseException) -> Retryable:
        return cls("unreachable", connection_problem(exc))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def connection_problem(exc: BaseException) -> str:
    """A few words for a connection failure: "connection refused", "host not found", ..."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "host not found"
        if isinstance(current, ConnectionRefusedError) or getattr(current, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        current = current.__cause__ or current.__context__ or _wrapped_reason(current)
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "name resolution" in text or "nodename nor servname" in text:
        return "host not found"
    return f"connection failed: {str(exc).splitlines()[0][:120]}" if str(exc) else "connection failed"


def _wrapped_reason(exc: BaseException) -> BaseException | None:
    # urllib3's MaxRetryError keeps the real cause in .reason; requests keeps it in args[0].
    for candidate in (getattr(exc, "reason", None), *(getattr(exc, "args", ()) or ())):
        if isinstance(candidate, BaseException):
            return candidate
    return None


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[int]:
    """An exclusive flock on path (created if missing), held for the with-block; yields the open descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


class Throttle:
    """Keeps requests at least min_interval_s apart, across processes: the lock on a stamp file is held for the
    whole request, and the next holder waits until min_interval_s after the time the last request ended."""

    def __init__(self, stamp_file: Path, min_interval_s: float, sleep: Sleep = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.stamp_file, self.min_interval_s, self.sleep, self.clock = stamp_file, min_interval_s, sleep, clock

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for our turn and make the request in the with-block; the next interval starts when it ends."""
        if self.min_interval_s <= 0:
            yield
            return
        with file_lock(self.stamp_file) as fd:
            # Capped so a clock that jumped back cannot make us wait for long.
            wait = min(self.min_interval_s, _read_stamp(fd) + self.min_interval_s - self.clock())
            if wait > 0:
                log.debug("throttle: waiting %.2f s before the next request to arXiv", wait)
                self.sleep(wait)
            try:
                yield
            finally:
                _write_stamp(fd, self.clock())


def _read_stamp(fd: int) -> float:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        return float(os.read(fd, 64).decode() or 0.0)
    except ValueError:
        return 0.0


def _write_stamp(fd: int, stamp: float) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, repr(stamp).encode())


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write to a temp file in the same folder, then rename: readers see the old file or the whole new one."""
    payload = data.encode() if isinstance(data, str) else data
    with _atomic_target(path) as handle:
        handle.write(payload)


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[IO[bytes]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        raise


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size: int
    content_type: str


class PoliteHttp:
    """One session's HTTP client with the fetch settings' manners. `sleep` is injectable so tests can watch delays."""

    def __init__(self, settings: FetchSettings, sleep: Sleep = time.sleep):
        self.settings, self.sleep = settings, sleep
        self.throttle = Throttle(settings.cache_path / THROTTLE_FILE, settings.min_interval_s, sleep)
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(headers={"User-Agent": self.settings.user_agent}, follow_redirects=True,
                                        timeout=httpx.Timeout(self.settings.timeout_s))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> PoliteHttp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def retrying(self, url: str, attempt: Callable[[], T], *, throttled: bool) -> T:
        """Call attempt() until it succeeds, retrying a Retryable with backoff; the last failure is a FetchError."""
        retries = self.settings.retries
        for try_index in range(retries + 1):
            try:
                with self.throttle.turn() if throttled else contextlib.nullcontext():
                    log.info("GET %s%s", url, f" (retry {try_index})" if try_index else "")
                    return attempt()
            except Retryable as failure:
                if try_index == retries:
                    raise self._final_error(url, failure) from failure
                delay = self.retry_delay(try_index, failure.retry_after)
                log.info("%s: %s; retrying in %.1f s", url, failure.detail, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    def retry_delay(self, try_index: int, retry_after: float | None) -> float:
        """Exponential backoff, or longer when the server asks (Retry-After); never above max_backoff_s."""
        backoff = self.settings.backoff_s * 2**try_index
        return min(max(backoff, retry_after or 0.0), self.settings.max_backoff_s)

    def download(self, url: str, dest: Path, *, throttled: bool, require_prefix: bytes | None = None,
                 expected: str = "") -> Downloaded:
        """Stream url to dest atomically, refusing more than max_mb; with require_prefix, refuse other content."""

        def attempt() -> Downloaded:
            try:
                with self.client.stream("GET", url) as response:
                    self._check_status(url, response)
                    return self._save(url, response, dest, require_prefix, expected)
            except httpx.TimeoutException as exc:
                raise Retryable("timeout", f"timed out after {self.settings.timeout_s:g} s") from exc
            except httpx.TransportError as exc:
                raise Retryable.from_connection_error(exc) from exc

        _ = self.client  # built before our turn, so the turn is spent on the request alone
        return self.retrying(url, attempt, throttled=throttled)

    def _check_status(self, url: str, response: httpx.Response) -> None:
        if response.status_code in RETRY_STATUSES:
            raise Retryable.from_status(response.status_code, response.headers.get("Retry-After"))
        if response.status_code >= 400:
            detail = f"HTTP {response.status_code} {response.reason_phrase}".strip()
            raise FetchError(url, "http", detail, status=response.status_code)
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.settings.max_bytes:
            raise self._too_large(url)

    def _save(self, url: str, response: httpx.Response, dest: Path, require_prefix: bytes | None,
              expected: str) -> Downloaded:
        size, head = 0, b""
        with _atomic_target(dest) as handle:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.settings.max_bytes:
                    raise self._too_large(url)
                if len(head) < 16:
                    head += chunk[:16]
                handle.write(chunk)
            if require_prefix is not None and not head.startswith(require_prefix):
                content_type = response.headers.get("Content-Type", "unknown type").split(";")[0]
                raise FetchError(url, "not_expected", f"not {expected or 'the expected content'} "
                                                      f"(the server sent {content_type})")
        return Downloaded(dest, size, response.headers.get("Content-Type", ""))

    def _too_large(self, url: str) -> FetchError:
        return FetchError(url, "too_large", f"larger than the {self.settings.max_mb:g} MB limit (fetch.max_mb)")

    def _final_error(self, url: str, failure: Retryable) -> FetchError:
        retries = self.settings.retries
        if failure.reason == "http":
            detail = f"HTTP {failure.status} after {retries} {'retry' if retries == 1 else 'retries'}"
        elif failure.reason == "timeout":
            detail = f"{failure.detail} ({retries + 1} {'try' if retries == 0 else 'tries'})"
        else:
            detail = f"unreachable ({failure.detail})"
        return FetchError(url, failure.reason, detail, status=failure.status, problem=failure.detail)
