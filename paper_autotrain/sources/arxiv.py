"""arXiv papers: metadata through the `arxiv` package, PDF / e-print / HTML through the polite downloader, all kept
in a cache keyed by id and version (<cache_dir>/arxiv/<id>/v<N>/); an entry counts once complete.json is written."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import arxiv
import requests
from requests.adapters import HTTPAdapter

from paper_autotrain.errors import UserError
from paper_autotrain.sources.archive import unpack_eprint
from paper_autotrain.sources.http import (
    RETRY_STATUSES,
    FetchError,
    PoliteHttp,
    Retryable,
    Sleep,
    connection_problem,
    file_lock,
    write_atomically,
)
from paper_autotrain.sources.refs import parse_arxiv_id
from paper_autotrain.sources.settings import FetchSettings

log = logging.getLogger(__name__)

META_FILE = "meta.json"
COMPLETE_FILE = "complete.json"
PDF_FILE = "paper.pdf"
HTML_FILE = "paper.html"
SOURCE_DIR = "source"
_EPRINT_DOWNLOAD = "e-print.download"
_MISSING_STATUSES = (403, 404, 410)  # arXiv withholds some sources; the PDF alone still serves


@dataclass
class ArxivPaper:
    meta: dict[str, Any]
    """arxiv_id, version (int), title, authors (list[str]), abstract, published (ISO date), year (int),
    categories (list[str]), primary_category, comment, journal_ref, doi."""
    folder: Path
    """The cache entry <cache_dir>/arxiv/<id with / -> _>/v<N>/."""
    pdf: Path | None
    """folder/paper.pdf."""
    latex_dir: Path | None
    """folder/source/ (the unpacked e-print); None when arXiv has the PDF only."""

    @property
    def label(self) -> str:
        return f"arxiv:{self.meta['arxiv_id']}v{self.meta['version']}"


def fetch_arxiv(arxiv_id: str, version: int | None, settings: FetchSettings, *, sleep: Sleep = time.sleep
                ) -> ArxivPaper:
    """The paper's metadata, PDF and LaTeX source, from the cache when complete, else from arXiv.
    Without a version, arXiv is asked for the latest one; offline or unreachable, the newest cached one serves."""
    label = _label(arxiv_id, version)
    if version is not None and (cached := cached_arxiv(arxiv_id, version, settings)):
        log.info("%s: from the cache (%s)", label, cached.folder)
        return cached
    if settings.offline:
        return _offline_entry(arxiv_id, version, settings)
    with PoliteHttp(settings, sleep) as http:
        try:
            meta = _query_metadata(http, arxiv_id, version)
        except FetchError as exc:
            return _when_metadata_failed(exc, arxiv_id, version, settings)
        if cached := cached_arxiv(arxiv_id, meta["version"], settings):
            log.info("%s: latest is v%d, from the cache (%s)", label, meta["version"], cached.folder)
            return cached
        try:
            return _download_entry(http, meta, settings)
        except UserError as exc:
            if str(exc).startswith(f"arxiv:{arxiv_id}"):
                raise
            raise UserError(f"{label}: {exc}") from exc  # name the paper, not only the URL or file


def fetch_arxiv_html(paper: ArxivPaper, settings: FetchSettings, *, sleep: Sleep = time.sleep) -> Path:
    """arXiv's HTML rendering of the paper (folder/paper.html), for when the PDF and LaTeX do not read well."""
    target = paper.folder / HTML_FILE
    if target.is_file():
        return target
    if settings.offline:
        raise UserError(f"{paper.label}: its HTML rendering is not in the cache ({target}) and fetch.offline is set")
    url = f"{settings.site_url}/html/{paper.meta['arxiv_id']}v{paper.meta['version']}"
    with PoliteHttp(settings, sleep) as http:
        try:
            http.download(url, target, throttled=True)
        except FetchError as exc:
            if exc.status in _MISSING_STATUSES:
                raise UserError(f"{paper.label}: arXiv has no HTML rendering for it ({exc.status} at {url})") from exc
            raise UserError(f"{paper.label}: {exc}") from exc
    return target


