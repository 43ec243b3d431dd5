"""Each stage's code version, from the import closure of its modules (computed, not listed by hand).

A stage depends on the package's own modules it can reach from its entry modules (`STAGE_ENTRIES`), read
statically with `ast`:

- `import a.b`, `from a.b import c` (and `a.b.c` when that is a module), relative imports, imports inside
  functions and `if TYPE_CHECKING:` blocks alike;
- importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py`, so every module brings its parent packages;
- a string constant that is exactly a module's dotted name is an edge too: that is how a module starts a
  subprocess (`[python, "-m", "paper_autotrain.worker.train", ...]`, sandbox.boot, stages.baselines.runner,
  worker.probe) or names the modules generated code may import (gates.ALLOWED_IMPORTS);
- so is a "package.module:attribute" string constant: how the regime table (regimes.py) names the functions
  and classes its consumers import when they run.

A stage's closure follows no "module:attribute" reference into another stage's package: the regime table
names both the worker's code and the baselines' (regimes.py), and each stage runs only its own, so editing the
RecBole scorers does not rerun training. A stage that does not run the regime table's entries (its entries do not
name `regimes`: the reading stages, whose extract reads a regime's facts, such as the training hyperparameters a
fit reads) follows none at all, so editing the evaluator does not rerun reading. Imports and `-m` launches are
always followed.

The data files the closure reads come with it: a package *.yaml that a closure module names in a string
constant (`Path(__file__).with_name("components.yaml")`), and the templates of `STAGE_TEMPLATES`. The
version hashes every file's content, sorted by path, plus the package version; changing any of them reruns
the stage.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from paper_autotrain import __version__
from paper_autotrain.artifacts import hash_file, hash_obj, hash_tree

PACKAGE_DIR = Path(__file__).resolve().parent

# The modules each stage's `run` lives in, plus what pipeline.py itself calls on the stage's behalf:
# Context.split() prepares the split these stages read through the regime table (each regime's prepare_split).
SPLIT = ("regimes",)
STAGE_ENTRIES: dict[str, tuple[str, ...]] = {
    "fetch": ("stages.fetch",),
    "parse": ("stages.parse",),
    "extract": ("stages.extract",),
    "render": ("stages.render", *SPLIT),  # its fill and candidates, sandbox.gates: imported by render
    "validate": ("stages.validate", *SPLIT),
    "train": ("stages.train", *SPLIT),
    "baselines": ("stages.baselines", *SPLIT),
    "compare": ("stages.compare", *SPLIT),
}
# Template folders (relative to the package: its templates/ package data) a stage renders from.
STAGE_TEMPLATES: dict[str, tuple[str, ...]] = {
    # the block library (descriptions, manifests) the extractor composes from; not the report's templates
    "extract": ("templates/family.yaml", "templates/blocks", "templates/sequential", "templates/autoencoder",
                "templates/context"),
    "render": ("templates",),
    "compare": ("templates/report",),
}
# Package data folders that are no module's data file: the templates come in through STAGE_TEMPLATES, the Hydra
# configs through each stage's config (a `"config.yaml"` string must not name conf/config.yaml).
DATA_FOLDERS = ("conf", "templates")


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. paper_autotrain.data.evaluator
    path: Path
    is_package: bool
    imports: frozenset[str]  # dotted names of package modules its import statements import (anywhere in it)
    launches: frozenset[str]  # package modules it names in a string: `-m` subprocesses, import allow-lists
    references: frozenset[str]  # package modules of the "module:attribute" strings it holds (regimes.py)
    data_files: frozenset[Path]  # package *.yaml files it names

    @property
    def depends_on(self) -> frozenset[str]:
        return self.imports | self.launches | self.references


def module_name(path: Path, package_dir: Path) -> str:
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def module_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, Module]:
    """Every module of the package with the package modules it depends on directly (parsed once a process)."""
    package_dir = Path(package_dir).resolve()
    paths = {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))
             if "__pycache__" not in p.parts}
    data = tuple(package_dir / folder for folder in DATA_FOLDERS)
    yamls = sorted(p for p in package_dir.rglob("*.yaml")
                   if "__pycache__" not in p.parts and not any(p.is_relative_to(d) for d in data))
    return {name: _parse(name, path, paths, yamls) for name, path in paths.items()}


def _parse(name: str, path: Path, modules: dict[str, Path], yamls: list[Path]) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    named: set[str] = set()
    referenced: set[str] = set()
    data: set[Path] = set()

    def add(target: str, names: Iterable[str] = ()) -> None:
        if target in modules:
            found.add(target)
        for item in names:  # `from pkg import mod` imports the module pkg.mod
            if f"{target}.{item}" in modules:
                found.add(f"{target}.{item}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            add(target, (alias.name for alias in node.names))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            target = named_module(text, modules)
            if target is not None and target != name:
                (referenced if ":" in text else named).add(target)
            if text.endswith(".yaml"):
                data.update(_named_yaml(text, path.parent, yamls))
    return Module(name, path, is_package, frozenset(found - {name}), frozenset(named - found),
                  frozenset(referenced - found - named), frozenset(data))


def named_module(text: str, modules: dict[str, Path]) -> str | None:
    """The package module a string names: its dotted name (`-m module` launches, import allow-lists), or
    "module:attribute" (the regime table's references); None for any other string."""
    module, colon, attribute = text.partition(":")
    if colon and not attribute.isidentifier():
        return None
    return module if module in modules else None


def _named_yaml(text: str, folder: Path, yamls: list[Path]) -> list[Path]:
    """The package yaml files a string names: a name (or glob) beside the module, or a path in the package."""
    hits = [p for p in yamls if p.parent == folder and fnmatch.fnmatch(p.name, text)]
    return hits or [p for p in yamls if p.as_posix().endswith("/" + text.lstrip("./"))]


def parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.cache
def module_closure(entries: tuple[str, ...], package_dir: Path = PACKAGE_DIR,
                   leave_out: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The dotted names of the package modules reachable from `entries` (names below the package), sorted;
    following no "module:attribute" reference into the packages `leave_out` names (below the package too; "" the
    whole package)."""
    graph = module_graph(Path(package_dir).resolve())
    root = Path(package_dir).resolve().name
    todo = [f"{root}.{entry}" for entry in entries]
    missing = [name for name in todo if name not in graph]
    if missing:
        raise KeyError(f"code_hash: no module {', '.join(missing)} in {package_dir}")
    fenced = tuple(f"{root}.{package}" if package else root for package in leave_out)  # "": the whole package
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        module = graph[name]
        todo.extend(module.imports | module.launches)
        todo.extend(target for target in module.references if not inside(target, fenced))
        todo.extend(parents(name))
    return tuple(sorted(seen))


def inside(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def other_stages(stage: str) -> tuple[str, ...]:
    """The packages `stage`'s closure follows no table reference into: the other stages'; the whole package for a
    stage that runs no regime entry (SPLIT is not among its entries)."""
    if not set(SPLIT) <= set(STAGE_ENTRIES[stage]):
        return ("",)
    return tuple(f"stages.{other}" for other in STAGE_ENTRIES if other != stage)


def closure(stage: str, package_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    """The dotted names of the package modules `stage` depends on, sorted."""
    return module_closure(STAGE_ENTRIES[stage], Path(package_dir).resolve(), other_stages(stage))


@functools.cache
def closure_files(stage: str, package_dir: Path = PACKAGE_DIR) -> tuple[Path, ...]:
    """The files of `stage`'s closure: its modules' sources and the yaml files they name, sorted by path."""
    package_dir = Path(package_dir).resolve()
    graph = module_graph(package_dir)
    files: set[Path] = set()
    for name in closure(stage, package_dir):
        files.add(graph[name].path)
        files.update(graph[name].data_files)
    return tuple(sorted(files, key=lambda p: p.relative_to(package_dir.parent).as_posix()))


def template_hash(path: Path) -> str | None:
    """A templates folder's or file's content hash (None when it is not there)."""
    return hash_tree(path) if path.is_dir() else hash_file(path) if path.is_file() else None


def stage_code_version(stage: str, package_dir: Path = PACKAGE_DIR) -> str:
    """Hash of the code, data files and templates `stage` depends on (contents are read on every call)."""
    package_dir = Path(package_dir).resolve()
    repo = package_dir.parent
    files = [(p.relative_to(repo).as_posix(), hash_file(p)) for p in closure_files(stage, package_dir)]
    templates = [(rel, template_hash(package_dir / rel)) for rel in STAGE_TEMPLATES.get(stage, ())]
    return hash_obj([__version__, files, templates])
