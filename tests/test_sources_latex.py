"""sources.latex on a small ACM-style source written here: inputs, macros, sections, tables, and the rules
extractor reading it end to end."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import PaperDoc, PaperMeta
from paper_autotrain.sources.latex import find_main_tex, read_latex
from paper_autotrain.sources.latex_text import TexRenderer, math_to_text, prepare
from paper_autotrain.stages.extract import run as extract_run
from tests.source_fixtures import OVERALL_TABLE_ROWS, assert_reads_as_the_fixture_paper

RULES = {"name": "rules", "hparams": {}}

MAIN = r"""
\documentclass[sigconf]{acmart}
\usepackage{booktabs}
% \newcommand{\model}{DecoyNet}  a commented-out definition
\newcommand{\model}{LightGCN}
\newcommand{\ie}{\textit{i.e.,}\xspace}
\newcommand{\best}[1]{\textbf{#1}}
\newcommand{\second}[1]{\underline{#1}}
\def\sig{$^*$}
\begin{document}
\title{\model: Simplifying and Powering Graph Convolution Network for Recommendation}
\author{A. Author}
\affiliation{\institution{Some University}}
\begin{abstract}
Graph Convolution Network (GCN) has become new state-of-the-art for collaborative filtering. % decoy: 999 epochs
In this work, we propose a new model named \model{}, which includes only neighborhood aggregation on the
user-item interaction graph for collaborative filtering.
\end{abstract}
\maketitle

\section{Introduction}\label{sec:intro}
Graph convolution networks~\cite{kipf2017gcn} help recommendation. NGCF~\cite{wang2019ngcf} uses feature
transformation, which we find useless, \ie it hurts. Our model \model{} uses light graph convolution and
layer combination; the score is the inner product of the final embeddings.

\section{Method}
\subsection{Light Graph Convolution}
We abandon feature transformation and nonlinear activation. The propagation rule is
\begin{equation}\label{eq:prop}
  \mathbf{e}_u^{(k+1)} = \sum_{i \in \mathcal{N}_u} \frac{1}{\sqrt{|\mathcal{N}_u||\mathcal{N}_i|}} \mathbf{e}_i^{(k)},
\end{equation}
and Equation~\eqref{eq:prop} is applied $K$ times.
\paragraph{Model Training}
We employ the Bayesian Personalized Ranking (BPR) loss, a pairwise loss.

\input{sections/experiments}

\section*{Acknowledgments}
We thank the reviewers.

\bibliographystyle{ACM-Reference-Format}
\bibliography{refs}

\appendix
\section{More Results}
The embedding size is 128 in this appendix study.
\end{document}
"""

EXPERIMENTS = r"""
\section{Experiments}\label{sec:exp}
%% the embedding size was 256 in an older draft
\subsection{Experimental Settings}
We use the Gowalla, Yelp2018 and Amazon-Book datasets (Table~\ref{tab:stats}). We report Recall@20 and NDCG@20.
The embedding size is fixed to 64 for all models. We optimize \model{} with Adam and use a learning rate
of $0.001$. The $L_2$ regularization coefficient $\lambda$ is set to $10^{-4}$. % decoy: learning rate of 0.5

\begin{table}[t]
  \caption{Statistics of the datasets.}\label{tab:stats}
  \begin{tabular}{lrrr}
    \toprule
    Dataset & \#Users & \#Items & Density \\
    \midrule
    Gowalla & 29,858 & 40,981 & 0.00084 \\
    Yelp2018 & 31,668 & 38,048 & 0.00130 \\
    Amazon-Book & 52,643 & 91,599 & 0.00062 \\
    \bottomrule
  \end{tabular}
\end{table}

\subsection{Performance Comparison}
Table~\ref{tab:overall} compares \model{} with the baselines.
\begin{table*}[t]
  \centering
  \caption{Overall performance comparison. The best result is in bold.}
  \label{tab:overall}
  \resizebox{\textwidth}{!}{
  \begin{tabular}{l|cc|cc|cc}
    \toprule
    \multirow{2}{*}{Method} & \multicolumn{2}{c|}{Gowalla} & \multicolumn{2}{c|}{Yelp2018}
      & \multicolumn{2}{c}{Amazon-Book} \\
    \cmidrule(lr){2-3} \cmidrule(lr){4-5} \cmidrule(lr){6-7}
    & Recall@20 & NDCG@20 & Recall@20 & NDCG@20 & Recall@20 & NDCG@20 \\
    \midrule
    NGCF & 0.1570 & 0.1327 & 0.0579 & 0.0477 & 0.0344 & 0.0263 \\
    Mult-VAE & 0.1641 & 0.1335 & \second{0.0584} & 0.0450 & \second{0.0407} & 0.0315 \\ % 0.9999 decoy
    \rowcolor{gray!20}
    \model{} & \best{0.1830}\sig & \textbf{0.1554}$^{\dagger}$ & \best{0.0649} & \best{0.0530}
      & \best{0.0411} & \best{0.0315} \\
    \midrule
    Improv. & 11.52\% & 16.41\% & 11.13\% & 11.11\% & 0.98\% & 0.00\% \\
    \bottomrule
  \end{tabular}}
\end{table*}
\model{} outperforms NGCF by a large margin.
"""

BBL = r"""
\begin{thebibliography}{3}
\bibitem[Kipf and Welling(2017)]{kipf2017gcn}
\bibinfo{person}{Thomas~N. Kipf} and \bibinfo{person}{Max Welling}. \newblock Semi-supervised classification with GCN.
\bibitem[Wang et~al.(2019)]{wang2019ngcf}
\bibinfo{person}{Xiang Wang}. \newblock Neural Graph Collaborative Filtering. The learning rate of 0.05 was used.
\end{thebibliography}
"""


def write_source(folder: Path) -> Path:
    (folder / "sections").mkdir(parents=True, exist_ok=True)
    (folder / "main.tex").write_text(MAIN, encoding="utf-8")
    (folder / "sections" / "experiments.tex").write_text(EXPERIMENTS, encoding="utf-8")
    (folder / "main.bbl").write_text(BBL, encoding="utf-8")
    (folder / "figure.tex").write_text(r"\begin{tikzpicture}\end{tikzpicture}", encoding="utf-8")  # not a main file
    return folder


@pytest.fixture(scope="module")
def doc(tmp_path_factory) -> PaperDoc:
    folder = write_source(tmp_path_factory.mktemp("lightgcn"))
    return read_latex(folder, PaperMeta(key="lightgcn"))


def test_main_file_is_found(tmp_path):
    folder = write_source(tmp_path)
    (tmp_path / "big_draft.tex").write_text("% \\documentclass{article}\n" + "x" * 50_000, encoding="utf-8")
    assert find_main_tex(folder) == folder / "main.tex"
    assert find_main_tex(tmp_path / "sections") is None
    with pytest.raises(UserError, match="no LaTeX main file"):
        read_latex(tmp_path / "sections", PaperMeta(key="x"))


def test_pages_and_sections_follow_the_top_level_sections(doc):
    assert [p.label for p in doc.pages] == [
        "Abstract", "§1 Introduction", "§2 Method", "§3 Experiments", "§Acknowledgments", "References",
        "§A More Results",
    ]
    assert [p.number for p in doc.pages] == list(range(1, 8))
    assert [(s.title, s.page) for s in doc.sections] == [
        ("1 Introduction", 2), ("2 Method", 3), ("2.1 Light Graph Convolution", 3), ("Model Training", 3),
        ("3 Experiments", 4), ("3.1 Experimental Settings", 4), ("3.2 Performance Comparison", 4),
        ("Acknowledgments", 5), ("References", 6), ("A More Results", 7),
    ]
    experiments = doc.pages[3].text.split("\n")
    assert experiments[:2] == ["3 EXPERIMENTS", "3.1 Experimental Settings"]
    assert doc.pages[0].text.startswith("LightGCN: Simplifying and Powering Graph Convolution Network")
    assert doc.meta.title == "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation"
    assert doc.meta.abstract.startswith("Graph Convolution Network (GCN) has become new state-of-the-art")
    assert doc.pages[5].text.startswith("REFERENCES\n[1] Thomas N. Kipf and Max Welling.")


def test_text_reads_as_printed(doc):
    text = doc.full_text
    assert "The embedding size is fixed to 64 for all models." in text  # from \input{sections/experiments}
    assert "use a learning rate of 0.001." in text and "The L2 regularization coefficient λ is set to 1e-4." in text
    for decoy in ("999", "256", "rate of 0.5", "0.9999", "DecoyNet", "\\model"):  # commented out, or a macro
        assert decoy not in text, decoy
    assert "NGCF [2] uses feature transformation, which we find useless, i.e., it hurts." in text
    assert "Graph convolution networks [1] help recommendation." in text
    assert "and Equation (1) is applied K times." in text
    assert "\\mathbf{e}_u^{(k+1)} = \\sum_{i \\in \\mathcal{N}_u}" in text and text.count("(1)") >= 2
    assert "Model Training.\nWe employ the Bayesian Personalized Ranking (BPR) loss" in doc.pages[2].text
    assert "Table 2: Overall performance comparison. The best result is in bold." in doc.pages[3].text


def test_tables_have_numbered_captions_and_cells(doc):
    stats, overall = doc.tables
    assert (stats.caption, stats.page, stats.label) == ("Table 1: Statistics of the datasets.", 4, "§3.1")
    assert stats.rows == [
        ["Dataset", "#Users", "#Items", "Density"],
        ["Gowalla", "29,858", "40,981", "0.00084"],
        ["Yelp2018", "31,668", "38,048", "0.00130"],
        ["Amazon-Book", "52,643", "91,599", "0.00062"],
    ]
    assert overall.caption.startswith("Table 2: Overall performance comparison.")
    assert (overall.page, overall.label) == (4, "§3.2")
    assert overall.rows == OVERALL_TABLE_ROWS


def test_rules_extractor_reads_the_latex_paper(doc):
    spec = extract_run(doc, RULES)
    assert_reads_as_the_fixture_paper(spec)
    assert "The embedding size is fixed to 64" in spec.hyperparameters["embedding_size"].evidence
    assert spec.metrics == ["Recall@20", "NDCG@20"]
    assert all(r.table == "Table 2" for r in spec.reported)
    gowalla = next(r for r in spec.reported if (r.dataset, r.metric) == ("Gowalla", "Recall@20"))
    assert gowalla.evidence == "§3.2: Table 2, LightGCN row/column, Gowalla Recall@20: 0.1830*"
    assert [b.name for b in spec.baselines_in_paper][:2] == ["NGCF", "Mult-VAE"]


def test_inputs_cycles_and_missing_files_are_skipped(tmp_path, caplog):
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\begin{document}\n\\section{Intro}\nStart. \\input{a}\n\\input missing\nEnd.\n"
        "\\end{document}", encoding="utf-8")
    (tmp_path / "a.tex").write_text("In a. \\include{b}", encoding="utf-8")
    (tmp_path / "b.tex").write_text("In b. \\input{a.tex}", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        doc = read_latex(tmp_path, PaperMeta(key="c"))
    assert doc.pages[1].text == "1 INTRO\nStart. In a. In b.\nEnd."
    assert any("include itself" in r.message for r in caplog.records)
    assert any("missing" in r.message and "not found" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("source", "text"),
    [
        (r"$d=64$", "d=64"),
        (r"$10^{-4}$", "1e-4"),
        (r"$5 \times 10^{-3}$", "5e-3"),
        (r"$10^{3}$", "1000"),
        (r"$\ell_2$", "ℓ2"),
        (r"$0.1830^{*}$", "0.1830*"),
        (r"$\{16, 32, 64\}$", "{16, 32, 64}"),
        (r"$\eta=1{,}000$", "η=1,000"),
    ],
)
def test_inline_math_reads_as_the_extractor_expects(source, text):
    assert TexRenderer().cell(prepare(source)) == text
    assert math_to_text(source.strip("$")) == text


def test_text_cleanup():
    renderer = TexRenderer()
    source = (r"50\% of users -- see \S 3 --- na\"ive caf\'e; 10$^{-5}$ and 2$\times10^{-4}$ % comment 7" "\n"
              r"\textsc{Caps}, \underline{u}, \texttt{code}\_x \& y~z \href{http://a.b}{link} \url{http://c.d/e_f}")
    assert renderer.paragraphs(prepare(source)) == (
        "50% of users – see § 3 — naïve café; 1e-5 and 2e-4 Caps, u, code_x & y z link http://c.d/e_f"
    )


def test_a_proposal_in_the_method_section_is_early_text_without_printed_pages():
    """A LaTeX page is a whole section: a proposal in §3 (the fourth page) still names the method."""
    from paper_autotrain.schemas import Page, Section

    texts = [
        ("Abstract", "Simple Graph Recommendation\nABSTRACT\nWe study recommendation on graphs."),
        ("§1 Introduction", "1 INTRODUCTION\nGraph models help recommendation."),
        ("§2 Related Work", "2 RELATED WORK\nSuperBase is a strong graph model."),
        ("§3 Method", "3 METHOD\nWe propose a new model named PropNet for collaborative filtering."),
        ("§4 Experiments", "4 EXPERIMENTS\nSuperBase is fast. SuperBase is strong. SuperBase and PropNet are run."),
    ]
    sections = [Section(title=text.split("\n")[0].title(), page=n, text=text) for n, (_, text) in enumerate(texts, 1)
                if n > 1]

    def doc(labelled: bool) -> PaperDoc:
        pages = [Page(number=n, text=text, label=label if labelled else "") for n, (label, text) in enumerate(texts, 1)]
        return PaperDoc(meta=PaperMeta(key="s", title="Simple Graph Recommendation"), pages=pages, sections=sections)

    # the paper's own naming sentence gives the name wherever it stands; SuperBase, a related model, never does
    assert extract_run(doc(labelled=True), RULES).model_name == "PropNet"
    assert extract_run(doc(labelled=False), RULES).model_name == "PropNet"


COLUMNS_PAPER = r"""
\documentclass{article}
\begin{document}
\title{PropNet: Simple Propagation for Recommendation}
\begin{abstract}We propose a new model named PropNet for collaborative filtering on the user-item graph.
\end{abstract}
\section{Experiments}
We use Gowalla and Yelp2018 and report Recall@20 and NDCG@20.
\begin{table}
\caption{Results in percent (\%); the last column is the relative improvement.}
\begin{tabular}{llccc}
\toprule
Dataset & Metric & NGCF & PropNet (Ours) & \%Improv. \\
\midrule
\multirow{2}{*}{Gowalla} & Recall@20 & 15.70 & \textbf{18.30}$^{\ddagger}$ & +16.56\% \\
 & NDCG@20 & 13.27 & \textbf{15.54}$\pm$0.12 & +17.11\% \\
\multirow{2}{*}{Yelp2018} & Recall@20 & 5.79 & \textbf{6.49} & +12.09\% \\
 & NDCG@20 & 4.77 & \textbf{5.30} & +11.11\% \\
\bottomrule
\end{tabular}
\end{table}
\end{document}
"""


def test_method_as_a_column_beside_an_improvement_column(tmp_path):
    (tmp_path / "paper.tex").write_text(COLUMNS_PAPER, encoding="utf-8")
    doc = read_latex(tmp_path, PaperMeta(key="p"))
    assert doc.tables[0].rows[1] == ["Gowalla", "Recall@20", "15.70", "18.30‡", "+16.56%"]
    assert doc.tables[0].rows[2] == ["", "NDCG@20", "13.27", "15.54±0.12", "+17.11%"]
    spec = extract_run(doc, RULES)
    assert spec.model_name == "PropNet"
    assert {(r.dataset, r.metric, r.value, r.unit) for r in spec.reported} == {
        ("Gowalla", "Recall@20", 18.30, "%"), ("Gowalla", "NDCG@20", 15.54, "%"),
        ("Yelp2018", "Recall@20", 6.49, "%"), ("Yelp2018", "NDCG@20", 5.30, "%"),
    }  # kept as printed (not rescaled), and not the improvement column


def test_number_cells_from_latex_and_html():
    from paper_autotrain.stages.extract.tables import _number, _value

    assert [_number(c) for c in ("0.1554†", "0.1830**", "0.61±0.02", "18.30%", "+3.9%")] == [
        0.1554, 0.183, 0.61, None, None]
    assert [_value(c) for c in ("18.30%", "18.30%*", "+3.9%", "0.5")] == [18.3, 18.3, None, 0.5]


def test_verbatim_is_text_not_structure(tmp_path):
    (tmp_path / "main.tex").write_text(r"""\documentclass{acmart}
\AtBeginDocument{\providecommand\BibTeX{{B\kern-0.5em{\scshape i\kern-0.25em b}\kern-0.8em\TeX}}}
\begin{document}
\section{Introduction}
The \verb|\appendix| command and \verb+50% off+ with \BibTeX{} and \texttt{{\char'134}author}.
\begin{verbatim}
  \section{Not a section} % not a comment
  \bibliography{bibfile}
\end{verbatim}
Done.
\end{document}
""", encoding="utf-8")
    doc = read_latex(tmp_path, PaperMeta(key="v"))
    assert [p.label for p in doc.pages] == ["Abstract", "§1 Introduction"]
    assert doc.pages[1].text == (
        "1 INTRODUCTION\nThe \\appendix command and 50% off with BibTeX and \\author.\n"
        "\\section{Not a section} % not a comment\n\\bibliography{bibfile}\nDone."
    )


def test_an_empty_document_is_a_user_error(tmp_path):
    (tmp_path / "main.tex").write_text("\\documentclass{article}\\title{T}\\begin{document}\\maketitle\\end{document}",
                                       encoding="utf-8")
    with pytest.raises(UserError, match="no text"):
        read_latex(tmp_path, PaperMeta(key="e"))


def test_percent_unit_only_for_percentages():
    from paper_autotrain.schemas import Table
    from paper_autotrain.stages.extract.tables import _unit

    table = Table(page=1, caption="Table 1: Results.", rows=[["Model", "HR@10"], ["Ours", "0.61 +2.1%"]])
    assert _unit(table, [("D", "HR@10", 0.61, "0.61 +2.1%")]) is None
    assert _unit(table, [("D", "HR@10", 61.0, "61.0%")]) == "%"
