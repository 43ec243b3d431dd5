"""Speed benchmark: each reproduced model trained our way and RecBole's way, side by side, on one split.

usage: python scripts/bench.py [--models BPR,NeuMF] [--epochs 3] [--sequential-epochs 1] [--repeats 3]
                               [--out results/bench] [--datasets-root datasets] [--as-shipped]
                               [--set embedding_size=16 kgat_propagation.attention=epoch ...]

For every model: take its spec (the reference architecture of tests/model_fixtures.py `reference_spec`, or, for the
classics of issues 19 and 20, the model's fixture paper of tests/test_*_papers.py read by the rules extractor as a
PDF; `--set` overrides stated values or sets a block's structural word on every model), render it into model.py
and train it with the train stage (the sandboxed `paper_autotrain.worker.train`), and train the RecBole model the
references map it to (stages/references) with the baselines stage's runner, with the same hyperparameters, epochs
and saved split (ML-100K from conf/dataset/ml-100k.yaml, in the spec's data regime, as the pipeline cuts it).
Runs are interleaved, ours then RecBole's (then RecBole's as shipped with --as-shipped), `--repeats` times,
each in a fresh process. Writes OUT/bench.json (a list, one object per model) and OUT/bench.md (a table),
rewritten after every model so a long run leaves what it has measured.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import import_module, metadata
from pathlib import Path
from typing import Any

import yaml

from paper_autotrain.errors import StageError
from paper_autotrain.regimes import spec_regime
from paper_autotrain.sandbox.subprocesses import subprocess_env
from paper_autotrain.schemas import MethodSpec, SplitInfo
from paper_autotrain.stages import baselines, render
from paper_autotrain.stages import train as train_stage
from paper_autotrain.stages.baselines.references import reference_with_notes
from paper_autotrain.stages.baselines.runner import AS_SHIPPED_ENV

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the reference specs live in tests/
from tests.fixture_papers import parse_values, spec_of, with_settings  # noqa: E402
from tests.model_fixtures import reference_spec  # noqa: E402

log = logging.getLogger("bench")

REPO = Path(__file__).resolve().parents[1]
DATASET_CFG = REPO / "paper_autotrain" / "conf" / "dataset" / "ml-100k.yaml"
TRAINER_CFG = REPO / "paper_autotrain" / "conf" / "trainer" / "cpu.yaml"
# RecBole's name -> the reference architecture our side renders, in bench order (sequential last: slowest)
MODELS: dict[str, str] = {
    "BPR": "MF-BPR", "NeuMF": "NeuMF", "LightGCN": "LightGCN",
    "MultiVAE": "Mult-VAE", "MultiDAE": "Mult-DAE", "CDAE": "CDAE",
    "LR": "LR", "FM": "FM", "WideDeep": "WideDeep", "DeepFM": "DeepFM", "DCN": "DCN", "NFM": "NFM", "AFM": "AFM",
    "FwFM": "FwFM",
    "xDeepFM": "xDeepFM", "AutoInt": "AutoInt", "DCNV2": "DCNV2", "PNN": "PNN", "FFM": "FFM",
    "FNN": "FNN",
    "GRU4Rec": "GRU4Rec", "Caser": "Caser", "SASRec": "SASRec",
    "EASE": "EASE", "ItemKNN": "ItemKNN", "SLIMElastic": "SLIM",  # fitted once: s/epoch is seconds per fit
}
# the classics of issues 19 and 20 with no reference architecture: each read from its fixture paper (the module's
# PAPERS, keyed by RecBole's name), in bench order; the parity scripts run the same papers end to end
PAPER_MODULES = ("tests.test_classic_papers", "tests.test_similarity_papers", "tests.test_graph_papers",
                 "tests.test_graph_ssl_papers", "tests.test_knowledge_papers", "tests.test_behaviour_papers",
                 "tests.test_transrec_papers", "tests.test_session_papers", "tests.test_feature_sequence_papers",
                 "tests.test_bert_graph_session_papers")
KS = (10, 20)
OURS, RECBOLE, AS_SHIPPED = "ours", "recbole", "recbole_as_shipped"
WORKER_REPORT = "bench_worker.json"


@dataclass(frozen=True)
class Settings:
    epochs: int = 3
    sequential_epochs: int = 1
    repeats: int = 3
    as_shipped: bool = False
    seed: int = 0
    timeout_s: float = 3600.0

    values: tuple[tuple[str, Any], ...] = ()  # --set: stated values overridden on every model's spec

    def epochs_for(self, family: str) -> int:
        return self.sequential_epochs if family == "sequential" else self.epochs


@dataclass
class Case:
    """One model to benchmark: our spec, RecBole's name and config for it, the split both train on."""

    model: str  # RecBole's name
    spec: MethodSpec
    split: SplitInfo
    epochs: int
    recbole_overrides: dict[str, Any]
    notes: list[str]

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def regime(self) -> str:
        return spec_regime(self.spec).name

    @property
    def fitted(self) -> bool:
        """Fitted once on the train split (the fit regime): its one 'epoch' is the fit."""
        return render.own_regime(self.spec, render.base_for(self.spec)) is not None

    @property
    def metric(self) -> str:
        return "auc" if self.spec.task == "ctr" else f"ndcg@{KS[0]}"


