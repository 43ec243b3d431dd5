"""Deterministic gates a rendered model must pass before it trains.

Static gates (in process, on the source): it parses, imports only allowed modules, calls nothing
forbidden, and config.yaml names its class. Dynamic gates (in a subprocess with a timeout, through
:mod:`paper_autotrain.runtime.probe`): it builds on the real split, shapes are right on a tiny
batch, and the loss of one fixed batch falls when overfitted.
"""

from __future__ import annotations

import ast
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from paper_autotrain.errors import StageError
from paper_autotrain.schemas import SplitInfo
from paper_autotrain.subprocesses import last_meaningful_line, subprocess_env

log = logging.getLogger(__name__)

ALLOWED_IMPORTS = ("__future__", "math", "typing", "numpy", "torch", "lightning", "paper_autotrain.runtime")
FORBIDDEN_CALLS = frozenset({
    "open", "exec", "eval", "compile", "__import__", "input", "breakpoint", "globals", "vars",
    "os.system", "os.popen", "torch.load", "torch.hub.load", "numpy.load", "np.load",
})
FORBIDDEN_ROOTS = frozenset({
    "os", "subprocess", "socket", "shutil", "sys", "importlib", "builtins", "pickle",
})
DEFAULTS: dict[str, Any] = {"timeout_s": 300, "overfit_steps": 40, "overfit_lr": 0.01, "probe_batch_size": 64}

Gate = dict[str, Any]


def run(model_dir: Path, split: SplitInfo, cfg: Mapping) -> dict:
    """A JSON-able report of every gate; StageError (one line) naming the first gate that failed."""
    settings = {**DEFAULTS, **dict(cfg or {})}
    model_dir = Path(model_dir)
    source_path = model_dir / "model.py"
    if not source_path.exists():
        raise StageError(f"validate: {source_path} does not exist")
    source = source_path.read_text(encoding="utf-8")
    gates = static_gates(source, model_dir)
    if all(gate["ok"] for gate in gates):
        gates += dynamic_gates(model_dir, split, settings)
    report = {"model_dir": str(model_dir), "split_id": split.split_id, "ok": all(g["ok"] for g in gates),
              "gates": gates}
    failed = next((gate for gate in gates if not gate["ok"]), None)
    if failed is not None:
        raise StageError(f"validate: gate '{failed['name']}' failed: {failed['detail']}")
    log.info("validate: %d gates passed for %s", len(gates), model_dir)
    return report


# --- static gates ----------------------------------------------------------------------------------

def timed_gate(name: str, check: Callable[[], str]) -> Gate:
    started = time.perf_counter()
    try:
        detail, ok = check(), True
    except GateFailure as exc:
        detail, ok = str(exc), False
    return {"name": name, "ok": ok, "seconds": round(time.perf_counter() - started, 4), "detail": detail}


class GateFailure(Exception):
    """A gate's one-line reason for failing."""


def static_gates(source: str, model_dir: Path) -> list[Gate]:
    tree: dict[str, ast.Module] = {}

    def parse() -> str:
        try:
            tree["module"] = ast.parse(source, filename="model.py")
        except SyntaxError as exc:
            raise GateFailure(f"model.py line {exc.lineno}: {exc.msg}") from None
        return "model.py parses"

    gates = [timed_gate("parse", parse)]
    if not gates[0]["ok"]:
        return gates
    module = tree["module"]
    gates.append(timed_gate("imports", lambda: check_imports(module)))
    gates.append(timed_gate("calls", lambda: check_calls(module)))
    gates.append(timed_gate("config", lambda: check_config(model_dir, module)))
    return gates


def is_allowed_module(name: str) -> bool:
    return any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_IMPORTS)


def check_imports(module: ast.Module) -> str:
    count = 0
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise GateFailure(f"relative import on line {node.lineno} is not allowed")
            names = [node.module or ""]
        else:
            continue
        for name in names:
            count += 1
            if not is_allowed_module(name):
                raise GateFailure(f"import of '{name}' on line {node.lineno} is not allowed "
                                  f"(allowed: {', '.join(ALLOWED_IMPORTS)})")
    return f"{count} imports, all allowed"


def dotted_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def check_calls(module: ast.Module) -> str:
    for node in ast.walk(module):
        name = dotted_name(node.func) if isinstance(node, ast.Call) else None
        if name is None:
            if isinstance(node, ast.Name) and node.id in ("__builtins__", "__import__"):
                raise GateFailure(f"use of '{node.id}' on line {node.lineno} is not allowed")
            continue
        if name in FORBIDDEN_CALLS or name.split(".")[0] in FORBIDDEN_ROOTS:
            raise GateFailure(f"call to '{name}' on line {node.lineno} is not allowed")
    return "no forbidden calls"


def check_config(model_dir: Path, module: ast.Module) -> str:
    config_path = model_dir / "config.yaml"
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GateFailure(f"cannot read {config_path.name}: {exc}".splitlines()[0]) from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise GateFailure("config.yaml has no 'model' section")
    class_name = config["model"].get("class_name")
    classes = {node.name for node in module.body if isinstance(node, ast.ClassDef)}
    if class_name not in classes:
        raise GateFailure(f"config.yaml names class {class_name!r}, model.py defines {sorted(classes)}")
    return f"config.yaml trains {class_name}"


# --- dynamic gates ---------------------------------------------------------------------------------

def dynamic_gates(model_dir: Path, split: SplitInfo, settings: Mapping[str, Any]) -> list[Gate]:
    """Build, shape and overfit checks in a subprocess: a hanging or crashing model cannot take us down."""
    command = [
        sys.executable, "-m", "paper_autotrain.runtime.probe", "--model-dir", str(model_dir.resolve()),
        "--split-dir", str(split.path), "--steps", str(settings["overfit_steps"]),
        "--lr", str(settings["overfit_lr"]), "--batch-size", str(settings["probe_batch_size"]),
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=float(settings["timeout_s"]),
                              env=subprocess_env(), cwd=str(model_dir), check=False)
    except subprocess.TimeoutExpired:
        return [{"name": "probe", "ok": False, "seconds": round(time.perf_counter() - started, 3),
                 "detail": f"timed out after {settings['timeout_s']} s"}]
    gates = parse_probe_output(done.stdout)
    if done.returncode != 0 or gates is None:
        return [{"name": "probe", "ok": False, "seconds": round(time.perf_counter() - started, 3),
                 "detail": f"probe exited with {done.returncode}: {last_meaningful_line(done.stderr)}"}]
    return gates


def parse_probe_output(stdout: str) -> list[Gate] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            return list(json.loads(line)["gates"])
        except (ValueError, KeyError, TypeError):
            continue
    return None




