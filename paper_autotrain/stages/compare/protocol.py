"""The paper's evaluation protocol beside ours, item by item, and why a difference matters.

The paper's side is the spec's `protocol` (read by stages/extract/protocol.py, each item quoted). Ours is what
the run did, stated from the split it used (`SplitInfo.protocol`, written by data/split.py, data/sequential.py
or data/ctr.py), from our one evaluator (data/evaluator.py: full ranking, RecBole's metric formulas) and from
the trainer settings recorded with our run (early stopping on the monitored valid metric, `trainer.patience`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from paper_autotrain.data.candidates import negatives_of, ranking_words
from paper_autotrain.data.protocol_words import LEAVE_ONE_OUT_WORDS
from paper_autotrain.regimes import resolve, spec_regime
from paper_autotrain.schemas import MethodSpec, Protocol, ProtocolItem, RunResult, SplitInfo, same_dataset_name

ITEMS = (("split", "Split"), ("ranking", "Ranking"), ("filters", "Filters"),
         ("metric_definition", "Metric definition"), ("early_stopping", "Early stopping"))
NOT_READ = ("The paper's protocol was not read: the spec states none (written by hand, or no protocol statement "
            "was found in the paper's experiments sections), so nothing below can be checked against it.")

RATIOS = re.compile(r"(\d*\.?\d+)/(\d*\.?\d+)(?:/(\d*\.?\d+))?")
THRESHOLD = re.compile(r"rating\s*>=?\s*(\d+(?:\.\d+)?)")
PATIENCE = re.compile(r"patience (\d+)")
SAMPLED = re.compile(r"sampled-(\d+)")
# our one evaluator's formulas (data/evaluator.py)
TOPK_METRICS = ("RecBole's: Hit@K whether any test item is in the top-K; Recall@K the test items in the top-K over "
                "all the user's test items; NDCG@K binary gain, log2 discount")


@dataclass(frozen=True)
class Ours:
    """What our run did, item by item, and the kind of test it ran: each user's last item held out
    (`leave_one_out`), a share of each user's items, or labelled rows scored without ranking (`ranks_items`
    False)."""

    split: str
    ranking: str
    filters: str
    metric_definition: str
    early_stopping: str
    ratios: tuple[float, ...] = ()  # percent, train/valid/test
    temporal: bool = False  # the split follows time order (a leave-one-out holds out the last item by time)
    leave_one_out: bool = False  # each user's last item is the test target
    ranks_items: bool = True  # False: labelled rows are scored (CTR), nothing is ranked
    dataset: str = ""  # the dataset our run used (a paper's per-dataset split is compared on the matching one)
    sampled: int | None = None  # negatives per held-out item of a sampled ranking (eval.ranking); None: full


@dataclass(frozen=True)
class ProtocolRow:
    """One item: the paper's value and quote (None: not read), ours, and whether they differ (None: unknown)."""

    item: str
    paper: str | None
    evidence: str | None
    ours: str
    differs: bool | None
    why: str = ""

    @property
    def verdict(self) -> str:
        if self.differs is None:
            return "unknown: the paper's side was not read"
        return f"differs: {self.why}" if self.differs else "same"


# --- ours ------------------------------------------------------------------------------------------------


def percent_ratios(text: str) -> tuple[float, ...]:
    """'0.8/0.1/0.1' or '80/10/10' as percentages."""
    match = RATIOS.search(text)
    if match is None:
        return ()
    values = [float(v) for v in match.groups() if v]
    total = sum(values)
    return tuple(round(100 * v / total, 1) for v in values) if total else ()


def show_ratios(ratios: tuple[float, ...]) -> str:
    return "/".join(f"{r:g}" for r in ratios)


def early_stopping_line(run: RunResult | None, monitor: str) -> str:
    trainer = ((run.config if run else None) or {}).get("trainer") or {}
    patience = trainer.get("patience")
    stated = f"patience {patience}" if patience is not None else "patience not recorded with the run"
    return f"early stopping on valid {monitor}, {stated}; the best epoch's weights are tested"


