"""Paper lists (conf/papers/NAME.yaml): reading and checking a list, planning one job per paper with its merged
overrides, and running one job inside the Hydra sweep (`run_job`). The sweep itself is launched by
commands/batch.py."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paper_autotrain.errors import UserError
from paper_autotrain.paths import CONF_DIR, PACKAGE_DIR, checkout_root
from paper_autotrain.records.run_record import record_key

log = logging.getLogger("paper_autotrain")

PAPERS_DIR = CONF_DIR / "papers"
LIST_ARG = re.compile(r"^papers=(?P<name>.+)$")
BARE_VALUE = re.compile(r"^[\w.@/-]+$")  # an override value Hydra reads as it is, without quotes
DEFAULT_TOLERANCE = 0.05


class PaperEntry(BaseModel):
    """One paper of a list."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(min_length=1)
    """arxiv:ID[vN], a URL, or a local PDF / LaTeX folder (a relative path is relative to the source checkout's
    root for a list in the package's conf/papers/, or the current folder when the package is installed; else to
    the list file's folder)."""
    overrides: dict[str, Any] | list[str] = Field(default_factory=dict)
    """Hydra overrides for this paper only: {trainer.max_epochs: 20, baselines: [BPR]} or ["seed=1"]."""


class PaperList(BaseModel):
    """A paper list file (conf/papers/NAME.yaml)."""

    model_config = ConfigDict(extra="forbid")
    description: str = ""
    """What the list is for."""
    tolerance: float = Field(DEFAULT_TOLERANCE, ge=0, le=1)
    """Regression flag: a paper's main metric dropping by more than this (relative) since its previous run."""
    gap_tolerance: float = Field(DEFAULT_TOLERANCE, ge=0, le=1)
    """Reproduction gap: our main metric below the RecBole reference by more than this (relative) fails the
    paper with the class reproduction_gap."""
    overrides: dict[str, Any] | list[str] = Field(default_factory=dict)
    """Hydra overrides for every paper of the list (a paper's own overrides win)."""
    papers: list[PaperEntry] = Field(min_length=1)
    """The papers, in the order they run."""


@dataclass(frozen=True)
class Job:
    """One paper of a batch, as it will run."""

    key: str
    source: str
    overrides: list[str]


# --- reading a list ---------------------------------------------------------------------------------


def list_path(name: str) -> tuple[Path, Path]:
    """(the list file, the folder its relative paths start from) for `papers=NAME` or `papers=path/list.yaml`."""
    given = Path(name).expanduser()
    path = given.resolve() if given.suffix in (".yaml", ".yml") and given.is_file() else PAPERS_DIR / f"{name}.yaml"
    if not path.is_file():
        choices = ", ".join(sorted(p.stem for p in PAPERS_DIR.glob("*.yaml"))) or "none"
        raise UserError(f"papers={name}: no list {path.relative_to(PACKAGE_DIR)} (choose from {choices}) and no "
                        "such .yaml file")
    return path, list_base(path)


def list_base(path: Path) -> Path:
    """Where a list's relative paths start: for the package's conf/papers/, the source checkout's root (the current
    folder when the package is installed); else the list's folder."""
    if path.parent == PAPERS_DIR:
        return checkout_root() or Path.cwd()
    return path.parent


def load_list(path: Path) -> PaperList:
    """The list at `path`; a broken one is a one-line UserError naming the field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return PaperList.model_validate(data)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise UserError(f"{path}: {where}: {first['msg']}") from None


def format_value(value: Any) -> str:
    """A YAML value as Hydra override syntax: lists, mappings, null/true/false, quoted strings."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{format_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if BARE_VALUE.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def override_strings(overrides: Mapping[str, Any] | Sequence[str]) -> list[str]:
    if isinstance(overrides, Mapping):
        return [f"{key}={format_value(value)}" for key, value in overrides.items()]
    return [str(o) for o in overrides]


def override_key(override: str) -> str:
    """`+hparams.lr=0.1` -> `hparams.lr`: what an override sets, to let a later one replace it."""
    return override.split("=", 1)[0].lstrip("+~")


def merge_overrides(*groups: Sequence[str]) -> list[str]:
    """The overrides of all groups, a later group's override replacing an earlier one of the same key."""
    merged: dict[str, str] = {}
    for group in groups:
        for override in group:
            key = override_key(override)
            merged.pop(key, None)
            merged[key] = override
    return list(merged.values())


def resolve_source(source: str, base: Path) -> str:
    """A relative local path made absolute against `base`; arXiv ids, URLs and absolute paths as given."""
    text = source.strip()
    if text.lower().startswith("arxiv:") or "://" in text:
        return text
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else Path(os.path.normpath(base / path)))


def plan_jobs(papers: PaperList, base: Path, command_line: Sequence[str]) -> list[Job]:
    """One Job per paper, with its merged overrides; two entries for one paper key are refused."""
    jobs, seen = [], {}
    for index, entry in enumerate(papers.papers):
        source = resolve_source(entry.source, base)
        key = record_key(source)
        if key in seen:
            raise UserError(f"papers[{index}] ({entry.source}) has the same paper key {key!r} as "
                            f"papers[{seen[key]}]: each paper once per list")
        seen[key] = index
        if any(override_key(o).startswith("paths") for o in override_strings(entry.overrides)):
            raise UserError(f"papers[{index}] ({entry.source}) sets paths.*: a list shares one results folder and "
                            "ledger; set paths on the command line or in the list's overrides")
        overrides = merge_overrides(override_strings(papers.overrides), override_strings(entry.overrides),
                                    command_line)
        jobs.append(Job(key=key, source=source, overrides=overrides))
    return jobs


def find_list_arg(args: Sequence[str]) -> str | None:
    for arg in args:
        match = LIST_ARG.match(arg)
        if match:
            return match.group("name")
    return None


def run_job(cfg: Mapping[str, Any]) -> None:
    """One paper of a batch, inside the Hydra sweep: re-compose with the paper's overrides, run, never raise
    (the ledger has the outcome; a failure is one log line and the sweep goes on)."""
    from hydra import compose
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from paper_autotrain import pipeline
    from paper_autotrain.commands.config import CURRENT_PAPER, setup_logging

    setup_logging()
    batch = dict(cfg.get("batch") or {})
    source = str(cfg.get("paper"))
    CURRENT_PAPER.set(record_key(source))
    try:
        path = Path(str(batch["list"]))
        papers = load_list(path)
        jobs = plan_jobs(papers, list_base(path), list(HydraConfig.get().overrides.task))
        job = next(j for j in jobs if j.source == source)
        composed = OmegaConf.to_container(compose(config_name="config", overrides=job.overrides), resolve=True)
        assert isinstance(composed, dict)
        composed["batch"] = {**dict(composed.get("batch") or {}), "gap_tolerance": papers.gap_tolerance}
        outcome = pipeline.run(composed)
        log.info("batch: %s done (%s)", outcome.key, outcome.report or outcome.spec)
    except Exception as exc:  # noqa: BLE001 - a paper's failure is recorded in the ledger; the batch goes on
        log.error("batch: %s failed: %s", source, " ".join(str(exc).split())[:300] or type(exc).__name__)
