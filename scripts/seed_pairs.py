"""Pool the seeds of several parity runs of one model: per seed our and RecBole's test NDCG@10 (and best valid), and
the paired test over all of them (each test user's value averaged over the seeds, as the report's test over one
run's seeds), with the standard error of the paired mean difference; and the seeds as the units (the per-seed
differences' mean, its one-sample t-test, the sign test, and the mean's 90% t interval: parity within +-5% is shown
when both its ends are inside, else only the mean may be).

usage: python scripts/seed_pairs.py MODEL RESULTS [RESULTS ...]
       python scripts/seed_pairs.py MODEL --figures OURS:RECBOLE [OURS:RECBOLE ...]
       python scripts/seed_pairs.py --table docs/parity_seeds.yaml

RESULTS is a run's results/<model> folder (`<out>/runs/results/<model>` of scripts/session_parity.py), each run with
its own seeds (`seeds=[0,1]`, then `seeds=[2,3,4,5]` into the same --out, so RecBole's runs of the first come from
the baselines cache). A report tests one run's seeds; this pools runs whose seeds differ. With --figures, each pair
is one seed's recorded test NDCG@10 on either side (a parity table's figures, where the per-user files are gone):
only the seed-level lines, from figures rounded as printed. With --table, the seed-level table of every row recorded
in the file (README's "Seed-level check" is this output).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from paper_autotrain.stages.compare.significance import p_values  # noqa: E402

METRIC = "ndcg_at_10"  # the per-user files' key of NDCG@10
LEVEL = 0.90  # the seed-level confidence interval's coverage
TOLERANCE = 0.05  # issue 20: within +-5% (relative) of RecBole's class
VALID = "valid_ndcg10"  # history.csv's valid_ndcg@10 as numpy names it


def seed_rows(model: str, results: Path) -> list[tuple[int, np.ndarray, np.ndarray, float, float]]:
    """(seed, our per-user values, RecBole's, our best valid, RecBole's best valid) of each seed of one run."""
    rows = []
    for run in json.loads((results / "train" / "results.json").read_text()):
        seed = int(run["seed"])
        ours = np.load(results / "train" / f"seed{seed}" / "per_user_test.npz")
        theirs = np.load(results / "baselines" / "per_user" / f"{model}-seed{seed}.npz")
        if not np.array_equal(ours["users"], theirs["users"]):
            raise SystemExit(f"seed {seed}: the two sides were scored on different users")
        valid = [np.genfromtxt(path, delimiter=",", names=True)[VALID].max()
                 for path in (results / "train" / f"seed{seed}" / "history.csv",
                              results / "baselines" / "history" / f"{model}-seed{seed}.csv")]
        rows.append((seed, ours[METRIC], theirs[METRIC], float(valid[0]), float(valid[1])))
    return rows


def pooled(rows: list[tuple[int, np.ndarray, np.ndarray, float, float]]) -> dict[str, float]:
    """The seeds of `rows` pooled: each test user's NDCG@10 averaged over the seeds on either side, their means, the
    relative difference, the paired t-test and Wilcoxon p over the users, the paired mean difference's standard error
    (relative to RecBole's mean) and the relative difference of the mean best valid."""
    ours = np.mean([row[1] for row in rows], axis=0)
    theirs = np.mean([row[2] for row in rows], axis=0)
    t_p, w_p = p_values(ours, theirs)
    return {"ours": float(ours.mean()), "recbole": float(theirs.mean()), "relative": ours.mean() / theirs.mean() - 1,
            "t_p": t_p, "wilcoxon_p": w_p,
            "error": float((ours - theirs).std(ddof=1) / np.sqrt(len(ours)) / theirs.mean()),
            "valid": float(np.mean([row[3] for row in rows]) / np.mean([row[4] for row in rows]) - 1)}


def mean_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The two-sided Student t confidence interval of the mean of `values` (n - 1 degrees of freedom)."""
    from scipy import stats

    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def verdict(low: float, high: float, mean: float, tolerance: float = TOLERANCE) -> str:
    """What the seeds show about parity within +-tolerance: shown (both ends inside), the mean only, or neither."""
    if -tolerance <= low and high <= tolerance:
        return "shown within"
    return "only the mean within" if abs(mean) <= tolerance else "the mean outside"


def seed_level(rows: list[tuple[int, np.ndarray, np.ndarray, float, float]]) -> dict[str, float]:
    """The seeds as the units: each seed's relative test difference, their mean, the one-sample t-test of that mean
    against 0 and the sign test of how many seeds are behind (the noise a redraw of weights, order and dropout
    makes, which the per-user test over one set of seeds does not see)."""
    return seeds_as_units(np.array([row[1].mean() / row[2].mean() - 1 for row in rows]))


def seeds_as_units(relative: np.ndarray) -> dict[str, float]:
    """`seed_level` of the per-seed relative differences themselves."""
    from scipy import stats

    behind, untied = int((relative < 0).sum()), int((relative != 0).sum())
    several = len(relative) > 1
    t_p = float(stats.ttest_1samp(relative, 0.0).pvalue) if several else float("nan")
    low, high = mean_interval(relative) if several else (float("nan"), float("nan"))
    return {"mean": float(relative.mean()), "sd": float(relative.std(ddof=1)) if several else float("nan"),
            # the sign test counts the seeds that differ (a tie, as common draws give, is no evidence either way)
            "t_p": t_p, "behind": behind, "ties": len(relative) - untied,
            "sign_p": float(stats.binomtest(behind, untied).pvalue) if untied else 1.0,
            "low": low, "high": high, "verdict": verdict(low, high, float(relative.mean()))}


def figure_pairs(texts: list[str]) -> np.ndarray:
    """Per-seed relative differences from "OURS:RECBOLE" pairs of test figures."""
    try:
        pairs = [tuple(float(x) for x in text.split(":")) for text in texts]
    except ValueError:
        raise SystemExit("--figures takes OURS:RECBOLE pairs of numbers, e.g. 0.2075:0.2230") from None
    if not pairs or any(len(pair) != 2 or pair[1] <= 0 for pair in pairs):
        raise SystemExit("--figures takes OURS:RECBOLE pairs, RecBole's figure above 0, e.g. 0.2075:0.2230")
    return np.array([ours / theirs - 1 for ours, theirs in pairs])


def seed_level_line(level: dict[str, float], n_seeds: int) -> str:
    ties = f", {level['ties']} tied" if level["ties"] else ""
    return (f"seed level: mean of the per-seed differences {100 * level['mean']:+.1f}% (sd {100 * level['sd']:.1f}%, "
            f"one-sample t-test p = {level['t_p']:.3f}); behind at {level['behind']} of {n_seeds} "
            f"(sign test p = {level['sign_p']:.3f}{ties}); {100 * LEVEL:.0f}% interval of the mean "
            f"[{100 * level['low']:+.1f}%, {100 * level['high']:+.1f}%]: {level['verdict']} "
            f"±{100 * TOLERANCE:.0f}%")


VERDICT_WORDS = {"shown within": "shown", "only the mean within": "mean only", "the mean outside": "mean outside"}
DRAWS = {"independent": "independent", "common": "common (RecBole's weights and batches)"}


def recorded_differences(row: dict) -> np.ndarray:
    """A recorded row's per-seed relative differences: from its figures, or as recorded (in %) where only those were."""
    if "relative" in row:
        relative = np.asarray(row["relative"], dtype=float) / 100
    else:
        ours, theirs = np.asarray(row["ours"], dtype=float), np.asarray(row["recbole"], dtype=float)
        if ours.shape != theirs.shape:
            raise SystemExit(f"{row['row']}: {len(ours)} figures of ours, {len(theirs)} of RecBole's")
        relative = ours / theirs - 1
    if len(relative) != len(row["seeds"]) or len(relative) < 2:
        raise SystemExit(f"{row['row']}: one figure per seed, at least two seeds")
    return relative


def seed_list(seeds: list[int]) -> str:
    """0-6 for a run of consecutive seeds, else the seeds listed."""
    if list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(str(seed) for seed in seeds)


def table(path: Path) -> str:
    """The markdown seed-level table of every row recorded in `path` (docs/parity_seeds.yaml)."""
    import yaml

    lines = ["| Row | Draws | Seeds | Mean per-seed Δ (sd) | 90% interval | ±5% |", "|---|---|---|---|---|---|"]
    for row in yaml.safe_load(path.read_text())["rows"]:
        level = seeds_as_units(recorded_differences(row))
        said = VERDICT_WORDS[level["verdict"]] + (f" ({row['note']})" if row.get("note") else "")
        lines.append(f"| {row['row']} | {DRAWS[row['draws']]} | {seed_list(row['seeds'])} | "
                     f"{percent(level['mean'])} ({100 * level['sd']:.1f}%) | "
                     f"{percent(level['low'])} to {percent(level['high'])} | {said} |")
    return "\n".join(lines) + "\n"


def percent(relative: float) -> str:
    """+1.3% / −4.5% (a typographic minus, as the README's tables print it)."""
    return f"{100 * relative:+.1f}%".replace("-", "−")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--table":
        print(table(Path(argv[1])), end="")
        return 0
    if len(argv) < 2:
        raise SystemExit(__doc__)
    if argv[1] == "--figures":
        relative = figure_pairs(argv[2:])
        print(f"{argv[0]}, {len(relative)} seeds: " + ", ".join(f"{100 * r:+.1f}%" for r in relative))
        print(seed_level_line(seeds_as_units(relative), len(relative)))
        return 0
    model, folders = argv[0], [Path(folder) for folder in argv[1:]]
    rows = [row for folder in folders for row in seed_rows(model, folder)]
    for seed, ours, theirs, valid_ours, valid_theirs in rows:
        t_p, _ = p_values(ours, theirs)
        print(f"seed {seed}: test ours {ours.mean():.4f} RecBole {theirs.mean():.4f} "
              f"{100 * (ours.mean() / theirs.mean() - 1):+.1f}% (p = {t_p:.2f}); best valid ours {valid_ours:.4f} "
              f"RecBole {valid_theirs:.4f} {100 * (valid_ours / valid_theirs - 1):+.1f}%")
    pool = pooled(rows)
    print(f"seeds {[row[0] for row in rows]}: test ours {pool['ours']:.4f} RecBole {pool['recbole']:.4f} "
          f"{100 * pool['relative']:+.1f}% (paired t-test p = {pool['t_p']:.3f}, Wilcoxon p = "
          f"{pool['wilcoxon_p']:.3f}; standard error {100 * pool['error']:.1f}% of RecBole's mean); "
          f"best valid {100 * pool['valid']:+.1f}% (means)")
    print(seed_level_line(seed_level(rows), len(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