def fetch_url_pdf(url: str, settings: FetchSettings, *, sleep: Sleep = time.sleep) -> Path:
    """The PDF behind any URL, cached under <cache_dir>/url/<sha256(url)[:16]>/paper.pdf."""
    folder = settings.cache_path / "url" / hashlib.sha256(url.encode()).hexdigest()[:16]
    target = folder / PDF_FILE
    if _is_pdf(target):
        log.info("%s: from the cache (%s)", url, target)
        return target
    if settings.offline:
        raise UserError(f"{url}: not in the cache ({folder}) and fetch.offline is set; turn it off or pass a PDF path")
    with PoliteHttp(settings, sleep) as http:
        try:
            done = http.download(url, target, throttled=False, require_prefix=b"%PDF-", expected="a PDF")
        except FetchError as exc:
            if exc.reason == "not_expected":
                raise UserError(f"{exc}; pass the PDF's own URL, or download it and pass its path") from exc
            raise
    meta = {"url": url, "size": done.size, "content_type": done.content_type, "fetched_at": _now()}
    write_atomically(folder / META_FILE, json.dumps(meta, indent=2))
    return target


def cached_arxiv(arxiv_id: str, version: int, settings: FetchSettings) -> ArxivPaper | None:
    """The complete cache entry for this id and version; None when missing, partial or corrupt."""
    folder = _entry_folder(settings, arxiv_id, version)
    try:
        complete = json.loads((folder / COMPLETE_FILE).read_text())
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(complete, dict) or \
            (meta.get("arxiv_id"), meta.get("version")) != (arxiv_id, version):
        log.info("arxiv:%sv%d: the cache entry %s is corrupt; fetching it again", arxiv_id, version, folder)
        return None
    pdf = folder / PDF_FILE if complete.get("pdf") else None
    latex_dir = folder / SOURCE_DIR if complete.get("latex_dir") else None
    if (pdf and not _is_pdf(pdf)) or (latex_dir and not latex_dir.is_dir()):
        log.info("arxiv:%sv%d: the cache entry %s lost files; fetching it again", arxiv_id, version, folder)
        return None
    return ArxivPaper(meta=meta, folder=folder, pdf=pdf, latex_dir=latex_dir)


def latest_cached_arxiv(arxiv_id: str, settings: FetchSettings) -> ArxivPaper | None:
    """The highest complete cached version, if any."""
    paper_folder = _paper_folder(settings, arxiv_id)
    versions = [int(p.name[1:]) for p in paper_folder.glob("v*") if p.is_dir() and p.name[1:].isdigit()]
    for version in sorted(versions, reverse=True):
        if cached := cached_arxiv(arxiv_id, version, settings):
            return cached
    return None


# --- metadata ---------------------------------------------------------------------------------------------------


class _PoliteAdapter(HTTPAdapter):
    """Gives the `arxiv` package's requests session our User-Agent, timeout, throttle and retry policy
    (the package's own retries neither back off nor read Retry-After, so they are turned off)."""

    def __init__(self, http: PoliteHttp):
        super().__init__(max_retries=0)
        self._http = http

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: bool | str = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        request.headers["User-Agent"] = self._http.settings.user_agent  # the package sets its own per request

        def attempt() -> requests.Response:
            try:
                response = HTTPAdapter.send(self, request, stream=stream, timeout=self._http.settings.timeout_s,
                                            verify=verify, cert=cert, proxies=proxies)
                if response.status_code in RETRY_STATUSES:
                    response.close()
                    raise Retryable.from_status(response.status_code, response.headers.get("Retry-After"))
                _ = response.content  # read the body inside the retry loop, so a stalled body is retried too
                return response
            except requests.Timeout as exc:
                raise self._timeout() from exc
            except requests.ConnectionError as exc:
                if "timed out" in str(exc).lower():  # a read timeout mid-body surfaces as ConnectionError
                    raise self._timeout() from exc
                raise Retryable("unreachable", connection_problem(exc)) from exc

        return self._http.retrying(str(request.url), attempt, throttled=True)

    def _timeout(self) -> Retryable:
        return Retryable("timeout", f"timed out after {self._http.settings.timeout_s:g} s")


