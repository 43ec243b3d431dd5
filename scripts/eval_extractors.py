"""Parse and extract every PDF in PAPERS_DIR into OUT_DIR/X.yaml, then score them when the scorer is there.

usage: python scripts/eval_extractors.py PAPERS_DIR OUT_DIR [--extractor rules]
The scorer is looked for at PAPERS_DIR/../tools/score_specs.py (the shared development papers). Its summary is
printed for the whole, then for set A (the papers the extractor was developed on) and set B (the others) apart:
set B is the honest measure of generality. The sets are read from PAPERS_DIR/README.md when it lists them.
The scorer does not score the compared methods (`baselines_in_paper` against the annotation's `baselines`): this
script does, per set, on names as printed (case, spaces and punctuation other than "+" ignored).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import PaperBundle, PaperMeta
from paper_autotrain.stages import extract, parse

# Set A when the README does not say: the classics the template library was built on. Every other paper is set B.
SET_A = ("BPR", "NeuMF", "LightGCN", "MultiVAE", "SASRec", "GRU4Rec", "Caser", "FM", "DeepFM", "WideDeep")


def extract_one(pdf: Path, extractor: str) -> dict:
    bundle = PaperBundle(meta=PaperMeta(key=pdf.stem.lower(), source=str(pdf)), pdf=pdf.name)
    doc = parse.run(bundle, pdf.parent, {"max_pages": 60, "max_mb": 50})
    spec = extract.run(doc, {"name": extractor, "hparams": {}})
    return spec.model_dump(mode="json")


def readme_set_a(papers_dir: Path) -> tuple[str, ...] | None:
    """The papers of the README's "Set A" table ("| general | BPR, NeuMF |"); None when it has no such table."""
    readme = papers_dir / "README.md"
    if not readme.exists():
        return None
    section = re.search(r"\*\*Set A\b.*?(?=\*\*Set B\b|\Z)", readme.read_text(), re.S)
    if not section:
        return None
    names = []
    for line in section.group(0).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2 or set(cells[-1]) <= set("-: "):
            continue
        papers = re.sub(r"\([^)]*\)", "", cells[-1])  # "MultiVAE (Mult-VAE / Mult-DAE)"
        names += [name.strip() for name in papers.split(",") if name.strip()]
    known = {pdf.stem for pdf in papers_dir.glob("*.pdf")}
    names = [name for name in names if name in known]  # drops the header row ("papers")
    return tuple(names) or None


def paper_sets(papers_dir: Path) -> dict[str, list[str]]:
    """{"set A": [...], "set B": [...]} of the annotated papers (annotation stems)."""
    set_a = readme_set_a(papers_dir) or SET_A
    stems = sorted(p.stem for p in papers_dir.glob("*.yaml"))
    return {"set A": [s for s in stems if s in set_a], "set B": [s for s in stems if s not in set_a]}


def run_scorer(scorer: Path, gt_dir: Path, out_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(scorer), str(gt_dir), str(out_dir)], capture_output=True, text=True, check=False
    )


def summary_line(stdout: str) -> str:
    return next((line for line in reversed(stdout.splitlines()) if line.startswith("SUMMARY")), "SUMMARY (none)")


def score_sets(scorer: Path, papers_dir: Path, out_dir: Path) -> int:
    """The whole score, then each set's summary, scored on a temporary folder of that set's annotations."""
    whole = run_scorer(scorer, papers_dir, out_dir)
    print(whole.stdout, end="")
    print(whole.stderr, end="", file=sys.stderr)
    lines = [f"{'whole':6} ({len(list(papers_dir.glob('*.yaml')))} annotations) {summary_line(whole.stdout)}"]
    for label, stems in paper_sets(papers_dir).items():
        with tempfile.TemporaryDirectory() as folder:
            for stem in stems:
                shutil.copy(papers_dir / f"{stem}.yaml", Path(folder) / f"{stem}.yaml")
            result = run_scorer(scorer, Path(folder), out_dir)
        print(result.stderr, end="", file=sys.stderr)
        lines.append(f"{label:6} ({', '.join(stems)}) {summary_line(result.stdout)}")
        lines.append(f"{label:6} {baselines_line(papers_dir, out_dir, stems)}")
    print("\n".join(lines))
    return whole.returncode


def printed(name: str) -> str:
    return re.sub(r"[^a-z0-9+]", "", str(name).lower())


def baselines_line(papers_dir: Path, out_dir: Path, stems: list[str]) -> str:
    """Recall and precision of the compared methods read, over the set's papers with a spec."""
    hits = annotated = read = 0
    for stem in stems:
        spec_file = out_dir / f"{stem}.yaml"
        if not spec_file.exists():
            continue
        truth = {printed(n) for n in yaml.safe_load((papers_dir / f"{stem}.yaml").read_text()).get("baselines") or []}
        found = {printed(b["name"]) for b in yaml.safe_load(spec_file.read_text()).get("baselines_in_paper") or []}
        hits, annotated, read = hits + len(truth & found), annotated + len(truth), read + len(found)
    return f"BASELINES recall={hits}/{annotated} precision={hits}/{read}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("papers_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--extractor", default="rules")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for pdf in sorted(args.papers_dir.glob("*.pdf")):
        started = time.perf_counter()
        try:
            spec = extract_one(pdf, args.extractor)
        except UserError as error:
            print(f"{pdf.name}: {error}", file=sys.stderr)
            continue
        (args.out_dir / f"{pdf.stem}.yaml").write_text(
            yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        )
        print(
            f"{pdf.stem:12} {spec['family']:12} {spec['model_name'] or '(none)':16} {spec['loss']:12} "
            f"{time.perf_counter() - started:.1f}s"
        )
    scorer = args.papers_dir.resolve().parent / "tools" / "score_specs.py"
    if scorer.exists():
        return score_sets(scorer, args.papers_dir, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
