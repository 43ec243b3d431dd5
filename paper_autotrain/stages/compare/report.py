"""The report's content: the rows, the tables and sentences of report.md and report.csv (report_html.py
renders the same content as a page)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from paper_autotrain.data.candidates import FULL, ranking_words
from paper_autotrain.data.protocol_words import FULL_WORDS, SEQUENCE_FULL_WORDS
from paper_autotrain.records.ledger import approximation_label
from paper_autotrain.regimes import RegimeError, config_regime
from paper_autotrain.schemas import MethodSpec, RunResult, SplitInfo
from paper_autotrain.stages.compare.formatting import NONE, display_metric, fmt
from paper_autotrain.stages.compare.protocol import NOT_READ, ProtocolRow, is_read, protocol_rows
from paper_autotrain.stages.compare.seeds import History, ModelRow, RunFiles, group_by_model
from paper_autotrain.stages.compare.significance import (
    Significance,
    against_best_baseline,
    format_p,
    p_equals,
    sentence,
)

TABLE_METRICS = ("ndcg", "recall", "hit", "mrr", "precision")
CTR_COLUMNS = ("auc", "logloss")  # one value over all test rows, no cut-off
CTR_MAIN = "auc"


def main_metric(spec: MethodSpec, cfg: Mapping) -> str:
    """The metric the reproduction is judged on: AUC for a CTR task, else eval.main_metric."""
    return CTR_MAIN if spec.task == "ctr" else str(cfg.get("main_metric", "ndcg@10"))


def table_columns(results: Sequence[RunResult], ks: Sequence[int]) -> list[str]:
    present = set().union(*(r.test for r in results)) if results else set()
    if any(name in present for name in CTR_COLUMNS):
        return [name for name in CTR_COLUMNS if name in present]
    return [f"{m}@{k}" for k in ks for m in TABLE_METRICS if f"{m}@{k}" in present]


def mean_std(row: ModelRow, metric: str) -> str:
    """`0.2100` for one seed, `0.2100 ± 0.0031` over several."""
    std = row.std(metric)
    return fmt(row.mean(metric)) + ("" if std is None else f" ± {std:.4f}")


# --- what the report is made of ------------------------------------------------------------------------


@dataclass
class TableRow:
    """One model's line of the comparison table, its cells already formatted."""

    row: ModelRow
    label: str
    metrics: list[str]  # one per report column: mean, or mean ± std over seeds
    facts: list[str]  # seeds (when several), train seconds, parameters, epochs (best)
    p: str | None = None  # the paired test's column, when there is a test
    best_baseline: bool = False

    @property
    def cells(self) -> list[str]:
        return [*self.metrics, *self.facts, *([] if self.p is None else [self.p])]


