"""The evaluation metrics of a paper, with their cut-offs, as the paper prints them.

Read from its tables' headers and its experiments' text: printed names with a cut-off ("Recall@20"), metrics that
take none ("AUC", "MAP", a bare "MRR"), and metrics named in words with the cut-off stated apart ("Recall and
Normalized Discounted Cumulative Gain ... computed based on the top 20 results" -> Recall@20, NDCG@20).
"""

from __future__ import annotations

import re

from paper_autotrain.schemas import Table

from .datasets import ordered_unique
from .lexicon import CUTOFF_METRICS, METRIC_PATTERN, METRIC_QUALIFIER
from .names import canonical_metric
from .text import Sentence

UNCUT_METRICS = frozenset({"MAP", "AUC", "GAUC", "Logloss", "RMSE", "MAE", "MRR", "MPR"})
# Metrics named in words, and the canonical name of each.
METRIC_WORDS: dict[str, str] = {  # acronyms as printed, words in any case
    r"(?i:\brecall\b)": "Recall",
    r"(?i:normali[sz]ed discounted cumulative gain)|\bN?DCG\b|\bnDCG\b": "NDCG",
    r"(?i:\bhit (?:ratio|rate)s?\b)|\bHR\b": "HR",
    r"(?i:(?<!average )\bprecision\b)": "Precision",
    r"(?i:mean reciprocal rank)|\bMRR\b": "MRR",
    r"(?i:mean average precision)|\bMAP\b": "MAP",
}
EVALUATION = re.compile(r"metric|evaluat|measure|report|adopt|\bus(?:e|ed|ing)\b", re.I)
# A cut-off stated apart from the metric's name: "the top 20 results", "cut off value 50", "N is set to 1, 5, and 10",
# "at rank 10"
CUTOFF_TEXT = re.compile(
    r"\btop[- ](?P<a>\d{1,3})\b(?!\s*%| percent)|\bcut[- ]?off (?:value |of |at |rank )*(?P<b>\d{1,3})\b"
    r"|\b[NK]\s+(?:is set to|is|=)\s+(?P<c>\d{1,3}(?:\s*,\s*\d{1,3})*(?:,?\s*and\s+\d{1,3})?)\b"
    # "at rank 10", "truncated the ranked list at 10"
    r"|\bat (?:rank|position) (?P<d>\d{1,3})\b|\btruncat\w* (?:the )?(?:ranked |ranking |recommendation )?lists? at "
    r"(?P<e>\d{1,3})\b",
    re.I,
)


def metric_names(text: str, header: bool) -> list[str]:
    """Metrics printed in `text`; a table `header` cell like 'Offline AUC' also gives its printed name."""
    found = []
    if header:
        qualified = re.fullmatch(rf"({METRIC_QUALIFIER})\s+{METRIC_PATTERN}", text.strip(), re.I)
        if qualified:
            found.append(f"{qualified.group(1)} {canonical_metric(qualified.group(2), qualified.group(3))}")
    for match in re.finditer(METRIC_PATTERN, text, re.I):
        name = canonical_metric(match.group(1), match.group(2))
        printed = match.group(1)
        # "Logloss" is a metric; "log loss" in prose is usually the training loss, a metric only in a header
        logloss = name == "Logloss" and (header or re.fullmatch(r"Log[Ll]oss", printed) is not None)
        bare_ok = name in UNCUT_METRICS and (printed.isupper() or logloss)
        if match.group(2) or bare_ok:
            found.append(name)
    return found


def _cutoffs(text: str) -> list[str]:
    out = []
    for match in CUTOFF_TEXT.finditer(text):
        out += re.findall(r"\d{1,3}", next(g for g in match.groups() if g))
    return out


def _named(text: str) -> list[str]:
    return [name for pattern, name in METRIC_WORDS.items() if re.search(pattern, text)]


def stated_metrics(experiments: list[Sentence]) -> list[str]:
    """Metrics named in words in a sentence about the evaluation, with the cut-offs that sentence or the next one
    states for them."""
    found = []
    for index, sentence in enumerate(experiments):
        names = _named(sentence.text)
        if not names or not EVALUATION.search(sentence.text):
            continue
        cutoffs = _cutoffs(sentence.text)
        if not cutoffs and index + 1 < len(experiments):
            following = experiments[index + 1].text
            if not set(_named(following)) - set(names):
                cutoffs = _cutoffs(following)
        for name in names:
            if name in CUTOFF_METRICS and cutoffs:
                found += [f"{name}@{k}" for k in cutoffs]
            elif name in UNCUT_METRICS and name != "MRR" or name == "MRR" and not cutoffs:
                found.append(name)
    return found


def detect_metrics(tables: list[Table], experiments: list[Sentence]) -> list[str]:
    """Printed metrics of the experiments and the tables' headers, then those named in words; a bare name is left
    out when the paper gives it with a cut-off."""
    found = [name for s in experiments for name in metric_names(s.text, header=False)]
    found += [name for t in tables for row in t.rows for cell in row for name in metric_names(cell, header=True)]
    printed = ordered_unique(found)
    bases = {name.split("@")[0] for name in printed}
    if "Prec" in bases:  # the paper's own spelling of Precision@K
        bases.add("Precision")
    found += [name for name in stated_metrics(experiments) if name.split("@")[0] not in bases or "@" not in name]
    names = ordered_unique(found)
    with_cutoff = {name.split("@")[0] for name in names if "@" in name}
    with_cutoff |= {"Precision"} if "Prec" in with_cutoff else set()
    return [name for name in names if "@" in name or name not in with_cutoff]