def _query_metadata(http: PoliteHttp, arxiv_id: str, version: int | None) -> dict[str, Any]:
    label = _label(arxiv_id, version)
    client = arxiv.Client(page_size=1, delay_seconds=http.settings.min_interval_s, num_retries=0)
    client.query_url_format = http.settings.api_url + "?{}"
    adapter = _PoliteAdapter(http)
    client._session.mount("http://", adapter)  # arxiv 4.x keeps its requests.Session there
    client._session.mount("https://", adapter)
    search = arxiv.Search(id_list=[_versioned(arxiv_id, version)], max_results=1)
    try:
        result = next(client.results(search), None)
    except arxiv.HTTPError as exc:
        raise FetchError(exc.url, "http", f"HTTP {exc.status}", status=exc.status) from exc
    finally:
        client._session.close()
    if result is None or "/api/errors" in result.entry_id:
        raise UserError(f"{label}: arXiv has no such paper (the API returned no entry for it)")
    meta = _meta_from_result(result, label)
    _refuse_withdrawn(meta)
    return meta


def _refuse_withdrawn(meta: dict[str, Any]) -> None:
    """A withdrawn version's PDF is a one-line notice: say so, and name the version before it."""
    comment = str(meta.get("comment") or "")
    if not re.search(r"\bwithdrawn\b", comment, re.IGNORECASE):
        return
    version, label = int(meta["version"]), f"arxiv:{meta['arxiv_id']}v{meta['version']}"
    earlier = (f"pass an earlier version, e.g. arxiv:{meta['arxiv_id']}v{version - 1}" if version > 1
               else "it has no earlier version to read")
    raise UserError(f"{label} is withdrawn on arXiv ({comment.strip()[:120]!r}); {earlier}")


def _meta_from_result(result: arxiv.Result, label: str) -> dict[str, Any]:
    parsed = parse_arxiv_id(result.get_short_id())
    if parsed is None or parsed[1] is None:
        raise UserError(f"{label}: arXiv answered with an unexpected entry id {result.entry_id!r}")
    return {
        "arxiv_id": parsed[0],
        "version": parsed[1],
        "title": result.title.strip(),
        "authors": [author.name for author in result.authors],
        "abstract": re.sub(r"\s+", " ", result.summary).strip(),
        "published": result.published.date().isoformat(),
        "year": result.published.year,
        "categories": list(result.categories),
        "primary_category": result.primary_category,
        "comment": result.comment,
        "journal_ref": result.journal_ref,
        "doi": result.doi,
    }


def _when_metadata_failed(exc: FetchError, arxiv_id: str, version: int | None, settings: FetchSettings
                          ) -> ArxivPaper:
    """Serve the newest cached version when arXiv cannot be reached; otherwise say what went wrong."""
    label = _label(arxiv_id, version)
    if exc.status in _MISSING_STATUSES:
        raise UserError(f"{label}: arXiv has no such paper ({exc.status})") from exc
    if not exc.is_network_down:
        raise UserError(f"{label}: {exc}") from exc
    if version is None and (cached := latest_cached_arxiv(arxiv_id, settings)):
        log.warning("%s: arXiv cannot be reached (%s); using the cached v%d", label, exc.problem,
                    cached.meta["version"])
        return cached
    folder = _entry_folder(settings, arxiv_id, version) if version else _paper_folder(settings, arxiv_id)
    if exc.reason == "unreachable":
        problem, advice = f"is unreachable ({exc.problem})", "connect to the network or pass the PDF's path"
    elif exc.reason == "timeout":
        problem, advice = exc.detail, "try again later or pass the PDF's path"
    else:
        problem, advice = f"answered {exc.detail}", "try again later or pass the PDF's path"
    raise UserError(f"{label}: arXiv {problem} and the paper is not in the cache ({folder}); {advice}") from exc


def _offline_entry(arxiv_id: str, version: int | None, settings: FetchSettings) -> ArxivPaper:
    if version is None and (cached := latest_cached_arxiv(arxiv_id, settings)):
        log.info("%s: offline, using the cached v%d", _label(arxiv_id, version), cached.meta["version"])
        return cached
    folder = _entry_folder(settings, arxiv_id, version) if version else _paper_folder(settings, arxiv_id)
    raise UserError(f"{_label(arxiv_id, version)}: not in the cache ({folder}) and fetch.offline is set; "
                    "turn it off or pass the PDF's path")


