"""FetchSettings: where papers are cached and how politely they are downloaded (conf/fetch/default.yaml)."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paper_autotrain import __version__
from paper_autotrain.errors import UserError

CACHE_ENV = "PAPER_AUTOTRAIN_CACHE"
DEFAULT_CACHE_DIR = "~/.cache/paper_autotrain/papers"
DEFAULT_USER_AGENT = f"paper_autotrain/{__version__} (+https://github.com/paper-autotrain; reproducibility tool)"


def _default_cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR


@dataclass
class FetchSettings:
    cache_dir: str = field(default_factory=_default_cache_dir)
    """Downloaded papers live here, keyed by arXiv id and version (env PAPER_AUTOTRAIN_CACHE overrides the default)."""
    offline: bool = False
    """Never touch the network: serve from the cache or fail with one line."""
    api_url: str = "https://export.arxiv.org/api/query"
    """arXiv's metadata API (Atom)."""
    site_url: str = "https://arxiv.org"
    """Downloads come from {site}/pdf/IDvN, {site}/e-print/IDvN and {site}/html/IDvN."""
    user_agent: str = DEFAULT_USER_AGENT
    """Sent with every request, so arXiv can tell who is calling."""
    min_interval_s: float = 3.0
    """At least this long between two requests to arXiv (API and downloads), across processes; arXiv asks for 3 s."""
    timeout_s: float = 30.0
    """Connect and read timeout of one request."""
    retries: int = 4
    """Retries on 429, 5xx, connection errors and timeouts."""
    backoff_s: float = 2.0
    """First wait before a retry, doubled each retry, capped by max_backoff_s."""
    max_backoff_s: float = 60.0
    """Longest wait before a retry; also caps a Retry-After the server asks for."""
    max_mb: float = 50.0
    """Downloads larger than this are refused."""

    def __post_init__(self) -> None:
        _check_text("cache_dir", self.cache_dir)
        _check_text("user_agent", self.user_agent)
        for name in ("api_url", "site_url"):
            if not str(getattr(self, name)).startswith(("https://", "http://")):
                raise UserError(f"fetch.{name}={getattr(self, name)!r}: expected an http(s):// URL")
        if not isinstance(self.offline, bool):
            raise UserError(f"fetch.offline={self.offline!r}: expected true or false")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise UserError(f"fetch.retries={self.retries!r}: expected a whole number >= 0")
        _check_number("min_interval_s", self.min_interval_s, allow_zero=True)
        _check_number("backoff_s", self.backoff_s, allow_zero=True)
        _check_number("max_backoff_s", self.max_backoff_s, allow_zero=True)
        _check_number("timeout_s", self.timeout_s, allow_zero=False)
        _check_number("max_mb", self.max_mb, allow_zero=False)
        self.site_url = self.site_url.rstrip("/")

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> FetchSettings:
        """Settings from the `fetch` config group; a null value keeps the default, an unknown key is a UserError."""
        values = {str(key): value for key, value in (cfg or {}).items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UserError(f"fetch: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**{key: value for key, value in values.items() if value is not None})


def _check_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"fetch.{name}={value!r}: expected a non-empty string")


def _check_number(name: str, value: Any, allow_zero: bool) -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not is_number or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UserError(f"fetch.{name}={value!r}: expected a number {bound}")