@dataclass
class Report:
    """Everything the Markdown, CSV and HTML reports show, computed once."""

    spec: MethodSpec
    split: SplitInfo
    main: str
    ours: ModelRow
    rows: list[ModelRow]  # ours first, then the reference, then the other baselines, best first
    columns: list[str]
    significance: Significance
    failed: list[RunResult]
    files: RunFiles = field(default_factory=RunFiles)
    command: str | None = None  # the command line that reproduces this run (None: not run from the command line)
    split_from_paper: str | None = None  # eval.ranking=paper took the paper's split: its statement (None: ours)

    @property
    def n_seeds(self) -> int:
        return max(len(row.runs) for row in self.rows)

    @property
    def seeds(self) -> list[int]:
        return self.ours.seeds

    @property
    def baselines(self) -> list[ModelRow]:
        return self.rows[1:]

    @property
    def reference(self) -> ModelRow | None:
        return next((row for row in self.baselines if row.is_reference), None)

    @property
    def our_role(self) -> str:
        """What our model is: the spec says it (the train stage writes `reproduced` either way)."""
        return "approximation" if self.spec.approximation else "reproduced"

    @property
    def ours_tag(self) -> str:
        return "ours, approximation" if self.spec.approximation else "ours, generated"

    def role_of(self, row: ModelRow) -> str:
        return self.our_role if row is self.ours else row.role

    def label(self, row: ModelRow) -> str:
        if row is self.ours:
            return f"{row.model} ({self.ours_tag})"
        if row.is_reference:
            return f"{row.model} (RecBole, {self.reference_kind})"
        return f"{row.model} (RecBole)"

    @property
    def reference_kind(self) -> str:
        """What the reference row is to ours. An approximation's is RecBole's class of the paper's model
        (stages/references): another architecture, sharing only the common settings."""
        return "the paper's model" if self.spec.approximation else "same architecture and hyperparameters"

    @property
    def reference_terms(self) -> str:
        """What ours and the reference share."""
        if self.spec.approximation:
            return "the paper's model; same split and epoch budget"
        return "same split, hyperparameters and epoch budget"

    @property
    def monitor(self) -> str:
        return "AUC" if self.spec.task == "ctr" else "NDCG@10"

    @property
    def defaults(self) -> list[str]:
        return [name for name, hp in self.spec.hyperparameters.items() if hp.source == "default"]

    def metric_header(self) -> list[str]:
        return [display_metric(c) for c in self.columns]

    def facts_header(self) -> list[str]:
        return [*(["Seeds"] if self.n_seeds > 1 else []), "Train s", "Params", "Epochs (best)"]

    def p_header(self) -> str | None:
        return f"p vs best ({display_metric(self.main)})" if self.significance.test else None

    def header(self) -> list[str]:
        p_header = self.p_header()
        return ["Model", *self.metric_header(), *self.facts_header(), *([p_header] if p_header else [])]

    def table(self) -> list[TableRow]:
        test = self.significance.test
        out = []
        for row in self.rows:
            best = test is not None and row.role == "baseline" and row.model == test.baseline
            facts = [str(len(row.runs))] if self.n_seeds > 1 else []
            facts += [fmt(row.mean_of("train_time_s"), 1), _params(row), _epochs(row)]
            p_cell = None if test is None else (
                format_p(test.t_p) if row is self.ours else "best baseline" if best else NONE)
            out.append(TableRow(row=row, label=self.label(row), metrics=[mean_std(row, c) for c in self.columns],
                                facts=facts, p=p_cell, best_baseline=best))
        return out

    def significance_line(self) -> str:
        return sentence(self.significance, display_metric(self.main))

    @property
    def protocol_read(self) -> bool:
        return is_read(self.spec.protocol)

    def protocol(self) -> list[ProtocolRow]:
        """The paper's protocol beside ours, item by item (ours from the split and our first run's settings)."""
        return protocol_rows(self.spec, self.split, self.ours.runs[0])

    @property
    def rankings(self) -> dict[str, list[str]]:
        """Which ranking produced each table row's numbers (RunResult.ranking): ranking -> the models."""
        found: dict[str, list[str]] = {}
        for row in self.rows:
            for ranking in dict.fromkeys(run.ranking for run in row.runs):
                found.setdefault(ranking, []).append(row.model)
        return found

    @property
    def ranking(self) -> str:
        """The table's ranking (`full`, `sampled-100`), or `mixed` when its rows were ranked differently."""
        rankings = self.rankings
        return next(iter(rankings)) if len(rankings) == 1 else "mixed" if rankings else "full"


def _params(row: ModelRow) -> str:
    n_params = row.runs[0].n_params
    return NONE if n_params is None else f"{n_params:,}"


def fitted_once(run: RunResult) -> bool:
    """Whether the run was fitted once on the train split, not by epochs: ours in a regime with `fit` (EASE, SLIM,
    ItemKNN), RecBole's traditional models (the runner's `fitted`: Pop, ItemKNN, EASE, SLIMElastic)."""
    if (run.config or {}).get("fitted"):
        return True
    try:
        return config_regime(run.config or {}).fit is not None
    except RegimeError:  # a RecBole baseline's config names no regime of ours
        return False


def _epochs(row: ModelRow) -> str:
    """`epochs run (best epoch)`, listed per seed when there are several; `fit` for a model fitted once."""
    if all(fitted_once(r) for r in row.runs):
        return "fit"
    if all(r.epochs_run is None for r in row.runs):
        return NONE
    ran = ", ".join(NONE if r.epochs_run is None else str(r.epochs_run) for r in row.runs)
    best = ", ".join(NONE if r.best_epoch is None else str(r.best_epoch) for r in row.runs)
    return f"{ran} ({best})"


def _ordered(ours: ModelRow, baselines: Sequence[ModelRow], main: str) -> list[ModelRow]:
    """Ours first, then the RecBole reference it is judged against, then the other baselines, best first."""
    def best_first(row: ModelRow) -> tuple[bool, float]:
        mean = row.mean(main)
        return (not row.is_reference, -(mean if mean is not None else float("-inf")))

    return [ours, *sorted(baselines, key=best_first)]