@dataclass
class Sample:
    """One training run of one side: per-epoch seconds, the test metric, the training process's peak memory."""

    side: str
    repeat: int
    epoch_train_s: list[float] = field(default_factory=list)
    epoch_eval_s: list[float] = field(default_factory=list)
    metric: float | None = None
    peak_mb: float | None = None
    wall_s: float | None = None  # the training process from start to exit (imports, data, fit, final scoring)
    cpu_s: float | None = None  # that process's CPU seconds (user + system): what other jobs' load barely moves
    final_eval_s: float | None = None  # valid + test scored by our evaluator after fit
    anomaly_detection: bool | None = None  # RecBole's runs: whether torch's anomaly detection was on
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.epoch_train_s)

    @property
    def s_per_epoch(self) -> float:
        return statistics.median(self.epoch_train_s)

    @property
    def eval_s(self) -> float | None:
        return statistics.median(self.epoch_eval_s) if self.epoch_eval_s else None


# --- the cases --------------------------------------------------------------------------------------------

@cache
def paper_models() -> dict[str, list[list[str]]]:
    """RecBole's name -> the pages of the model's fixture paper, for the models without a reference architecture."""
    pages = {name: paper[0] for module in PAPER_MODULES for name, paper in import_module(module).PAPERS.items()}
    return {name: text for name, text in pages.items() if name not in MODELS}


def all_models() -> list[str]:
    return [*MODELS, *paper_models()]


def canonical_model(name: str) -> str:
    """RecBole's name for a model given as RecBole's or the reference architecture's name (any case)."""
    for recbole_name in all_models():
        if name.lower() in (recbole_name.lower(), MODELS.get(recbole_name, recbole_name).lower()):
            return recbole_name
    raise ValueError(f"unknown model {name!r} (known: {', '.join(all_models())})")


def model_spec(model: str, values: Sequence[tuple[str, Any]] = ()) -> MethodSpec:
    """The spec benchmarked for `model`: its reference architecture, or its fixture paper read as a PDF."""
    model = canonical_model(model)
    if model in MODELS:
        spec = reference_spec(MODELS[model])
    else:
        with tempfile.TemporaryDirectory(prefix="bench-paper-") as folder:
            spec = spec_of(Path(folder), paper_models()[model])
    return with_settings(spec, values)


def model_family(model: str) -> str:
    return model_spec(model).family


def prepare_data(spec: MethodSpec, dataset_cfg: Mapping[str, Any], datasets_root: Path) -> SplitInfo:
    """The saved split in the spec's data regime, as the pipeline's Context.split() prepares it."""
    return spec_regime(spec).prepare(dataset_cfg, datasets_root, spec)


def make_case(model: str, split: SplitInfo, settings: Settings, spec: MethodSpec | None = None) -> Case:
    model = canonical_model(model)
    spec = spec or model_spec(model, settings.values)
    reference = reference_with_notes(spec)
    mapped = reference[0] if reference is not None else None
    if reference is None or mapped != model:
        raise ValueError(f"{spec.model_name} maps to RecBole's {mapped!r}, not {model}")
    return Case(model=model, spec=spec, split=split, epochs=settings.epochs_for(spec.family),
                recbole_overrides=reference[1], notes=reference[2])


def trainer_cfg(case: Case, settings: Settings) -> dict[str, Any]:
    """The train stage's cfg: conf/trainer/cpu.yaml with our epochs, and patience that never stops early."""
    trainer = yaml.safe_load(TRAINER_CFG.read_text(encoding="utf-8")) or {}
    trainer.pop("family_max_epochs", None)
    return {**trainer, "max_epochs": case.epochs, "patience": case.epochs + 10, "seed": settings.seed,
            "timeout_s": settings.timeout_s}


