"""Where a dataset's RecBole atomic files live."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.util import find_spec
from pathlib import Path

from paper_autotrain.errors import UserError


def recbole_example_dir() -> Path | None:
    """The folder of example datasets shipped inside the RecBole wheel (ml-100k among them)."""
    spec = find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example"


def locate_interactions(dataset_cfg: Mapping) -> Path:
    """The `<name>.inter` file of a dataset: from `path` if given, else RecBole's shipped copy."""
    name = str(dataset_cfg["name"])
    configured = dataset_cfg.get("path")
    if configured:
        folder = Path(str(configured)).expanduser()
    else:
        examples = recbole_example_dir()
        folder = examples / name if examples else Path(name)
    inter = folder / f"{name}.inter" if folder.is_dir() else folder
    if not inter.is_file():
        raise UserError(
            f"dataset {name!r} not found at {inter}; give dataset.path=/folder/with/{name}.inter "
            "(RecBole atomic files) or use dataset=ml-100k"
        )
    return inter
