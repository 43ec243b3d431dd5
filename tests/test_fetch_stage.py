"""Every SOURCE form through the pipeline's fetch and parse stages to spec.yaml: arXiv ids and URLs (served by the
loopback fake arXiv), https PDF URLs, local LaTeX folders and archives. The LaTeX source is preferred to the PDF;
arXiv's HTML rendering is read only when neither is usable. No network."""

import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from paper_autotrain import pipeline
from paper_autotrain.commands.config import CONF_DIR
from paper_autotrain.errors import UserError
from tests.fake_arxiv import FakeArxiv, FakePaper, FileResponse, pdf_bytes

TITLE = "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation"
MAIN = r"""\documentclass{acmart}
\newcommand{\model}{LightGCN}
\title{LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation}
\begin{document}
\begin{abstract}
We propose \model, a graph convolution network for collaborative filtering with light graph convolution.
\end{abstract}
\maketitle
\section{Introduction}
Recommender systems learn user and item embeddings from interactions.
\section{Method}
\model{} propagates embeddings over the user-item graph and sums the layer embeddings.
\input{sections/experiments}
\end{document}
"""
EXPERIMENTS = r"""\section{Experiments}
\subsection{Experimental Settings}
% the embedding size is fixed to 128 (an old draft: a comment, never read)
The embedding size is fixed to 64 for all models. We optimize \model{} with Adam, a learning rate of 0.001 and
a mini-batch size of 1024. The $L_2$ regularization coefficient is $10^{-4}$ and the number of layers is 3.
We evaluate on Gowalla and Yelp2018 with Recall@20 and NDCG@20 under the all-ranking protocol.
"""
SOURCE = {"main.tex": MAIN, "sections/experiments.tex": EXPERIMENTS}
PDF_TEXT = ("LightGCN: Simplifying and Powering Graph Convolution", "4 EXPERIMENTS",
            "The embedding size is fixed to 64 for all models and we use the Adam optimizer with a learning rate of "
            "0.001. We evaluate LightGCN, a graph convolution network for collaborative filtering, on Gowalla.")
HTML = """<article class="ltx_document">
<h1 class="ltx_title ltx_title_document">LightGCN</h1>
<div class="ltx_abstract"><p class="ltx_p">We propose LightGCN, a graph convolution network for collaborative
filtering.</p></div>
<section class="ltx_section" id="S4"><h2 class="ltx_title ltx_title_section"><span class="ltx_tag ltx_tag_section">4
</span>Experiments</h2>
<div class="ltx_para"><p class="ltx_p">The embedding size is fixed to 64 for all models. We use the Adam optimizer
with a learning rate of 0.001 on Gowalla.</p></div>
</section></article>"""


@pytest.fixture
def fake():
    with FakeArxiv() as server:
        server.add(FakePaper("2002.02126", versions=4, title=TITLE, source_files=SOURCE, pdf_lines=PDF_TEXT))
        server.add(FakePaper("2101.00002", title="A PDF-only paper", eprint="pdf", html=False, pdf_lines=PDF_TEXT))
        server.add(FakePaper("2101.00003", title="A scanned paper", eprint="pdf", pdf_lines=(), html_body=HTML))
        yield server


def config(root: Path, source: str, *overrides: str) -> dict:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"paper={source}", f"paths.root={root}", "until=parse",
                                                       *overrides])
        return OmegaConf.to_container(cfg, resolve=True)


def fake_fetch(fake: FakeArxiv, cache: Path) -> list[str]:
    return [f"fetch.api_url={fake.url}/api/query", f"fetch.site_url={fake.url}", "fetch.min_interval_s=0",
            "fetch.backoff_s=0.01", f"fetch.cache_dir={cache}"]


def read_spec(root: Path, key: str) -> dict:
    return yaml.safe_load((root / "generated" / key / "spec.yaml").read_text())


def read_bundle(root: Path, key: str) -> dict:
    return json.loads((root / "results" / key / "fetch" / "bundle.json").read_text())


def test_arxiv_id_is_read_from_its_latex_source_and_keyed_by_id(fake, tmp_path):
    outcome = pipeline.run(config(tmp_path, "arxiv:2002.02126", *fake_fetch(fake, tmp_path / "cache")))
    assert outcome.key == "2002.02126"
    bundle = read_bundle(tmp_path, "2002.02126")
    assert bundle["latex_dir"] == "source" and bundle["pdf"] == "paper.pdf" and bundle["html"] is None
    assert bundle["meta"]["arxiv_id"] == "2002.02126" and bundle["meta"]["version"] == 4
    assert (tmp_path / "results" / "2002.02126" / "fetch" / "source" / "sections" / "experiments.tex").is_file()

    spec = read_spec(tmp_path, "2002.02126")
    assert spec["paper"]["arxiv_id"] == "2002.02126" and spec["paper"]["title"] == TITLE
    assert spec["paper"]["authors"][0] == "Xiangnan He" and spec["paper"]["year"] == 2020
    embedding = spec["hyperparameters"]["embedding_size"]
    assert embedding["value"] == 64 and embedding["source"] == "paper"  # the commented-out 128 is never read
    assert embedding["evidence"].startswith("§3 Experiments: ")
    assert spec["hyperparameters"]["learning_rate"]["value"] == 0.001
    assert spec["model_name"] == "LightGCN"


