"""sources.html on a small paper in arXiv's LaTeXML markup written here, and the rules extractor reading it."""

from __future__ import annotations

import pytest

from paper_autotrain.schemas import PaperDoc, PaperMeta
from paper_autotrain.sources.html import alttext_to_text, read_arxiv_html
from paper_autotrain.stages.extract import run as extract_run
from tests.source_fixtures import OVERALL_TABLE_ROWS, assert_reads_as_the_fixture_paper

RULES = {"name": "rules", "hparams": {}}


def math(alttext: str, display: str = "inline") -> str:
    return (f'<math class="ltx_Math" alttext="{alttext}" display="{display}"><semantics><mi>x</mi>'
            f'<annotation encoding="application/x-tex">{alttext}</annotation></semantics></math>')


def cells(tag: str, values: list[str], first_tag: str = "th") -> str:
    first = f'<{first_tag} class="ltx_td ltx_align_left ltx_th ltx_th_row">{values[0]}</{first_tag}>'
    rest = "".join(f'<{tag} class="ltx_td ltx_align_center">{v}</{tag}>' for v in values[1:])
    return f'<tr class="ltx_tr">{first}{rest}</tr>'


BOLD = '<span class="ltx_text ltx_font_bold">{}</span>'
RESULTS = (
    '<table id="S3.T2.1.1" class="ltx_tabular ltx_guessed_headers ltx_align_middle"><thead class="ltx_thead">'
    '<tr class="ltx_tr"><th class="ltx_td ltx_th ltx_th_column ltx_border_tt" rowspan="2">Method</th>'
    '<th class="ltx_td ltx_th ltx_th_column ltx_border_tt" colspan="2">Gowalla</th>'
    '<th class="ltx_td ltx_th ltx_th_column ltx_border_tt" colspan="2">Yelp2018</th>'
    '<th class="ltx_td ltx_th ltx_th_column ltx_border_tt" colspan="2">Amazon-Book</th></tr>'
    + cells("th", ["", "Recall@20", "NDCG@20", "Recall@20", "NDCG@20", "Recall@20", "NDCG@20"])
    .replace('<th class="ltx_td ltx_align_left ltx_th ltx_th_row"></th>', "")
    + '</thead><tbody class="ltx_tbody">'
    + cells("td", ["NGCF", "0.1570", "0.1327", "0.0579", "0.0477", "0.0344", "0.0263"])
    + cells("td", ["Mult-VAE", "0.1641", "0.1335", '<span class="ltx_text ltx_framed_underline">0.0584</span>',
                   "0.0450", "0.0407", "0.0315"])
    + cells("td", ["LightGCN", BOLD.format("0.1830") + '<sup class="ltx_sup">∗</sup>',
                   BOLD.format("0.1554") + math("{}^{\\dagger}"), BOLD.format("0.0649"), BOLD.format("0.0530"),
                   BOLD.format("0.0411"), BOLD.format("0.0315")])
    + cells("td", ["Improv.", "11.52%", "16.41%", "11.13%", "11.11%", "0.98%", "0.00%"])
    + "</tbody></table>"
)
STATISTICS = (
    '<table class="ltx_tabular ltx_align_middle"><tbody>'
    + cells("td", ["Dataset", "#Users", "#Items", "Density"])
    + cells("td", ["Gowalla", "29,858", "40,981", "0.00084"])
    + cells("td", ["Yelp2018", "31,668", "38,048", "0.00130"])
    + cells("td", ["Amazon-Book", "52,643", "91,599", "0.00062"])
    + "</tbody></table>"
)
FOOTNOTE = (
    '<span class="ltx_note ltx_role_footnote"><sup class="ltx_note_mark">1</sup><span class="ltx_note_outer">'
    '<span class="ltx_note_content"><sup class="ltx_note_mark">1</sup><span class="ltx_tag ltx_tag_note">1</span>'
    'Code is at https://example.org/lightgcn.</span></span></span>'
)
CITE1, CITE2 = (f'<cite class="ltx_cite ltx_citemacro_cite">[<a href="#bib.bib{n}" class="ltx_ref">{n}</a>]</cite>'
                for n in (1, 2))
