"""The component inventory and the ways papers cite: a part another method has that the paper then takes over in
its next sentence ("SASRec [12] encodes ... with self-attention. We adopt it.") is the paper's own; a known fact
quoted with a citation ("the dot product violates the triangle inequality [42]", "as shown in [8], ...") is not a
part of the method; the paper's change to the last method of a list of compared methods ("• TextRec [31] ... a
stacked autoencoder. We replace the autoencoder with a multi-layer perceptron.") is that method's, not the paper's.

The fixture papers are written the way papers describe methods; none is a real paper.
"""

from __future__ import annotations

import pytest

from tests.test_fidelity import spec_of
from tests.test_fidelity_compared import COMPARED, OPENING, SELF_ATTENTION, parts_in, stated_parts

INNER_PRODUCT = "inner-product preference score"
METRIC = "metric learning (Euclidean distance between users and items)"
MLP = "multi-layer perceptron"
LIST_COMPARED = (*COMPARED, "VisRec", "TextRec")
HYBRID_BASELINES = (
    "We also compare with two hybrid methods that use item features. • VisRec [16] projects the image features of "
    "an item linearly into its latent vector. We replace the linear projection with a multi-layer perceptron. "
    "• TextRec [31] learns item offset vectors from the item descriptions with a stacked denoising autoencoder. "
    "We replace the autoencoder with a multi-layer perceptron.")
NUMBERED_BASELINES = (  # the fixture PDF's font has no bullet
    HYBRID_BASELINES.replace("• VisRec [16]", "(1) VisRec [16]. It").replace("• TextRec [31]", "(2) TextRec [31]. It"))
# (a) and (b): the method takes SASRec's self-attention over ("We adopt it") and explains its distance by a fact it
# cites, the dot product's violation of the triangle inequality; it has no dot product
CITING = [
    OPENING,
    ["2 METHOD",
     "AttnSeq [12] relates the recent items to each other with causal self-attention. We adopt it to encode the "
     "user's recent items. The self-attention outputs are averaged into the user's short-term intent. Each user "
     "also has a long-term preference embedding. Top-k ranking is then tricky to speed up due to the dot product's "
     "violation of the triangle inequality [42]. The score of the next item is therefore the Euclidean distance "
     "between the user and the item, and the model is trained with a hinge loss.",
     "3 EXPERIMENTS", "We evaluate on MovieLens-1M with HR@50 and compare with POP and Caser [29]."],
]
# (c): the paper's method pages cut out, its list of hybrid baselines ends on the paper's change to the last one
LIST_ENDS_ON_A_CHANGE = [
    OPENING,
    ["Our model infers the user's short-term intent with self-attention over the recent items, and a long-term "
     "preference embedding models the user's general taste. The model is trained in a metric learning framework "
     "with a hinge loss on the Euclidean distance between the user and the item.",
     "Baselines. We evaluate on MovieLens-1M with HR@50. " + NUMBERED_BASELINES,
     "Table 2 reports HR@50 on MovieLens-1M. FocusRec outperforms every baseline."],
]


def test_a_part_taken_over_in_the_next_sentence_is_the_method_s_and_a_cited_fact_is_not(tmp_path):
    spec = spec_of(tmp_path, CITING)
    attention = next(c for c in spec.fidelity.components if c.name == SELF_ATTENTION)
    assert "AttnSeq [12] relates" in attention.evidence and attention.block is not None
    assert INNER_PRODUCT not in parts_in(spec) and METRIC in parts_in(spec)
    assert spec.fidelity.verdict == "faithful"


def test_the_paper_s_change_to_the_last_compared_method_is_not_the_method_s_part(tmp_path):
    spec = spec_of(tmp_path, LIST_ENDS_ON_A_CHANGE)
    assert MLP not in parts_in(spec)
    assert {SELF_ATTENTION, METRIC} <= set(parts_in(spec)) and spec.fidelity.missing == []


@pytest.mark.parametrize("text", [
    "SASRec [12] encodes the recent items with self-attention. | We adopt it.",
    "AttnSeq [12] encodes the recent items with self-attention. | It stacks two blocks. | We follow this design.",
    "AttnSeq [12] relates the recent items with self-attention. | Following [12], we use it for the intent.",
    "3.2 Short-term Intent The encoder of AttnSeq [12] relates the recent items with self-attention. | We adopt it.",
    "Kang et al. [12] encode the recent items with self-attention. | We also adopt them.",
])
def test_another_method_s_part_the_paper_takes_over_next_is_stated(text):
    assert stated_parts(text, (SELF_ATTENTION,)) == {SELF_ATTENTION}


@pytest.mark.parametrize("text", [
    "SASRec [12] encodes the recent items with self-attention. | We adopt its training settings.",
    "SASRec [12] encodes the recent items with self-attention. | We do not adopt it.",
    "SASRec [12] encodes the recent items with self-attention. | We use it as a baseline.",
    "(4) SASRec [12]. | It encodes the recent items with self-attention. | We use the same settings.",
    "SASRec [12] encodes the recent items with self-attention. | FocusRec averages the items. | We adopt it.",
])
def test_another_method_s_part_not_taken_over_is_not_stated(text):
    assert stated_parts(text, (SELF_ATTENTION,)) == set()


@pytest.mark.parametrize(("text", "read"), [
    ("The dot product violates the triangle inequality [42], so FocusRec ranks items by the Euclidean distance.",
     {METRIC}),
    ("Top-k search is tricky due to the dot product's violation of the triangle inequality [42].", set()),
    ("We use the Euclidean distance since the dot product does not satisfy the triangle inequality [36, 42].",
     {METRIC}),
    ("It is known, as shown in [8], that the dot product cannot preserve the item-item similarity.", set()),
    ("In sequential recommendation, as shown by Kang et al. [12], self-attention captures distant items.", set()),
    # the method's own, with a citation: kept
    ("FocusRec scores the next item by the dot product of the intent and the item embedding [42].", {INNER_PRODUCT}),
    ("Self-attention relates distant items, as shown in [8], and we apply it over the recent items.",
     {SELF_ATTENTION}),
])
def test_a_cited_fact_about_a_part_is_not_the_method_s_part(text, read):
    assert stated_parts(text, (INNER_PRODUCT, METRIC, SELF_ATTENTION)) == read


@pytest.mark.parametrize(("text", "read"), [
    (HYBRID_BASELINES, set()),
    # the paper's own voice after the list: what it changes is no part the item named
    (HYBRID_BASELINES + " | We encode the item features of FocusRec with a multi-layer perceptron.", {MLP}),
])
def test_the_paper_s_change_to_a_listed_method_is_that_method_s(text, read):
    text = text.replace(" We replace", " | We replace").replace(" • TextRec", " | • TextRec")
    assert stated_parts(text, (MLP,), LIST_COMPARED) == read
