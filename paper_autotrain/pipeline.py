"""The stage chain: fetch → parse → extract → render → validate → train → baselines → compare.

Each step hashes its inputs, skips itself when its manifest matches, and otherwise calls its
stage's plain `run` function and commits the outputs. Stages never call each other; they meet
here, through the artifacts on disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from paper_autotrain.artifacts import (
    ArtifactStore,
    atomic_write_json,
    atomic_write_text,
    hash_file,
    hash_obj,
    staged_dir,
)
from paper_autotrain.code_hash import stage_code_version
from paper_autotrain.data.candidates import FULL as FULL_RANKING
from paper_autotrain.data.candidates import asks_paper, resolve_ranking
from paper_autotrain.errors import StageError, UserError, tag_stage
from paper_autotrain.llm import LLMClient, LLMSettings, make_client, prompts_version
from paper_autotrain.paths import PACKAGE_DIR, TEMPLATES_DIR
from paper_autotrain.records.run_record import RunRecorder, record_key
from paper_autotrain.regimes import spec_regime
from paper_autotrain.run_settings import check_run_settings, run_seeds
from paper_autotrain.schemas import MethodSpec, PaperBundle, PaperDoc, RunResult, SplitInfo
from paper_autotrain.stages import baselines, compare, extract, fetch, parse, render, train, validate

if TYPE_CHECKING:
    from paper_autotrain.stages.render.candidates import CandidateSettings
    from paper_autotrain.stages.render.fill import FillIn

log = logging.getLogger("paper_autotrain")

STAGES = ("fetch", "parse", "extract", "render", "validate", "train", "baselines", "compare")
# `until=parse` means "read the paper through to spec.yaml" (the design card's wording)
UNTIL_ALIASES = {"parse": "extract", "spec": "extract"}


def code_version(stage: str) -> str:
    """Hash of the code (modules of the stage's import closure, the yaml they read, its templates) `stage`
    depends on: changing any of it reruns the stage (code_hash.py computes the closure)."""
    return stage_code_version(stage, PACKAGE_DIR)


@dataclass
class Plan:
    """Which stages run: everything up to `until`; from `from_stage` on, forced."""

    until: int
    start: int
    force: bool

    @classmethod
    def from_config(cls, cfg: Mapping) -> Plan:
        until = UNTIL_ALIASES.get(str(cfg.get("until") or "compare"), str(cfg.get("until") or "compare"))
        start = cfg.get("from_stage")
        for name, value in (("until", until), ("from_stage", start)):
            if value is not None and value not in STAGES:
                raise UserError(f"{name}={value} is not a stage; choose one of {', '.join(STAGES)} (or until=parse)")
        return cls(until=STAGES.index(until), start=STAGES.index(start) if start else 0, force=bool(cfg.get("force")))

    def reuse_only(self, stage: str) -> bool:
        return STAGES.index(stage) < self.start

    def forced(self, stage: str) -> bool:
        return self.force or (self.start > 0 and STAGES.index(stage) >= self.start)


@dataclass
class Context:
    cfg: Mapping[str, Any]
    store: ArtifactStore
    plan: Plan
    source: str
    timings: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    _split: SplitInfo | None = None
    _ranking: str | None = None  # eval.ranking resolved once (run_ranking)
    recorder: RunRecorder | None = None  # the ledger hook (run_record.py): step reports every stage to it

    def report_stage(self, stage: str, status: str, seconds: float | None = None,
                     input_hash: str | None = None) -> None:
        if self.recorder is not None:
            self.recorder.stage(stage, status, seconds, input_hash)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.cfg.get(name) or {})

    @property
    def spec_path(self) -> Path:
        return self.store.generated / "spec.yaml"

    def spec(self) -> MethodSpec:
        """spec.yaml as this run uses it: a value the paper states per dataset is the run's dataset's."""
        return load_spec(self.spec_path).for_dataset(self.dataset_name)

    @property
    def dataset_name(self) -> str:
        return str(self.section("dataset").get("name") or "")

    def spec_inputs(self) -> list[Any]:
        """What the spec contributes to a stage's input hash: the file, and the dataset when the spec holds
        per-dataset values (another dataset may bind other values)."""
        if not self.spec_path.exists():
            return [""]
        return [hash_file(self.spec_path), *([self.dataset_name] if load_spec(self.spec_path).per_dataset else [])]

    def split(self) -> SplitInfo:
        """The saved split in the spec's data regime (its family's, or a block's own: computed once, then reused)."""
        if self._split is None:
            spec = self.spec()
            dataset = self.section("dataset")
            stated = paper_split(self)
            if stated is not None:
                dataset = with_papers_split(dataset, stated)
                log.info("eval.ranking=paper: the split is the paper's (%r): dataset.split.leave_one_out=true%s",
                         stated, ", order=TO" if dataset["split"].get("order") == "TO" else "")
            self._split = spec_regime(spec).prepare(dataset, resolve_path(self.cfg, "datasets"), spec)
        return self._split


def resolve_path(cfg: Mapping, name: str) -> Path:
    paths = dict(cfg.get("paths") or {})
    root = Path(str(paths.get("root", "."))).expanduser().resolve()
    value = Path(str(paths.get(name, name))).expanduser()
    return value if value.is_absolute() else root / value


def load_spec(path: Path) -> MethodSpec:
    """Read spec.yaml; a hand edit that breaks the schema is a one-line UserError."""
    try:
        data = yaml.safe_load(path.read_text())
        return MethodSpec.model_validate(data)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; run the extraction first (until=parse)") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise UserError(f"{path} is not valid YAML ({first}); fix it or rerun with force=true") from None
    except Exception as exc:  # noqa: BLE001 - pydantic's report, cut to its first problem
        first = str(exc).splitlines()
        detail = " ".join(first[1:3]).strip() if len(first) > 1 else str(exc)
        raise UserError(f"{path} is not a valid MethodSpec: {detail}; fix it or rerun with force=true") from None


def dump_spec(spec: MethodSpec) -> str:
    header = ("# MethodSpec written by paper_autotrain. Every value says where it comes from (source: paper with a\n"
              "# page-numbered quote, default, or user). Edit it and rerun with from_stage=render.\n")
    return header + yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=110)


