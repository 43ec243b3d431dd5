"""The method's numbers when the paper gives them only in its text ("LogisticMF achieved an MPR of 8.065%",
"(6.27 for IMF and 5.99 for LogisticMF)", "OurRec improves NDCG@10 to 0.412"), read only when no results table
gives them. A number counts only when the sentence ties it to the method's own name and names (or the paper has
only one of) its metric and dataset; a baseline's number, a relative improvement or a difference never does."""

from __future__ import annotations

import re

from paper_autotrain.schemas import Reported

from .lexicon import METRIC_PATTERN
from .names import canonical_metric
from .text import MAX_QUOTE_WORDS, Sentence

NUMBER = r"(?P<v>\d+(?:\.\d+)?)\s*(?P<pct>%)?"
VERB = r"(?:achiev|reach|obtain|attain|yield|get|scor|record|report)\w*"
IMPROVE = r"(?:improv|rais|boost|increas|lift)\w*"
# the setting a number in the text was measured at: "at around 100 latent factors", "using just 10 latent factors"
SETTING = re.compile(r"\b(?:at|with|using|for)\s+(?:around\s+|about\s+|just\s+|only\s+)?\d+\s+(?:[a-z-]+\s+)?"
                     r"(?:factors|dimensions|layers|epochs|iterations|hops|heads)\b")


def own_pattern(model_name: str) -> str:
    """The method's name however its words are joined: "Logistic MF" also reads "LogisticMF", "Logistic-MF"."""
    words = re.findall(r"[A-Za-z0-9]+", model_name)
    return r"(?<![\w-])" + r"[\s-]?".join(re.escape(word) for word in words) + r"(?![\w-])"


def _metric_in(text: str, metrics: list[str]) -> str | None:
    named = {canonical_metric(m.group(1), m.group(2)) for m in re.finditer(METRIC_PATTERN, text)}
    named = {name for name in named if name in metrics} or named
    if len(named) == 1:
        return named.pop()
    return metrics[0] if not named and len(metrics) == 1 else None


def _named_metric(text: str, metrics: list[str]) -> str | None:
    named = {canonical_metric(m.group(1), m.group(2)) for m in re.finditer(METRIC_PATTERN, text)}
    return named.pop() if len(named) == 1 else None


# "..., and an NDCG@20 of 0.1550": the same statement's next metric and number
MORE = re.compile(rf"\s*,?\s*(?:and\s+)?(?:an?\s+|the\s+)?{METRIC_PATTERN}\s+(?:of|=|at)\s*{NUMBER}")


def _more_metrics(text: str, end: int) -> list[tuple[str, re.Match[str]]]:
    out = []
    while match := MORE.match(text, end):
        out.append((canonical_metric(match.group(1), match.group(2)), match))
        end = match.end()
    return out


def _dataset_in(text: str, datasets: list[str]) -> str | None:
    named = {d for d in datasets if re.search(rf"(?<![\w-]){re.escape(d)}(?![\w-])", text)}
    if len(named) == 1:
        return named.pop()
    return datasets[0] if not named and len(datasets) == 1 else None


def _quote_from(sentence: Sentence, position: int) -> str:
    """A quote that starts where the number's statement does (the method's name, or the number)."""
    start = sentence.text.rfind("(", 0, position) + 1 if sentence.text[position:position + 1].isdigit() else position
    words = sentence.text[start:].split()[:MAX_QUOTE_WORDS]
    return f"{sentence.where or f'p{sentence.page}'}: {' '.join(words)}"


def reported_in_text(
    sentences: list[Sentence], model_name: str, datasets: list[str], metrics: list[str]
) -> list[Reported]:
    if not model_name or not metrics:
        return []
    own = own_pattern(model_name)
    forms = (
        # "OurRec achieved an MPR of 8.065%", "OurRec reaches a Recall@20 of 0.1830"
        rf"{own}[^.;()]{{0,30}}?\b{VERB}\s+(?:an?\s+|the\s+)?(?:[\w@-]+\s+){{0,3}}?(?:of|=|at|as)?\s*{NUMBER}",
        # "OurRec improves NDCG@10 to 0.412"
        rf"{own}[^.;()]{{0,30}}?\b{IMPROVE}\s+(?:the\s+)?[\w@-]+(?:\s+[\w@-]+)?\s+(?:from\s+[\d.]+%?\s+)?to\s+{NUMBER}",
        # "(6.27 for IMF and 5.99 for OurRec)"
        rf"(?<![\w.]){NUMBER}\s+for\s+{own}",
    )
    found: list[Reported] = []
    for sentence in sentences:
        for form in forms:
            for match in re.finditer(form, sentence.text):
                clause = sentence.text[max(0, match.start() - 120) : match.end() + 40]
                between = match.group(0)
                if re.search(r"\b(?:by|over|than|gain|improvement)\b", between, re.I):
                    continue  # "improves ... by 7.85%", "better than": a difference, not the method's number
                # the metric the statement names ("a Recall@20 of 0.18 and an NDCG@20 of 0.15"), else the clause's
                metric = _named_metric(between, metrics) or _metric_in(clause, metrics)
                dataset = _dataset_in(sentence.text, datasets)
                if metric is None or dataset is None:
                    continue
                setting = SETTING.search(sentence.text)
                statements = [(metric, match)] + [(m, more) for m, more in _more_metrics(sentence.text, match.end())]
                found += [Reported(
                    dataset=dataset, metric=name, value=float(each.group("v")),
                    unit="%" if each.group("pct") else None, table="text",
                    variant=setting.group(0) if setting else None, evidence=_quote_from(sentence, match.start()),
                ) for name, each in statements]
    unique: dict[tuple[str, str, float], Reported] = {}
    for entry in found:
        unique.setdefault((entry.dataset, entry.metric, entry.value), entry)
    return list(unique.values())