EQUATION = math(r"\displaystyle\mathbf{e}_{u}^{(k+1)}=\sum_{i\in\mathcal{N}_{u}}\mathbf{e}_{i}^{(k)},", "block")
LAMBDA = math(r"\lambda")
HTML = f"""<!DOCTYPE html><html lang="en"><head><title>LightGCN</title></head><body>
<nav class="ltx_page_navbar"><a href="#S1">1 Introduction</a></nav>
<div class="ltx_page_main"><div class="ltx_page_content">
<article class="ltx_document ltx_authors_1line">
<h1 class="ltx_title ltx_title_document">LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation<span class="ltx_note ltx_role_thanks"><sup class="ltx_note_mark">†</sup><span class="ltx_note_outer">
<span class="ltx_note_content">A thanks note.</span></span></span></h1>
<div class="ltx_authors"><span class="ltx_creator ltx_role_author"><span class="ltx_personname">A. Author</span>
</span></div>
<div class="ltx_abstract"><h6 class="ltx_title ltx_title_abstract">Abstract.</h6>
<p class="ltx_p">Graph Convolution Network (GCN) has become new state-of-the-art for collaborative filtering.
In this work, we propose a new model named LightGCN, which includes only neighborhood aggregation on the
user-item interaction graph for collaborative filtering.</p></div>
<section id="S1" class="ltx_section">
<h2 class="ltx_title ltx_title_section"><span class="ltx_tag ltx_tag_section">1. </span>Introduction</h2>
<div id="S1.p1" class="ltx_para"><p class="ltx_p">Graph convolution networks {CITE1} help recommendation.
NGCF {CITE2} uses feature transformation, which we find useless, <span class="ltx_text ltx_font_italic">i.e.,</span>
it hurts.{FOOTNOTE} Our model LightGCN uses light graph convolution and layer combination; the score is the inner
product of the final embeddings.</p></div>
<div class="ltx_para"><ul id="S1.I1" class="ltx_itemize">
<li class="ltx_item"><span class="ltx_tag ltx_tag_item">•</span><div class="ltx_para"><p class="ltx_p">We show
that feature transformation is useless.</p></div></li></ul></div>
</section>
<section id="S2" class="ltx_section">
<h2 class="ltx_title ltx_title_section"><span class="ltx_tag ltx_tag_section">2. </span>Method</h2>
<section id="S2.SS1" class="ltx_subsection">
<h3 class="ltx_title ltx_title_subsection"><span class="ltx_tag ltx_tag_subsection">2.1. </span>Light Graph
Convolution</h3>
<div class="ltx_para"><p class="ltx_p">We abandon feature transformation and nonlinear activation. The
propagation rule is</p>
<table id="S2.E1" class="ltx_equation ltx_eqn_table"><tbody><tr class="ltx_equation ltx_eqn_row ltx_align_baseline">
<td class="ltx_eqn_cell ltx_eqn_center_padleft"></td><td class="ltx_eqn_cell ltx_align_center">
{EQUATION}</td>
<td class="ltx_eqn_cell ltx_eqn_eqno ltx_align_middle ltx_align_right" rowspan="1"><span
class="ltx_tag ltx_tag_equation ltx_align_right">(1)</span></td></tr></tbody></table>
<p class="ltx_p">and Equation (<a href="#S2.E1" class="ltx_ref"><span class="ltx_text ltx_ref_tag">1</span></a>)
is applied {math("K")} times.</p></div>
<section id="S2.SS1.SSS0.Px1" class="ltx_paragraph">
<h4 class="ltx_title ltx_title_paragraph">Model Training</h4>
<div class="ltx_para"><p class="ltx_p">We employ the Bayesian Personalized Ranking (BPR) loss, a pairwise
loss.</p></div></section>
</section></section>
<section id="S3" class="ltx_section">
<h2 class="ltx_title ltx_title_section"><span class="ltx_tag ltx_tag_section">3. </span>Experiments</h2>
<section id="S3.SS1" class="ltx_subsection">
<h3 class="ltx_title ltx_title_subsection"><span class="ltx_tag ltx_tag_subsection">3.1. </span>Experimental
Settings</h3>
<div class="ltx_para"><p class="ltx_p">We use the Gowalla, Yelp2018 and Amazon-Book datasets (Table
<a href="#S3.T1" class="ltx_ref"><span class="ltx_text ltx_ref_tag">1</span></a>). We report Recall@20 and
NDCG@20. The embedding size is fixed to 64 for all models. We optimize LightGCN with Adam and use a learning rate
of {math("0.001")}. The {math("L_{2}")} regularization coefficient {LAMBDA} is set to
{math("10^{-4}")}.<span class="ltx_ERROR undefined">&#92;decoy</span></p></div>
<figure id="S3.T1" class="ltx_table"><figcaption class="ltx_caption ltx_centering"><span
class="ltx_tag ltx_tag_table">Table 1. </span>Statistics of the datasets.</figcaption>{STATISTICS}</figure>
</section>
<section id="S3.SS2" class="ltx_subsection">
<h3 class="ltx_title ltx_title_subsection"><span class="ltx_tag ltx_tag_subsection">3.2. </span>Performance
Comparison</h3>
<figure id="S3.T2" class="ltx_table"><figcaption class="ltx_caption ltx_centering"><span
class="ltx_tag ltx_tag_table">Table 2. </span>Overall performance comparison. The best result is in bold.</figcaption>
<div class="ltx_inline-block ltx_align_center ltx_transformed_outer"><span class="ltx_transformed_inner">{RESULTS}
</span></div></figure>
<div class="ltx_para"><p class="ltx_p">LightGCN outperforms NGCF by a large margin.</p></div>
</section></section>
<section id="Sx1" class="ltx_section">
<h2 class="ltx_title ltx_title_section">Acknowledgments</h2>
<div class="ltx_para"><p class="ltx_p">We thank the reviewers.</p></div></section>
<section id="bib" class="ltx_bibliography"><h2 class="ltx_title ltx_title_bibliography">References</h2>
<ul class="ltx_biblist">
<li id="bib.bib1" class="ltx_bibitem"><span class="ltx_tag ltx_role_refnum ltx_tag_bibitem">[1]</span><span
class="ltx_bibblock">Thomas N. Kipf and Max Welling. </span><span class="ltx_bibblock">Semi-supervised
classification with GCN.</span></li>
<li id="bib.bib2" class="ltx_bibitem"><span class="ltx_tag ltx_role_refnum ltx_tag_bibitem">[2]</span><span
class="ltx_bibblock">Xiang Wang. Neural Graph Collaborative Filtering. The learning rate of 0.05 was used.</span></li>
</ul></section>
<section id="A1" class="ltx_appendix">
<h2 class="ltx_title ltx_title_appendix"><span class="ltx_tag ltx_tag_appendix">Appendix A </span>More Results</h2>
<div class="ltx_para"><p class="ltx_p">The embedding size is 128 in this appendix study.</p></div></section>
</article></div>
<footer class="ltx_page_footer">Generated by LaTeXML</footer></div></body></html>
"""


