"""The paper's evaluation protocol: read from its experiments as papers write it, and set beside ours in the report."""

from __future__ import annotations

import re

import pytest

from paper_autotrain.data.protocol_words import LEAVE_ONE_OUT_WORDS
from paper_autotrain.schemas import (
    MethodSpec,
    Page,
    PaperDoc,
    PaperMeta,
    Protocol,
    ProtocolItem,
    RunResult,
    Section,
    SplitInfo,
)
from paper_autotrain.stages import compare, extract
from paper_autotrain.stages.compare.protocol import our_protocol, protocol_rows
from paper_autotrain.stages.extract.merge import merge
from paper_autotrain.stages.extract.protocol import read_protocol
from paper_autotrain.stages.extract.quotes import PaperText
from paper_autotrain.stages.extract.rules import experiment_sentences
from paper_autotrain.stages.extract.text import split_sentences
from tests import report_fixtures

EVIDENCE = re.compile(r"^p\d+: \S")
INTRODUCTION = ("GraphRec: Propagation for Recommendation\nAbstract. We propose GraphRec, a model that recommends "
                "items to users from their implicit feedback. Prior evaluations sample 100 negative items for each "
                "test item, which overestimates accuracy.")


def paper(*experiments: str) -> PaperDoc:
    """A paper whose experiments section (page 2 on) holds `experiments`, one page each."""
    pages = [Page(number=1, text=INTRODUCTION)]
    pages += [Page(number=i + 2, text=("4 EXPERIMENTS\n" if i == 0 else "") + text)
              for i, text in enumerate(experiments)]
    return PaperDoc(meta=PaperMeta(key="graphrec", title="GraphRec: Propagation for Recommendation"), pages=pages,
                    sections=[Section(title="1 Introduction", page=1, text=""),
                              Section(title="4 Experiments", page=2, text="")])


def protocol_of(*experiments: str) -> Protocol:
    doc = paper(*experiments)
    sentences = split_sentences(doc)
    return read_protocol(doc, sentences, experiment_sentences(doc, sentences))


def value(item) -> str | None:
    return None if item is None else item.value


# --- reading ------------------------------------------------------------------------------------------------


def test_leave_one_out_with_100_sampled_negatives():
    protocol = protocol_of(
        "4.1 Evaluation Protocol. For each user, we hold out the latest interaction as the test item and use the "
        "remaining data for training. Since ranking all items is too time-consuming, we followed [12] and randomly "
        "sampled 100 items that are not interacted by the user, ranking the test item among the 101 items. "
        "The performance is judged by HR@10 and NDCG@10: HR intuitively measures whether the test item is present "
        "on the top-10 list, and NDCG accounts for the position of the hit.")
    assert value(protocol.split) == "leave-one-out (latest interaction per user)"
    assert value(protocol.ranking) == "sampled-100"
    assert "HR@K: whether the test item is in the top-K" in value(protocol.metric_definition)
    assert "NDCG@K" in value(protocol.metric_definition)
    for item in (protocol.split, protocol.ranking, protocol.metric_definition):
        assert EVIDENCE.match(item.evidence), item.evidence
    assert "samples 100" in protocol.ranking.evidence or "sampled 100" in protocol.ranking.evidence


@pytest.mark.parametrize("text", [
    "The test set consists of the last interaction of each user; the one before it is used for validation.",
    "For each user, the most recent purchase is held out for testing.",
])
def test_leave_one_out_phrasings(text):
    assert value(protocol_of(text).split).startswith("leave-one-out")


@pytest.mark.parametrize("text, expected", [
    ("Closely following the setup from He et al., for each user we randomly hold out one item the user has "
     "interacted with and sample 100 unobserved items to form the test set.",
     "leave-one-out (a random interaction per user)"),
    ("We adopt the leave-one-out evaluation: the latest interaction of each user is held out for testing, and we "
     "randomly sample 100 items the user has not interacted with.", "leave-one-out (latest interaction per user)"),
    ("We adopt the leave-one-out evaluation and randomly sample 100 items the user has not interacted with.",
     "leave-one-out"),  # the random draw is the negatives', not the held-out item's
])
def test_which_item_a_leave_one_out_holds_out(text, expected):
    assert value(protocol_of(text).split) == expected