def our_protocol(split: SplitInfo, spec: MethodSpec, run: RunResult | None) -> Ours:
    """Ours, stated by the spec's data regime (regimes.py `our_protocol`) from the split the run used and the
    settings recorded with our run."""
    ours = resolve(spec_regime(spec).our_protocol)(split, run)
    return dataclasses.replace(ours, dataset=split.dataset)


def leave_one_out_protocol(split: SplitInfo, run: RunResult | None) -> Ours:
    """The sequential regime: each user's last item is tested, full ranking (data/sequential.py), or the sampled
    ranking the run used (eval.ranking=sampled-N, data/candidates.py)."""
    sampled = negatives_of(run.ranking) if run is not None else None
    return Ours(
        split="leave-one-out by time: each user's last item is the test target, the one before it the validation "
              "target",
        ranking=f"{run.ranking}, {ranking_words(run.ranking)}" if sampled else
        "full: every item is ranked for the target, the history not masked",
        sampled=sampled,
        filters="none: every user and interaction of the dataset file, each interaction a positive whatever its "
                "rating (users with fewer than 3 interactions only train)",
        metric_definition=TOPK_METRICS,
        early_stopping=early_stopping_line(run, "NDCG@10"),
        leave_one_out=True,
        temporal=True,
    )


def labelled_rows_protocol(split: SplitInfo, run: RunResult | None) -> Ours:
    """The context regime: labelled rows split at random, scored by AUC and LogLoss (data/ctr.py)."""
    ratios = percent_ratios(split.protocol)
    threshold = THRESHOLD.search(split.protocol)
    label = f"label = rating >= {threshold.group(1)}" if threshold else "labelled rows"
    return Ours(
        split=f"random {show_ratios(ratios)} split of all rows" if ratios else split.protocol,
        ranking="none: each test row is scored (CTR), nothing is ranked",
        filters=f"{label}; no k-core: every row of the dataset file",
        metric_definition="AUC and LogLoss over all test rows",
        early_stopping=early_stopping_line(run, "AUC"),
        ratios=ratios,
        ranks_items=False,
    )


def ratio_split_protocol(split: SplitInfo, run: RunResult | None) -> Ours:
    """The top-k regime: a share of each user's items held out, full ranking with seen items masked
    (data/split.py), or the sampled ranking the run used (eval.ranking=sampled-N, data/candidates.py)."""
    loo = LEAVE_ONE_OUT_WORDS in split.protocol
    ratios = () if loo else percent_ratios(split.protocol)
    temporal = "time order" in split.protocol
    order = "temporal" if temporal else "random" if "random" in split.protocol else ""
    shown = " ".join(filter(None, [order, show_ratios(ratios)])) + " per user" if ratios else split.protocol
    if loo:
        shown = (f"leave-one-out per user ({'by time' if temporal else 'in random order'}): the last interaction "
                 "is the test target, the one before it the validation target")
    sampled = negatives_of(run.ranking) if run is not None else None
    return Ours(
        split=shown,
        leave_one_out=loo,
        ranking=f"{run.ranking}, {ranking_words(run.ranking)}" if sampled else
        "full: all items, the user's training (and validation) items masked",
        sampled=sampled,
        filters="none: every user and interaction of the dataset file, each interaction a positive whatever its "
                "rating",
        metric_definition=TOPK_METRICS,
        early_stopping=early_stopping_line(run, "NDCG@10"),
        ratios=ratios,
        temporal=temporal,
    )


# --- the comparison, item by item ---------------------------------------------------------------------------


