"""The evaluation protocol as CTR, rating and industrial papers state it: a random split of rows beside a later day
as test (one per dataset), periods that do not overlap, an online A/B test, the test period after the training one,
the measure the paper evaluates by (AUC, LogLoss, RMSE, MAP, percentile rank), the ordered list of all items and the
test items filtered against training; and the same statements about other papers or plans not taken."""

from __future__ import annotations

import re

import pytest

from paper_autotrain.schemas import Page, PaperDoc, PaperMeta, Protocol, Section
from paper_autotrain.stages import parse
from paper_autotrain.stages.extract.protocol import read_protocol
from paper_autotrain.stages.extract.rules import experiment_sentences
from paper_autotrain.stages.extract.text import split_sentences
from tests.pdf_fixtures import bundle_for, write_pdf

EVIDENCE = re.compile(r"^p\d+: \S")
INTRODUCTION = ("ClickNet: Crossing Features for CTR Prediction\nAbstract. We propose ClickNet, a model that predicts "
                "the click-through rate of an ad from its categorical fields. Industrial systems such as Wide & Deep "
                "[3] are evaluated by online A/B tests, and He et al. [5] split the data 8:1:1 at random.")


def paper(*experiments: str) -> PaperDoc:
    pages = [Page(number=1, text=INTRODUCTION)]
    pages += [Page(number=i + 2, text=("4 EXPERIMENTS\n" if i == 0 else "") + text)
              for i, text in enumerate(experiments)]
    return PaperDoc(meta=PaperMeta(key="clicknet", title="ClickNet"), pages=pages,
                    sections=[Section(title="1 Introduction", page=1, text=""),
                              Section(title="4 Experiments", page=2, text="")])


def read(doc: PaperDoc) -> Protocol:
    sentences = split_sentences(doc)
    return read_protocol(doc, sentences, experiment_sentences(doc, sentences))


def protocol_of(*experiments: str) -> Protocol:
    return read(paper(*experiments))


def value(item) -> str | None:
    return None if item is None else item.value


CTR_PAGES = [
    ["ClickNet: Crossing Features for CTR Prediction",
     "Abstract. We propose ClickNet, a model that predicts the click-through rate of an ad from its categorical "
     "fields. Industrial systems such as Wide & Deep [3] are evaluated by online A/B tests.",
     "1 Introduction",
     "Click-through rate prediction is central to online advertising. Prior works [4, 6] report their numbers on "
     "public benchmarks, and most of them rank items by their predicted scores."],
    ["4 Experiments",
     "4.1 Datasets. We evaluate ClickNet on the following two datasets.",
     "1) Avazu Dataset: Avazu contains 40 million click records of mobile ads with 23 categorical fields. We split "
     "the dataset randomly into two parts: 90% is for training, while the rest 10% is for testing.",
     "2) Company Dataset: To verify ClickNet in a real industrial setting, we conduct experiments on the Company "
     "dataset. We collect 7 consecutive days of users' click records for training, and the next 1 day for testing.",
     "4.2 Evaluation Metrics. We use two evaluation metrics in our experiments: AUC (Area Under ROC) and Logloss "
     "(cross entropy).",
     "4.3 Online Evaluation. We further conducted an online A/B test in the app store for two weeks, where 5% of "
     "the users saw the recommendations of ClickNet."]]


@pytest.fixture(scope="module")
def ctr_doc(tmp_path_factory) -> PaperDoc:
    pdf = write_pdf(tmp_path_factory.mktemp("ctr") / "clicknet.pdf", CTR_PAGES)
    bundle, folder = bundle_for(pdf)
    return parse.run(bundle, folder, {"max_pages": 60, "max_mb": 50})


def test_ctr_paper_pdf_split_by_dataset_online_test_and_measures(ctr_doc):
    protocol = read(ctr_doc)
    assert value(protocol.split) == ("random 90/10 (Avazu); temporal (the last 1 day as test) (Company); "
                                     "online A/B test")
    assert "90% is for training" in protocol.split.evidence and "next 1 day for testing" in protocol.split.evidence
    assert "online A/B test" in protocol.split.evidence
    assert value(protocol.metric_definition) == "AUC; LogLoss"
    assert "two evaluation metrics" in protocol.metric_definition.evidence
    assert protocol.ranking is None  # the introduction's "rank items by their predicted scores" is not read
    for item in (protocol.split, protocol.metric_definition):
        assert all(EVIDENCE.match(part) for part in item.evidence.split(" | ")), item.evidence


# --- splits -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("We randomly split the dataset into training (80%), validation (10%) and test (10%) sets.",
     "random 80/10/10"),
    ("We randomly select 80% of all samples for training and randomly split the rest into validation and test "
     "sets with equal size.", "random 80/10/10"),
    ("We randomly split the instances by 8:1:1 for training, validation and testing.", "random 80/10/10"),
])
def test_random_row_splits(text, expected):
    assert value(protocol_of(text).split) == expected


