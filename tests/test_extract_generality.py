"""The rules extractor on the ways papers it was not developed on write things: losses in prose, results tables
with variants, marks and percentages, numbers in the text, dataset names as printed, and hyperparameters scoped
to the paper's own method. Each fixture is a small made-up paper (the tests never read the development papers)."""

from __future__ import annotations

import pytest

from paper_autotrain.schemas import Page, PaperDoc, PaperMeta, Section, Table
from paper_autotrain.stages import extract
from paper_autotrain.stages.extract.rules import detect_loss
from paper_autotrain.stages.extract.text import Sentence

RULES = {"name": "rules", "hparams": {}}


def sentences(*texts: str) -> list[Sentence]:
    return [Sentence(page=4, text=text, order=i) for i, text in enumerate(texts)]


def paper(pages: list[str], title: str = "A Paper", tables: list[Table] | None = None,
          sections: list[Section] | None = None) -> PaperDoc:
    return PaperDoc(meta=PaperMeta(key="p", title=title),
                    pages=[Page(number=i + 1, text=text) for i, text in enumerate(pages)],
                    tables=tables or [], sections=sections or [])


# --- the training loss as papers describe it -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("texts", "task", "loss", "named"),
    [
        # a margin hinge loss is outside the spec's vocabulary: "other", and the note names it
        (("BPRMF optimizes matrix factorization with the Bayesian Personalized Ranking loss.",
          "To separate positive and negative pairs, we use the following margin- based hinge loss.",
          "The margin of the hinge loss is fixed to 0.5."), "topk", "other", "hinge"),
        # pairwise learning with -ln sigma(r_ui+ - r_ui-) printed with a math phi is BPR
        (("Similar to other works, we adopt the pairwise learning method for optimization.",
          "The objective function is formulated as: arg min -ln𝜙(r_ui+ - r_ui-) + λ∥Θ∥2"), "topk", "bpr", None),
        # a cited work's weighted RMSE is not this paper's loss; its logistic probability model is
        (("They then formulate a factorization that minimizes a weighted root mean squared error.",
          "While [12] minimizes the weighted RMSE, we take a probabilistic approach.",
          "We model the probability of a user choosing an item by a logistic function."), "topk", "bce", None),
        (("In training, a cross-entropy loss is minimized with gradient descent on the output of the sampled "
          "softmax.",), "topk", "other", "sampled softmax"),
        (("Factors are computed by minimizing a cost function weighted by confidence levels.",
          "This leads to an alternating-least-squares optimization process.",
          "Zero values are associated with low confidence levels."), "topk", "other", "weighted squared"),
        (("AutoRec directly minimises RMSE, the canonical performance in rating prediction.",), "rating", "mse",
         None),
        (("The model ends in a softmax over all items and we minimise the cross-entropy loss over the items.",),
         "topk", "ce", None),
    ],
)
def test_losses_described_in_prose(texts, task, loss, named):
    found, evidence, other = detect_loss(sentences(*texts), task, "OurNet")
    assert found == loss and evidence.startswith("p4: ")
    assert (other is None) if named is None else (named in other)


def test_a_loss_outside_the_vocabulary_is_other_and_named_in_unclear():
    doc = paper(["HingeRec: Metric Learning for Recommendation\nWe propose HingeRec. We use the following margin- "
                 "based hinge loss between the positive item and a sampled negative item; the margin is 0.5."],
                title="HingeRec: Metric Learning for Recommendation")
    spec = extract.run(doc, RULES)
    assert spec.loss == "other"
    assert any(note.startswith("loss: the paper trains with a hinge (margin) loss") for note in spec.unclear)
    assert not any(note.startswith("training loss not recognised") for note in spec.unclear)