def build(spec: MethodSpec, reproduced: RunResult | Sequence[RunResult], baselines: Sequence[RunResult],
          split: SplitInfo, cfg: Mapping, files: RunFiles | None = None) -> Report:
    """Group the runs by model over seeds, order them, and run the paired test."""
    ours_runs = [reproduced] if isinstance(reproduced, RunResult) else list(reproduced)
    if not ours_runs:
        raise ValueError("compare needs at least one run of the reproduced model")
    files = files or RunFiles()
    main = main_metric(spec, cfg)
    ours = ModelRow(sorted(ours_runs, key=lambda r: r.seed))
    others = group_by_model([b for b in baselines if b.role == "baseline"])
    rows = _ordered(ours, others, main)
    columns = table_columns([r for row in rows for r in row.runs], list(cfg.get("ks", (10, 20))))
    return Report(spec=spec, split=split, main=main, ours=ours, rows=rows, columns=columns,
                  significance=against_best_baseline(ours, others, files, main),
                  failed=[b for b in baselines if b.status != "ok"], files=files,
                  command=cfg.get("command") or None, split_from_paper=cfg.get("split_from_paper") or None)


# --- Markdown ------------------------------------------------------------------------------------------


def budget_line(spec: MethodSpec, reproduced: RunResult, monitor: str = "NDCG@10") -> str:
    """The epoch budget every model had, and how it relates to the paper's own epoch count."""
    budget = ((reproduced.config or {}).get("trainer") or {}).get("max_epochs")
    if fitted_once(reproduced):
        others = f"the baselines' epoch budget {budget}" if budget is not None else "the baselines' budget unrecorded"
        return (f"- Training: ours fitted once on the train split (no epochs); {others}, early stopping on valid "
                f"{monitor}.")
    if budget is None:
        return "- Epoch budget: not recorded."
    stated = spec.hyperparameters.get("epochs")
    if stated is None or stated.value == budget:
        return f"- Epoch budget: {budget} for every model, early stopping on valid {monitor}."
    origin = "the paper's" if stated.source == "paper" else f"the spec's ({stated.source})"
    return (f"- Epoch budget: {budget} for every model (trainer.max_epochs or the family's CPU cap "
            f"trainer.family_max_epochs; {origin} {stated.value} is capped), "
            f"early stopping on valid {monitor}.")


def under_training_lines(report: Report) -> list[str]:
    """Runs whose best validation epoch was the last of their whole budget: still improving when stopped, so
    their test numbers may understate the model (early stopping never triggered)."""
    lines = []
    for row in report.rows:
        for run in row.runs:
            budget = epoch_budget_of(run)
            if fitted_once(run):  # no epochs to under-train
                continue
            if run.best_epoch is not None and run.best_epoch == run.epochs_run and run.epochs_run == budget:
                who = f"{row.model} ({'ours' if row is report.ours else 'RecBole'}, seed {run.seed})"
                lines.append(f"{who}: best validation epoch is the last of its {budget}: it may be under-trained "
                             "(raise trainer.max_epochs to see where it levels off)")
    return lines


def epoch_budget_of(run: RunResult) -> int | None:
    """The epochs a run was allowed: ours from its trainer settings, a RecBole baseline's from its config (both
    count epochs from 1, so `best_epoch == epochs_run == budget` means the same on both sides)."""
    config = run.config or {}
    budget = (config.get("trainer") or {}).get("max_epochs") or (config.get("recbole") or {}).get("epochs")
    return int(budget) if budget is not None else None


def under_training_block(report: Report) -> str:
    lines = under_training_lines(report)
    return "" if not lines else "\n**Under-training warning.**\n\n" + "\n".join(f"- {ln}" for ln in lines) + "\n"


def environment_line(report: Report) -> str:
    """Library versions and the device our first run trained on: what a rerun needs to match."""
    trainer = (report.ours.runs[0].config or {}).get("trainer") or {}
    device = str(trainer.get("accelerator", "cpu"))
    return f"Software: {software_versions()}; device: {device}."


def command_line(report: Report) -> str:
    """The Markdown item with the exact command that reproduces this run ("" when there is none)."""
    return f"\n- Reproduce: `{report.command}`" if report.command else ""


def software_versions() -> str:
    import platform
    from importlib import metadata

    found = []
    for package in ("torch", "lightning", "recbole", "numpy"):
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} not installed")
    return f"Python {platform.python_version()}, " + ", ".join(found)