# --- the generic step ---------------------------------------------------------------------------------


def step(ctx: Context, stage: str, input_hash: str, produce: Callable[[], list[Path]],
         accept_edits: Callable[[], bool] | None = None) -> None:
    """Run `produce` unless the stage's artifacts already match `input_hash`; then record them."""
    store = ctx.store
    if ctx.plan.reuse_only(stage):
        if store.load_manifest(stage) is None:
            raise UserError(f"from_stage={STAGES[ctx.plan.start]} needs the {stage} stage's artifacts; "
                            "run once without from_stage first")
        ctx.skipped.append(stage)
        ctx.report_stage(stage, "skipped")
        return
    if not ctx.plan.forced(stage):
        if store.is_fresh(stage, input_hash):
            log.info("%-9s up to date, skipped", stage)
            ctx.skipped.append(stage)
            ctx.report_stage(stage, "skipped", 0.0, input_hash)
            return
        manifest = store.load_manifest(stage)
        if manifest is not None and manifest.input_hash == input_hash and accept_edits and accept_edits():
            log.info("%-9s kept: its output was edited by hand", stage)
            ctx.skipped.append(stage)
            ctx.report_stage(stage, "skipped", 0.0, input_hash)
            return
    log.info("%-9s running", stage)
    started = time.perf_counter()
    try:
        outputs = produce()
    except BaseException:
        ctx.report_stage(stage, "failed", time.perf_counter() - started, input_hash)
        raise
    ctx.timings[stage] = time.perf_counter() - started
    store.commit(stage, input_hash, outputs, seconds=ctx.timings[stage])
    ctx.report_stage(stage, "ok", ctx.timings[stage], input_hash)
    log.info("%-9s done in %.1f s", stage, ctx.timings[stage])


