"""A real package: the wheel carries the Hydra configs and the templates (package data), and `pip install` of it
into a fresh venv gives a `paper-autotrain` that works from any folder (issue 22, item 4)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from paper_autotrain import paths
from paper_autotrain.paths import CONF_DIR, PACKAGE_DIR, TEMPLATES_DIR

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "papers" / "tinyprop.pdf"
# one of each kind of package data the commands read
EXPECTED = ("conf/config.yaml", "conf/trainer/cpu.yaml", "conf/papers/nightly.yaml", "conf/llm_prices.yaml",
            "templates/family.yaml", "templates/sequential/family.yaml", "templates/blocks/gmf.yaml",
            "templates/blocks/gmf.j2", "templates/model.py.j2", "templates/prompts/extract_spec.j2",
            "templates/prompts/README.md", "templates/report/report.html.j2",
            "templates/leaderboard/leaderboard.md.j2", "templates/slots/pair_scorer.yaml", "recbole_models.yaml",
            "stages/extract/components.yaml")


def build_wheel(tmp: Path) -> Path:
    """The wheel of a copy of the source tree (so the build's build/ and egg-info stay out of the checkout)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(PACKAGE_DIR, src / "paper_autotrain", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", "-q", str(src), "-w", str(dist)], check=True, timeout=300)
    wheels = list(dist.glob("paper_autotrain-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_carries_conf_and_templates(tmp_path):
    names = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    assert {f"paper_autotrain/{rel}" for rel in EXPECTED} <= names
    shipped = {f"paper_autotrain/{p.relative_to(PACKAGE_DIR).as_posix()}" for root in (CONF_DIR, TEMPLATES_DIR)
               for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert shipped and not shipped - names  # every config and template, none left behind


def test_a_child_imports_the_package_from_a_checkout_and_from_site_packages(monkeypatch):
    """A checkout's root goes first on a child's PYTHONPATH; site-packages (an installed wheel) never does: it
    is on the child's path already, and on PYTHONPATH it would come before the standard library."""
    assert paths.child_pythonpath("/x").split(os.pathsep) == [str(REPO), "/x"]
    assert paths.checkout_root() == REPO
    monkeypatch.setattr(paths, "IMPORT_ROOT", Path(sysconfig.get_paths()["purelib"]).resolve())
    assert paths.child_pythonpath("/x") == "/x" and paths.child_pythonpath(None) == ""
    assert paths.checkout_root() is None


@pytest.mark.slow
def test_pip_install_into_a_fresh_venv_runs_from_any_folder(tmp_path):
    """A fresh venv with only the wheel installed (dependencies: this venv's site-packages through a .pth file,
    added after the install so pip never sees the editable install); `paper-autotrain` run from a folder with no
    checkout reads the example paper through render, then validate (a sandboxed child), writing generated/ and
    results/ there."""
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "-q", str(wheel)], check=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # no .pth in there is run

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), cwd=work, env=env, capture_output=True, text=True, timeout=600)

    where = run(str(python), "-c", "import paper_autotrain.paths as p; print(p.PACKAGE_DIR)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # the installed copy, not the checkout

    job = run(str(python), "-m", "paper_autotrain", "--cfg", "job")
    assert job.returncode == 0, job.stderr[-2000:]
    assert "paths:" in job.stdout and "trainer:" in job.stdout

    done = run(str(venv / "bin" / "paper-autotrain"), str(EXAMPLE), "until=render")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert (work / "generated" / "tinyprop" / "model.py").is_file()
    assert (work / "generated" / "tinyprop" / "spec.yaml").is_file()

    # the gates train the model briefly in a sandboxed child: it imports the installed package too
    gates = run(str(venv / "bin" / "paper-autotrain"), str(EXAMPLE), "until=validate")
    assert gates.returncode == 0, (gates.stdout + gates.stderr)[-3000:]
    assert sorted(p.name for p in (work / "results" / "tinyprop" / "validate").iterdir())