def baseline_cfg(case: Case, settings: Settings) -> dict[str, Any]:
    """The baselines stage's cfg, as pipeline.baseline_config builds it."""
    regime = spec_regime(case.spec)  # as pipeline.baseline_config: RecBole reads the same benchmark files
    return {**regime.split_settings(case.spec), "regime": regime.name, "max_epochs": case.epochs,
            "patience": case.epochs + 10, "seed": settings.seed, "ks": list(KS), "valid_metric": "NDCG@10",
            "device": "cpu", "timeout_s": settings.timeout_s}


# --- one run of each side -----------------------------------------------------------------------------

def render_model(case: Case, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render.run(case.spec, {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def read_history(path: Path) -> tuple[list[float], list[float]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [float(r["train_s"]) for r in rows], [float(r["eval_s"]) for r in rows]


def run_ours(case: Case, model_dir: Path, out: Path, settings: Settings, repeat: int) -> Sample:
    """The train stage in a worker process, whose only child is the sandboxed training process (its peak RSS)."""
    out.mkdir(parents=True, exist_ok=True)
    request = {"model_dir": str(model_dir), "split": case.split.model_dump(mode="json"),
               "cfg": trainer_cfg(case, settings), "out": str(out / "run")}
    request_path = out / "request.json"
    request_path.write_text(json.dumps(request, indent=1), encoding="utf-8")
    command = [sys.executable, str(Path(__file__).resolve()), "--ours-worker", str(request_path)]
    proc = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, check=False,
                          timeout=settings.timeout_s + 120)
    sample = Sample(side=OURS, repeat=repeat)
    try:
        report = json.loads((out / WORKER_REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        sample.error = f"the worker wrote no report (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
        return sample
    if report.get("status") != "ok":
        sample.error = str(report.get("error") or "failed")
        return sample
    result = json.loads((out / "run" / "result.json").read_text(encoding="utf-8"))
    sample.epoch_train_s, sample.epoch_eval_s = read_history(out / "run" / "history.csv")
    if case.fitted:  # no epochs: the fit's seconds
        sample.epoch_train_s = [float(result["train_time_s"])]
    sample.metric = result["test"].get(case.metric)
    sample.final_eval_s = result.get("eval_time_s")
    sample.peak_mb, sample.wall_s, sample.cpu_s = report["peak_rss_mb"], report["wall_s"], report.get("cpu_s")
    return sample


def ours_worker(request_path: Path) -> int:
    """Run the train stage for bench.py and report the training process's peak RSS (our only reaped child)."""
    request = json.loads(request_path.read_text(encoding="utf-8"))
    report: dict[str, Any] = {"status": "ok"}
    started = time.perf_counter()
    try:
        train_stage.run(Path(request["model_dir"]), SplitInfo.model_validate(request["split"]), request["cfg"],
                        Path(request["out"]))
    except StageError as exc:
        report = {"status": "failed", "error": str(exc)}
    report["wall_s"] = round(time.perf_counter() - started, 3)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["peak_rss_mb"] = round(children.ru_maxrss / 1024.0, 1)
    report["cpu_s"] = round(children.ru_utime + children.ru_stime, 3)
    (request_path.parent / WORKER_REPORT).write_text(json.dumps(report), encoding="utf-8")
    return 0 if report["status"] == "ok" else 1


@contextmanager
def environment(name: str, value: str | None) -> Iterator[None]:
    """os.environ[name] = value (None: unset) for the block; subprocess_env() copies os.environ."""
    before = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def run_recbole(case: Case, settings: Settings, repeat: int, as_shipped: bool = False) -> Sample:
    """RecBole's model through the baselines stage's runner (a fresh process), at its fair best or as shipped."""
    cfg = baseline_cfg(case, settings)
    config = baselines.recbole_config(case.recbole_overrides, cfg)
    with environment(AS_SHIPPED_ENV, "1" if as_shipped else None):
        result = baselines.run_model(case.model, config, case.split, cfg)
    sample = Sample(side=AS_SHIPPED if as_shipped else RECBOLE, repeat=repeat)
    if result.status != "ok":
        sample.error = result.error or "failed"
        return sample
    facts = result.config
    sample.epoch_train_s = [float(s) for s in facts.get("epoch_train_s", [])]
    if case.fitted:  # RecBole's fitted classes fit in their constructor, then pass one epoch of a fake loss
        sample.epoch_train_s = [float(facts.get("build_time_s", 0.0)) + sum(sample.epoch_train_s)]
    sample.epoch_eval_s = [float(s) for s in facts.get("epoch_valid_s", [])]
    sample.metric = result.test.get(case.metric)
    sample.final_eval_s = result.eval_time_s
    sample.peak_mb, sample.wall_s = facts.get("peak_rss_mb"), facts.get("wall_time_s")
    sample.cpu_s = facts.get("cpu_s")
    sample.anomaly_detection = facts.get("anomaly_detection")
    if as_shipped != bool(facts.get("as_shipped")):
        sample.error = "the runner did not take the as-shipped switch"
    return sample


def run_case(case: Case, settings: Settings, workdir: Path) -> list[Sample]:
    """Interleaved runs: ours, RecBole's (, RecBole's as shipped), `repeats` times."""
    model_dir = render_model(case, workdir / "model")
    samples: list[Sample] = []
    for repeat in range(settings.repeats):
        runs = [lambda r=repeat: run_ours(case, model_dir, workdir / f"ours-{r}", settings, r),
                lambda r=repeat: run_recbole(case, settings, r)]
        if settings.as_shipped:
            runs.append(lambda r=repeat: run_recbole(case, settings, r, as_shipped=True))
        for run in runs:
            sample = run()
            log.info("%s %s #%d: %s", case.model, sample.side, repeat + 1, describe(sample))
            samples.append(sample)
    return samples


def describe(sample: Sample) -> str:
    if not sample.ok:
        return f"failed: {sample.error}"
    return (f"{sample.s_per_epoch:.3f} s/epoch, eval {sample.eval_s or 0:.3f} s, metric {sample.metric}, "
            f"peak {sample.peak_mb} MB, wall {sample.wall_s} s, CPU {sample.cpu_s} s")


# --- summary ------------------------------------------------------------------------------------------

def median_of(values: Sequence[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def paired_ratio(samples: Sequence[Sample], side: str, value: str) -> float | None:
    """Median over repeats of side's value / ours in the same repeat (> 1: ours is faster)."""
    ours = {s.repeat: getattr(s, value) for s in samples if s.side == OURS and s.ok}
    theirs = {s.repeat: getattr(s, value) for s in samples if s.side == side and s.ok}
    ratios = [theirs[r] / ours[r] for r in ours.keys() & theirs.keys() if ours[r] and theirs[r] is not None]
    return round(statistics.median(ratios), 3) if ratios else None


def side_stats(samples: Sequence[Sample], side: str) -> dict[str, float | None]:
    done = [s for s in samples if s.side == side and s.ok]
    return {
        "s_per_epoch": median_of([s.s_per_epoch for s in done]),
        "eval_s": median_of([s.eval_s for s in done]),
        "metric": median_of([s.metric for s in done]),
        "peak_mb": median_of([s.peak_mb for s in done]),
        "wall_s": median_of([s.wall_s for s in done]),
        "final_eval_s": median_of([s.final_eval_s for s in done]),
        "cpu_s": median_of([s.cpu_s for s in done]),
    }


def summarise(case: Case, samples: Sequence[Sample], settings: Settings, machine: Mapping[str, Any]
              ) -> dict[str, Any]:
    """One bench.json object: medians over repeats per side, paired ratios, the raw runs."""
    ours, theirs = side_stats(samples, OURS), side_stats(samples, RECBOLE)
    row: dict[str, Any] = {"model": case.model, "spec_model": case.spec.model_name, "family": case.family,
                           "regime": case.regime, "metric": case.metric, "dataset": case.split.dataset,
                           "split_id": case.split.split_id, "epochs": case.epochs, "repeats": settings.repeats}
    for name in ("s_per_epoch", "eval_s", "metric", "peak_mb", "wall_s", "final_eval_s", "cpu_s"):
        row[f"ours_{name}"], row[f"recbole_{name}"] = ours[name], theirs[name]
    row["ratio_train"] = paired_ratio(samples, RECBOLE, "s_per_epoch")
    row["ratio_eval"] = paired_ratio(samples, RECBOLE, "eval_s")
    row["metric_delta_pct"] = (round(100.0 * (ours["metric"] - theirs["metric"]) / theirs["metric"], 2)
                               if ours["metric"] is not None and theirs["metric"] else None)
    if settings.as_shipped:
        shipped = side_stats(samples, AS_SHIPPED)
        row["recbole_as_shipped_s_per_epoch"] = shipped["s_per_epoch"]
        row["recbole_as_shipped_eval_s"] = shipped["eval_s"]
        row["ratio_train_as_shipped"] = paired_ratio(samples, AS_SHIPPED, "s_per_epoch")
    row["errors"] = [f"{s.side} #{s.repeat + 1}: {s.error}" for s in samples if s.error]
    row["recbole_config"] = case.recbole_overrides
    row["reference_notes"] = case.notes
    row.update(machine)
    row["runs"] = [asdict(s) for s in samples]
    return row


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def machine_info() -> dict[str, Any]:
    import torch

    threads = os.environ.get("OMP_NUM_THREADS", "").strip()  # the children read it when torch starts
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpu_count": os.cpu_count(),
            "torch_threads": int(threads) if threads.isdigit() else torch.get_num_threads(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "platform": platform.platform(), "python": platform.python_version(), "torch": version("torch"),
            "lightning": version("lightning"), "recbole": version("recbole")}


# --- output -------------------------------------------------------------------------------------------

def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    shipped = any("recbole_as_shipped_s_per_epoch" in r for r in rows)
    header = ["model", "family", "epochs", "s/epoch ours", "s/epoch RecBole", "× train"]
    if shipped:
        header += ["s/epoch RecBole as shipped", "× as shipped"]
    header += ["eval s ours", "eval s RecBole", "× eval", "metric", "ours", "RecBole", "Δ %",
               "peak MB ours", "peak MB RecBole", "CPU s ours", "CPU s RecBole"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["model"], r["family"], str(r["epochs"]), fmt(r["ours_s_per_epoch"], 3),
                 fmt(r["recbole_s_per_epoch"], 3), ratio(r["ratio_train"])]
        if shipped:
            cells += [fmt(r.get("recbole_as_shipped_s_per_epoch"), 3), ratio(r.get("ratio_train_as_shipped"))]
        cells += [fmt(r["ours_eval_s"], 3), fmt(r["recbole_eval_s"], 3), ratio(r["ratio_eval"]), r["metric"],
                  fmt(r["ours_metric"], 4), fmt(r["recbole_metric"], 4), fmt(r["metric_delta_pct"], 1),
                  fmt(r["ours_peak_mb"], 0), fmt(r["recbole_peak_mb"], 0), fmt(r.get("ours_cpu_s"), 1),
                  fmt(r.get("recbole_cpu_s"), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    errors = [f"- {r['model']}: {e}" for r in rows for e in r["errors"]]
    return "\n".join([*lines, *(["", "Failed runs:", *errors] if errors else [])])


def how_measured(rows: Sequence[Mapping[str, Any]]) -> str:
    first = rows[0]
    shipped = any("recbole_as_shipped_s_per_epoch" in r for r in rows)
    return "\n".join([
        f"Measured {first['date']} on {first['platform']}: {first['cpu_count']} CPUs, torch {first['torch']} "
        f"with {first['torch_threads']} threads, Lightning {first['lightning']}, RecBole {first['recbole']}; "
        f"load average {first['load_avg_1m']} when the run started. Dataset {first['dataset']} "
        "(conf/dataset/ml-100k.yaml) in each spec's data regime; hyperparameters of the reference "
        "architecture (tests/model_fixtures.py `reference_spec`) or of the model's fixture paper "
        "(tests/test_*_papers.py, read by the rules extractor), mapped onto RecBole by "
        "stages/baselines/references.",
        "",
        "Per model, `repeats` rounds of: our rendered model through the train stage (sandboxed "
        "`paper_autotrain.worker.train`), then RecBole's model through the baselines stage's runner"
        + (", then RecBole again as shipped" if shipped else "") + "; every run a fresh process, validation "
        "every epoch, patience above the epoch count (no early stop).",
        "",
        "- **s/epoch**: the training pass of an epoch (ours: Lightning's epoch start to validation start; "
        "RecBole: `Trainer._train_epoch`), median over the run's epochs, then median over repeats.",
        "- Models fitted once (EASE, ItemKNN, SLIMElastic): **s/epoch** is the seconds of the fit, ours the "
        "fit on the train split, RecBole's its constructor (where it fits) plus its one fake-loss epoch.",
        "- **eval s**: the validation pass of an epoch, median likewise: full ranking of every item for each "
        "user (top-k, sequential) or AUC over the rows (context); ours with our evaluator inside Lightning's "
        "validation (checkpoint save included), RecBole with its own evaluator (`Trainer._valid_epoch`).",
        "- **×**: RecBole's seconds / ours in the same round, median over rounds (above 1: ours is faster).",
        "- **metric**: test metric of the best-valid checkpoint, both sides scored by our evaluator; after so few "
        "epochs neither has converged, so Δ % says both learn alike, not the parity figure.",
        "- **peak MB**: `ru_maxrss` of the training process (interpreter, imports, data and model).",
        "- **CPU s**: the training process's CPU seconds, user + system, start to exit (imports, data, every "
        "epoch, final scoring): unlike wall seconds, barely moved by other jobs sharing the cores.",
        "- Noise: torch starts one thread per core, so on a small machine one other busy process slows both "
        "sides several-fold (GRU4Rec: 20 s an epoch quiet, 165-200 s beside one busy process on 2 cores); "
        "compare ratios, run on a quiet machine, or pin `--threads`.",
        "- RecBole runs at its fair best: torch's anomaly detection (switched on process-wide when RecBole "
        "imports its SINE model) off, and denormals flushed to zero as our trainer does"
        + ("; *as shipped* leaves both as RecBole does." if shipped else
           "; `--as-shipped` also times it as RecBole ships."),
    ])


def write_outputs(rows: Sequence[Mapping[str, Any]], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "bench.json", out / "bench.md"
    json_path.write_text(json.dumps(list(rows), indent=1) + "\n", encoding="utf-8")
    text = f"# Speed: our generated models vs RecBole\n\n{markdown(rows)}\n\n{how_measured(rows)}\n"
    md_path.write_text(text, encoding="utf-8")
    return json_path, md_path


# --- entry point ----------------------------------------------------------------------------------------

def bench_model(model: str, split: SplitInfo, settings: Settings, workdir: Path,
                machine: Mapping[str, Any] | None = None, spec: MethodSpec | None = None) -> dict[str, Any]:
    """Render, run both sides interleaved and summarise one model on `split` (the script's core)."""
    case = make_case(model, split, settings, spec)
    samples = run_case(case, settings, workdir)
    return summarise(case, samples, settings, machine or machine_info())


def run_bench(models: Sequence[str], settings: Settings, out: Path, datasets_root: Path, workdir: Path,
              dataset_cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for model in models:
        started = time.perf_counter()
        spec = model_spec(model, settings.values).for_dataset(str(dataset_cfg.get("name") or ""))
        split = prepare_data(spec, dataset_cfg, datasets_root)
        rows.append(bench_model(model, split, settings, workdir / model, spec=spec))
        write_outputs(rows, out)
        log.info("%s done in %.0f s", model, time.perf_counter() - started)
    return rows


def parse_models(values: Sequence[str]) -> list[str]:
    names = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return [canonical_model(name) for name in names] or all_models()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[], help="comma- or space-separated (default: all: "
                        f"{','.join(MODELS)} and the classics' fixture papers)")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", dest="values",
                        help="override a stated hyperparameter on every model's spec (YAML value), e.g. "
                             "embedding_size=16, or a block's structural word, e.g. kgat_propagation.attention=epoch")
    parser.add_argument("--epochs", type=int, default=Settings.epochs, help="epochs per run (non-sequential)")
    parser.add_argument("--sequential-epochs", type=int, default=Settings.sequential_epochs)
    parser.add_argument("--repeats", type=int, default=Settings.repeats)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    parser.add_argument("--datasets-root", type=Path, default=Path("datasets"),
                        help="where the saved splits are computed once and reused")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the runs' folders here (default: a temporary folder, removed)")
    parser.add_argument("--as-shipped", action="store_true",
                        help="also time RecBole as shipped (anomaly detection on, denormals not flushed)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of every training process (OMP_NUM_THREADS, MKL_NUM_THREADS); "
                             "default: torch's own, one per core")
    parser.add_argument("--timeout-s", type=float, default=Settings.timeout_s, help="per training run")
    parser.add_argument("--ours-worker", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ours_worker is not None:
        return ours_worker(args.ours_worker)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    if args.threads:  # both sides' processes inherit our environment
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    settings = Settings(epochs=args.epochs, sequential_epochs=args.sequential_epochs, repeats=args.repeats,
                        as_shipped=args.as_shipped, timeout_s=args.timeout_s, values=parse_values(args.values))
    dataset_cfg = yaml.safe_load(DATASET_CFG.read_text(encoding="utf-8"))
    models = parse_models(args.models)
    started = time.perf_counter()
    if args.workdir is not None:
        run_bench(models, settings, args.out, args.datasets_root, args.workdir.resolve(), dataset_cfg)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            run_bench(models, settings, args.out, args.datasets_root, Path(tmp), dataset_cfg)
    print(f"{args.out / 'bench.md'} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
