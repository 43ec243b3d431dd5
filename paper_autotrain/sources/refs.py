"""SOURCE forms: what the user may pass as the paper, parsed into a SourceRef."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from paper_autotrain.errors import UserError

SourceKind = Literal["arxiv", "url", "pdf", "latex_dir", "latex_archive"]

# New style YYMM.NNNN[N] (2007 on) or old style archive[.SUBJ]/YYMMNNN, with an optional vN.
_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z-]*(?:\.[A-Za-z]{2})?/\d{7}"
ARXIV_ID_RE = re.compile(rf"(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>[1-9]\d*))?")
_ARXIV_HOSTS = {"arxiv.org", "www.arxiv.org", "export.arxiv.org"}
_ARXIV_PATH_RE = re.compile(r"/(?:abs|pdf|html)/(?P<ref>.+?)(?:\.pdf)?/?$")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_EXPECTED_ID = "expected arxiv:ID such as arxiv:2002.02126 or arxiv:2002.02126v2 (old style: arxiv:cs/0112017)"


@dataclass(frozen=True)
class SourceRef:
    kind: SourceKind
    text: str
    """What the user passed."""
    arxiv_id: str | None = None
    """"2002.02126" or old style "cs/0112017", without the version."""
    version: int | None = None
    """N of vN when given."""
    url: str | None = None
    """For kind "url"."""
    path: Path | None = None
    """For the local kinds."""

    @property
    def label(self) -> str:
        """How messages name the paper: arxiv:ID[vN], the URL or the path as given."""
        if self.kind == "arxiv":
            return f"arxiv:{self.arxiv_id}" + (f"v{self.version}" if self.version else "")
        return self.text


def parse_source(text: str) -> SourceRef:
    """Parse a SOURCE (arxiv:ID[vN], an arXiv or https URL, a PDF, a LaTeX folder or archive); UserError if bad."""
    stripped = text.strip()
    if stripped.lower().startswith("arxiv:"):
        return _arxiv_ref(text, stripped[len("arxiv:"):].strip())
    if "://" in stripped:
        return _url_ref(text, stripped)
    return _local_ref(text, stripped)


def paper_key(ref: SourceRef) -> str:
    """A lowercase folder-safe key: the arXiv id without version ("cs/0112017" -> "cs_0112017"), else the stem."""
    if ref.kind == "arxiv":
        assert ref.arxiv_id is not None
        return ref.arxiv_id.replace("/", "_").lower()
    if ref.kind == "url":
        url_path = urlsplit(ref.url or ref.text).path.rstrip("/")
        name = url_path.rsplit("/", 1)[-1] or urlsplit(ref.url or ref.text).hostname or "paper"
    else:
        assert ref.path is not None
        name = ref.path.resolve().name if ref.kind == "latex_dir" else ref.path.name
    return _slug(_strip_suffix(name.lower()))


def parse_arxiv_id(ref_text: str) -> tuple[str, int | None] | None:
    """("2002.02126", 2) for "2002.02126v2"; None when it is not an arXiv id."""
    match = ARXIV_ID_RE.fullmatch(ref_text)
    if not match or not _plausible_new_style(match.group("id")):
        return None
    version = match.group("version")
    return match.group("id"), int(version) if version else None


def _plausible_new_style(arxiv_id: str) -> bool:
    """Month 01-12; four digits after the dot until 1412, five since 1501."""
    if "/" in arxiv_id:
        return True
    yymm, number = arxiv_id.split(".")
    return 1 <= int(yymm[2:]) <= 12 and len(number) == (5 if int(yymm) >= 1501 else 4)


def _arxiv_ref(text: str, id_text: str) -> SourceRef:
    parsed = parse_arxiv_id(id_text)
    if parsed is None:
        raise UserError(f"{text.strip()}: not an arXiv id; {_EXPECTED_ID}")
    return SourceRef(kind="arxiv", text=text, arxiv_id=parsed[0], version=parsed[1])


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _url_ref(text: str, url: str) -> SourceRef:
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise UserError(f"{url}: not a usable URL; pass an https:// URL to the paper's PDF, or arxiv:ID")
    if host in _ARXIV_HOSTS:
        return _arxiv_url_ref(text, url, parts.path)
    if scheme == "http" and host not in _LOOPBACK_HOSTS:  # a mirror on this machine needs no TLS
        raise UserError(f"{url}: plain http is not accepted; pass the https:// URL of the PDF")
    return SourceRef(kind="url", text=text, url=url)


def _arxiv_url_ref(text: str, url: str, url_path: str) -> SourceRef:
    match = _ARXIV_PATH_RE.fullmatch(url_path)
    parsed = parse_arxiv_id(match.group("ref")) if match else None
    if parsed is None:
        raise UserError(f"{url}: not an arXiv paper URL; expected https://arxiv.org/abs/2002.02126 or arxiv:ID")
    return SourceRef(kind="arxiv", text=text, arxiv_id=parsed[0], version=parsed[1])


def _local_ref(text: str, path_text: str) -> SourceRef:
    path = Path(path_text).expanduser()
    if path.is_dir():
        return SourceRef(kind="latex_dir", text=text, path=path)
    if path.exists():
        kind: SourceKind = "latex_archive" if path.name.lower().endswith(_ARCHIVE_SUFFIXES) else "pdf"
        return SourceRef(kind=kind, text=text, path=path)
    hint = f" (did you mean arxiv:{path_text}?)" if parse_arxiv_id(path_text) else ""
    raise UserError(
        f"{path_text}: no such file or folder; pass a paper PDF, a LaTeX folder or .tar.gz, arxiv:ID or a URL{hint}"
    )


def _strip_suffix(name: str) -> str:
    for suffix in (*_ARCHIVE_SUFFIXES, ".pdf"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name).strip("-") or "paper"
