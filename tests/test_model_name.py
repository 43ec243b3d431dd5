"""The name a paper gives its own method, read from prose written the way papers write it (fixture docs only)."""

from __future__ import annotations

import pytest

from paper_autotrain.schemas import Page, PaperDoc, PaperMeta, Section, Table
from paper_autotrain.stages import extract
from paper_autotrain.stages.extract.model_name import detect_model_name
from paper_autotrain.stages.extract.rules import experiment_sentences
from paper_autotrain.stages.extract.text import split_sentences

INTRO = (
    "1 INTRODUCTION\nRecommender systems help users find items they like. Collaborative filtering (CF) "
    "learns user and item embeddings from past interactions. Graph convolution networks (GCNs) refine "
    "them on the user-item graph."
)
EXPERIMENTS = (
    "4 EXPERIMENTS\nWe run experiments on the Amazon-book and Movielens-10M datasets. To show the "
    "effectiveness of our method, we compare it with a number of popular baselines.\n"
    "• PopRec: A simple baseline that ranks items according to their popularity.\n"
    "• NGCF [12]: a graph collaborative filtering model.\n"
    "We report Recall@20 and NDCG@20."
)


def _doc(title: str, abstract: str, rows: list[str] | None = None, method: str = "") -> PaperDoc:
    """A four-page paper: title and abstract, introduction, method, experiments (with a results table)."""
    pages = [f"{title}\nABSTRACT\n{abstract}", INTRO, f"3 METHOD\n{method or 'The score is an inner product.'}",
             EXPERIMENTS]
    table = Table(page=4, caption="Table 3: Performance comparison on all datasets.",
                  rows=[["Method", "Recall@20", "NDCG@20"]] + [[name, "0.1", "0.2"] for name in rows or []])
    return PaperDoc(
        meta=PaperMeta(key="paper", title=title),
        pages=[Page(number=i + 1, text=text) for i, text in enumerate(pages)],
        sections=[Section(title="4 EXPERIMENTS", page=4, text=EXPERIMENTS)],
        tables=[table],
    )


def _name(doc: PaperDoc) -> str | None:
    sentences = split_sentences(doc)
    return detect_model_name(doc, sentences, experiment_sentences(doc, sentences))


@pytest.mark.parametrize(
    ("abstract", "expected"),
    [
        ("In this paper, we propose a hypergraph collaborative network (HyperCN) for implicit feedback.", "HyperCN"),
        ("We propose a new model named TagGCN, which keeps only neighbourhood aggregation.", "TagGCN"),
        ("This paper proposes ConvRec, a novel convolutional framework for next-item recommendation.", "ConvRec"),
        ("In this paper we present Logistic Tensor Factorization (Logistic TF), a new probabilistic model for "
         "implicit feedback.", "Logistic TF"),
        ("We propose a Convolutional Sequence Embedding Model, or Coser for short, as a solution.", "Coser"),
        ("The goal of our work is to balance both, by proposing a self-attention based model (SelfRec) that "
         "captures long-term semantics.", "SelfRec"),
        ("We propose a novel approach. The approach is named as Field-paired Factorization Machines (FpFM, or FP2), "
         "a direct improvement of FM.", "FpFM"),
    ],
)
def test_the_name_a_proposal_sentence_gives(abstract, expected):
    assert _name(_doc("Learning Representations for Recommendation", abstract)) == expected


def test_title_prefix_names_the_method():
    doc = _doc("TagRec: Simplifying Tag-aware Recommendation", "We study tags for recommendation.")
    assert _name(doc) == "TagRec"


def test_a_title_printing_a_superscript_yields_to_the_name_the_paper_uses():
    abstract = ("The proposed approach is named as Field-paired Factorization Machines (FpFM, or F P2). "
                "FpFM is fast. FpFM is accurate.")
    assert _name(_doc("FP2: Field-paired Factorization Machines", abstract)) == "FpFM"


def test_a_framework_name_yields_to_the_model_built_in_it():
    method = ("We fuse both towers under the NCF framework. We dub this model \"FusedMF\", short for Fused Matrix "
              "Factorization.")
    abstract = "We present a general framework named NCF, short for Neural network based Collaborative Filtering."
    assert _name(_doc("Neural Recommendation", abstract, method=method)) == "FusedMF"


def test_a_framework_is_the_name_when_no_model_is_named():
    abstract = "In this paper, we present DIRE, a general framework that disentangles interest and conformity."
    assert _name(_doc("Disentangling Interest for Recommendation", abstract)) == "DIRE"


@pytest.mark.parametrize(
    "abstract",
    [
        "We propose a GCN-based model for recommendation. Experiments on Amazon-book show large gains.",
        "We propose a CF-based model, trained with a pairwise loss.",
        "We propose a simple method (MF) and evaluate it on the Movielens-10M dataset (Movielens-10M).",
        "Recently, a new sequential model Transformer achieved strong results; we apply RNNs to sessions.",
    ],
)
def test_phrases_generic_acronyms_and_datasets_are_not_names(abstract):
    assert _name(_doc("Session-based Recommendations with Recurrent Networks", abstract, rows=["Amazon-book"])) is None


def test_cited_and_compared_baselines_are_not_names():
    abstract = ("Prior graph models such as NGCF [12] and the method of Wang et al. are heavy. We outperform "
                "PopRec and NGCF on two benchmarks.")
    assert _name(_doc("Graph Models for Recommendation", abstract, rows=["PopRec", "NGCF"])) is None
    cited = "We propose NGCF [12], which we extend with a light propagation model (LiteProp) of our own."
    assert _name(_doc("Graph Models for Recommendation", cited)) == "LiteProp"


def test_the_results_row_names_the_method_when_no_sentence_does():
    abstract = "Experiments show that TriRec outperforms popularity ranking and graph models."
    doc = _doc("Triangle Models for Recommendation", abstract, rows=["PopRec", "NGCF", "TriRec"])
    assert _name(doc) == "TriRec"


def test_a_paper_without_a_name_gets_none_and_an_unclear_note():
    abstract = ("We propose treating the data as indication of positive and negative preference with varying "
                "confidence levels. This leads to a factor model tailored for implicit feedback.")
    doc = _doc("Collaborative Filtering for Implicit Feedback", abstract, rows=["PopRec"])
    spec = extract.run(doc, {"name": "rules", "hparams": {}})
    assert spec.model_name is None
    assert any(note.startswith("model_name: the paper gives its method no name") for note in spec.unclear)
