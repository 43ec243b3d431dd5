"""The LLM layer: one client for OpenAI and OpenAI-compatible servers (vLLM, Ollama, llama.cpp), offline replay,
call accounting, a response cache, per-paper budgets, and prompts as templates (templates/prompts/).

Stages build a client with `make_client(LLMSettings.from_config(cfg["llm"]), results_dir, cache_root)`; it is
None for llm=none. Never imports a stage."""

from .client import BudgetExceeded, LLMClient, LLMError, Usage, make_client
from .prompts import PROMPTS_DIR, prompts_version, render_prompt
from .settings import LLMSettings

__all__ = ["PROMPTS_DIR", "BudgetExceeded", "LLMClient", "LLMError", "LLMSettings", "Usage", "make_client",
           "prompts_version", "render_prompt"]