# --- the stages ----------------------------------------------------------------------------------------


def do_fetch(ctx: Context) -> None:
    folder = ctx.store.stage_dir("fetch")

    def produce() -> list[Path]:
        with staged_dir(folder, keep_failed=False) as staging:
            bundle = fetch.run(ctx.source, ctx.section("fetch"), ctx.section("parse"), staging)
            atomic_write_json(staging / "bundle.json", bundle)
        return sorted(p for p in folder.rglob("*") if p.is_file())

    # a remote paper's bytes live in the cache: its identity (id, version, URL) stands for them here
    inputs = [fetch.input_identity(ctx.source), ctx.section("parse").get("max_mb"),
              code_version("fetch")]
    step(ctx, "fetch", hash_obj(inputs), produce)


def do_parse(ctx: Context) -> None:
    fetched = ctx.store.stage_dir("fetch")
    out = ctx.store.stage_dir("parse") / "paperdoc.json"

    def produce() -> list[Path]:
        bundle = PaperBundle.model_validate_json((fetched / "bundle.json").read_text())
        atomic_write_json(out, parse.run(bundle, fetched, ctx.section("parse")))
        return [out]

    inputs = [ctx.store.output_hash("fetch"), ctx.section("parse"), code_version("parse")]
    step(ctx, "parse", hash_obj(inputs), produce)


def llm_client(ctx: Context) -> LLMClient | None:
    """The paper's LLM client from the `llm` group (None for llm=none); calls are logged beside its results."""
    settings = LLMSettings.from_config(ctx.section("llm"))
    return make_client(settings, ctx.store.results, resolve_path(ctx.cfg, "cache"))


def llm_inputs(ctx: Context) -> list[Any]:
    """What an LLM-backed stage's output depends on besides its own inputs: the backend and the prompts."""
    return [ctx.section("llm"), prompts_version()]


def do_extract(ctx: Context) -> None:
    doc_path = ctx.store.stage_dir("parse") / "paperdoc.json"
    extractor_cfg = {**ctx.section("extractor"), "hparams": ctx.section("hparams")}
    if ctx.section("search"):  # a trial of hparams_search: a value no part of the model reads is dropped, not refused
        extractor_cfg["hparams_search"] = True
    if ctx.section("search").get("open_only"):  # a search over what the paper leaves open: stated values stay
        extractor_cfg["hparams_open_only"] = True
    uses_llm = extractor_cfg.get("name") == "llm"

    def produce() -> list[Path]:
        doc = PaperDoc.model_validate_json(doc_path.read_text())
        client = llm_client(ctx) if uses_llm else None
        atomic_write_text(ctx.spec_path, dump_spec(extract.run(doc, extractor_cfg, client)))
        return [ctx.spec_path]

    def hand_edited_spec_is_valid() -> bool:
        ctx.spec()  # raises a one-line UserError when the edit broke the schema
        return True

    inputs = [ctx.store.output_hash("parse"), extractor_cfg, code_version("extract"),
              *(llm_inputs(ctx) if uses_llm else [])]
    step(ctx, "extract", hash_obj(inputs), produce, accept_edits=hand_edited_spec_is_valid)


def fill_in(ctx: Context, spec: MethodSpec) -> FillIn | None:
    """What render needs to have the spec's custom parts written by the LLM; None without parts or an LLM."""
    client = llm_client(ctx) if spec.custom else None
    if client is None:
        return None
    from paper_autotrain.stages.render.fill import FillIn  # the gates load only when there is code to check

    return FillIn(client=client, split=ctx.split(), report_path=ctx.store.generated / "fill_report.json",
                  attempts=fill_attempts(ctx), gate_settings=ctx.section("validate"),
                  candidates=candidate_settings(ctx))


def candidate_settings(ctx: Context) -> CandidateSettings:
    """extractor.candidates and candidate_epochs (conf/extractor/llm.yaml): how many drafts, how they are ranked."""
    from paper_autotrain.stages.render.candidates import CandidateSettings

    return CandidateSettings.from_config(ctx.section("extractor"), ctx.section("trainer"), ctx.section("eval"))


