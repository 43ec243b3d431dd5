"""The one place that reads and writes artifacts: atomic writes, content hashes, stage manifests.

A stage is skipped when its manifest records the same input hash and every output it lists is
still there with the recorded content hash. A missing, unreadable or mismatching manifest or
output is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from paper_autotrain import __version__

# --- hashing ---------------------------------------------------------------------------------------


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def hash_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_obj(obj: Any) -> str:
    return hash_bytes(canonical_json(obj).encode())


def hash_tree(root: Path, suffixes: Iterable[str] = (".py", ".j2", ".yaml", ".txt", ".md")) -> str:
    """Content hash of the source files below `root` (code and template versions feed stage hashes)."""
    wanted = tuple(suffixes)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in wanted and "__pycache__" not in p.parts)
    return hash_obj([(str(p.relative_to(root)), hash_file(p)) for p in files])


# --- atomic writes ---------------------------------------------------------------------------------


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False, default=str) + "\n")


def replace_dir(staging: Path, final: Path) -> None:
    """Swap a fully written staging folder into place (the old one goes only after the new one is ready)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old.{os.getpid()}")
        os.replace(final, old)
    os.replace(staging, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --- manifests -------------------------------------------------------------------------------------


class Manifest(BaseModel):
    stage: str
    input_hash: str
    outputs: dict[str, str]  # path relative to the store root -> sha256
    config: dict[str, Any] = {}
    package_version: str = __version__
    created: float = 0.0
    seconds: float = 0.0


class ArtifactStore:
    """Artifacts of one paper: `generated/<key>/` for the code, `results/<key>/` for everything else."""

    def __init__(self, root: Path, generated_dir: Path, results_dir: Path, key: str):
        self.root = root.resolve()
        self.key = key
        self.generated = (generated_dir if generated_dir.is_absolute() else self.root / generated_dir) / key
        self.results = (results_dir if results_dir.is_absolute() else self.root / results_dir) / key

    def stage_dir(self, stage: str) -> Path:
        return self.results / stage

    def manifest_path(self, stage: str) -> Path:
        return self.results / "manifests" / f"{stage}.json"

    def _relative(self, path: Path) -> str:
        return os.path.relpath(path.resolve(), self.root)

    def load_manifest(self, stage: str) -> Manifest | None:
        try:
            return Manifest.model_validate_json(self.manifest_path(stage).read_text())
        except Exception:  # noqa: BLE001 - an unreadable manifest is a cache miss
            return None

    def changed_outputs(self, manifest: Manifest) -> list[str]:
        """Outputs of a manifest that are missing or whose content changed since they were written."""
        changed = []
        for rel, digest in manifest.outputs.items():
            path = self.root / rel
            if not path.is_file() or hash_file(path) != digest:
                changed.append(rel)
        return changed

    def is_fresh(self, stage: str, input_hash: str) -> bool:
        manifest = self.load_manifest(stage)
        return manifest is not None and manifest.input_hash == input_hash and not self.changed_outputs(manifest)

    def commit(self, stage: str, input_hash: str, outputs: Iterable[Path], config: Mapping | None = None,
               seconds: float = 0.0) -> Manifest:
        """Record that `stage` produced `outputs` (already written atomically) from `input_hash`."""
        manifest = Manifest(
            stage=stage, input_hash=input_hash,
            outputs={self._relative(p): hash_file(p) for p in outputs},
            config=dict(config or {}), created=time.time(), seconds=round(seconds, 3),
        )
        atomic_write_json(self.manifest_path(stage), manifest)
        return manifest

    def output_hash(self, stage: str) -> str:
        """A hash of what a stage produced, as it is on disk now (feeds downstream input hashes)."""
        manifest = self.load_manifest(stage)
        if manifest is None:
            return ""
        return hash_obj({rel: hash_file(self.root / rel) if (self.root / rel).is_file() else None
                         for rel in sorted(manifest.outputs)})

    def invalidate(self, stage: str) -> None:
        self.manifest_path(stage).unlink(missing_ok=True)