# --- downloads --------------------------------------------------------------------------------------------------


def _download_entry(http: PoliteHttp, meta: dict[str, Any], settings: FetchSettings) -> ArxivPaper:
    arxiv_id, version = meta["arxiv_id"], meta["version"]
    folder = _entry_folder(settings, arxiv_id, version)
    with file_lock(folder.parent / f".v{version}.lock"):  # another run may be fetching the same paper
        if cached := cached_arxiv(arxiv_id, version, settings):
            return cached
        shutil.rmtree(folder, ignore_errors=True)  # leftovers of a partial entry
        folder.mkdir(parents=True)
        write_atomically(folder / META_FILE, json.dumps(meta, indent=2, ensure_ascii=False))
        latex_dir, pdf = _fetch_eprint(http, settings, meta, folder)
        if pdf is None:
            pdf = _fetch_pdf(http, settings, meta, folder, required=latex_dir is None)
        complete = {"pdf": pdf is not None, "latex_dir": latex_dir is not None, "fetched_at": _now()}
        write_atomically(folder / COMPLETE_FILE, json.dumps(complete, indent=2))  # last: marks the entry complete
    return ArxivPaper(meta=meta, folder=folder, pdf=pdf, latex_dir=latex_dir)


def _fetch_eprint(http: PoliteHttp, settings: FetchSettings, meta: dict[str, Any], folder: Path
                  ) -> tuple[Path | None, Path | None]:
    """(latex_dir, pdf): a PDF-only submission's e-print is the PDF itself, which saves a download."""
    url = f"{settings.site_url}/e-print/{meta['arxiv_id']}v{meta['version']}"
    raw = folder / _EPRINT_DOWNLOAD
    try:
        http.download(url, raw, throttled=True)
    except FetchError as exc:
        if exc.status not in _MISSING_STATUSES:
            raise
        log.warning("arxiv:%sv%d: no LaTeX source on arXiv (%s)", meta["arxiv_id"], meta["version"], exc.detail)
        return None, None
    kind = unpack_eprint(raw, folder / SOURCE_DIR)
    if kind == "pdf":
        raw.replace(folder / PDF_FILE)
        return None, folder / PDF_FILE
    raw.unlink()
    return folder / SOURCE_DIR, None


def _fetch_pdf(http: PoliteHttp, settings: FetchSettings, meta: dict[str, Any], folder: Path, required: bool
               ) -> Path | None:
    url = f"{settings.site_url}/pdf/{meta['arxiv_id']}v{meta['version']}"
    try:
        http.download(url, folder / PDF_FILE, throttled=True, require_prefix=b"%PDF-", expected="a PDF")
    except FetchError as exc:
        if exc.status not in _MISSING_STATUSES:
            raise
        if required:
            raise UserError(f"arxiv:{meta['arxiv_id']}v{meta['version']}: arXiv has no such paper "
                            f"({exc.status} for both its PDF and its source)") from exc
        log.warning("arxiv:%sv%d: no PDF on arXiv (%s); the LaTeX source will do", meta["arxiv_id"],
                    meta["version"], exc.detail)
        return None
    return folder / PDF_FILE


# --- helpers ----------------------------------------------------------------------------------------------------


def _paper_folder(settings: FetchSettings, arxiv_id: str) -> Path:
    return settings.cache_path / "arxiv" / arxiv_id.replace("/", "_")


def _entry_folder(settings: FetchSettings, arxiv_id: str, version: int) -> Path:
    return _paper_folder(settings, arxiv_id) / f"v{version}"


def _versioned(arxiv_id: str, version: int | None) -> str:
    return f"{arxiv_id}v{version}" if version else arxiv_id


def _label(arxiv_id: str, version: int | None) -> str:
    return f"arxiv:{_versioned(arxiv_id, version)}"


def _is_pdf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(5) == b"%PDF-"
    except OSError:
        return False


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
