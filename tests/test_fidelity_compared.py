"""The component inventory names a part as the paper's own only where a sentence describes the paper's method, not
a method it compares with: related work, the description of the baselines ("We compare with ... Caser [29], which
applies convolutional filters ..."), the experiments' list of baselines ("(4) Caser [29]. It models ..."), a
sentence whose subject is another method, future work. A part the method takes from another method ("which we
adopt") stays its own.

The fixture papers are written the way papers describe methods; none is a real paper.
"""

from __future__ import annotations

import pytest

from paper_autotrain.stages.extract.fidelity import NO_METHOD_SECTION, about_the_methods_own, find_parts, vocabulary
from paper_autotrain.stages.extract.text import Sentence
from tests.test_fidelity import spec_of

CONVOLUTION = "horizontal and vertical convolutional filters"
MARKOV = "Markov chain transitions (factorised)"
SELF_ATTENTION = "self-attention over the item sequence"
COMPARED = ("POP", "BPRMF", "FPMC", "Caser")  # the methods the spec reads in `baselines_in_paper`

OPENING = [
    "FocusRec: Attentive Metric Learning for Next-Item Recommendation",
    "Abstract. We propose FocusRec, a sequential recommender that attends over the user's recent items and ranks "
    "the next item by its Euclidean distance to the user.",
    "1 INTRODUCTION",
    "Sequential recommenders predict a user's next item from the items the user interacted with most recently. "
    "FocusRec is trained in a metric learning framework with a hinge loss.",
]
BASELINE_LIST = (
    "Specifically, the following baseline models are evaluated. (1) POP. This approach ranks the items by their "
    "popularity. (2) BPRMF [27]. It optimizes the matrix factorization with the Bayesian Personalized Ranking loss. "
    "(3) FPMC [28]. This approach combines matrix factorization with a factorized Markov chain of item-to-item "
    "transitions. (4) Caser [29]. It models the recent items with horizontal and vertical convolutional filters. "
    "It is optimized with the cross entropy.")
RESULTS = ("Table 2 reports HR@50 on MovieLens-1M. FocusRec outperforms every baseline, and Markov chain based "
           "models (FPMC) perform well on the sparse data.")
# (a) the method attends over the items and has no convolution; the paper describes Caser's in its related work,
# in the method section's contrast and in the experiments' baselines
WITH_METHOD_SECTION = [
    [*OPENING,
     "2 RELATED WORK",
     "Caser [29] applies horizontal and vertical convolutional filters to the embedding matrix of the recent items. "
     "FPMC [28] factorizes a personalized Markov chain of item-to-item transitions."],
    ["3 METHOD",
     "Unlike Caser [29], which slides horizontal and vertical convolutional filters over the embedding matrix, "
     "FocusRec relates the recent items to each other with self-attention. The self-attention outputs are averaged "
     "into the user's short-term intent. Each user also has a long-term preference embedding. The score of the next "
     "item is the Euclidean distance between the user and the item, and the model is trained with a hinge loss.",
     "4 EXPERIMENTS", "We evaluate on MovieLens-1M with HR@50. " + BASELINE_LIST, RESULTS],
]
# (a) the same paper with its method pages cut out: no heading marks a method section, and what is left to read is
# the introduction and the experiments with their baselines
METHOD_PAGES_CUT = [
    OPENING,
    ["Our model infers the user's short-term intent with self-attention over the recent items, and a long-term "
     "preference embedding models the user's general taste. The model is trained in a metric learning framework "
     "with a hinge loss on the Euclidean distance between the user and the item.",
     "Baselines. We evaluate on MovieLens-1M with HR@50. We compare FocusRec with Caser [29], which applies "
     "horizontal and vertical convolutional filters to the embedding matrix.", BASELINE_LIST, RESULTS],
]
# (b) the method takes another method's part and says so
ADOPTING = [
    OPENING,
    ["2 METHOD",
     "SASRec [12] encodes a sequence with causal self-attention, which we adopt to encode the user's recent items. "
     "The self-attention outputs are averaged into the user's short-term intent. "
     "Each user also has a long-term preference embedding. The score of the next item is the Euclidean distance "
     "between the user and the item, and the model is trained with a hinge loss.",
     "3 EXPERIMENTS", "We evaluate on MovieLens-1M with HR@50 and compare with POP and Caser [29]."],
]


