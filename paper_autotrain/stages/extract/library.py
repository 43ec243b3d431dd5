"""The block library as the extraction prompt and the merge see it (read by paper_autotrain.library).

A block is a template `templates/<family folder>/blocks/<name>.j2` with its manifest `<name>.yaml` beside it, whose
`description` says what it does; general, graph, knowledge and other models share `templates/blocks/`. `custom`
is not a block the paper can name: it marks where the LLM fill-in's parts go.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from paper_autotrain.library import CUSTOM_BLOCK, TEMPLATES_DIR, load_library

__all__ = ["CUSTOM_BLOCK", "LibraryBlock", "has_fill_slot", "library_blocks", "library_by_family"]



def __getattr__(name: str) -> object:
    """TOPK_FAMILIES: the families of the top-k scaffold (templates/family.yaml), read when first asked for."""
    if name == "TOPK_FAMILIES":
        return load_library().bases[0].families
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class LibraryBlock:
    name: str
    description: str  # the manifest's description, starting with the name: "gmf (NeuMF): own user/item ..."


@cache
def library_blocks(family: str, root: Path = TEMPLATES_DIR) -> tuple[LibraryBlock, ...]:
    """The blocks a `family` model may be composed of, each with its manifest's description."""
    blocks = load_library(root).base_for(family).blocks.values()
    return tuple(LibraryBlock(rule.name, rule.description) for rule in blocks if rule.name != CUSTOM_BLOCK)


def has_fill_slot(family: str, root: Path = TEMPLATES_DIR) -> bool:
    """Whether the family's scaffold has the fixed slot the LLM fill-in writes custom parts into."""
    return load_library(root).base_for(family).fill_slot


def library_by_family(root: Path = TEMPLATES_DIR) -> dict[str, list[LibraryBlock]]:
    """Every scaffold's blocks, for the extraction prompt: the families one scaffold builds share its library."""
    return {", ".join(base.families): list(library_blocks(base.families[0], root))
            for base in load_library(root).bases}