def split_difference(paper: str, ours: Ours) -> str | None:
    """Why the paper's split differs from ours (None: it does not). The paper's value may join several splits
    with "; ": an online A/B test beside the offline split, or one split per dataset, each ending "(Dataset)"."""
    parts = [part.strip() for part in paper.split("; ") if part.strip()]
    offline = [part for part in parts if not part.startswith(ONLINE)]
    if not offline:
        return ONLINE_ONLY
    if len(offline) == 1:
        return offline_split_difference(offline[0], ours)
    named = {dataset_of(part): part for part in offline}
    mine = next((part for name, part in named.items() if same_dataset_name(name, ours.dataset)), None)
    if mine is not None:
        return offline_split_difference(strip_dataset(mine), ours)
    reasons = [why for part in offline if (why := offline_split_difference(strip_dataset(part), ours))]
    listed = ", ".join(name for name in named if name)
    return (f"the paper splits each dataset its own way ({listed}), none of them ours ({ours.dataset or 'unknown'})"
            + (f": {reasons[0]}" if reasons else ""))


ONLINE = "online A/B test"
ONLINE_ONLY = ("the paper reports an online A/B test (live-traffic gains against a control), not an offline split: "
               "its numbers are not comparable with any offline number")
DATASET_SUFFIX = re.compile(r"\s*\(([^()]*)\)\s*$")


def dataset_of(part: str) -> str:
    found = DATASET_SUFFIX.search(part)
    return found.group(1) if found else ""


def strip_dataset(part: str) -> str:
    return DATASET_SUFFIX.sub("", part)


def offline_split_difference(paper: str, ours: Ours) -> str | None:
    if paper.startswith("leave-one-out"):
        if ours.leave_one_out:
            return held_out_order_difference(paper, ours)
        share = "a share of each user's items" if ours.ranks_items else "a random share of all rows"
        return (f"the paper tests one held-out item per user, ours {share}: Hit and Recall mean different things, "
                "so the numbers are not comparable")
    if paper.startswith("held-out users"):
        return ("the paper tests on users unseen in training (folding in part of their history); ours tests held-out "
                "interactions of users it trained on")
    if "as test" in paper or (paper.startswith("temporal") and "overlap" in paper):
        return ("the paper tests on a later period of time, usually harder than held-out interactions of the same "
                "period: expect lower numbers from it")
    if ours.leave_one_out and not percent_ratios(paper):
        return ("the paper splits by time over all interactions, ours holds out each user's last item: the test sets "
                "differ")
    if ours.leave_one_out:
        return ("the paper holds out a share of each user's items, ours only the last one (leave-one-out): Hit and "
                "Recall mean different things, so the numbers are not comparable")
    reasons = []
    if paper.startswith("temporal") and not ours.temporal:
        reasons.append("the paper tests on later interactions than it trains on, usually harder than our random "
                       "split: expect lower numbers from it")
    if ours.temporal and paper.startswith("random"):
        reasons.append("the paper splits at random, ours by time, which is usually harder: expect higher numbers "
                       "from it")
    paper_ratios = percent_ratios(paper)
    if paper_ratios and ours.ratios and paper_ratios != ours.ratios:
        reasons.append("a different share of test items changes Recall and NDCG: the numbers are not directly "
                       "comparable" if ours.ranks_items else
                       "a different share of rows is tested: AUC and LogLoss move little with it, but the test rows "
                       "differ")
    return "; ".join(reasons) or None


def held_out_order_difference(paper: str, ours: Ours) -> str | None:
    """Both hold out one item per user: which one (the paper's latest or a random one, ours by time or not)."""
    if "random" in paper and ours.temporal:
        return ("the paper holds out a random interaction per user, ours the last one by time, usually harder: expect "
                "lower numbers from ours (dataset.split.order=RO holds out a random one)")
    if "latest" in paper and not ours.temporal:
        return ("the paper holds out each user's latest interaction, ours a random one, usually easier: expect higher "
                "numbers from ours (dataset.split.order=TO holds out the latest)")
    return None