@pytest.mark.parametrize("paper_split, order, why", [
    ("leave-one-out (a random interaction per user)", "time order", "ours the last one by time"),
    ("leave-one-out (a random interaction per user)", "random order", ""),
    ("leave-one-out (latest interaction per user)", "random order", "ours a random one"),
    ("leave-one-out (latest interaction per user)", "time order", ""),
    ("leave-one-out", "time order", ""),  # which item the paper holds out was not read: nothing to compare
])
def test_a_leave_one_out_compares_which_item_it_holds_out(paper_split, order, why):
    spec = report_fixtures.spec().model_copy(update={"protocol": Protocol(split=ProtocolItem(
        value=paper_split, evidence="p5: quoted"))})
    split = report_fixtures.SPLIT.model_copy(update={"protocol": f"{LEAVE_ONE_OUT_WORDS} (the last tested), {order}; "
                                                     "full ranking over all items, seen items masked"})
    row = protocol_rows(spec, split, None)[0]
    assert row.differs is bool(why) and why in row.why


def test_a_model_using_its_last_item_is_no_split():
    assert protocol_of("At test time, the model uses the last item of the sequence to predict the next one.").split \
        is None


def test_one_positive_and_99_negatives_is_sampled_99():
    protocol = protocol_of("Each test item is ranked among 1 positive and 99 negatives sampled uniformly.")
    assert value(protocol.ranking) == "sampled-99"


def test_random_80_10_10_with_full_ranking():
    protocol = protocol_of(
        "4.1 Settings. For each user, we randomly select 80% of the interactions as the training set, 10% as the "
        "validation set, and the rest as the test set. We adopt the all-ranking protocol: all items that the user "
        "has not interacted with are candidates, and we report Recall@20 and NDCG@20.")
    assert value(protocol.split) == "random 80/10/10 per user"
    assert value(protocol.ranking) == "full"
    assert EVIDENCE.match(protocol.split.evidence)


def test_ratio_forms():
    assert value(protocol_of("We split the data into training and test sets with a ratio of 8:2.").split) == "80/20"
    assert value(protocol_of("The interactions are randomly split 80%/20% into training and test sets.").split) \
        == "random 80/20"


@pytest.mark.parametrize("text, expected", [
    ("We sort the interactions chronologically and use the first 70% for training, the next 10% for validation "
     "and the remaining 20% for testing.", "temporal 70/10/20"),
    ("We hold the first 70% of each user's actions as the training set and the next 10% as the validation set. "
     "The remaining 20% of actions are used as the test set.", "temporal 70/10/20 per user"),
    ("We adopt a temporal split: the interactions of the last 7 days are used as the test set and all earlier ones "
     "for training.", "temporal (the last 7 days as test)"),
])
def test_temporal_splits(text, expected):
    assert value(protocol_of(text).split) == expected


def test_k_core_and_rating_filters():
    protocol = protocol_of("For all datasets we use the 10-core setting, retaining users and items with at least 10 "
                           "interactions. We treat ratings of 4 or higher as positive feedback.")
    assert value(protocol.filters) == "10-core; rating >= 4 as positive"
    protocol = protocol_of("Users with fewer than 5 ratings are removed. We convert the explicit ratings to implicit "
                           "feedback.")
    assert value(protocol.filters) == "users with >= 5 interactions; ratings converted to implicit feedback"
    both = protocol_of("We discard users and items with fewer than 5 related actions.")
    assert value(both.filters) == "users and items with >= 5 interactions"
    counted = protocol_of("We only keep users with at least 20 songs and songs listened to by at least 200 users.")
    assert value(counted.filters) == "users with >= 20 interactions; items with >= 200 interactions"


def test_early_stopping_with_patience():
    protocol = protocol_of("We apply early stopping on the validation NDCG@20 with a patience of 20 epochs.")
    assert value(protocol.early_stopping) == "early stopping on validation NDCG@20, patience 20"
    plain = protocol_of("Training stops early: we stop training if Recall@20 on the validation set does not "
                        "improve for 50 epochs.")
    assert value(plain.early_stopping).endswith("patience 50")


def test_another_papers_protocol_is_not_taken():
    baseline = "NCF: He et al. [3] sample 100 negatives for each test item and rank the test item among them."
    assert protocol_of(baseline).ranking is None
    both = protocol_of(baseline, "We rank all items for each user, so that every item is a candidate.")
    assert value(both.ranking) == "full"
    adopted = protocol_of("Following He et al. [3], we randomly sample 100 negative items for each test item.")
    assert value(adopted.ranking) == "sampled-100"
    turned_down = protocol_of("Instead of sampling 100 negative items as prior works do, we rank all items.")
    assert value(turned_down.ranking) == "full"


def test_related_work_is_not_the_papers_protocol():
    assert protocol_of("We report Recall@20 on Gowalla.").ranking is None  # the introduction names 100 negatives


