"""What the parity scripts (ctr_parity.py, graph_parity.py) share: run a fixture paper end to end, read back our
run, RecBole's reference run and the spec's fidelity verdict, and write the table after every model."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the fixture papers live in tests/
from paper_autotrain.pipeline import dump_spec, load_spec  # noqa: E402
from tests.fixture_papers import with_settings  # noqa: E402
from tests.pdf_fixtures import write_pdf  # noqa: E402


def fixture_pdf(out: Path, model: str, text: str) -> Path:
    papers = out / "papers"
    papers.mkdir(parents=True, exist_ok=True)
    return write_pdf(papers / f"{model.lower()}.pdf", text)


def pipeline_command(pdf: Path, root: Path, epochs: int, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "paper_autotrain", str(pdf), f"trainer.max_epochs={epochs}", f"paths.root={root}",
            *overrides]


def set_on_spec(command: Sequence[str], root: Path, model: str, values: Sequence[tuple[str, Any]],
                row: dict[str, Any]) -> list[str] | None:
    """`command` in two steps, as a user sets a block option: read the paper (until=extract), put `values` on the
    run's spec.yaml (NAME=VALUE a stated value, BLOCK.WORD=VALUE a block's structural word: with_settings), and the
    command to run the rest from the render stage on; None with row's error set when the paper was not read."""
    row["set"] = [f"{name}={value}" for name, value in values]
    proc = subprocess.run([*command, "until=extract"], cwd=REPO, capture_output=True, text=True, check=False)
    path = root / "generated" / model.lower() / "spec.yaml"
    if proc.returncode != 0 or not path.exists():
        row["error"] = (proc.stderr or proc.stdout).strip()[-500:] or f"no {path}"
        return None
    spec = load_spec(path)
    absent = sorted({name.partition(".")[0] for name, _ in values if "." in name}
                    - {block.block for block in spec.architecture})
    if absent:  # with_settings leaves a spec without the block as it is: a misspelt block would train the paper's
        row["error"] = f"--set: {model}'s spec has no block {', '.join(absent)}"
        return None
    path.write_text(dump_spec(with_settings(spec, values)))
    return [*command, "from_stage=render"]


def run_and_read(command: Sequence[str], root: Path, model: str, row: dict[str, Any]) -> tuple[dict, dict] | None:
    """Run `command`; on success (ours, RecBole's reference run) with row's verdict filled in, else None with
    row's error set. `row` gets the wall time, command and exit status either way."""
    started = time.perf_counter()
    proc = subprocess.run(list(command), cwd=REPO, capture_output=True, text=True, check=False)
    row.update({"wall_s": round(time.perf_counter() - started, 1), "command": " ".join(command[2:]),
                "exit": proc.returncode})
    results = root / "results" / model.lower()
    try:
        ours = json.loads((results / "train" / "result.json").read_text())
        theirs = next(r for r in json.loads((results / "baselines" / "results.json").read_text())
                      if r["config"].get("reference"))
        spec = yaml.safe_load((root / "generated" / model.lower() / "spec.yaml").read_text())
    except (OSError, ValueError, StopIteration):
        row["error"] = (proc.stderr or proc.stdout).strip()[-500:]
        return None
    row["verdict"] = "faithful" if (spec.get("fidelity") or {}).get("verdict") == "faithful" else "partial"
    row["notes"] = theirs["config"].get("reference_notes", [])
    return ours, theirs


def run_all(models: str, out: Path, name: str, run_model: Callable[[str], dict[str, Any]],
            markdown: Callable[[list[dict[str, Any]]], str]) -> int:
    """Each model of the comma-separated `models` in turn, OUT/<name>.json and .md rewritten after every one;
    exit 0 when every model is within its tolerance."""
    rows = []
    for model in [m.strip() for m in models.split(",") if m.strip()]:
        rows.append(run_model(model))
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
        (out / f"{name}.md").write_text(markdown(rows))
        print(markdown(rows[-1:]).splitlines()[2], flush=True)
    return 0 if all(r.get("within") for r in rows) else 1
