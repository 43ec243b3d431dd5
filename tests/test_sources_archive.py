"""unpack_eprint: the kinds of arXiv e-print and user archive, told by magic bytes, unpacked safely."""

import gzip
import io
import random
import tarfile

import pytest

from paper_autotrain.errors import UserError
from paper_autotrain.sources.archive import unpack_eprint
from tests.fake_arxiv import EXP_TEX, MAIN_TEX, pdf_bytes, tar_gz


def write(path, data):
    path.write_bytes(data)
    return path


def test_tar_gz_with_input_file(tmp_path):
    data = write(tmp_path / "e-print", tar_gz({"main.tex": MAIN_TEX % ("T", 1), "sections/exp.tex": EXP_TEX,
                                               "./figs/": b""}))
    assert unpack_eprint(data, tmp_path / "src") == "tar"
    assert r"\input{sections/exp}" in (tmp_path / "src" / "main.tex").read_text()
    assert (tmp_path / "src" / "sections" / "exp.tex").read_text() == EXP_TEX
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_plain_tar_and_misleading_names(tmp_path):
    data = write(tmp_path / "paper.tar.gz", tar_gz({"main.tex": "x"}, plain=True))  # named .tar.gz, really a tar
    assert unpack_eprint(data, tmp_path / "src") == "tar"
    assert (tmp_path / "src" / "main.tex").read_text() == "x"


def test_gzip_single_tex_becomes_main_tex(tmp_path):
    data = write(tmp_path / "e-print", gzip.compress(rb"\documentclass{article} one file"))
    assert unpack_eprint(data, tmp_path / "src") == "gzip"
    assert (tmp_path / "src" / "main.tex").read_text().startswith(r"\documentclass")


def test_pdf_only_submission_unpacks_nothing(tmp_path):
    data = write(tmp_path / "e-print", pdf_bytes("only a PDF"))
    assert unpack_eprint(data, tmp_path / "src") == "pdf"
    assert not (tmp_path / "src").exists()


def test_replaces_an_older_unpacked_folder(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "stale.tex").write_text("old")
    unpack_eprint(write(tmp_path / "a.tgz", tar_gz({"main.tex": "new"})), tmp_path / "src")
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == ["main.tex"]


def tar_with(member: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["../evil.tex", "/etc/evil.tex", "sections/../../evil.tex"])
def test_refuses_members_escaping_the_folder(tmp_path, name):
    data = write(tmp_path / "bad.tar.gz", tar_with(tarfile.TarInfo(name)))
    with pytest.raises(UserError, match="unsafe archive member"):
        unpack_eprint(data, tmp_path / "out" / "src")
    assert not (tmp_path / "out" / "src").exists()
    assert not (tmp_path / "evil.tex").exists()
    assert list((tmp_path / "out").iterdir()) == []  # staging removed


def test_skips_links_and_devices(tmp_path):
    link = tarfile.TarInfo("passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    data = write(tmp_path / "links.tar.gz", tar_with(link))
    assert unpack_eprint(data, tmp_path / "src") == "tar"
    assert not (tmp_path / "src" / "passwd").exists()


def test_size_cap(tmp_path):
    data = write(tmp_path / "big.tar.gz", tar_gz({"a.tex": b"a" * 4000, "b.tex": b"b" * 4000}))
    with pytest.raises(UserError, match="unpacks to more than"):
        unpack_eprint(data, tmp_path / "src", max_bytes=6000)
    bomb = write(tmp_path / "bomb.gz", gzip.compress(b"\0" * 10_000))
    with pytest.raises(UserError, match="unpacks to more than"):
        unpack_eprint(bomb, tmp_path / "src2", max_bytes=5000)


@pytest.mark.parametrize("data", [tar_gz({"main.tex": random.Random(0).randbytes(20_000), "b.tex": "b"})[:3000],
                                  b"\x1f\x8b\x08garbage",
                                  b"just some text, not an archive"])
def test_corrupt_or_unknown_archives_fail_in_one_line(tmp_path, data):
    path = write(tmp_path / "broken.tar.gz", data)
    with pytest.raises(UserError) as error:
        unpack_eprint(path, tmp_path / "src")
    assert str(error.value).startswith(f"{path}: ")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "src").exists()
