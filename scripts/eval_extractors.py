"""Parse and extract every PDF in PAPERS_DIR into OUT_DIR/X.yaml, then score them when the scorer is there.

usage: python scripts/eval_extractors.py PAPERS_DIR OUT_DIR [--extractor rules]
The scorer is looked for at PAPERS_DIR/../tools/score_specs.py (the shared development papers).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

from paper_autotrain.errors import UserError
from paper_autotrain.schemas import PaperBundle, PaperMeta
from paper_autotrain.stages import extract, parse


def extract_one(pdf: Path, extractor: str) -> dict:
    bundle = PaperBundle(meta=PaperMeta(key=pdf.stem.lower(), source=str(pdf)), pdf=pdf.name)
    doc = parse.run(bundle, pdf.parent, {"max_pages": 60, "max_mb": 50})
    spec = extract.run(doc, {"name": extractor, "hparams": {}})
    return spec.model_dump(mode="json")


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
            f"{pdf.stem:12} {spec['family']:12} {spec['model_name']:16} {spec['loss']:12} "
            f"{time.perf_counter() - started:.1f}s"
        )
    scorer = args.papers_dir.resolve().parent / "tools" / "score_specs.py"
    if scorer.exists():
        result = subprocess.run(
            [sys.executable, str(scorer), str(args.papers_dir), str(args.out_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        print(result.stdout, end="")
        print(result.stderr, end="", file=sys.stderr)
        return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
