"""A loopback fake of arXiv (API, /pdf, /e-print, /html) plus plain files, with scripted failures.

It records every request (path, query, headers, arrival time) so tests can check the User-Agent and the spacing
between requests. Used as a context manager or through the `fake_arxiv` fixture in the tests."""

from __future__ import annotations

import gzip
import io
import socket
import tarfile
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pymupdf

from paper_autotrain.sources.settings import FetchSettings
from tests.loopback import LoopbackServer

MAIN_TEX = r"""\documentclass{article}
\title{%s}
\begin{document}
\maketitle
\section{Method}
We propagate embeddings over the user-item graph (version %d).
\input{sections/exp}
\end{document}
"""
EXP_TEX = r"""\section{Experiments}
We train with Adam, learning rate 0.001, embedding size 64, on MovieLens-1M.
"""
SINGLE_TEX = r"""\documentclass{article}
\begin{document}
\section{Experiments} A single-file paper (version %d), batch size 2048.
\end{document}
"""


@dataclass
class FakePaper:
    arxiv_id: str
    versions: int = 1
    title: str = "LightGCN: Simplifying and Powering Graph Convolution Network for\n  Recommendation"
    authors: tuple[str, ...] = ("Xiangnan He", "Kuan Deng", "Xiang Wang", "Yan Li", "Yongdong Zhang", "Meng Wang")
    abstract: str = "  Graph Convolution Network (GCN) has become new state-of-the-art for\ncollaborative filtering.\n"
    categories: tuple[str, ...] = ("cs.IR", "cs.LG")
    published: str = "2020-02-06T06:31:36Z"
    updated: str = "2020-07-07T02:53:49Z"
    comment: str = "Accepted by SIGIR 2020"
    """The latest version's arxiv:comment (arXiv's withdrawal notices say "This paper has been withdrawn")."""
    eprint: Literal["tar", "gzip", "pdf", "none"] = "tar"
    html: bool = True
    source_files: dict[str, str] | None = None
    """The e-print's files (for eprint "tar"); None: a small two-file LaTeX paper."""
    pdf_lines: tuple[str, ...] | None = None
    """The PDF's text; None: title and id; (): a PDF without a text layer, as a scan."""
    html_body: str | None = None
    """The HTML rendering's <body>; None: a title and a line."""


