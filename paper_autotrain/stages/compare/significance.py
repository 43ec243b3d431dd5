"""A paired significance test of our model against the best baseline, on per-user values of the main metric.

Both models were scored by the same evaluator on the same test users, so their per-user values pair up
(each user's value first averaged over that model's seeds). The p-value in the table is the two-sided paired
t-test (scipy.stats.ttest_rel); the Wilcoxon signed-rank test, which assumes no normality, is given beside it.
CTR metrics (AUC, LogLoss) are one value over all rows: there is nothing per user to pair, and no p-value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paper_autotrain.stages.compare.seeds import ModelRow, RunFiles, run_key

ALPHA = 0.05  # the level the sentence under the table reads the p-value against
NOT_PER_USER = {"auc", "logloss"}


@dataclass
class PairedTest:
    """The outcome of one paired test: ours against `baseline` on `metric` over `n_users` users."""

    metric: str
    ours: str
    baseline: str
    n_users: int
    seeds: tuple[int, int]  # seeds averaged per user: ours, the baseline's
    mean_ours: float
    mean_baseline: float
    t_p: float  # two-sided paired t-test
    wilcoxon_p: float  # two-sided Wilcoxon signed-rank test

    @property
    def significant(self) -> bool:
        return self.t_p < ALPHA


@dataclass
class Significance:
    """A test, or the reason there is none (said in the report instead of a p-value)."""

    test: PairedTest | None = None
    reason: str = ""


def format_p(p: float) -> str:
    """A table cell: `0.0123`, or `< 0.0001` for what four decimals cannot show."""
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def p_equals(p: float) -> str:
    """In a sentence: `p = 0.0123` or `p < 0.0001`."""
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def seed_averaged(row: ModelRow, files: RunFiles, metric: str) -> tuple[np.ndarray, np.ndarray] | str:
    """(users, each user's value averaged over the row's seeds), or why they cannot be had."""
    users: np.ndarray | None = None
    stacked = []
    for run in row.runs:
        per_user = files.per_user.get(run_key(run))
        if per_user is None or metric not in per_user.values:
            return f"no per-user {metric} values were kept for {row.model} (seed {run.seed})"
        if users is not None and not np.array_equal(users, per_user.users):
            return f"{row.model}'s seeds were scored on different users"
        users = per_user.users
        stacked.append(per_user.values[metric])
    assert users is not None  # a row has at least one run
    return users, np.mean(stacked, axis=0)


def paired(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """The two sides' values in the same user order; None unless they cover the same users."""
    (a_users, a_values), (b_users, b_values) = a, b
    if np.array_equal(a_users, b_users):
        return a_values, b_values
    common, ia, ib = np.intersect1d(a_users, b_users, return_indices=True)
    if len(common) != len(a_users) or len(common) != len(b_users):
        return None
    return a_values[ia], b_values[ib]


def p_values(ours: np.ndarray, theirs: np.ndarray) -> tuple[float, float]:
    """(paired t-test p, Wilcoxon signed-rank p), both two-sided."""
    from scipy import stats  # imported here: the pipeline's start-up does not pay for scipy.stats

    diff = ours - theirs
    if not np.any(diff):
        return 1.0, 1.0  # identical on every user: no evidence of a difference (both tests are undefined)
    if np.all(diff == diff[0]):
        return 0.0, float(stats.wilcoxon(ours, theirs).pvalue)  # a constant shift: t is infinite
    t_p = float(stats.ttest_rel(ours, theirs).pvalue)
    w_p = float(stats.wilcoxon(ours, theirs).pvalue)
    return t_p, w_p


def against_best_baseline(ours: ModelRow, baselines: Sequence[ModelRow], files: RunFiles, metric: str) -> Significance:
    """Ours against the best baseline (highest mean of `metric`) on per-user values of `metric`."""
    if metric.split("@")[0] in NOT_PER_USER:
        return Significance(reason=f"{metric.upper()} is one value over all test rows, not a mean over users: "
                                   "there are no per-user values to pair, so there is no p-value.")
    scored = [b for b in baselines if b.mean(metric) is not None]
    if not scored:
        return Significance(reason="No baseline has a test value to compare with, so there is no p-value.")
    best = max(scored, key=lambda b: b.mean(metric) or 0.0)
    sides = [seed_averaged(row, files, metric) for row in (ours, best)]
    reason = next((side for side in sides if isinstance(side, str)), None)
    if reason is not None:
        return Significance(reason=f"No p-value: {reason}.")
    pairs = paired(sides[0], sides[1])  # type: ignore[arg-type]
    if pairs is None:
        return Significance(reason=f"No p-value: {ours.model} and {best.model} were scored on different users.")
    if len(pairs[0]) < 2:
        return Significance(reason="No p-value: fewer than two test users.")
    t_p, w_p = p_values(*pairs)
    if math.isnan(t_p):
        return Significance(reason="No p-value: the paired differences are degenerate.")
    same_name = ours.model == best.model  # the paper's model and RecBole's class of it: say which is which
    return Significance(test=PairedTest(
        metric=metric, ours=f"our {ours.model}" if same_name else ours.model,
        baseline=f"RecBole's {best.model}" if same_name else best.model, n_users=len(pairs[0]),
        seeds=(len(ours.runs), len(best.runs)), mean_ours=float(pairs[0].mean()),
        mean_baseline=float(pairs[1].mean()), t_p=t_p, wilcoxon_p=w_p))


def sentence(result: Significance, display: str) -> str:
    """What the test found, in words, for under the table (`display` is the metric's printed name)."""
    test = result.test
    if test is None:
        return result.reason
    ours_seeds, their_seeds = test.seeds
    averaged = ("" if test.seeds == (1, 1)
                else f"; each user's value averaged over {ours_seeds} seeds" if ours_seeds == their_seeds
                else f"; each user's value averaged over the seeds ({ours_seeds} ours, {their_seeds} theirs)")
    head = (f"Paired test of {test.ours} against the best baseline, {test.baseline}, on per-user {display} of "
            f"the {test.n_users} test users{averaged}: mean {test.mean_ours:.4f} vs {test.mean_baseline:.4f}, "
            f"paired t-test {p_equals(test.t_p)} (Wilcoxon signed-rank {p_equals(test.wilcoxon_p)}).")
    if test.significant:
        better = test.ours if test.mean_ours > test.mean_baseline else test.baseline
        meaning = (f"p < {ALPHA}: a difference this large would rarely arise by chance if both models ranked "
                   f"these users equally well; {better} is better on this split.")
    else:
        meaning = (f"p ≥ {ALPHA}: the difference is within what chance alone produces on these users; "
                   "the two models are not shown to differ.")
    seeds = ("how much a model varies between seeds is the ± in the table." if max(test.seeds) > 1
             else "with one seed, how much a model varies between seeds is not measured (seeds=[0,1,2]).")
    return f"{head} {meaning} The test pairs the users of this one split; {seeds}"