def seeds_line(report: Report) -> str:
    if report.n_seeds == 1:
        return f"seed {report.seeds[0]}"
    return (f"seeds {', '.join(map(str, report.seeds))} (each row: mean ± sample standard deviation over its "
            "seeds)")


def ranking_title(report: Report) -> str:
    """The results heading's words on ranking: `full ranking`, `sampled-100 ranking`."""
    return f"{report.ranking} ranking"


def protocol_line(report: Report) -> str:
    """The split's protocol with the ranking that produced the table (the split states full ranking); rows
    ranked differently are named, since their numbers cannot be set side by side. A split eval.ranking=paper took
    from the paper says so."""
    source = (f"; the split taken from the paper's protocol (eval.ranking=paper: \"{report.split_from_paper}\")"
              if report.split_from_paper else "")
    rankings = report.rankings
    if report.ranking == "mixed":
        mixed = "; ".join(f"{name}: {', '.join(models)}" for name, models in rankings.items())
        return (f"{ranked_protocol(report.split.protocol, 'MIXED rankings')} ({mixed}): rows ranked "
                f"differently are not comparable{source}")
    if report.ranking == FULL:  # the split's own words (the sequences' full ranking masks no history)
        return report.split.protocol + source
    return ranked_protocol(report.split.protocol, ranking_words(report.ranking)) + source


def ranked_protocol(protocol: str, words: str) -> str:
    """The split's protocol line with its full-ranking words (the top-k splits' or the sequences') replaced by
    `words`."""
    return protocol.replace(FULL_WORDS, words).replace(SEQUENCE_FULL_WORDS, words)


def results_table(report: Report) -> str:
    head = report.header()
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for line in report.table():
        label = f"**{line.row.model}** ({report.ours_tag})" if line.row is report.ours else line.label
        lines.append("| " + " | ".join([label, *line.cells]) + " |")
    return "\n".join(lines)


def reference_line_text(report: Report) -> str:
    """Ours against the RecBole reference, relative difference of the main metric. An approximation is only set
    beside it (`Approximation ... vs RecBole ...`): it is not the paper's model, so there is no reproduction
    verdict."""
    reference, main = report.reference, report.main
    if reference is None:
        return no_reference_text(report.spec)
    ours, theirs = report.ours.mean(main), reference.mean(main)
    if ours is None or not theirs:
        return f"{display_metric(main)} is missing for one side; no relative difference."
    delta = 100.0 * (ours - theirs) / theirs
    over = "" if report.n_seeds == 1 else " (means over seeds)"
    subject = "Approximation" if report.spec.approximation else "Reproduced"
    return (f"{subject} {report.ours.model} vs RecBole {reference.model} ({report.reference_terms}): "
            f"{display_metric(main)} {ours:.4f} vs {theirs:.4f}{over}, {delta:+.1f}%.")


def summary_line(report: Report) -> str:
    """The run in one line, for the terminal: ours against the reference on the main metric with the difference,
    and the paired test against the best baseline when there is one."""
    test = report.significance.test
    tested = f" Paired t-test against {test.baseline}: {p_equals(test.t_p)}." if test else ""
    return reference_line_text(report) + tested


def no_reference_text(spec: MethodSpec) -> str:
    """Why there is no reference row. A spec read from a paper names RecBole's class of the paper's model
    (`reference`, None: RecBole has none); a hand-written one (no fidelity) is matched by its blocks."""
    if spec.fidelity is not None and spec.reference is None:
        return f"RecBole has no implementation of {spec.display_name}, so there is no like-for-like reference row."
    return "No RecBole model shares this architecture, so there is no like-for-like reference row."


def reference_line(report: Report) -> str:
    line = reference_line_text(report)
    notes = reference_notes(report)
    if notes and report.reference is not None:  # what RecBole's implementation could not take over from the spec
        line += "\n\nWhere RecBole's " + report.reference.model + " differs from the spec:\n" + "\n".join(
            f"- {note}" for note in notes)
    return line


def reference_notes(report: Report) -> list[str]:
    reference = report.reference
    return list((reference.runs[0].config or {}).get("reference_notes") or []) if reference else []