def test_ambiguous_items_stay_empty():
    protocol = protocol_of("On ML-1M we use leave-one-out evaluation. On Yelp we randomly split the interactions "
                           "80%/20% into training and test sets. We rank all items, and additionally report "
                           "results with 100 sampled negative items.")
    assert protocol.split is None
    assert protocol.ranking is None
    assert protocol_of("Our model improves Recall by 10% on the test set and 12% on the training set.").split is None
    assert protocol_of("The positive to negative ratio is 1:3 in the test set.").split is None


def test_rules_extractor_and_llm_merge_keep_the_protocol():
    doc = paper("We randomly select 80% of each user's interactions as the training set and the rest as the test "
                "set. We rank all items for each user and report Recall@20 and NDCG@20 on Gowalla and Yelp2018.")
    spec = extract.run(doc, {"name": "rules", "hparams": {}})
    assert value(spec.protocol.split) == "random 80/20 per user"
    assert value(spec.protocol.ranking) == "full"
    merged = merge(spec, None, [], PaperText(doc))
    assert merged.protocol == spec.protocol
    assert MethodSpec.model_validate_json(spec.model_dump_json()).protocol == spec.protocol


# --- the report ---------------------------------------------------------------------------------------------

EVAL = {"ks": [10], "main_metric": "ndcg@10"}


def report_files(spec: MethodSpec, tmp_path, split: SplitInfo = report_fixtures.SPLIT) -> dict[str, str]:
    ours, baselines, files = report_fixtures.runs(tmp_path, [0])
    return compare.run(spec, ours, baselines, split, EVAL, files)


def section(markdown: str) -> str:
    return markdown[markdown.index("## Protocol: the paper's and ours"):markdown.index("## What the paper reports")]


def test_report_sets_the_papers_protocol_beside_ours(tmp_path):
    files = report_files(report_fixtures.protocol_spec(), tmp_path)
    md = section(files["report.md"])
    split = next(line for line in md.splitlines() if line.startswith("| Split "))
    assert "leave-one-out (latest interaction per user) (p6: we hold out the latest" in split
    assert "| 80/10/10 per user |" in split and "**differs**" in split
    ranking = next(line for line in md.splitlines() if line.startswith("| Ranking "))
    assert "sampled-100" in ranking and "full: all items" in ranking
    assert "much higher numbers than our full ranking" in ranking and "not comparable" in ranking
    assert "&lt;script" in ranking and "<script>" not in md  # the hostile quote, as text
    filters = next(line for line in md.splitlines() if line.startswith("| Filters "))
    assert "10-core" in filters and "none: every user" in filters and "**differs**" in filters
    stopping = next(line for line in md.splitlines() if line.startswith("| Early stopping "))
    assert "patience 10" in stopping and stopping.endswith("| same |")  # the paper's patience is ours
    metric = next(line for line in md.splitlines() if line.startswith("| Metric definition "))
    assert "not read" in metric and "unknown" in metric
    html = files["report.html"]
    assert 'id="protocol"' in html and html.count('<tr class="differs">') == 3
    assert "&lt;script&gt;" in html and "much higher numbers than our full ranking" in html


def test_hand_written_spec_says_the_protocol_was_not_read(tmp_path):
    files = report_files(report_fixtures.spec(), tmp_path)
    md = section(files["report.md"])
    assert "The paper's protocol was not read" in md
    assert "- Split: 80/10/10 per user" in md and "- Early stopping: early stopping on valid NDCG@10, patience 10" in md
    assert "The paper&#39;s protocol was not read" in files["report.html"]
    assert "<th>Differs</th>" not in files["report.html"]


def sequential_split() -> SplitInfo:
    return SplitInfo(dataset="ml-100k", split_id="seq-abc", path="/x", n_users=10, n_items=20, n_train=80,
                     n_valid=10, n_test=10, protocol="time-ordered leave-one-out per user, histories of at most 50 "
                     "items; full ranking over all items, history not masked")


