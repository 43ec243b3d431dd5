"""Compare: the reproduced model beside the baselines and beside what the paper reports.

Every number in the tables comes from our evaluator (RunResult.test); the paper's own numbers
are copied from the spec and kept in a block of their own, since dataset and protocol differ.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from paper_autotrain.schemas import MethodSpec, RunResult, SplitInfo

DISPLAY = {"recall": "Recall", "ndcg": "NDCG", "hit": "Hit", "mrr": "MRR", "precision": "Precision", "auc": "AUC",
           "logloss": "LogLoss"}
TABLE_METRICS = ("ndcg", "recall", "hit", "mrr", "precision")
CTR_COLUMNS = ("auc", "logloss")  # one value over all test rows, no cut-off
CTR_MAIN = "auc"


def main_metric(spec: MethodSpec, cfg: Mapping) -> str:
    """The metric the reproduction is judged on: AUC for a CTR task, else eval.main_metric."""
    return CTR_MAIN if spec.task == "ctr" else str(cfg.get("main_metric", "ndcg@10"))


def display_metric(name: str) -> str:
    """`ndcg@10` -> `NDCG@10`."""
    base, _, k = name.partition("@")
    return f"{DISPLAY.get(base, base)}@{k}" if k else DISPLAY.get(base, base)


def table_columns(results: Sequence[RunResult], ks: Sequence[int]) -> list[str]:
    present = set().union(*(r.test for r in results)) if results else set()
    if any(name in present for name in CTR_COLUMNS):
        return [name for name in CTR_COLUMNS if name in present]
    return [f"{m}@{k}" for k in ks for m in TABLE_METRICS if f"{m}@{k}" in present]


def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def budget_line(spec: MethodSpec, reproduced: RunResult, monitor: str = "NDCG@10") -> str:
    """The epoch budget every model had, and how it relates to the paper's own epoch count."""
    budget = ((reproduced.config or {}).get("trainer") or {}).get("max_epochs")
    if budget is None:
        return "- Epoch budget: not recorded."
    stated = spec.hyperparameters.get("epochs")
    if stated is None or stated.value == budget:
        return f"- Epoch budget: {budget} for every model, early stopping on valid {monitor}."
    origin = "the paper's" if stated.source == "paper" else f"the spec's ({stated.source})"
    return (f"- Epoch budget: {budget} for every model (trainer.max_epochs or the family's CPU cap "
            f"trainer.family_max_epochs; {origin} {stated.value} is capped), "
            f"early stopping on valid {monitor}.")


def _ordered(reproduced: RunResult, baselines: Sequence[RunResult], main: str) -> list[RunResult]:
    """Ours first, then the RecBole reference it is judged against, then the other baselines, best first."""
    ok = sorted((b for b in baselines if b.status == "ok"),
                key=lambda r: (not r.config.get("reference"), -r.test.get(main, float("-inf"))))
    return [reproduced, *ok]


def _label(result: RunResult) -> str:
    if result.role == "reproduced":
        return f"**{result.model}** (ours, generated)"
    if result.config.get("reference"):
        return f"{result.model} (RecBole, same architecture and hyperparameters)"
    return f"{result.model} (RecBole)"


def reference_of(baselines: Sequence[RunResult]) -> RunResult | None:
    return next((b for b in baselines if b.status == "ok" and b.config.get("reference")), None)


