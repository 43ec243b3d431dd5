"""LLMSettings from the conf/llm options and from bad values, and the price table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from paper_autotrain.commands.config import CONF_DIR
from paper_autotrain.errors import UserError
from paper_autotrain.llm import LLMSettings
from paper_autotrain.llm.prices import PRICES_FILE, Price, is_local_url, load_price_table, price_for

LLM_OPTIONS = sorted(p.stem for p in (Path(CONF_DIR) / "llm").glob("*.yaml"))


def composed_llm(option: str) -> dict:
    """The llm section composed with the main config (appended while config.yaml has no llm default yet)."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        has_default = "llm" in compose(config_name="config", overrides=["paper=x.pdf"])
        override = f"llm={option}" if has_default else f"+llm={option}"
        cfg = compose(config_name="config", overrides=["paper=x.pdf", override])
        return OmegaConf.to_container(cfg, resolve=True)["llm"]


def test_the_llm_group_has_the_four_backends():
    assert LLM_OPTIONS == ["compatible", "none", "openai", "replay"]


@pytest.mark.parametrize("option", LLM_OPTIONS)
def test_every_llm_option_composes_and_is_accepted(option):
    section = composed_llm(option)
    assert set(section) == {f.name for f in dataclasses.fields(LLMSettings)}  # every key, documented in the YAML
    settings = LLMSettings.from_config(section)
    assert settings.backend == option


def test_the_yaml_defaults_match_the_dataclass_defaults():
    section = yaml.safe_load((Path(CONF_DIR) / "llm" / "none.yaml").read_text())
    assert LLMSettings.from_config(section) == LLMSettings()


def test_compatible_option_points_at_a_local_vllm():
    settings = LLMSettings.from_config(composed_llm("compatible"))
    assert settings.base_url == "http://localhost:8000/v1" and settings.model


def test_null_keeps_the_default_and_a_trailing_slash_goes():
    settings = LLMSettings.from_config({"backend": "compatible", "model": "llama3.1", "retries": None,
                                        "base_url": "http://localhost:11434/v1/", "temperature": 0})
    assert settings.retries == 3 and settings.base_url == "http://localhost:11434/v1"
    assert isinstance(settings.temperature, float)


@pytest.mark.parametrize(("values", "words"), [
    ({"modle": "x"}, "llm: unknown setting(s) modle; known: "),
    ({"backend": "anthropic"}, "llm.backend='anthropic': choose one of none, openai, compatible, replay"),
    ({"backend": "openai"}, "llm.model: backend openai needs a model name"),
    ({"backend": "compatible", "model": "m"}, "llm.base_url: backend compatible needs the server's URL"),
    ({"base_url": "localhost:8000"}, "llm.base_url='localhost:8000': expected an http(s):// URL"),
    ({"api_key_env": "MY-KEY"}, "llm.api_key_env='MY-KEY': expected an environment variable name"),
    ({"temperature": 3}, "llm.temperature=3: expected a number >= 0 and <= 2"),
    ({"timeout_s": 0}, "llm.timeout_s=0: expected a number > 0"),
    ({"max_tokens": 0}, "llm.max_tokens=0: expected a whole number >= 1"),
    ({"retries": 1.5}, "llm.retries=1.5: expected a whole number >= 0"),
    ({"max_attempts": True}, "llm.max_attempts=True: expected a whole number >= 1"),
    ({"structured_output": "tools"}, "llm.structured_output='tools': choose one of auto, json_schema, json_object"),
    ({"budget_tokens": -1}, "llm.budget_tokens=-1: expected a whole number >= 0"),
    ({"budget_usd": "5$"}, "llm.budget_usd='5$': expected a number >= 0"),
    ({"cache": "yes"}, "llm.cache='yes': expected true or false"),
    ({"replay_from": " "}, "llm.replay_from=' ': expected a path"),
])
def test_bad_settings_are_one_line_user_errors(values, words):
    with pytest.raises(UserError) as caught:
        LLMSettings.from_config(values)
    assert str(caught.value).startswith(words) and "\n" not in str(caught.value)


def test_the_price_table_is_dated_and_complete():
    table = load_price_table()
    assert table["as_of"] and "check" in PRICES_FILE.read_text().lower()
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini"):
        price = price_for(model, "openai", None, table)
        assert isinstance(price, Price) and 0 < price.input_per_million <= price.output_per_million, model


def test_prices_for_snapshots_local_servers_and_unknown_models():
    table = {"models": {"gpt-4o-mini": {"input": 0.15, "output": 0.60}}}
    assert price_for("gpt-4o-mini-2024-07-18", "openai", None, table) == Price(0.15, 0.60)
    assert price_for("Qwen/Qwen2.5-7B-Instruct", "compatible", "http://localhost:8000/v1", table) == Price(0, 0)
    assert price_for("llama3.1", "compatible", "https://api.together.xyz/v1", table) is None
    assert price_for("gpt-9", "openai", None, table) is None
    assert Price(0.15, 0.60).cost(1_000_000, 1_000_000) == 0.75


@pytest.mark.parametrize(("url", "local"), [
    ("http://localhost:11434/v1", True), ("http://127.0.0.1:8000/v1", True), ("http://10.0.3.7:8000/v1", True),
    ("http://vllm:8000/v1", True), ("http://[::1]:8080/v1", True), ("https://api.openai.com/v1", False),
    ("https://8.8.8.8/v1", False), (None, False),
])
def test_local_urls(url, local):
    assert is_local_url(url) is local
