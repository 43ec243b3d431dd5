"""Prompts as files: templates/prompts/<name>.j2, Jinja2 with StrictUndefined, one `{% block system %}` and one
`{% block user %}` (format: templates/prompts/README.md). Their content hash, `prompts_version()`, goes into the
input hash of every stage that asks an LLM, so editing a prompt reruns what it produced."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from paper_autotrain.artifacts import hash_tree
from paper_autotrain.errors import StageError
from paper_autotrain.paths import PROMPTS_DIR

PARTS = ("system", "user")


@functools.cache
def _environment(directory: str) -> jinja2.Environment:
    # cache_size=0: every render reads the file, so a prompt edited within the same mtime tick is never stale
    # (prompts are rendered a few times per paper; compiling them is cheap).
    return jinja2.Environment(loader=jinja2.FileSystemLoader(directory), undefined=jinja2.StrictUndefined,
                              autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                              cache_size=0)


def render_prompt(name: str, /, prompts_dir: Path | None = None, **variables: Any) -> list[dict[str, str]]:
    """[{"role": "system", ...}, {"role": "user", ...}] from <prompts_dir>/<name>.j2 (an empty system part is left
    out). `name` is positional so that a template may use a variable called `name`."""
    directory = Path(prompts_dir) if prompts_dir is not None else PROMPTS_DIR
    parts = _render_parts(name, directory, variables)
    if not parts.get("user"):
        raise StageError(f"prompt {name!r}: {directory / name}.j2 renders no user part ({{% block user %}})")
    return [{"role": role, "content": parts[role]} for role in PARTS if parts.get(role)]


def _render_parts(name: str, directory: Path, variables: dict[str, Any]) -> dict[str, str]:
    try:
        template = _environment(str(directory)).get_template(f"{name}.j2")
        context = template.new_context(variables)
        # Rendering the whole template first resolves {% extends %}, so inherited blocks are found below too.
        "".join(template.root_render_func(context))
        return {part: "".join(context.blocks[part][0](context)).strip() for part in PARTS if part in context.blocks}
    except jinja2.TemplateNotFound as err:
        raise StageError(f"prompt {name!r}: no template {err.name} in {directory}") from None
    except jinja2.TemplateSyntaxError as err:
        raise StageError(f"prompt {name!r}: {err.message} ({err.name or name}.j2 line {err.lineno})") from None
    except jinja2.UndefinedError as err:
        raise StageError(f"prompt {name!r}: {err.message}; pass it to render_prompt") from None


def prompts_version(prompts_dir: Path | None = None) -> str:
    """Content hash of the prompt templates (*.j2 below templates/prompts/)."""
    return hash_tree(Path(prompts_dir) if prompts_dir is not None else PROMPTS_DIR, suffixes=(".j2",))
