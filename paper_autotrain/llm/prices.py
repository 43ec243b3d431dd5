"""What an LLM call costs: USD per 1M input/output tokens from conf/llm_prices.yaml.

A compatible server on this machine or a private network costs nothing (you pay for the hardware, not the
tokens); a model without a price costs None ("unknown"), never a guess."""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from paper_autotrain.paths import PRICES_FILE

log = logging.getLogger(__name__)

DATED_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-mini-2024-07-18 is priced as gpt-4o-mini


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        total = prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        return round(total / 1_000_000, 8)


FREE = Price(0.0, 0.0)


def load_price_table(path: Path = PRICES_FILE) -> dict[str, Any]:
    """The price file as a mapping; a missing or unreadable file is an empty table (every cost unknown)."""
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        log.warning("llm: cannot read the price table %s (%s); costs will be unknown", path, err)
        return {}
    return table if isinstance(table, dict) else {}


def price_for(model: str, backend: str, base_url: str | None, table: Mapping[str, Any]) -> Price | None:
    """The price of `model` on this backend, or None when it is not known."""
    if backend == "compatible" and is_local_url(base_url):
        return FREE
    models = table.get("models", table)  # the file's layout, or a bare {model: {input, output}} mapping
    if not isinstance(models, Mapping):
        return None
    for name in (model, DATED_SUFFIX.sub("", model)):
        entry = models.get(name)
        if isinstance(entry, Mapping):
            return _price(entry)
    return None


def _price(entry: Mapping[str, Any]) -> Price | None:
    try:
        return Price(float(entry["input"]), float(entry["output"]))
    except (KeyError, TypeError, ValueError):
        return None


def is_local_url(url: str | None) -> bool:
    """A server on this machine, a private network or a bare host name (a container, a cluster node)."""
    host = urlsplit(url or "").hostname or ""
    if host == "localhost" or host.endswith((".local", ".localhost", ".internal")) or (host and "." not in host):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local