def test_ours_follows_the_data_regime_of_the_spec():
    spec = report_fixtures.protocol_spec().model_copy(update={"family": "sequential"})
    run = RunResult(model="m", role="reproduced", dataset="d", split_id="s", test={},
                    config={"trainer": {"patience": 5}})
    sequential = our_protocol(sequential_split(), spec, run)
    assert sequential.split.startswith("leave-one-out by time") and "history not masked" in sequential.ranking
    assert sequential.early_stopping.startswith("early stopping on valid NDCG@10, patience 5")
    rows = {row.item: row for row in protocol_rows(spec, sequential_split(), run)}
    assert rows["Split"].differs is False  # both leave-one-out
    assert rows["Ranking"].differs is True and rows["Early stopping"].differs is True  # 10 vs 5
    ctr = SplitInfo(dataset="ml-100k", split_id="ctr-abc", path="/x", n_users=10, n_items=20, n_train=80, n_valid=10,
                    n_test=10, protocol="CTR: label = rating >= 4, random 0.8/0.1/0.1 split of all rows (seed 2020); "
                    "fields user_id, item_id; AUC and LogLoss")
    ours = our_protocol(ctr, report_fixtures.partial_spec().model_copy(update={"family": "context"}), None)
    assert ours.split == "random 80/10/10 split of all rows" and ours.filters.startswith("label = rating >= 4")
    assert "patience not recorded" in ours.early_stopping and "AUC" in ours.early_stopping
    temporal = report_fixtures.SPLIT.model_copy(update={"protocol": "per-user 0.8/0.1/0.1 split, time order; full "
                                                        "ranking over all items, seen items masked"})
    assert our_protocol(temporal, report_fixtures.protocol_spec(), None).split == "temporal 80/10/10 per user"


def test_truncated_recall_and_rating_threshold_differ_from_ours():
    spec = report_fixtures.spec().model_copy(update={"protocol": protocol_of(
        "Recall@K is normalised by min(K, |I_u|), the minimum of K and the number of the user's held-out items. "
        "We keep ratings of 4 or higher as positive feedback.")})
    rows = {row.item: row for row in protocol_rows(spec, report_fixtures.SPLIT, None)}
    assert rows["Metric definition"].differs and "min(K" in rows["Metric definition"].why
    assert rows["Filters"].differs and "high ratings" in rows["Filters"].why


@pytest.mark.parametrize("paper_split, differs, why", [
    ("random 80/10/10 per user", False, ""),
    ("random 80/20", True, "different share of test items"),
    ("temporal 70/10/20 per user", True, "later interactions"),
    ("held-out users", True, "unseen in training"),
    ("temporal (the last day as test)", True, "later period"),
    ("temporal (train, validation and test periods do not overlap)", True, "later period"),
    ("online A/B test", True, "live-traffic gains"),
    ("random 80/10/10 per user; online A/B test", False, ""),  # the offline split is ours; the online part aside
    ("temporal (the last day as test) (Criteo); random 80/10/10 per user (MovieLens-100K)", False, ""),
    ("random 80/10/10 per user (Criteo); random 80/20 (Yelp)", True, "none of them ours (ml-100k)"),
])
def test_split_differences(paper_split, differs, why):
    spec = report_fixtures.spec().model_copy(update={"protocol": Protocol(split=ProtocolItem(
        value=paper_split, evidence="p5: quoted"))})
    split = report_fixtures.SPLIT.model_copy(update={"protocol": "per-user 0.8/0.1/0.1 split, random order; full "
                                                     "ranking over all items, seen items masked"})
    row = protocol_rows(spec, split, None)[0]
    assert (row.item, row.ours, row.differs) == ("Split", "random 80/10/10 per user", differs)
    assert why in row.why


CTR_SPLIT = SplitInfo(dataset="ml-100k", split_id="ctr-abc", path="/x", n_users=10, n_items=20, n_train=80, n_valid=10,
                      n_test=10, protocol="CTR: label = rating >= 4, random 0.8/0.1/0.1 split of all rows (seed 2020); "
                      "fields user_id, item_id; AUC and LogLoss")


@pytest.mark.parametrize("family, split, item, paper, differs, why", [
    ("context", CTR_SPLIT, "metric_definition", "AUC; LogLoss", False, ""),
    ("context", CTR_SPLIT, "metric_definition", "AUC; RMSE", True, "measures RMSE"),
    ("context", CTR_SPLIT, "metric_definition", "relative AUC (against a reference model)", True, "relative"),
    ("context", CTR_SPLIT, "split", "random 90/10", True, "share of rows"),
    ("context", CTR_SPLIT, "split", "random 80/10/10", False, ""),
    ("graph", report_fixtures.SPLIT, "metric_definition", "MAP: mean average precision", True, "measures MAP"),
    ("graph", report_fixtures.SPLIT, "metric_definition", "AUC", True, "not comparable"),
])
def test_ctr_and_top_k_measures_and_shares_are_compared_as_each_regime_reads_them(family, split, item, paper, differs,
                                                                                    why):
    spec = report_fixtures.spec().model_copy(update={"family": family, "task": "ctr" if family == "context" else
                                                     "topk", "protocol": Protocol(**{item: ProtocolItem(
                                                         value=paper, evidence="p5: quoted")})})
    label = {"split": "Split", "metric_definition": "Metric definition"}[item]
    row = next(r for r in protocol_rows(spec, split, None) if r.item == label)
    assert row.differs is differs and why in row.why