@pytest.fixture(scope="module")
def doc() -> PaperDoc:
    return read_arxiv_html(HTML, PaperMeta(key="lightgcn"))


def test_pages_and_sections_follow_the_top_level_sections(doc):
    assert [p.label for p in doc.pages] == [
        "Abstract", "§1 Introduction", "§2 Method", "§3 Experiments", "§Acknowledgments", "References",
        "§A More Results",
    ]
    assert [(s.title, s.page) for s in doc.sections] == [
        ("1 Introduction", 2), ("2 Method", 3), ("2.1 Light Graph Convolution", 3), ("Model Training", 3),
        ("3 Experiments", 4), ("3.1 Experimental Settings", 4), ("3.2 Performance Comparison", 4),
        ("Acknowledgments", 5), ("References", 6), ("A More Results", 7),
    ]
    assert doc.pages[3].text.split("\n")[:2] == ["3 EXPERIMENTS", "3.1 Experimental Settings"]
    assert doc.meta.title == "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation"
    assert doc.meta.abstract.startswith("Graph Convolution Network (GCN) has become new state-of-the-art")
    assert doc.pages[5].text.startswith("REFERENCES\n[1] Thomas N. Kipf and Max Welling. Semi-supervised")


def test_text_reads_as_printed(doc):
    text = doc.full_text
    assert "use a learning rate of 0.001. The L2 regularization coefficient λ is set to 1e-4." in text
    assert "NGCF [2] uses feature transformation, which we find useless, i.e., it hurts. Our model" in text
    assert "\n• We show that feature transformation is useless.\n" in text
    assert "\\mathbf{e}_{u}^{(k+1)}=\\sum_{i\\in\\mathcal{N}_{u}}\\mathbf{e}_{i}^{(k)}, (1)" in text
    assert "and Equation (1) is applied K times." in text
    assert doc.pages[1].text.endswith("Code is at https://example.org/lightgcn.")  # the footnote, at the foot
    for absent in ("decoy", "A thanks note", "Generated by LaTeXML", "A. Author"):
        assert absent not in text
    assert "Table 2: Overall performance comparison. The best result is in bold." in doc.pages[3].text


