"""The one place that reads and writes artifacts: atomic writes, content hashes, stage manifests.

A stage is skipped when its manifest records the same input hash and every output it lists is
still there with the recorded content hash. A missing, unreadable or mismatching manifest or
output is a miss, never an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from paper_autotrain import __version__
from paper_autotrain.errors import UserError

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
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # a failed write names no file: name the one being written
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz(path: Path, **arrays: Any) -> None:
    """np.savez, built in memory and written atomically: a full disk leaves no half archive (and no zip file
    object that fails again when it is collected)."""
    import numpy as np  # numpy only where arrays are saved: the CLI's error path stays light

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_npz(path: Path) -> dict[str, Any] | None:
    """Every array of an .npz written by save_npz, or None when it is missing or unreadable (a damaged archive
    fails its CRC check here): a miss, which the caller rebuilds, never an error."""
    import zipfile

    import numpy as np

    try:
        with np.load(Path(path), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False, default=str) + "\n")


@contextlib.contextmanager
def staged_dir(final: Path, keep_failed: bool = True) -> Iterator[Path]:
    """A fresh staging folder for `final`, swapped into place when the block ends normally.

    On an error the staging folder never stays behind half-written: it becomes `<final>.failed` (the logs of
    what went wrong, for a stage that runs code) or is removed; a later success removes the `.failed` folder.
    """
    staging = final.with_name(f".{final.name}.staging")
    failed = final.with_name(f"{final.name}.failed")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(failed, ignore_errors=True)
        if keep_failed and staging.exists():
            os.replace(staging, failed)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_dir(staging, final)
    shutil.rmtree(failed, ignore_errors=True)


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


LOCKS_DIR = ".locks"
LOCK_POLL_S = 0.2


def _acquire(path: Path) -> Any | None:
    """The locked, emptied lock file, or None when another process holds it. A file unlinked by its previous
    holder between our open and our flock is not the lock any more: retry on the new one."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while the lock is held
        except FileNotFoundError:  # the folder went with another paper's lock in between: make it again
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            handle.seek(0)
            handle.truncate()
            return handle
        handle.close()


def _read_pid(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


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
    """Artifacts of one paper: `generated/<key>/` for the code, `results/<key>/` for everything else; a sweep job's
    (`job`) under `<key>/jobs/<job>/`, so the jobs of a --multirun never overwrite each other."""

    def __init__(self, root: Path, generated_dir: Path, results_dir: Path, key: str, job: str | None = None):
        self.root = root.resolve()
        self.key = key
        self.job = job
        folder = Path(key, "jobs", job) if job else Path(key)
        self.results_root = results_dir if results_dir.is_absolute() else self.root / results_dir
        self.generated = (generated_dir if generated_dir.is_absolute() else self.root / generated_dir) / folder
        self.results = self.results_root / folder

    def stage_dir(self, stage: str) -> Path:
        return self.results / stage

    @property
    def lock_path(self) -> Path:
        """Beside the paper's results, not in them: a refused run must not create the paper's folder."""
        name = f"{self.key}.{self.job}" if self.job else self.key
        return self.results_root / LOCKS_DIR / f"{name}.lock"

    @contextlib.contextmanager
    def exclusive(self, wait_s: float = 0.0) -> Iterator[None]:
        """One run of this paper at a time, across processes: an advisory flock, which the kernel releases when
        its process ends however it ends (kill -9 included), so a stale lock file never blocks a rerun. The file
        goes when the run ends: a refused or failed run leaves nothing behind."""
        folder = self.lock_path.parent
        made_results = not folder.parent.exists()  # then removed again if the run leaves it empty
        deadline = time.monotonic() + max(wait_s, 0.0)
        handle = _acquire(self.lock_path)
        while handle is None:
            if time.monotonic() >= deadline:
                holder = _read_pid(self.lock_path)
                raise UserError(f"another run of {self.key} is in progress (pid {holder}; lock "
                                f"{self._relative(self.lock_path)}): wait for it to finish, or pass "
                                "lock_wait_s=SECONDS to wait for it")
            time.sleep(LOCK_POLL_S)
            handle = _acquire(self.lock_path)
        try:
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            self.lock_path.unlink(missing_ok=True)  # before the unlock: a waiter then sees a stale inode, retries
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when no other paper holds a lock
            if made_results:
                with contextlib.suppress(OSError):
                    folder.parent.rmdir()

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
