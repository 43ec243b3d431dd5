"""Unpack an arXiv e-print or a user's LaTeX archive safely: tar(.gz), a gzipped single .tex, or a PDF."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from paper_autotrain.errors import UserError

log = logging.getLogger(__name__)

EprintKind = Literal["tar", "gzip", "pdf"]
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
SINGLE_TEX_NAME = "main.tex"
_CHUNK = 1024 * 1024
_CORRUPT = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def unpack_eprint(data_path: Path, dest: Path, max_bytes: int = MAX_UNPACKED_BYTES) -> EprintKind:
    """Unpack into dest (replaced whole, or left untouched on failure); "pdf" means a PDF, nothing unpacked.
    The kind is told by magic bytes, since arXiv's headers and users' file names are not reliable."""
    head = _read_head(data_path, 512)
    if head.startswith(b"%PDF-"):
        return "pdf"
    try:
        if head.startswith(b"\x1f\x8b"):
            if _gzip_holds_tar(data_path):
                _unpack_into(dest, lambda root: _extract_tar_file(data_path, "r:gz", root, max_bytes))
                return "tar"
            _unpack_into(dest, lambda root: _gunzip_single(data_path, root / SINGLE_TEX_NAME, max_bytes))
            return "gzip"
        if _looks_like_tar(head) or tarfile.is_tarfile(data_path):
            _unpack_into(dest, lambda root: _extract_tar_file(data_path, "r:", root, max_bytes))
            return "tar"
    except _CORRUPT as exc:
        raise UserError(f"{data_path}: corrupt archive ({type(exc).__name__}: {exc})") from exc
    raise UserError(f"{data_path}: not a LaTeX archive (expected a .tar.gz, .tar, a gzipped .tex or a PDF)")


def _read_head(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _looks_like_tar(block: bytes) -> bool:
    return block[257:262] == b"ustar"  # POSIX and GNU tar headers carry this magic


def _gzip_holds_tar(path: Path) -> bool:
    with gzip.open(path, "rb") as stream:
        if _looks_like_tar(stream.read(512)):
            return True
    try:  # pre-POSIX tars have no magic: let tarfile judge by the header checksum
        with tarfile.open(path, "r:gz") as tar:
            return tar.next() is not None
    except tarfile.ReadError:
        return False


def _unpack_into(dest: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temp folder beside dest, then swap it in, so dest is never half-written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.unpack-"))
    try:
        fill(staging)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _gunzip_single(path: Path, target: Path, max_bytes: int) -> None:
    with gzip.open(path, "rb") as source, open(target, "wb") as out:
        _copy_capped(source, out, max_bytes, path)


def _extract_tar_file(path: Path, mode: str, root: Path, max_bytes: int) -> None:
    with tarfile.open(path, mode) as tar:
        total = 0
        for member in tar:
            relative = _safe_member_path(member, path)
            if relative is None:
                continue
            target = root / relative
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            total += member.size
            if total > max_bytes:
                raise _too_big(path, max_bytes)
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None  # regular files always have content
            with source, open(target, "wb") as out:
                _copy_capped(source, out, max_bytes, path)


def _safe_member_path(member: tarfile.TarInfo, archive: Path) -> PurePosixPath | None:
    """The member's path inside the archive, None to skip it; refuses archives that escape their folder."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or (name.parts and name.parts[0].endswith(":")):
        raise UserError(f"{archive}: unsafe archive member {member.name!r} (absolute path or '..'); not unpacking it")
    if not (member.isfile() or member.isdir()):
        log.warning("%s: skipping %s (links and special files are not unpacked)", archive, member.name)
        return None
    parts = [part for part in name.parts if part not in ("", ".")]
    return PurePosixPath(*parts) if parts else None


def _copy_capped(source: IO[bytes], out: IO[bytes], max_bytes: int, archive: Path) -> None:
    written = 0
    while chunk := source.read(_CHUNK):
        written += len(chunk)
        if written > max_bytes:
            raise _too_big(archive, max_bytes)
        out.write(chunk)


def _too_big(archive: Path, max_bytes: int) -> UserError:
    return UserError(f"{archive}: unpacks to more than {max_bytes // (1024 * 1024)} MB; refusing it")