def results_table(rows: Sequence[RunResult], columns: Sequence[str]) -> str:
    head = ["Model", *(display_metric(c) for c in columns), "Train s", "Params", "Epochs (best)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        best = "–" if r.best_epoch is None else r.best_epoch
        epochs = "–" if r.epochs_run is None else f"{r.epochs_run} ({best})"
        cells = [_label(r), *(_fmt(r.test.get(c)) for c in columns), _fmt(r.train_time_s, 1),
                 "–" if r.n_params is None else f"{r.n_params:,}", epochs]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reference_line(reproduced: RunResult, reference: RunResult | None, main: str) -> str:
    if reference is None:
        return "No RecBole model shares this architecture, so there is no like-for-like reference row."
    ours, theirs = reproduced.test.get(main), reference.test.get(main)
    if ours is None or not theirs:
        return f"{display_metric(main)} is missing for one side; no relative difference."
    delta = 100.0 * (ours - theirs) / theirs
    line = (f"Reproduced {reproduced.model} vs RecBole {reference.model} (same split, hyperparameters and epoch "
            f"budget): {display_metric(main)} {ours:.4f} vs {theirs:.4f}, {delta:+.1f}%.")
    notes = (reference.config or {}).get("reference_notes") or []
    if notes:  # what RecBole's implementation could not take over from the spec
        line += "\n\nWhere RecBole's " + reference.model + " differs from the spec:\n" + "\n".join(
            f"- {note}" for note in notes)
    return line


def paper_block(spec: MethodSpec) -> str:
    if not spec.reported:
        return "The extractor found no numbers the paper reports for its own model."
    lines = ["| Dataset | Metric | Value | Where |", "|---|---|---|---|"]
    for r in spec.reported:
        value = f"{r.value}{r.unit or ''}" + (f" ({r.variant})" if r.variant else "")
        lines.append(f"| {r.dataset} | {r.metric} | {value} | {r.table or r.evidence or '–'} |")
    return "\n".join(lines)


def hyperparameter_block(spec: MethodSpec) -> str:
    lines = ["| Hyperparameter | Value | Source | Evidence |", "|---|---|---|---|"]
    for name, hp in spec.hyperparameters.items():
        source = "**default**" if hp.source == "default" else hp.source
        evidence = (hp.evidence or "–").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {name} | {hp.value} | {source} | {evidence} |")
    return "\n".join(lines)


def failures_block(baselines: Sequence[RunResult]) -> str:
    failed = [b for b in baselines if b.status != "ok"]
    if not failed:
        return ""
    items = "\n".join(f"- {b.model}: {b.error or 'failed'}" for b in failed)
    return f"\n## Baselines that failed\n\n{items}\n"


def markdown_report(spec: MethodSpec, reproduced: RunResult, baselines: Sequence[RunResult], split: SplitInfo,
                    cfg: Mapping) -> str:
    ks = list(cfg.get("ks", (10, 20)))
    main = main_metric(spec, cfg)
    rows = _ordered(reproduced, baselines, main)
    defaults = [name for name, hp in spec.hyperparameters.items() if hp.source == "default"]
    unclear = "\n".join(f"- {u}" for u in spec.unclear) or "- nothing recorded"
    title = spec.paper.title or spec.paper.key
    return f"""# {spec.model_name}: reproduction report

- Paper: {title} (`{spec.paper.key}`, {spec.paper.source or 'local file'})
- Read as: family `{spec.family}`, task `{spec.task}`, loss `{spec.loss}`.

## Results on {split.dataset} (test split, our evaluator)

- Data: {split.n_users} users, {split.n_items} items; {split.n_train}/{split.n_valid}/{split.n_test} \
train/valid/test interactions.
- Protocol: {split.protocol}.
- Split `{split.split_id}`, seed {reproduced.seed}: every model below was trained on the same benchmark files \
and scored by the same evaluator.
{budget_line(spec, reproduced, "AUC" if spec.task == "ctr" else "NDCG@10")}

{results_table(rows, table_columns(rows, ks))}

{reference_line(reproduced, reference_of(baselines), main)}
{failures_block(baselines)}
## What the paper reports

On the paper's own datasets and protocol, which differ from the run above: these numbers are not directly
comparable with the table, they say what the authors measured.

{paper_block(spec)}

## Hyperparameters used

{hyperparameter_block(spec)}

{"Filled in with family defaults (the paper does not state them): " + ", ".join(defaults) + "." if defaults
 else "Every hyperparameter above is stated in the paper or set by the user."}

## What the paper leaves unclear

{unclear}
"""


def csv_report(spec: MethodSpec, reproduced: RunResult, baselines: Sequence[RunResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "role", "dataset", "metric", "value"])
    for result in [reproduced, *(b for b in baselines if b.status == "ok")]:
        for metric, value in sorted(result.test.items()):
            writer.writerow([result.model, result.role, result.dataset, display_metric(metric), f"{value:.6f}"])
    for r in spec.reported:
        writer.writerow([spec.model_name, "paper", r.dataset, r.metric, f"{r.value}{r.unit or ''}"])
    return buffer.getvalue()


def run(spec: MethodSpec, reproduced: RunResult, baselines: Sequence[RunResult], split: SplitInfo,
        cfg: Mapping) -> dict[str, str]:
    """The report files, by name: `report.md` for people, `report.csv` (long format) for tools."""
    return {
        "report.md": markdown_report(spec, reproduced, baselines, split, cfg),
        "report.csv": csv_report(spec, reproduced, baselines),
    }
