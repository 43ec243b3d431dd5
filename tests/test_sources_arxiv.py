"""arXiv and URL acquisition against a loopback fake arXiv: metadata through the real `arxiv` client, downloads,
cache, offline, failures, retries, politeness. Nothing here touches the real network."""

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pymupdf
import pytest
from omegaconf import OmegaConf

from paper_autotrain.commands.config import CONF_DIR
from paper_autotrain.errors import UserError
from paper_autotrain.sources.arxiv import fetch_arxiv, fetch_arxiv_html, fetch_url_pdf
from paper_autotrain.sources.http import PoliteHttp, parse_retry_after
from paper_autotrain.sources.settings import DEFAULT_USER_AGENT, FetchSettings
from tests.fake_arxiv import FakeArxiv, FakePaper, FileResponse, Scripted, closed_port_url, pdf_bytes

LIGHTGCN = "2002.02126"


class Sleeps(list):
    """An injected sleep that only records what was asked (retries and throttles then cost no time)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake():
    with FakeArxiv() as server:
        server.add(FakePaper(LIGHTGCN, versions=4))
        server.add(FakePaper("2101.00001", title="A single-file paper", eprint="gzip"))
        server.add(FakePaper("2101.00002", title="A PDF-only paper", eprint="pdf", html=False))
        server.add(FakePaper("cs/0112017", title="An old-style paper"))
        yield server


@pytest.fixture
def sleeps():
    return Sleeps()


def one_line_error(call) -> str:
    with pytest.raises(UserError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# --- metadata and downloads -----------------------------------------------------------------------------------------


def test_latest_version_metadata_pdf_and_latex(fake, tmp_path, caplog):
    settings = fake.settings(tmp_path)
    with caplog.at_level(logging.INFO, logger="paper_autotrain.sources"):
        paper = fetch_arxiv(LIGHTGCN, None, settings)

    assert paper.meta == {
        "arxiv_id": LIGHTGCN, "version": 4,
        "title": "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation",
        "authors": ["Xiangnan He", "Kuan Deng", "Xiang Wang", "Yan Li", "Yongdong Zhang", "Meng Wang"],
        "abstract": "Graph Convolution Network (GCN) has become new state-of-the-art for collaborative filtering.",
        "published": "2020-02-06", "year": 2020, "categories": ["cs.IR", "cs.LG"], "primary_category": "cs.IR",
        "comment": "Accepted by SIGIR 2020", "journal_ref": None, "doi": None,
    }
    assert paper.folder == tmp_path / "arxiv" / LIGHTGCN / "v4"
    assert json.loads((paper.folder / "meta.json").read_text()) == paper.meta
    assert (paper.folder / "complete.json").is_file()
    with pymupdf.open(paper.pdf) as doc:
        assert f"arXiv:{LIGHTGCN}v4" in doc[0].get_text()
    assert r"\input{sections/exp}" in (paper.latex_dir / "main.tex").read_text()
    assert "learning rate 0.001" in (paper.latex_dir / "sections" / "exp.tex").read_text()
    assert sorted(p.name for p in paper.folder.iterdir()) == ["complete.json", "meta.json", "paper.pdf", "source"]

    assert fake.paths() == ["/api/query", f"/e-print/{LIGHTGCN}v4", f"/pdf/{LIGHTGCN}v4"]
    assert fake.requests[0].query["id_list"] == [LIGHTGCN]
    assert {r.headers["User-Agent"] for r in fake.requests} == {DEFAULT_USER_AGENT}
    assert sum("GET " in r.getMessage() for r in caplog.records if r.levelno == logging.INFO) == 3


def test_explicit_version_and_old_style_id(fake, tmp_path):
    settings = fake.settings(tmp_path)
    assert fetch_arxiv(LIGHTGCN, 2, settings).meta["version"] == 2
    assert fake.requests[0].query["id_list"] == [f"{LIGHTGCN}v2"]

    old = fetch_arxiv("cs/0112017", None, settings)
    assert (old.meta["arxiv_id"], old.meta["version"]) == ("cs/0112017", 1)
    assert old.folder == tmp_path / "arxiv" / "cs_0112017" / "v1"
    assert "/e-print/cs/0112017v1" in fake.paths()


def test_gzip_single_file_eprint(fake, tmp_path):
    paper = fetch_arxiv("2101.00001", None, fake.settings(tmp_path))
    assert "single-file paper (version 1)" in (paper.latex_dir / "main.tex").read_text()
    assert paper.pdf.read_bytes().startswith(b"%PDF-")


def test_pdf_only_eprint_has_no_latex_and_is_not_downloaded_twice(fake, tmp_path):
    paper = fetch_arxiv("2101.00002", None, fake.settings(tmp_path))
    assert paper.latex_dir is None
    assert paper.pdf.read_bytes().startswith(b"%PDF-")
    assert fake.paths() == ["/api/query", "/e-print/2101.00002v1"]  # the e-print was the PDF


def test_html_rendering(fake, tmp_path):
    settings = fake.settings(tmp_path)
    paper = fetch_arxiv(LIGHTGCN, 4, settings)
    html = fetch_arxiv_html(paper, settings)
    assert html == paper.folder / "paper.html" and "<article>" in html.read_text()
    fake.clear()
    assert fetch_arxiv_html(paper, FetchSettings(**{**vars(settings), "offline": True})) == html
    assert fake.paths() == []

    pdf_only = fetch_arxiv("2101.00002", None, settings)
    message = one_line_error(lambda: fetch_arxiv_html(pdf_only, settings))
    assert message.startswith("arxiv:2101.00002v1: arXiv has no HTML rendering for it (404 at ")


# --- cache ----------------------------------------------------------------------------------------------------------


def test_cache_hit_makes_no_request(fake, tmp_path):
    settings = fake.settings(tmp_path)
    first = fetch_arxiv(LIGHTGCN, 4, settings)
    fake.clear()
    assert fetch_arxiv(LIGHTGCN, 4, settings) == first
    assert fake.paths() == []
    assert fetch_arxiv(LIGHTGCN, None, settings) == first  # asks only which version is the latest
    assert fake.paths() == ["/api/query"]


def test_offline_serves_the_newest_cached_version(fake, tmp_path):
    settings = fake.settings(tmp_path)
    fetch_arxiv(LIGHTGCN, 2, settings)
    newest = fetch_arxiv(LIGHTGCN, 3, settings)
    fake.clear()
    offline = fake.settings(tmp_path, offline=True)
    assert fetch_arxiv(LIGHTGCN, None, offline) == newest
    assert fetch_arxiv(LIGHTGCN, 2, offline).meta["version"] == 2
    assert fake.paths() == []


def test_offline_without_cache_names_the_paper(fake, tmp_path):
    message = one_line_error(lambda: fetch_arxiv(LIGHTGCN, None, fake.settings(tmp_path, offline=True)))
    assert message == (f"arxiv:{LIGHTGCN}: not in the cache ({tmp_path / 'arxiv' / LIGHTGCN}) and fetch.offline is "
                       "set; turn it off or pass the PDF's path")
    assert "arxiv:2002.02126v3: not in the cache" in one_line_error(
        lambda: fetch_arxiv(LIGHTGCN, 3, fake.settings(tmp_path, offline=True)))
    assert fake.paths() == []


@pytest.mark.parametrize("damage", ["no complete.json", "truncated meta.json", "pdf removed"])
def test_corrupt_or_partial_cache_entry_is_refetched(fake, tmp_path, damage):
    settings = fake.settings(tmp_path)
    folder = fetch_arxiv(LIGHTGCN, 4, settings).folder
    if damage == "no complete.json":
        (folder / "complete.json").unlink()
    elif damage == "truncated meta.json":
        (folder / "meta.json").write_text('{"arxiv_id": "2002.0')
    else:
        (folder / "paper.pdf").unlink()
    fake.clear()
    paper = fetch_arxiv(LIGHTGCN, 4, settings)
    assert fake.paths() == ["/api/query", f"/e-print/{LIGHTGCN}v4", f"/pdf/{LIGHTGCN}v4"]
    assert paper.meta["version"] == 4 and paper.pdf.is_file() and (folder / "complete.json").is_file()


# --- failures -------------------------------------------------------------------------------------------------------


def test_network_down_without_cache(tmp_path, sleeps):
    down = closed_port_url()
    settings = FetchSettings(cache_dir=str(tmp_path), api_url=f"{down}/api/query", site_url=down, retries=2,
                             min_interval_s=0.0)
    message = one_line_error(lambda: fetch_arxiv(LIGHTGCN, None, settings, sleep=sleeps))
    assert message == (f"arxiv:{LIGHTGCN}: arXiv is unreachable (connection refused) and the paper is not in the cache "
                       f"({tmp_path / 'arxiv' / LIGHTGCN}); connect to the network or pass the PDF's path")
    assert sleeps == [2.0, 4.0]  # retried with exponential backoff


def test_network_down_serves_the_cached_version(fake, tmp_path, sleeps):
    cached = fetch_arxiv(LIGHTGCN, 4, fake.settings(tmp_path))
    down = closed_port_url()
    settings = FetchSettings(cache_dir=str(tmp_path), api_url=f"{down}/api/query", site_url=down, retries=1)
    assert fetch_arxiv(LIGHTGCN, None, settings, sleep=sleeps) == cached
    assert fetch_arxiv(LIGHTGCN, 4, settings, sleep=sleeps) == cached


def test_no_such_paper(fake, tmp_path):
    settings = fake.settings(tmp_path)
    assert one_line_error(lambda: fetch_arxiv("9999.99999", None, settings)).startswith(
        "arxiv:9999.99999: arXiv has no such paper")
    fake.script("/api/query", Scripted(404))
    assert one_line_error(lambda: fetch_arxiv("9999.99999", None, settings)) == (
        "arxiv:9999.99999: arXiv has no such paper (404)")
    assert not (tmp_path / "arxiv" / "9999.99999").exists()


def test_429_retry_after_is_honoured_for_the_api_and_downloads(fake, tmp_path, sleeps):
    fake.script("/api/query", Scripted(429, {"Retry-After": "1"}))
    fake.script(f"/pdf/{LIGHTGCN}v4", Scripted(429, {"Retry-After": "2"}))
    paper = fetch_arxiv(LIGHTGCN, None, fake.settings(tmp_path), sleep=sleeps)
    assert paper.meta["version"] == 4
    assert fake.paths().count("/api/query") == 2 and fake.paths().count(f"/pdf/{LIGHTGCN}v4") == 2
    assert sleeps == [1.0, 2.0]


def test_retry_after_is_capped_and_read_as_a_date(fake, tmp_path, sleeps):
    fake.script("/api/query", Scripted(503, {"Retry-After": "3600"}))
    fetch_arxiv(LIGHTGCN, 4, fake.settings(tmp_path, max_backoff_s=5.0), sleep=sleeps)
    assert sleeps == [5.0]
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after("7") == 7.0 and parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_503_then_success_is_retried(fake, tmp_path, sleeps):
    fake.script(f"/e-print/{LIGHTGCN}v4", Scripted(503), Scripted(502))
    paper = fetch_arxiv(LIGHTGCN, 4, fake.settings(tmp_path, backoff_s=0.5), sleep=sleeps)
    assert paper.latex_dir is not None
    assert fake.paths().count(f"/e-print/{LIGHTGCN}v4") == 3
    assert sleeps == [0.5, 1.0]


def test_503_for_good_leaves_no_complete_entry(fake, tmp_path, sleeps):
    settings = fake.settings(tmp_path)
    fake.script(f"/pdf/{LIGHTGCN}v4", *[Scripted(503)] * 3)
    message = one_line_error(lambda: fetch_arxiv(LIGHTGCN, 4, settings, sleep=sleeps))
    assert message == f"arxiv:{LIGHTGCN}v4: {fake.url}/pdf/{LIGHTGCN}v4: HTTP 503 after 2 retries"
    folder = tmp_path / "arxiv" / LIGHTGCN / "v4"
    assert not (folder / "complete.json").exists()
    assert [p.name for p in folder.iterdir() if p.name.endswith(".part")] == []
    assert fetch_arxiv(LIGHTGCN, 4, settings).pdf.is_file()  # the partial entry is a miss


def test_slow_server_times_out_after_retries(fake, tmp_path, sleeps):
    settings = fake.settings(tmp_path, timeout_s=0.3, retries=1)
    fake.script("/api/query", *[Scripted(200, delay_s=1.0)] * 2)
    message = one_line_error(lambda: fetch_arxiv(LIGHTGCN, None, settings, sleep=sleeps))
    assert message.startswith(f"arxiv:{LIGHTGCN}: arXiv timed out after 0.3 s (2 tries) and the paper is not in the "
                              "cache")
    fake.files["slow.pdf"] = FileResponse(pdf_bytes("slow"))
    fake.script("/files/slow.pdf", *[Scripted(200, delay_s=1.0)] * 2)
    assert one_line_error(lambda: fetch_url_pdf(f"{fake.url}/files/slow.pdf", settings, sleep=sleeps)) == (
        f"{fake.url}/files/slow.pdf: timed out after 0.3 s (2 tries)")


# --- politeness -----------------------------------------------------------------------------------------------------


def gaps(times: list[float]) -> list[float]:
    ordered = sorted(times)
    return [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]


def test_min_interval_between_requests_to_arxiv(fake, tmp_path):
    fetch_arxiv(LIGHTGCN, None, fake.settings(tmp_path, min_interval_s=0.3))
    assert len(fake.requests) == 3
    assert min(gaps([r.time for r in fake.requests])) >= 0.3


def test_min_interval_holds_across_processes(fake, tmp_path):
    """Two downloaders with their own locks on the same cache (as two runs would be) still take turns."""
    for name in "abcd":
        fake.files[f"{name}.pdf"] = FileResponse(pdf_bytes(name))
    settings = fake.settings(tmp_path, min_interval_s=0.25)

    def run(names: str) -> None:
        with PoliteHttp(settings) as http:
            for name in names:
                http.download(f"{fake.url}/files/{name}.pdf", tmp_path / "out" / f"{name}.pdf", throttled=True)

    threads = [threading.Thread(target=run, args=(names,)) for names in ("ab", "cd")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.pdf", "b.pdf", "c.pdf", "d.pdf"]
    assert min(gaps([r.time for r in fake.requests])) >= 0.25


# --- URLs -----------------------------------------------------------------------------------------------------------


def test_url_pdf_is_downloaded_and_cached(fake, tmp_path):
    fake.files["ncf.pdf"] = FileResponse(pdf_bytes("Neural Collaborative Filtering"))
    settings = fake.settings(tmp_path)
    path = fetch_url_pdf(f"{fake.url}/files/ncf.pdf", settings)
    assert path.parent.parent == tmp_path / "url" and len(path.parent.name) == 16 and path.name == "paper.pdf"
    assert path.read_bytes() == fake.files["ncf.pdf"].body
    assert json.loads((path.parent / "meta.json").read_text())["url"] == f"{fake.url}/files/ncf.pdf"
    fake.clear()
    assert fetch_url_pdf(f"{fake.url}/files/ncf.pdf", fake.settings(tmp_path, offline=True)) == path
    assert fake.paths() == []


def test_url_that_is_not_a_pdf(fake, tmp_path):
    fake.files["landing"] = FileResponse(b"<!DOCTYPE html><html>publisher page</html>", "text/html; charset=utf-8")
    url = f"{fake.url}/files/landing"
    assert one_line_error(lambda: fetch_url_pdf(url, fake.settings(tmp_path))) == (
        f"{url}: not a PDF (the server sent text/html); pass the PDF's own URL, or download it and pass its path")
    assert not list((tmp_path / "url").rglob("paper.pdf"))
    assert not list((tmp_path / "url").rglob("*.part"))


@pytest.mark.parametrize("send_length", [True, False])
def test_download_size_cap(fake, tmp_path, send_length):
    fake.files["big.pdf"] = FileResponse(b"%PDF-1.4\n" + b"0" * 40_000, send_length=send_length)
    url = f"{fake.url}/files/big.pdf"
    assert one_line_error(lambda: fetch_url_pdf(url, fake.settings(tmp_path, max_mb=0.02))) == (
        f"{url}: larger than the 0.02 MB limit (fetch.max_mb)")
    assert not [p for p in (tmp_path / "url").rglob("*") if p.is_file()]
    assert fake.paths() == ["/files/big.pdf"]  # not retried


def test_url_offline_without_cache(tmp_path):
    settings = FetchSettings(cache_dir=str(tmp_path), offline=True)
    assert "not in the cache" in one_line_error(lambda: fetch_url_pdf("https://example.org/p.pdf", settings))


# --- settings -------------------------------------------------------------------------------------------------------


def test_settings_yaml_matches_the_dataclass(monkeypatch):
    monkeypatch.delenv("PAPER_AUTOTRAIN_CACHE", raising=False)
    yaml = OmegaConf.load(f"{CONF_DIR}/fetch/default.yaml")
    assert FetchSettings.from_config(yaml) == FetchSettings()
    monkeypatch.setenv("PAPER_AUTOTRAIN_CACHE", "/data/papers")
    assert FetchSettings.from_config(yaml).cache_dir == "/data/papers" == FetchSettings().cache_dir


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({"retry": 3, "colour": 1}, "fetch: unknown setting(s) colour, retry; known: "),
        ({"retries": -1}, "fetch.retries=-1: expected a whole number >= 0"),
        ({"timeout_s": 0}, "fetch.timeout_s=0: expected a number > 0"),
        ({"max_mb": "big"}, "fetch.max_mb='big': expected a number > 0"),
        ({"offline": "yes"}, "fetch.offline='yes': expected true or false"),
        ({"api_url": "export.arxiv.org"}, "fetch.api_url='export.arxiv.org': expected an http(s):// URL"),
    ],
)
def test_bad_settings_fail_in_one_line(cfg, expected):
    assert one_line_error(lambda: FetchSettings.from_config(cfg)).startswith(expected)
