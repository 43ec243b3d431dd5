"""The command line as a user meets it: one-line errors, exit codes, nothing half-written."""

import os
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest

from paper_autotrain.__main__ import rewrite_source

REPO = Path(__file__).resolve().parents[1]


def cli(tmp_path: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PAPER_AUTOTRAIN_LOG": "WARNING"}
    env.pop("PAPER_AUTOTRAIN_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "paper_autotrain", *args, f"paths.root={tmp_path}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_nothing_written(tmp_path: Path) -> None:
    for folder in ("generated", "results"):
        assert not (tmp_path / folder).exists() or not any((tmp_path / folder).iterdir()), folder


def test_source_becomes_a_quoted_paper_override():
    assert rewrite_source(["arxiv:2002.02126", "until=parse"]) == ["paper='arxiv:2002.02126'", "until=parse"]
    assert rewrite_source(["./a b's.pdf"]) == ["paper='./a b\\'s.pdf'"]
    assert rewrite_source(["paper=x.pdf", "y=1"]) == ["paper=x.pdf", "y=1"]


def test_missing_file(tmp_path):
    proc = cli(tmp_path, "nope.pdf")
    assert_one_line_error(proc, "nope.pdf", "no such file")
    assert_nothing_written(tmp_path)


def test_not_a_pdf_and_empty_and_corrupt(tmp_path):
    (tmp_path / "notes.pdf").write_text("just some text\n")
    assert_one_line_error(cli(tmp_path, "notes.pdf"), "not a PDF")
    (tmp_path / "empty.pdf").write_bytes(b"")
    assert_one_line_error(cli(tmp_path, "empty.pdf"), "empty")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(2000))
    assert_one_line_error(cli(tmp_path, "broken.pdf"), "broken.pdf")
    assert_nothing_written(tmp_path)


def test_arxiv_id_offline_with_an_empty_cache_is_one_line_naming_the_id(tmp_path):
    proc = cli(tmp_path, "arxiv:2002.02126", "fetch.offline=true", f"fetch.cache_dir={tmp_path / 'cache'}")
    assert_one_line_error(proc, "2002.02126", "offline")
    assert_nothing_written(tmp_path)


def test_arxiv_unreachable_with_an_empty_cache_is_one_line_naming_the_id(tmp_path):
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens there
    proc = cli(tmp_path, "arxiv:2002.02126v2", f"fetch.api_url={closed}/api/query", f"fetch.site_url={closed}",
               "fetch.retries=0", "fetch.min_interval_s=0", f"fetch.cache_dir={tmp_path / 'cache'}")
    assert_one_line_error(proc, "2002.02126", "unreachable")
    assert_nothing_written(tmp_path)


def test_malformed_arxiv_id_and_plain_http_url(tmp_path):
    assert_one_line_error(cli(tmp_path, "arxiv:not-an-id"), "arxiv:not-an-id")
    assert_one_line_error(cli(tmp_path, "http://example.org/paper.pdf"), "https")
    assert_nothing_written(tmp_path)


def blank_pdf(path: Path) -> Path:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "A paper about matrix factorization.")
    doc.save(path)
    return path


@pytest.mark.parametrize(("override", "fragment"), [
    ("no_such_key=1", "no_such_key"),
    ("baselines=[Pop,NotAModel]", "NotAModel"),
    ("until=nowhere", "until=nowhere"),
    ("dataset=unknown-set", "dataset"),
])
def test_bad_overrides(tmp_path, override, fragment):
    paper = blank_pdf(tmp_path / "p.pdf")
    assert_one_line_error(cli(tmp_path, str(paper), override), fragment)
    assert_nothing_written(tmp_path)


def test_hydra_flags_work_as_users_expect(tmp_path):
    """`--cfg job` prints the config (its value is not a SOURCE), --help lists the groups, --info runs."""
    assert rewrite_source(["--cfg", "job"]) == ["--cfg", "job"]
    assert rewrite_source(["--info", "config", "paper.pdf"])[:2] == ["--info", "config"]
    env = {**os.environ, "PAPER_AUTOTRAIN_LOG": "WARNING"}
    shown = subprocess.run([sys.executable, "-m", "paper_autotrain", "--cfg", "job"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "fidelity: strict" in shown.stdout and "max_epochs:" in shown.stdout
    helped = subprocess.run([sys.executable, "-m", "paper_autotrain", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env=env)
    assert helped.returncode == 0 and "usage: python -m paper_autotrain SOURCE" in helped.stdout
    assert "trainer: cpu, ddp, gpu" in helped.stdout  # Hydra's config groups with their options
    info = subprocess.run([sys.executable, "-m", "paper_autotrain", "--info"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert info.returncode == 0 and "Config search path" in info.stdout
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(("override", "fragments"), [
    ("trainer=tpu", ("trainer=tpu is not an option", "cpu, ddp, gpu")),
    ("+trainer.gradient_clip_val=1.0", ("trainer.gradient_clip_val", "max_epochs")),
])
def test_a_bad_group_choice_lists_the_options_and_an_unknown_trainer_key_is_refused(tmp_path, override, fragments):
    paper = blank_pdf(tmp_path / "p.pdf")
    assert_one_line_error(cli(tmp_path, str(paper), override), *fragments)
    assert_nothing_written(tmp_path)