def fill_attempts(ctx: Context) -> int:
    """extractor.fill_attempts (conf/extractor/llm.yaml), else the fill-in's default."""
    from paper_autotrain.stages.render.fill import DEFAULT_FILL_ATTEMPTS

    return int(ctx.section("extractor").get("fill_attempts") or DEFAULT_FILL_ATTEMPTS)


def render_config(ctx: Context) -> dict[str, str]:
    return {"templates_dir": str(TEMPLATES_DIR), "fidelity": str(ctx.cfg.get("fidelity") or "strict")}


def do_render(ctx: Context) -> None:
    folder = ctx.store.generated
    spec = ctx.spec() if ctx.spec_path.exists() else None
    fills = bool(spec and spec.custom)  # the LLM writes code, checked by the gates on the split

    def produce() -> list[Path]:
        current = ctx.spec()
        files = render.run(current, render_config(ctx), fill_in(ctx, current))
        for name, text in files.items():
            atomic_write_text(folder / name, text)
        return [folder / name for name in files]

    inputs = [*ctx.spec_inputs(), render_config(ctx)["fidelity"],
              code_version("render"),
              *([*llm_inputs(ctx), ctx.section("validate"), fill_attempts(ctx), ctx.split().split_id,
                 candidate_settings(ctx).as_dict()] if fills else [])]
    step(ctx, "render", hash_obj(inputs), produce)


def do_validate(ctx: Context) -> None:
    out = ctx.store.stage_dir("validate") / "validation.json"

    def produce() -> list[Path]:
        atomic_write_json(out, validate.run(ctx.store.generated, ctx.split(), ctx.section("validate")))
        return [out]

    inputs = [ctx.store.output_hash("render"), ctx.split().split_id, ctx.section("validate"),
              code_version("validate")]
    step(ctx, "validate", hash_obj(inputs), produce)


def epoch_budget(ctx: Context) -> int:
    """The paper's epoch count, capped by trainer.max_epochs (and the family's cap on this device); shared by
    our model and the baselines."""
    trainer = ctx.section("trainer")
    spec = ctx.spec()
    budget = int(trainer.get("max_epochs", 100))
    family_cap = dict(trainer.get("family_max_epochs") or {}).get(spec.family)
    if family_cap is not None:
        budget = min(budget, int(family_cap))
    stated = spec.hp("epochs")
    return min(budget, int(stated)) if isinstance(stated, int | float) and stated > 0 else budget


def run_ranking(ctx: Context) -> str:
    """eval.ranking resolved for this run: full or sampled-N (`paper`: the spec's stated ranking). Sampled ranking
    where the spec's regime cannot rank sampled candidates is a UserError; `paper` then keeps full ranking."""
    if ctx._ranking is None:
        ctx._ranking = resolved_ranking(ctx)
    return ctx._ranking


def resolved_ranking(ctx: Context) -> str:
    spec = ctx.spec()
    paper = spec.protocol.ranking.value if spec.protocol.ranking else None
    ranking = resolve_ranking(ctx.section("eval").get("ranking"), paper)
    regime = spec_regime(spec)
    if ranking == FULL_RANKING or regime.sampled_ranking:
        return ranking
    if asks_paper(ctx.section("eval").get("ranking")):
        log.warning("eval.ranking=paper: the paper ranks %s, but the %s regime has full ranking only", ranking,
                    regime.name)
        return FULL_RANKING
    raise UserError(f"eval.ranking={ranking}: {spec.family} models ({regime.name} regime) score labelled rows and "
                    "rank no items, so they have no sampled ranking; use eval.ranking=full")