def parts_in(spec) -> list[str]:
    return [component.name for component in spec.fidelity.components]


def test_a_compared_method_s_convolution_is_not_the_method_s_own(tmp_path):
    spec = spec_of(tmp_path, WITH_METHOD_SECTION)
    assert spec.model_name == "FocusRec"
    assert CONVOLUTION not in parts_in(spec) and MARKOV not in parts_in(spec)
    assert SELF_ATTENTION in parts_in(spec)


def test_a_paper_with_its_method_pages_cut_names_no_compared_method_s_part(tmp_path):
    spec = spec_of(tmp_path, METHOD_PAGES_CUT)
    assert spec.model_name == "FocusRec" and "Caser" in [b.name for b in spec.baselines_in_paper]
    assert not {CONVOLUTION, MARKOV} & set(parts_in(spec))
    assert not any("skip" in (component.evidence or "") for component in spec.fidelity.components)
    # what is left describes FocusRec's own parts, all built; the spec says where they were read
    assert {SELF_ATTENTION, "metric learning (Euclidean distance between users and items)"} <= set(parts_in(spec))
    assert spec.fidelity.missing == [] and NO_METHOD_SECTION in spec.unclear


def test_a_part_the_method_adopts_from_another_method_stays_its_own(tmp_path):
    spec = spec_of(tmp_path, ADOPTING)
    attention = next(c for c in spec.fidelity.components if c.name == SELF_ATTENTION)
    assert "which we adopt" in attention.evidence and attention.block is not None


def stated_parts(text: str, names: tuple[str, ...], compared: tuple[str, ...] = COMPARED) -> set[str]:
    """The parts of `names` read as FocusRec's in the sentences of `text` (split at " | ")."""
    parts = [part for part in vocabulary()[0] if part.name in names and part.applies_to("sequential")]
    sentences = [Sentence(page=3, text=piece, order=i) for i, piece in enumerate(text.split(" | "))]
    read = about_the_methods_own(sentences, "FocusRec", compared)
    return {found.part.name for found in find_parts(parts, read, "FocusRec", compared)}


@pytest.mark.parametrize("text", [
    "We compare FocusRec with Caser [29], which applies horizontal and vertical convolutional filters.",
    "We compare with Caser [29], a CNN-based model that applies horizontal and vertical convolutional filters.",
    "ConvRank [8] slides vertical convolutional filters over the embedding matrix.",  # a cited name, not known
    "Tang et al. [29] proposed vertical convolutional filters over the embedding matrix.",
    "(4) Caser [29]. | It models the recent items with horizontal and vertical convolutional filters.",
    "• Caser Convolutional Sequence Embedding [29], the CNN model. | It slides vertical convolutional filters.",
    "Caser is a CNN model. | This model slides vertical convolutional filters over the items.",
    "In the future, we will explore vertical convolutional filters over the recent items.",
])
def test_a_sentence_about_another_method_states_none_of_its_parts(text):
    assert stated_parts(text, (CONVOLUTION,)) == set()


@pytest.mark.parametrize("text", [
    "We adopt the self-attention block of SASRec [12] to encode the recent items.",
    "Following SASRec [12], our model encodes the recent items with self-attention.",
    "SASRec [12] encodes the sequence with self-attention, which we adopt for the short-term intent.",
    "We adopt the encoder of SASRec [12], which stacks self-attention blocks.",
    "Like SASRec [12], FocusRec applies self-attention over the recent items.",
    "(1) Embedding: FocusRec embeds the recent items. | (2) Attention: The self-attention relates the items.",
])
def test_a_part_taken_from_another_method_is_stated(text):
    assert stated_parts(text, (SELF_ATTENTION,)) == {SELF_ATTENTION}


def test_the_method_s_own_sentences_after_another_method_s_are_read():
    text = ("Caser [29] slides vertical convolutional filters over the items. | It is trained with the cross entropy. "
            "| FocusRec relates the recent items with self-attention.")
    assert stated_parts(text, (CONVOLUTION, SELF_ATTENTION)) == {SELF_ATTENTION}