def curve_runs(report: Report) -> list[tuple[ModelRow, RunResult, History]]:
    """The runs whose validation curves are set side by side, one seed each: ours, the reference, the other
    baselines (report order), at our first seed with a history; a model without a history of that seed (or
    with another valid metric) is left out. Epochs count from 1 on both sides."""
    files = report.files
    seed = next((s for s in report.seeds if s in files.histories), report.seeds[0])
    found = []
    for row in report.rows:
        run = next((r for r in row.runs if r.seed == seed), None)
        if run is None:
            continue
        history = files.histories.get(seed) if row is report.ours else files.baseline_histories.get(
            (run.role, run.model, int(run.seed)))
        if history is not None and any(v == v for v in history.valid):  # not all NaN
            found.append((row, run, history))
    monitor = found[0][2].monitor if found else None
    return [(row, run, history) for row, run, history in found if history.monitor == monitor]


def curve_lines(report: Report) -> list[str]:
    """Each curve in words: its best valid value, at which epoch, of how many run."""
    lines = []
    for row, _, history in curve_runs(report):
        scored = [(v, e) for e, v in zip(history.epochs, history.valid, strict=False) if v == v]
        best, epoch = max(scored, key=lambda pair: (pair[0], -pair[1]))
        who = "ours" if row is report.ours else "RecBole, reference" if row.is_reference else "RecBole"
        lines.append(f"{row.model} ({who}): best {best:.4f} at epoch {epoch} of {history.epochs[-1]}")
    return lines


def curves_block(report: Report) -> str:
    runs = curve_runs(report)
    if not runs:
        return ""
    metric = display_metric(runs[0][2].monitor.removeprefix("valid_"))
    head = (f"\nValid {metric} per epoch (seed {runs[0][1].seed}, epochs counted from 1 on both sides; "
            "report.html draws the curves):\n\n")
    return head + "\n".join(f"- {line}" for line in curve_lines(report)) + "\n"


def failure_lines(report: Report) -> list[str]:
    several = report.n_seeds > 1 or len({r.seed for r in report.failed}) > 1
    return [f"{b.model}{f' (seed {b.seed})' if several else ''}: {b.error or 'failed'}" for b in report.failed]


def failures_block(report: Report) -> str:
    lines = failure_lines(report)
    if not lines:
        return ""
    return "\n## Baselines that failed\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"


def paper_block(spec: MethodSpec) -> str:
    if not spec.reported:
        return "The extractor found no numbers the paper reports for its own model."
    lines = ["| Dataset | Metric | Value | Where |", "|---|---|---|---|"]
    for r in spec.reported:
        lines.append(f"| {r.dataset} | {r.metric} | {reported_value(r)} | {r.table or r.evidence or NONE} |")
    return "\n".join(lines)


def reported_value(reported) -> str:
    return f"{reported.value}{reported.unit or ''}" + (f" ({reported.variant})" if reported.variant else "")


def md_cell(text: str | None) -> str:
    """Quotes come from untrusted PDFs: no markup reaches a Markdown renderer, nothing breaks the table."""
    return (text or NONE).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def protocol_block(report: Report) -> str:
    """The paper's protocol and ours, one row per item, each difference marked with why it matters."""
    rows = report.protocol()
    if not report.protocol_read:
        return NOT_READ + "\n\nOurs:\n\n" + "\n".join(f"- {row.item}: {row.ours}" for row in rows)
    lines = ["| Item | The paper | Ours | Differs |", "|---|---|---|---|"]
    for row in rows:
        paper = "not read" if row.paper is None else f"{row.paper} ({row.evidence})" if row.evidence else row.paper
        verdict = f"**differs**: {row.why}" if row.differs else row.verdict
        lines.append(f"| {row.item} | {md_cell(paper)} | {md_cell(row.ours)} | {md_cell(verdict)} |")
    return "\n".join(lines)


def hyperparameter_block(spec: MethodSpec) -> str:
    lines = ["| Hyperparameter | Value | Source | Evidence |", "|---|---|---|---|"]
    for name, hp in spec.hyperparameters.items():
        source = "**default**" if hp.source == "default" else hp.source
        lines.append(f"| {name} | {hp.value} | {source} | {md_cell(hp.evidence)} |")
    return "\n".join(lines)


# --- fidelity: is the model built the paper's model? ----------------------------------------------------


def heading(spec: MethodSpec) -> str:
    """The report's title: a reproduction report, or what an approximation leaves out."""
    if spec.approximation:
        return f"{spec.display_name}: {approximation_label(spec.fidelity.missing)}"
    return f"{spec.display_name}: reproduction report"


def approximation_note(spec: MethodSpec) -> str | None:
    """Under the title of an approximation: what it is, and that it is no reproduction."""
    if not spec.approximation:
        return None
    missing = ", ".join(spec.fidelity.missing) or "none named"
    return (f"Approximation: the model built here leaves out parts of {spec.display_name}'s method (not built: "
            f"{missing}), so it is not a reproduction of it (built with fidelity=allow_partial).")