def paper_split(ctx: Context) -> str | None:
    """eval.ranking=paper takes the paper's split as well where the spec states one leave-one-out split and the
    spec's regime cuts its split as dataset.split says (Regime.configured_split): that statement; None otherwise
    (another or no statement, one per dataset, or a regime with a split of its own: the sequences are leave-one-out
    already)."""
    if not asks_paper(ctx.section("eval").get("ranking")):
        return None
    spec = ctx.spec()
    stated = spec.protocol.split.value if spec.protocol.split else ""
    offline = [part for part in stated.split("; ") if part and not part.startswith("online")]
    if len(offline) != 1 or not offline[0].startswith("leave-one-out") or not spec_regime(spec).configured_split:
        return None
    return offline[0]


def with_papers_split(dataset: Mapping[str, Any], stated: str) -> dict[str, Any]:
    """The dataset section with the paper's leave-one-out split: its latest interaction tested means time order."""
    split = {**dict(dataset.get("split") or {}), "leave_one_out": True}
    if "latest" in stated:
        split["order"] = "TO"
    return {**dataset, "split": split}


def trainer_config(ctx: Context) -> dict[str, Any]:
    trainer = ctx.section("trainer")
    trainer.pop("family_max_epochs", None)
    seeds = run_seeds(ctx.cfg)
    return {**trainer, "max_epochs": epoch_budget(ctx), "seed": seeds[0], "seeds": seeds,
            "ranking": run_ranking(ctx),  # full or sampled-N: our model and the baselines rank alike
            "logger": ctx.section("logger")}  # our model's Lightning logger (logger=csv|tensorboard|mlflow)


def do_train(ctx: Context) -> None:
    final = ctx.store.stage_dir("train")
    trainer = trainer_config(ctx)

    def produce() -> list[Path]:
        with staged_dir(final) as staging:  # a failed training keeps its logs in train.failed/
            results = train.run_seeds(ctx.store.generated, ctx.split(), trainer, trainer["seeds"], staging)
            atomic_write_json(staging / "results.json", [r.model_dump(mode="json") for r in results])
            atomic_write_json(staging / "result.json", results[0])  # the first seed's run, as with a single seed
        train.record_in_mlflow(trainer, final, results)  # logger=mlflow: outside the sandbox, in the final folder
        per_seed = [train.seed_dir(final, seed) / name for seed in trainer["seeds"]
                    for name in ("result.json", "per_user_test.npz", "history.csv")]
        return [final / "result.json", final / "results.json", *(p for p in per_seed if p.is_file())]

    inputs = [ctx.store.output_hash("render"), ctx.split().split_id, trainer,
              code_version("train")]
    step(ctx, "train", hash_obj(inputs), produce)


def baseline_config(ctx: Context) -> dict[str, Any]:
    trainer = trainer_config(ctx)
    spec = ctx.spec()
    regime = spec_regime(spec)  # the split's regime: RecBole reads the same benchmark files
    return {
        **regime.split_settings(spec),  # e.g. the sequences' max_seq_length, RecBole's history length
        "regime": regime.name,
        "models": baseline_models(ctx),
        "max_epochs": trainer["max_epochs"],
        "patience": int(trainer.get("patience", 10)),
        "seed": trainer["seed"],
        "seeds": trainer["seeds"],
        "ks": list(ctx.section("eval").get("ks", [10, 20])),
        "ranking": trainer["ranking"],
        "valid_metric": "NDCG@10",
        "device": "cuda" if str(trainer.get("accelerator")) in ("gpu", "cuda") else "cpu",
        "timeout_s": int(trainer.get("timeout_s", 3600)),
    }


def baseline_models(ctx: Context) -> dict[str, Any]:
    """The `baselines` section's models (name -> RecBole overrides), without the stage's own settings (n_jobs)."""
    return {name: value for name, value in ctx.section("baselines").items() if name not in baselines.STAGE_KEYS}


