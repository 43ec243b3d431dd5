"""SOURCE forms: every accepted spelling parses to the right kind, id, version and key; bad ones fail in one line."""

from pathlib import Path

import pytest

from paper_autotrain.errors import UserError
from paper_autotrain.sources.refs import paper_key, parse_source


@pytest.mark.parametrize(
    ("text", "arxiv_id", "version", "key"),
    [
        ("arxiv:2002.02126", "2002.02126", None, "2002.02126"),
        ("arXiv:2002.02126v4", "2002.02126", 4, "2002.02126"),
        ("ARXIV:1708.05031v2", "1708.05031", 2, "1708.05031"),
        ("arxiv:0704.0001", "0704.0001", None, "0704.0001"),
        ("arxiv:cs/0112017", "cs/0112017", None, "cs_0112017"),
        ("arxiv:hep-th/9901001v3", "hep-th/9901001", 3, "hep-th_9901001"),
        ("arxiv:math.GT/0309136", "math.GT/0309136", None, "math.gt_0309136"),
        ("https://arxiv.org/abs/2002.02126", "2002.02126", None, "2002.02126"),
        ("https://arxiv.org/abs/2002.02126v2", "2002.02126", 2, "2002.02126"),
        ("https://arxiv.org/pdf/2002.02126", "2002.02126", None, "2002.02126"),
        ("https://arxiv.org/pdf/2002.02126v3.pdf", "2002.02126", 3, "2002.02126"),
        ("https://arxiv.org/pdf/2002.02126.pdf", "2002.02126", None, "2002.02126"),
        ("http://arxiv.org/abs/2002.02126v1", "2002.02126", 1, "2002.02126"),
        ("https://export.arxiv.org/abs/2002.02126", "2002.02126", None, "2002.02126"),
        ("https://www.arxiv.org/abs/cs/0112017v1", "cs/0112017", 1, "cs_0112017"),
        ("https://arxiv.org/abs/2002.02126?context=cs", "2002.02126", None, "2002.02126"),
        ("  arxiv:2002.02126  ", "2002.02126", None, "2002.02126"),
    ],
)
def test_arxiv_forms(text, arxiv_id, version, key):
    ref = parse_source(text)
    assert (ref.kind, ref.arxiv_id, ref.version, ref.text) == ("arxiv", arxiv_id, version, text)
    assert paper_key(ref) == key


def test_https_url_to_another_site():
    ref = parse_source("https://dl.acm.org/doi/pdf/10.1145/3397271.3401063")
    assert (ref.kind, ref.url, ref.arxiv_id) == ("url", "https://dl.acm.org/doi/pdf/10.1145/3397271.3401063", None)
    assert paper_key(ref) == "3397271.3401063"
    assert paper_key(parse_source("https://example.org/papers/My%20NCF.pdf")) == "my-20ncf"


def test_local_forms(tmp_path):
    pdf = tmp_path / "He et al. NCF (2017).PDF"
    pdf.write_bytes(b"%PDF-1.4")
    (tmp_path / "LightGCN-src").mkdir()
    for name in ("paper.tar.gz", "Paper.TGZ", "src.tar"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")

    assert (parse_source(str(pdf)).kind, paper_key(parse_source(str(pdf)))) == ("pdf", "he-et-al.-ncf-2017")
    folder = parse_source(str(tmp_path / "LightGCN-src"))
    assert (folder.kind, folder.path, paper_key(folder)) == ("latex_dir", tmp_path / "LightGCN-src", "lightgcn-src")
    assert [(parse_source(str(tmp_path / n)).kind, paper_key(parse_source(str(tmp_path / n))))
            for n in ("paper.tar.gz", "Paper.TGZ", "src.tar")] == [
        ("latex_archive", "paper"), ("latex_archive", "paper"), ("latex_archive", "src")]
    assert parse_source(str(tmp_path / "notes.txt")).kind == "pdf"  # the fetch stage checks the content


def test_relative_path_and_dot_folder(tmp_path, monkeypatch):
    (tmp_path / "mypaper").mkdir()
    monkeypatch.chdir(tmp_path / "mypaper")
    ref = parse_source(".")
    assert (ref.kind, ref.path, paper_key(ref)) == ("latex_dir", Path("."), "mypaper")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arxiv:foo", "arxiv:foo: not an arXiv id; expected arxiv:ID such as arxiv:2002.02126"),
        ("arxiv:", "arxiv:: not an arXiv id"),
        ("arxiv:2002.0212", "not an arXiv id"),
        ("arxiv:2002.02126v0", "not an arXiv id"),
        ("https://arxiv.org/list/cs.IR/recent", "not an arXiv paper URL; expected https://arxiv.org/abs/2002.02126"),
        ("http://example.org/paper.pdf", "http://example.org/paper.pdf: plain http is not accepted; pass the https://"),
        ("ftp://example.org/paper.pdf", "not a usable URL"),
        ("missing.pdf", "missing.pdf: no such file or folder; pass a paper PDF, a LaTeX folder or .tar.gz, arxiv:ID "
                        "or a URL"),
        ("2002.02126", "no such file or folder; pass a paper PDF, a LaTeX folder or .tar.gz, arxiv:ID or a URL "
                       "(did you mean arxiv:2002.02126?)"),
    ],
)
def test_bad_sources_fail_in_one_line(text, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as error:
        parse_source(text)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_label_names_the_paper():
    assert parse_source("arxiv:2002.02126v4").label == "arxiv:2002.02126v4"
    assert parse_source("https://arxiv.org/abs/2002.02126").label == "arxiv:2002.02126"