def test_a_rerun_makes_no_request_and_a_new_root_is_served_from_the_cache(fake, tmp_path):
    pipeline.run(config(tmp_path / "a", "arxiv:2002.02126v3", *fake_fetch(fake, tmp_path / "cache")))
    fake.clear()
    again = pipeline.run(config(tmp_path / "a", "arxiv:2002.02126v3", *fake_fetch(fake, tmp_path / "cache")))
    assert "fetch" in again.skipped and fake.paths() == []
    pipeline.run(config(tmp_path / "b", "https://arxiv.org/abs/2002.02126v3", *fake_fetch(fake, tmp_path / "cache")))
    assert fake.paths() == []  # versioned and cached: no request at all
    assert read_bundle(tmp_path / "b", "2002.02126")["meta"]["version"] == 3


def test_pdf_only_submission_is_read_from_its_pdf(fake, tmp_path):
    pipeline.run(config(tmp_path, "https://arxiv.org/pdf/2101.00002", *fake_fetch(fake, tmp_path / "cache")))
    bundle = read_bundle(tmp_path, "2101.00002")
    assert bundle["pdf"] == "paper.pdf" and bundle["latex_dir"] is None and bundle["html"] is None
    evidence = read_spec(tmp_path, "2101.00002")["hyperparameters"]["embedding_size"]["evidence"]
    assert evidence.startswith("p1: ")


def test_a_scan_without_source_is_read_from_the_html_rendering(fake, tmp_path):
    pipeline.run(config(tmp_path, "arxiv:2101.00003", *fake_fetch(fake, tmp_path / "cache")))
    assert read_bundle(tmp_path, "2101.00003")["html"] == "paper.html"
    assert "/html/2101.00003v1" in fake.paths()
    embedding = read_spec(tmp_path, "2101.00003")["hyperparameters"]["embedding_size"]
    assert embedding["value"] == 64 and embedding["evidence"].startswith("§4 Experiments: ")


def test_https_pdf_url(fake, tmp_path):
    fake.files["papers/lightgcn.pdf"] = FileResponse(pdf_bytes(*PDF_TEXT))
    outcome = pipeline.run(config(tmp_path, f"{fake.url}/files/papers/lightgcn.pdf",
                                  *fake_fetch(fake, tmp_path / "cache")))
    assert outcome.key == "lightgcn"
    assert read_bundle(tmp_path, "lightgcn")["meta"]["source"] == f"{fake.url}/files/papers/lightgcn.pdf"
    assert read_spec(tmp_path, "lightgcn")["hyperparameters"]["embedding_size"]["value"] == 64


def write_source_tree(folder: Path) -> Path:
    for name, text in SOURCE.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    (folder / "figures").mkdir()
    (folder / "figures" / "plot.png").write_bytes(b"\x89PNG not needed to read the paper")
    return folder


def test_local_latex_folder_and_archive(tmp_path):
    folder = write_source_tree(tmp_path / "LightGCN-src")
    pipeline.run(config(tmp_path / "run", str(folder)))
    copied = tmp_path / "run" / "results" / "lightgcn-src" / "fetch" / "source"
    assert (copied / "sections" / "experiments.tex").is_file() and not (copied / "figures").exists()
    assert read_spec(tmp_path / "run", "lightgcn-src")["hyperparameters"]["embedding_size"]["value"] == 64

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=".")
    archive = tmp_path / "LightGCN.tar.gz"
    archive.write_bytes(buffer.getvalue())
    pipeline.run(config(tmp_path / "run", str(archive)))
    spec = read_spec(tmp_path / "run", "lightgcn")
    assert spec["hyperparameters"]["embedding_size"]["evidence"].startswith("§3 Experiments: ")


def test_a_folder_without_a_main_tex_is_a_one_line_error_and_writes_nothing(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("not a paper")
    with pytest.raises(UserError, match=r"no \.tex file with \\documentclass"):
        pipeline.run(config(tmp_path / "run", str(folder)))
    assert not (tmp_path / "run" / "results" / "notes").exists()
    assert not (tmp_path / "run" / "generated" / "notes").exists()