def ranking_difference(paper: str, ours: Ours) -> str | None:
    if not ours.ranks_items:
        return "the paper ranks items; ours scores CTR rows by AUC and LogLoss, so there is no ranking to compare"
    sampled = SAMPLED.search(paper)
    theirs = int(sampled.group(1)) if sampled else None
    if theirs == ours.sampled:
        return None
    if theirs is None:
        return (f"ours ranks each held-out item among {ours.sampled} sampled negatives, the paper among all items: "
                "ours gives much higher numbers, not comparable with the paper's")
    if ours.sampled is None:
        return (f"sampled ranking against {theirs} negatives gives much higher numbers than our full "
                "ranking over all items: the paper's numbers are not comparable with ours (eval.ranking=paper "
                "ranks as the paper does)")
    return (f"the paper ranks against {theirs} sampled negatives, ours against {ours.sampled}: fewer negatives give "
            "higher numbers")


def filters_difference(paper: str, ours: Ours) -> str | None:
    reasons = []
    if re.search(r"core|>=? \d+ interactions", paper):
        reasons.append("dropping users and items with few interactions removes the hardest cases and usually raises "
                       "the numbers; ours keeps them all")
    threshold = THRESHOLD.search(paper)
    if threshold and ours.ranks_items:
        reasons.append("only high ratings are positives in the paper, every rating in ours, so the test items differ")
    if threshold and not ours.ranks_items:
        our_threshold = THRESHOLD.search(ours.filters)
        if our_threshold is None or float(our_threshold.group(1)) != float(threshold.group(1)):
            reasons.append("a different rating threshold changes which rows are clicks")
    return "; ".join(reasons) or None


# the measures a paper may define (stages/extract/protocol.py MEASURES), by the name its value starts with
CTR_MEASURES = ("AUC", "LogLoss")


def metric_difference(paper: str, ours: Ours) -> str | None:
    measures = [part.strip() for part in paper.split(";") if part.strip()]
    if any(m.startswith("relative") for m in measures):
        return ("the paper reports its numbers relative to a reference model, not as absolute values: they cannot be "
                "set beside ours")
    names = [re.split(r"[:\s]", m, maxsplit=1)[0] for m in measures]
    if not ours.ranks_items:
        other = [name for name in names if name not in CTR_MEASURES]
        if not other:
            return None
        return f"ours reports AUC and LogLoss; the paper measures {', '.join(other)}, another quantity"
    if "min(K" in paper:
        return ("the paper divides Recall@K by min(K, the user's test items), ours by all of them: its Recall is "
                "higher for users with more than K test items")
    other = [name for name in names if name in (*CTR_MEASURES, "RMSE", "MAE", "MAP", "MPR")]
    if other:
        return (f"the paper measures {', '.join(other)}, ours Recall, NDCG and Hit at K over a full ranking: the "
                "numbers are not comparable")
    return None


def early_stopping_difference(paper: str, ours: Ours) -> str | None:
    theirs, mine = PATIENCE.search(paper), PATIENCE.search(ours.early_stopping)
    if theirs and mine and theirs.group(1) != mine.group(1):
        return (f"a patience of {theirs.group(1)} instead of {mine.group(1)} changes when training stops; usually a "
                "small effect on the numbers")
    return None


DIFFERENCES = {"split": split_difference, "ranking": ranking_difference, "filters": filters_difference,
               "metric_definition": metric_difference, "early_stopping": early_stopping_difference}


def is_read(protocol: Protocol) -> bool:
    return any(getattr(protocol, name) is not None for name, _ in ITEMS)


def protocol_rows(spec: MethodSpec, split: SplitInfo, run: RunResult | None) -> list[ProtocolRow]:
    """One row per protocol item: the paper's value and quote, ours, and whether and why they differ."""
    ours = our_protocol(split, spec, run)
    rows = []
    for name, label in ITEMS:
        item: ProtocolItem | None = getattr(spec.protocol, name)
        mine = getattr(ours, name)
        if item is None:
            rows.append(ProtocolRow(item=label, paper=None, evidence=None, ours=mine, differs=None))
            continue
        why = DIFFERENCES[name](item.value, ours)
        rows.append(ProtocolRow(item=label, paper=item.value, evidence=item.evidence, ours=mine,
                                differs=why is not None, why=why or ""))
    return rows