@dataclass
class Scripted:
    """One scripted answer for a path, used once before the normal answer comes back."""

    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Sleep this long before answering (a slow server)."""


@dataclass
class FileResponse:
    body: bytes
    content_type: str = "application/pdf"
    send_length: bool = True
    """False: no Content-Length, the body ends when the connection closes."""


@dataclass(frozen=True)
class Recorded:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    time: float


def pdf_bytes(*lines: str) -> bytes:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(50, 50, 550, 750), "\n".join(lines), fontsize=11)
    data = doc.tobytes()
    doc.close()
    return data


def tar_gz(files: dict[str, str | bytes], plain: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w" if plain else "w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connections are refused, as when the network is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeArxiv:
    def __init__(self) -> None:
        self.papers: dict[str, FakePaper] = {}
        self.files: dict[str, FileResponse] = {}
        self.requests: list[Recorded] = []
        self._scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None
        self._pdf_cache: dict[tuple[str, int], bytes] = {}

    # --- setup ---------------------------------------------------------------------------------------------------

    def add(self, paper: FakePaper) -> FakePaper:
        self.papers[paper.arxiv_id] = paper
        return paper

    def script(self, path: str, *answers: Scripted) -> None:
        """Answer the next requests to path (no query string) with these, in order."""
        with self._lock:
            self._scripts[path].extend(answers)

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake arXiv is not running"
        return f"http://127.0.0.1:{self._server.port}"

    def settings(self, cache_dir: Path, **overrides: Any) -> FetchSettings:
        """Settings pointed at this fake, fast by default (no interval, instant backoff)."""
        values: dict[str, Any] = {"cache_dir": str(cache_dir), "api_url": f"{self.url}/api/query",
                                  "site_url": self.url, "min_interval_s": 0.0, "backoff_s": 0.01, "retries": 2,
                                  "timeout_s": 5.0}
        return FetchSettings(**(values | overrides))

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- serving -------------------------------------------------------------------------------------------------

    def __enter__(self) -> FakeArxiv:
        self._server = LoopbackServer(_handler_for(self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.stop()

    def record(self, handler: BaseHTTPRequestHandler) -> tuple[str, dict[str, list[str]], Scripted | None]:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append(Recorded(parts.path, query, dict(handler.headers.items()), time.monotonic()))
            queue = self._scripts.get(parts.path)
            scripted = queue.popleft() if queue else None
        return parts.path, query, scripted

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        """(status, content type, body) for an unscripted request."""
        if path == "/api/query":
            return 200, "application/atom+xml; charset=utf-8", self.atom_feed(query)
        if path.startswith("/files/") and path[len("/files/"):] in self.files:
            file = self.files[path[len("/files/"):]]
            return 200, file.content_type, file.body
        for prefix, build in (("/pdf/", self._pdf), ("/e-print/", self._eprint), ("/html/", self._html)):
            if path.startswith(prefix):
                found = self._lookup(path[len(prefix):].removesuffix(".pdf"))
                answer = build(*found) if found else None
                if answer:
                    return 200, *answer
        return 404, "text/html", b"<html><body>Not Found</body></html>"

    def _lookup(self, ref: str) -> tuple[FakePaper, int] | None:
        arxiv_id, _, version = ref.rpartition("v") if "v" in ref.split("/")[-1] else (ref, "", "")
        paper = self.papers.get(arxiv_id)
        if paper is None:
            return None
        number = int(version) if version.isdigit() else paper.versions
        return (paper, number) if 1 <= number <= paper.versions else None

    def atom_feed(self, query: dict[str, list[str]]) -> bytes:
        """A feed in the structure of a real arXiv API response."""
        ids = [i for i in ",".join(query.get("id_list", [])).split(",") if i]
        entries = [self._entry(*found) for found in map(self._lookup, ids) if found]
        id_list = escape(",".join(ids))
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" \
xmlns:arxiv="http://arxiv.org/schemas/atom">
  <id>https://arxiv.org/api/fk7Wz1Jq0FqXqf3sQm6j2cWc1s8</id>
  <title>arXiv Query: search_query=&amp;id_list={id_list}&amp;start=0&amp;max_results=1</title>
  <updated>2024-05-01T00:00:00Z</updated>
  <link href="https://arxiv.org/api/query?start=0&amp;max_results=1&amp;id_list={id_list}" type="application/atom+xml"/>
  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>
  <opensearch:totalResults>{len(entries)}</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
{"".join(entries)}</feed>
""".encode()

    def _entry(self, paper: FakePaper, version: int) -> str:
        ref = f"{paper.arxiv_id}v{version}"
        authors = "".join(f"    <author>\n      <name>{escape(name)}</name>\n    </author>\n" for name in paper.authors)
        categories = "".join(f'    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>\n'
                             for c in paper.categories)
        return f"""  <entry>
    <id>http://arxiv.org/abs/{ref}</id>
    <title>{escape(paper.title)}</title>
    <updated>{paper.updated}</updated>
    <link href="https://arxiv.org/abs/{ref}" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/{ref}" rel="related" type="application/pdf" title="pdf"/>
    <summary>{escape(paper.abstract)}</summary>
    <published>{paper.published}</published>
    <arxiv:comment>{escape(paper.comment)}</arxiv:comment>
    <arxiv:primary_category term="{paper.categories[0]}"/>
{categories}{authors}  </entry>
"""

    def _pdf(self, paper: FakePaper, version: int) -> tuple[str, bytes]:
        key = (paper.arxiv_id, version)
        if key not in self._pdf_cache:
            lines = paper.pdf_lines if paper.pdf_lines is not None else (
                paper.title.replace("\n", " "), f"arXiv:{paper.arxiv_id}v{version}")
            self._pdf_cache[key] = pdf_bytes(*lines)
        return "application/pdf", self._pdf_cache[key]

    def _eprint(self, paper: FakePaper, version: int) -> tuple[str, bytes] | None:
        if paper.eprint == "tar":
            files = paper.source_files or {"main.tex": MAIN_TEX % (paper.title, version), "sections/exp.tex": EXP_TEX}
            return "application/gzip", tar_gz(files)
        if paper.eprint == "gzip":
            return "application/gzip", gzip.compress((SINGLE_TEX % version).encode(), mtime=0)
        if paper.eprint == "pdf":
            return self._pdf(paper, version)
        return None

    def _html(self, paper: FakePaper, version: int) -> tuple[str, bytes] | None:
        if not paper.html:
            return None
        inner = paper.html_body or f"<article><h1>{paper.title}</h1><p>Version {version}.</p></article>"
        body = f"<!DOCTYPE html><html><head><title>{paper.title}</title></head><body>{inner}</body></html>"
        return "text/html; charset=utf-8", body.encode()


def _handler_for(fake: FakeArxiv) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            path, query, scripted = fake.record(self)
            if scripted is not None and scripted.delay_s:
                time.sleep(scripted.delay_s)
            if scripted is not None and scripted.status != 200:
                self._send(scripted.status, "text/plain", f"scripted {scripted.status}".encode(), scripted.headers)
                return
            status, content_type, body = fake.answer(path, query)
            file = fake.files.get(path[len("/files/"):]) if path.startswith("/files/") else None
            self._send(status, content_type, body, {}, send_length=file.send_length if file else True)

        def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str],
                  send_length: bool = True) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if send_length:
                    self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server API)
            pass

    return Handler
