"""The block library as the templates define it, read from templates/ (extract never imports render).

A block is a file `templates/<family folder>/blocks/<name>.j2` whose first Jinja comment says what it
does; general, graph, knowledge and other models share `templates/blocks/`. `custom` is not a block the
paper can name: it marks where the LLM fill-in's parts go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "templates"
FAMILY_FOLDERS = {"sequential": "sequential", "autoencoder": "autoencoder", "context": "context"}
TOPK_FAMILIES = ("general", "graph", "knowledge", "other")
CUSTOM_BLOCK = "custom"
HEADER_COMMENT = re.compile(r"\{#-?\s*(.*?)\s*-?#\}", re.S)


@dataclass(frozen=True)
class LibraryBlock:
    name: str
    description: str  # the template's comment, starting with the name: "gmf (NeuMF): own user/item ..."


def blocks_folder(family: str, root: Path = TEMPLATES_DIR) -> Path:
    folder = FAMILY_FOLDERS.get(family)
    return root / folder / "blocks" if folder else root / "blocks"


@cache
def library_blocks(family: str, root: Path = TEMPLATES_DIR) -> tuple[LibraryBlock, ...]:
    """The blocks a `family` model may be composed of, each with its template's own description."""
    blocks = []
    for path in sorted(blocks_folder(family, root).glob("*.j2")):
        if path.stem == CUSTOM_BLOCK:
            continue
        comment = HEADER_COMMENT.match(path.read_text(encoding="utf-8").lstrip())
        description = " ".join(comment.group(1).split()) if comment else path.stem
        description = re.sub(r"\s*Template variables?:.*$", "", description)  # for template authors only
        blocks.append(LibraryBlock(path.stem, re.sub(rf"^Block `{re.escape(path.stem)}`", path.stem, description)))
    return tuple(blocks)


def has_fill_slot(family: str) -> bool:
    """Whether the family's scaffold has the fixed slot the LLM fill-in writes custom parts into."""
    return family in TOPK_FAMILIES


def library_by_family() -> dict[str, list[LibraryBlock]]:
    """Every scaffold's blocks, for the extraction prompt: the top-k families share one library."""
    return {", ".join(TOPK_FAMILIES): list(library_blocks(TOPK_FAMILIES[0])),
            **{family: list(library_blocks(family)) for family in FAMILY_FOLDERS}}