def test_tables_have_numbered_captions_and_cells(doc):
    stats, overall = doc.tables
    assert (stats.caption, stats.page, stats.label) == ("Table 1: Statistics of the datasets.", 4, "§3.1")
    assert stats.rows[1] == ["Gowalla", "29,858", "40,981", "0.00084"]
    assert (overall.page, overall.label) == (4, "§3.2")
    assert overall.rows == OVERALL_TABLE_ROWS


def test_rules_extractor_reads_the_html_paper(doc):
    spec = extract_run(doc, RULES)
    assert_reads_as_the_fixture_paper(spec)
    assert all(r.table == "Table 2" for r in spec.reported)
    assert all(r.evidence.startswith("§3.2: Table 2, LightGCN row/column") for r in spec.reported)


def test_rowspans_and_panels():
    html = (
        '<article class="ltx_document"><section class="ltx_section"><h2 class="ltx_title ltx_title_section">'
        '<span class="ltx_tag ltx_tag_section">IV </span>Results</h2>'
        '<figure class="ltx_table"><figcaption><span class="ltx_tag ltx_tag_table">TABLE II: </span>Per dataset.'
        "</figcaption>"
        '<figure class="ltx_table ltx_figure_panel"><figcaption><span class="ltx_tag ltx_tag_table">(a) </span>'
        'Gowalla</figcaption><table class="ltx_tabular"><tr><td rowspan="2">Ours</td><td>HR@10</td><td>0.5</td></tr>'
        "<tr><td>NDCG@10</td><td>0.3</td></tr></table></figure>"
        '<figure class="ltx_table ltx_figure_panel"><figcaption><span class="ltx_tag ltx_tag_table">(b) </span>'
        'Yelp2018</figcaption><table class="ltx_tabular"><tr><td>Ours</td><td>HR@10</td><td>0.6</td></tr>'
        "</table></figure></figure></section></article>"
    )
    doc = read_arxiv_html(html, PaperMeta(key="p"))
    assert doc.pages[1].label == "§IV Results"
    (table,) = doc.tables
    assert table.caption == "Table II: Per dataset."
    assert table.rows == [
        ["(a) Gowalla", "", ""], ["Ours", "HR@10", "0.5"], ["", "NDCG@10", "0.3"], ["(b) Yelp2018", "", ""],
        ["Ours", "HR@10", "0.6"],
    ]


@pytest.mark.parametrize(
    ("alttext", "text"),
    [("d=64", "d=64"), ("10^{-4}", "1e-4"), (r"5\times 10^{-3}", "5e-3"), (r"\{16,32\}", "{16,32}"),
     (r"10\%", "10%"), (r"\eta=0.01", "η=0.01")],
)
def test_alttext(alttext, text):
    assert alttext_to_text(alttext) == text


def test_older_latexml_markup():
    html = (
        '<div class="ltx_document"><h1 class="ltx_title ltx_title_document">  Old   Style </h1>'
        '<div class="ltx_section" id="S1"><h2 class="ltx_title ltx_title_section"><span class="ltx_tag '
        'ltx_tag_section">\n 1\n</span>\n Intro\n</h2><div class="ltx_para"><p class="ltx_p">Hello <span '
        'class="ltx_ERROR undefined">&#92;model</span> world.</p><table class="ltx_equation"><tr><td '
        'class="ltx_eqn_cell"><math alttext="t\\sim 1/\\lambda_{3}">t</math></td><td class="ltx_eqn_eqno">(4)</td>'
        '</tr></table></div></div><section class="ltx_bibliography"><h2 class="ltx_title">References</h2><ul>'
        '<li class="ltx_bibitem"><span class="ltx_tag ltx_tag_bibitem">[2]</span><span class="ltx_bibblock">Bravo '
        'charlie.</span><span class="ltx_bibblock ltx_bib_cited">Cited by: <a class="ltx_ref">p1</a>.</span></li>'
        "</ul></section></div>"
    )
    doc = read_arxiv_html(html, PaperMeta(key="o"))
    assert [(p.label, p.text) for p in doc.pages] == [
        ("Abstract", "Old Style"),
        ("§1 Intro", "1 INTRO\nHello world.\nt\\sim 1/\\lambda_{3} (4)"),
        ("References", "REFERENCES\n[2] Bravo charlie."),
    ]


def test_a_page_without_paper_text_is_a_user_error():
    from paper_autotrain.errors import UserError

    with pytest.raises(UserError, match="no paper text"):
        read_arxiv_html("<html><body><p></p></body></html>", PaperMeta(key="e"))