def do_baselines(ctx: Context) -> None:
    final = ctx.store.stage_dir("baselines")
    bcfg = baseline_config(ctx)  # n_jobs is not in it: the numbers do not depend on it, nor does the stage's hash
    n_jobs = ctx.section("baselines").get("n_jobs", 1)

    def produce() -> list[Path]:
        with staged_dir(final) as staging:  # each runner's stderr in logs/ while it runs (and after)
            results = baselines.run(ctx.spec(), ctx.split(), bcfg, resolve_path(ctx.cfg, "cache") / "baselines",
                                    per_user_dir=staging / "per_user",  # per-user test values, for the paired test
                                    history_dir=staging / "history",  # per-epoch history, for the report's curves
                                    log_dir=staging / "logs", n_jobs=n_jobs)
            atomic_write_json(staging / "results.json", [r.model_dump(mode="json") for r in results])
        return [final / "results.json", *sorted((final / "per_user").glob("*.npz")),
                *sorted((final / "history").glob("*.csv"))]

    inputs = [*ctx.spec_inputs(), ctx.split().split_id, bcfg, code_version("baselines")]
    step(ctx, "baselines", hash_obj(inputs), produce)


def trained_runs(train_dir: Path) -> list[RunResult]:
    """Our model's runs, one per seed (results.json), or the single run of an older train folder."""
    many = train_dir / "results.json"
    if many.exists():
        return [RunResult.model_validate(r) for r in json.loads(many.read_text())]
    return [RunResult.model_validate_json((train_dir / "result.json").read_text())]


def run_files(train_dir: Path, baselines_dir: Path, ours: list[RunResult], others: list[RunResult]) -> compare.RunFiles:
    """The per-user test values and the training histories (ours, the baselines') beside the runs (missing ones
    are left out)."""
    per_user = {compare.run_key(r): train.seed_dir(train_dir, r.seed) / "per_user_test.npz" for r in ours}
    per_user |= {compare.run_key(r): baselines_dir / "per_user" / baselines.per_user_name(r.model, r.seed)
                 for r in others}
    histories = {r.seed: train.seed_dir(train_dir, r.seed) / "history.csv" for r in ours}
    curves = {compare.run_key(r): baselines_dir / "history" / baselines.history_name(r.model, r.seed) for r in others}
    return compare.RunFiles.read(per_user, histories, curves)


def compare_config(ctx: Context) -> dict[str, Any]:
    """The evaluation settings, and the command line that reproduces the run (the report prints it)."""
    command = ctx.cfg.get("command")
    stated = paper_split(ctx)
    return {**ctx.section("eval"), "ranking": run_ranking(ctx), **({"command": str(command)} if command else {}),
            **({"split_from_paper": stated} if stated else {})}


def do_compare(ctx: Context) -> None:
    results_dir = ctx.store.results
    train_dir, baselines_dir = ctx.store.stage_dir("train"), ctx.store.stage_dir("baselines")

    def produce() -> list[Path]:
        reproduced = trained_runs(train_dir)
        others = [RunResult.model_validate(r) for r in json.loads((baselines_dir / "results.json").read_text())]
        files = compare.run(ctx.spec(), reproduced, others, ctx.split(), compare_config(ctx),
                            run_files(train_dir, baselines_dir, reproduced, others))
        for name, text in files.items():
            atomic_write_text(results_dir / name, text)
        return [results_dir / name for name in files]

    inputs = [ctx.store.output_hash("train"), ctx.store.output_hash("baselines"), *ctx.spec_inputs(),
              compare_config(ctx), code_version("compare")]
    step(ctx, "compare", hash_obj(inputs), produce)


STEPS: dict[str, Callable[[Context], None]] = {
    "fetch": do_fetch, "parse": do_parse, "extract": do_extract, "render": do_render,
    "validate": do_validate, "train": do_train, "baselines": do_baselines, "compare": do_compare,
}


@contextlib.contextmanager
def nothing_half_written(store: ArtifactStore) -> Iterator[None]:
    """A first run that fails on bad input leaves no folders behind for that paper."""
    fresh = [p for p in (store.generated, store.results) if not p.exists()]
    try:
        yield
    except UserError:
        for path in fresh:
            shutil.rmtree(path, ignore_errors=True)
        raise


@dataclass
class Outcome:
    key: str
    last_stage: str
    skipped: list[str]
    timings: dict[str, float]
    report: Path | None
    spec: Path
    summary: Path | None = None  # the run in one line (compare's SUMMARY_FILE), when it went through compare
    valid_main: float | None = None  # our model's validation main metric, mean over seeds (a search's objective)