@pytest.mark.parametrize("text, expected", [
    ("The test set is based on all events during the single week following the 4-week training period.",
     "temporal (the last week as test)"),
    ("Table 3 shows the results we obtained on next-day holdout data with different hidden layers.",
     "temporal (the last day as test)"),
    ("We train on the first 20 days and use the ensuing 3 days of logs as the test data.",
     "temporal (the last 3 days as test)"),
    ("Only data sets of the same group can be combined, meaning that there is no overlap in time between the "
     "training, validation and test sets.", "temporal (train, validation and test periods do not overlap)"),
])
def test_later_test_periods(text, expected):
    assert value(protocol_of(text).split) == expected


@pytest.mark.parametrize("text", [
    "We conducted live online experiments in an A/B testing framework for 3 weeks.",
    "An online A/B test was conducted for two weeks on the app store.",
    "We found that predicting the next purchase performed better in A/B testing.",
])
def test_online_ab_tests(text):
    protocol = protocol_of(text)
    assert value(protocol.split) == "online A/B test"
    assert EVIDENCE.match(protocol.split.evidence)


def test_an_offline_split_and_an_online_test_are_both_kept():
    protocol = protocol_of("We randomly split the rows 8:1:1 into training, validation and test sets.",
                           "Besides the offline evaluation, we conducted an online A/B test for a week.")
    assert value(protocol.split) == "random 80/10/10; online A/B test"


# --- ranking, filters and measures ------------------------------------------------------------------------------


def test_percentile_rank_over_the_ordered_list_of_all_items_and_repeats_removed():
    protocol = protocol_of(
        "Evaluation methodology. We denote by rank_ui the percentile-ranking of item i within the ordered list of "
        "all items prepared for user u. Our basic quality measure is the expected percentile ranking of the test "
        "items. For each user we remove from the test set the items that had been watched by that user during the "
        "training period.")
    assert value(protocol.ranking) == "full"
    assert value(protocol.metric_definition) == "MPR: expected percentile rank of the test items (lower is better)"
    assert value(protocol.filters) == "test items the user already had in training removed from the test set"


def test_test_items_absent_from_training_removed():
    protocol = protocol_of("We filter out clicks from the test set where the item clicked is not in the training "
                           "set.")
    assert value(protocol.filters) == "test interactions with items absent from the training data removed"


@pytest.mark.parametrize("text, expected", [
    ("We repeat this splitting procedure 5 times and report the average RMSE.", "RMSE"),
    ("Netflix: Rating Prediction Error 0.98 0.96 Error (RMSE) Factorization Machine 0.94", "RMSE"),
    ("Features beyond the embeddings improve holdout Mean Average Precision (MAP).", "MAP: mean average precision"),
    ("Table 3: Click prediction results where performance is measured by relative AUC using the production model "
     "as the baseline.", "relative AUC (against a reference model)"),
    ("Besides online experiments, we also show the Area Under Receiver Operator Characteristic Curve (AUC) on a "
     "holdout set offline.", "AUC"),
    ("Models are trained with the log loss as the objective and evaluated by AUC.", "AUC"),
    ("We report AUC and the relative AUC improvement (RelaImpr) over the base model.", "AUC"),
])
def test_the_measure_the_paper_evaluates_by(text, expected):
    assert value(protocol_of(text).metric_definition) == expected


# --- not the paper's own protocol -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Unlike Wide&Deep [3], which was evaluated in an online A/B test, we evaluate offline on Criteo.",
    "Cheng et al. [3] ran online A/B tests on Google Play; we evaluate offline.",
    "Many industrial systems [5, 8] are evaluated by online A/B testing.",
    "In future work, we will conduct online A/B tests with our partner.",
    "Since we have no access to an online platform, we cannot conduct A/B tests.",
])
def test_other_papers_or_planned_online_tests_are_not_taken(text):
    assert protocol_of(text).split is None


def test_other_papers_measures_and_training_objectives_are_not_taken():
    protocol = protocol_of("BPR [12] optimizes AUC directly. Rendle et al. [5] report RMSE on Netflix. We minimize "
                           "the log loss of the training data. Previous works evaluate models with AUC and Logloss, "
                           "while we report Recall@20.")
    assert protocol.metric_definition is None
    assert protocol_of("Note that we do not remove the items seen in training from the test set.").filters is None


def test_two_splits_without_their_datasets_stay_empty():
    protocol = protocol_of("We split the dataset randomly into two parts: 90% is for training, while the rest 10% "
                           "is for testing. We also collect 7 consecutive days of click records for training, and "
                           "the next 1 day for testing.")
    assert protocol.split is None