def fidelity_block(spec: MethodSpec) -> str:
    """The paper's components and the blocks that build them, then where the built blocks differ from the paper;
    nothing for a hand-written spec (no fidelity: it claims nothing about a paper)."""
    if spec.fidelity is None:
        return ""
    parts = []
    if spec.fidelity.components:
        parts.append("## Components of the paper's method\n\n" + "\n".join(
            f"- {md_cell(c.name)} → " + (f"`{c.block}`" if c.block else "**not built**")
            for c in spec.fidelity.components))
    if spec.fidelity.deviations:
        lines = ["| Component | The paper | Ours |", "|---|---|---|"]
        lines += [f"| {md_cell(d.component)} | {md_cell(d.paper)} | {md_cell(d.ours)} |"
                  for d in spec.fidelity.deviations]
        parts.append("## Deviations from the paper\n\n" + "\n".join(lines))
    return "".join(f"\n{part}\n" for part in parts)


def defaults_line(report: Report) -> str:
    if not report.defaults:
        return "Every hyperparameter above is stated in the paper or set by the user."
    return "Filled in with family defaults (the paper does not state them): " + ", ".join(report.defaults) + "."


def paper_lines(spec: MethodSpec) -> str:
    """What was read, and for an approximation what it leaves out."""
    title = spec.paper.title or spec.paper.key
    lines = [f"- Paper: {title} (`{spec.paper.key}`, {spec.paper.source or 'local file'})",
             f"- Read as: family `{spec.family}`, task `{spec.task}`, loss `{spec.loss}`"
             f"{f' ({spec.loss_name})' if spec.loss_name else ''}."]
    note = approximation_note(spec)
    return "\n".join([*lines, *([f"- {note}"] if note else [])])


def markdown_report(report: Report) -> str:
    spec, split = report.spec, report.split
    unclear = "\n".join(f"- {u}" for u in spec.unclear) or "- nothing recorded"
    return f"""# {heading(spec)}

{paper_lines(spec)}

## Results on {split.dataset} (test split, our evaluator, {ranking_title(report)})

- Data: {split.n_users} users, {split.n_items} items; {split.n_train}/{split.n_valid}/{split.n_test} \
train/valid/test interactions.
- Protocol: {protocol_line(report)}.
- Split `{split.split_id}`, {seeds_line(report)}: every model below was trained on the same benchmark files \
and scored by the same evaluator.
{budget_line(spec, report.ours.runs[0], report.monitor)}
- {environment_line(report)}{command_line(report)}

{results_table(report)}
{under_training_block(report)}
{report.significance_line()}

{reference_line(report)}
{curves_block(report)}{failures_block(report)}{fidelity_block(spec)}
## Protocol: the paper's and ours

{protocol_block(report)}

## What the paper reports

On the paper's own datasets and protocol, which differ from the run above: these numbers are not directly
comparable with the table, they say what the authors measured.

{paper_block(spec)}

## Hyperparameters used

{hyperparameter_block(spec)}

{defaults_line(report)}

## What the paper leaves unclear

{unclear}
"""


# --- CSV -----------------------------------------------------------------------------------------------


CSV_HEADER = ("model", "role", "dataset", "split_id", "seed", "metric", "value", "ranking")
MEAN_SEED = "mean"  # the seed column of a model's mean over several seeds


def csv_report(report: Report) -> str:
    """Long format, one value per (model, seed, metric); with several seeds also the mean, seed `mean`. The
    paper's own numbers have no split or seed of ours."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in report.rows:
        role, first = report.role_of(row), row.runs[0]
        for metric in sorted(set().union(*(r.test for r in row.runs))):
            for run in row.runs:
                if metric in run.test:
                    writer.writerow([row.model, role, run.dataset, run.split_id, run.seed, display_metric(metric),
                                     f"{run.test[metric]:.6f}", run.ranking])
            if len(row.runs) > 1:
                writer.writerow([row.model, role, first.dataset, first.split_id, MEAN_SEED, display_metric(metric),
                                 f"{row.mean(metric):.6f}", first.ranking])
    for r in report.spec.reported:  # the paper's ranking is its protocol's (the report's protocol table)
        writer.writerow([report.spec.display_name, "paper", r.dataset, "", "", r.metric, f"{r.value}{r.unit or ''}",
                         ""])
    return buffer.getvalue()