def check_device(cfg: Mapping) -> None:
    accelerator = str(dict(cfg.get("trainer") or {}).get("accelerator", "cpu"))
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError("trainer.accelerator=gpu but no CUDA device is visible; use trainer=cpu")


def run(cfg: Mapping[str, Any]) -> Outcome:
    """Run the pipeline for `cfg['paper']` as far as `until`; the run and its stages go into the ledger."""
    source = str(cfg.get("paper") or "").strip()
    if not source:
        raise UserError("no paper given: python -m paper_autotrain PATH/TO/paper.pdf [overrides]")
    until = str(cfg.get("until") or "compare")
    recorder = RunRecorder.begin(resolve_path(cfg, "results"), cfg, source, record_key(source),
                                 UNTIL_ALIASES.get(until, until))
    store: ArtifactStore | None = None
    try:
        plan = Plan.from_config(cfg)
        check_run_settings(cfg)
        if plan.until >= STAGES.index("validate"):
            check_device(cfg)
        key = fetch.paper_key_for(source)
        store = ArtifactStore(resolve_path(cfg, "root"), resolve_path(cfg, "generated"), resolve_path(cfg, "results"),
                              key, job=None if cfg.get("job") is None else str(cfg["job"]))
        ctx = Context(cfg=cfg, store=store, plan=plan, source=source, recorder=recorder)
        # the lock first: a refused second run must not clean up what the first one is writing
        with store.exclusive(float(cfg.get("lock_wait_s") or 0)), nothing_half_written(store):
            for stage in STAGES[: plan.until + 1]:
                run_stage(ctx, stage)
            if plan.until == len(STAGES) - 1:
                check_finished(store)
    except BaseException as exc:
        recorder.failed(exc, store)
        raise
    recorder.succeeded(store)
    report = store.results / "report.md"
    finished = plan.until == len(STAGES) - 1
    return Outcome(key=key, last_stage=STAGES[plan.until], skipped=ctx.skipped, timings=ctx.timings,
                   report=report if finished else None, spec=ctx.spec_path,
                   summary=store.results / compare.SUMMARY_FILE if finished else None,
                   valid_main=valid_main(ctx) if plan.until >= STAGES.index("train") else None)


def valid_main(ctx: Context) -> float | None:
    """Our model's validation main metric (the one the comparison judges: AUC for CTR, else eval.main_metric),
    mean over its seeds: what a hyperparameter search maximises. Never the test metric. None when no seed has it."""
    metric = compare.main_metric(ctx.spec(), ctx.section("eval"))
    values = []
    for run in trained_runs(ctx.store.stage_dir("train")):
        value = run.valid.get(metric)
        if value is not None and math.isfinite(value):
            values.append(float(value))
    return sum(values) / len(values) if values else None


def check_finished(store: ArtifactStore) -> None:
    """Success means a trained model, evaluated numbers and a written table: checked here, never assumed."""
    try:
        runs = trained_runs(store.stage_dir("train"))
    except (OSError, ValueError) as exc:
        raise StageError(f"compare: no readable training result in {store.stage_dir('train')} ({exc}); "
                         "rerun to train again") from None
    unscored = [run.seed for run in runs if not run.test or not all(math.isfinite(v) for v in run.test.values())]
    if unscored:
        raise StageError(f"compare: our model's test metrics are missing or not finite (seed {unscored}); "
                         "the run is not reported as a success")
    report = store.results / "report.md"
    if not report.is_file() or "|" not in report.read_text(encoding="utf-8"):
        raise StageError(f"compare: {report} holds no comparison table; rerun to write it")


def run_stage(ctx: Context, stage: str) -> None:
    """One stage; whatever it raises carries the stage's name (errors.stage_of) for the failure class."""
    try:
        STEPS[stage](ctx)
    except BaseException as exc:
        tag_stage(exc, stage)
        raise
