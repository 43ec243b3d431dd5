"""Deterministic gates generated code must pass, shared by the validate stage and the LLM fill-in loop.

Static gates read the source and run nothing: it parses, imports only allowed modules, uses no forbidden
call or attribute (file, process, network, dynamic code, introspection tricks) and, for a model folder,
config.yaml names its class. Dynamic gates run :mod:`paper_autotrain.worker.probe` through
:func:`paper_autotrain.sandbox.process.run_sandboxed`: the model builds on the real split, shapes are right on a
tiny batch, one batch can be overfitted, and the model never sees validation or test interactions.

A gate is a JSON-able dict {"name", "ok", "seconds", "detail"}; a failing gate's detail is one line that
can go back to the LLM as it is.
"""

from __future__ import annotations

import ast
import json
import logging
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from paper_autotrain.sandbox.boot import BLOCKED_PREFIX
from paper_autotrain.sandbox.process import SandboxLimits, run_sandboxed
from paper_autotrain.sandbox.subprocesses import last_meaningful_line
from paper_autotrain.schemas import SplitInfo

log = logging.getLogger(__name__)

Gate = dict[str, Any]

ALLOWED_IMPORTS = ("__future__", "math", "typing", "numpy", "torch", "lightning", "paper_autotrain.runtime",
                   "collections", "dataclasses", "functools", "itertools", "enum", "abc", "numbers")
# parts of allowed packages that reach files, processes, the network or native code
FORBIDDEN_MODULES = (
    "torch.hub", "torch.utils.cpp_extension", "torch.multiprocessing", "torch.distributed", "torch.package",
    "torch.serialization", "torch.utils.data.datapipes", "numpy.ctypeslib", "numpy.f2py", "numpy.distutils",
    "numpy.testing", "paper_autotrain.worker",  # the sandboxed worker: generated code imports only the runtime
)
FORBIDDEN_CALLS: dict[str, str] = {
    **dict.fromkeys(("open", "input", "breakpoint"), "file or terminal access"),
    **dict.fromkeys(("exec", "eval", "compile", "__import__"), "dynamic code"),
    **dict.fromkeys(("globals", "locals", "vars", "delattr"), "introspection"),
    **dict.fromkeys(("torch.load", "torch.save", "torch.from_file", "torch.jit.load", "torch.jit.save",
                     "torch.ops.load_library", "torch.classes.load_library", "torch.UntypedStorage.from_file",
                     "numpy.load", "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
                     "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "numpy.memmap", "numpy.DataSource",
                     "numpy.lib.format.open_memmap", "np.load", "os.system", "os.popen"), "file or process access"),
}
FORBIDDEN_METHODS = {"tofile": "file access", "load_library": "native code"}
# modules generated code must not reach through another module's attributes (torch.os.system, np.sys)
REACHABLE_MODULES = frozenset({
    "os", "sys", "subprocess", "socket", "shutil", "importlib", "builtins", "pickle", "ctypes", "pathlib",
    "tempfile", "multiprocessing", "threading", "marshal", "runpy", "gc", "inspect", "pty", "urllib", "http",
    "posix", "_posixsubprocess",
})
# and names no call may start from unless the code binds them itself (`signal = torch.sigmoid(x)` is fine)
FORBIDDEN_ROOTS = REACHABLE_MODULES | {
    "io", "signal", "code", "requests", "resource", "sqlite3", "asyncio", "select", "fcntl", "mmap", "webbrowser",
    "ftplib", "smtplib", "telnetlib", "shelve", "dbm", "zipimport",
}
FORBIDDEN_NAMES = frozenset({"__builtins__", "__import__", "__loader__", "__spec__"})
# attributes that lead from any object to modules, frames or code (the classic escapes from a sandbox)
FORBIDDEN_ATTRIBUTES = frozenset({
    "__subclasses__", "__bases__", "__base__", "__mro__", "__globals__", "__builtins__", "__code__",
    "__closure__", "__dict__", "__getattribute__", "__reduce__", "__reduce_ex__", "__loader__", "__spec__",
    "__import__", "__traceback__", "f_globals", "f_locals", "f_builtins", "f_back", "gi_frame", "cr_frame",
    "ag_frame", "tb_frame", "co_code",
})
ATTRIBUTE_BUILTINS = frozenset({"getattr", "setattr", "hasattr", "delattr"})
DEFAULTS: dict[str, Any] = {"timeout_s": 300, "overfit_steps": 40, "overfit_lr": 0.01, "probe_batch_size": 64,
                            "memory_mb": 16384}


class GateFailure(Exception):
    """A gate's one-line reason for failing."""


def timed_gate(name: str, check: Callable[[], str]) -> Gate:
    started = time.perf_counter()
    try:
        detail, ok = check(), True
    except GateFailure as exc:
        detail, ok = str(exc), False
    return {"name": name, "ok": ok, "seconds": round(time.perf_counter() - started, 4), "detail": detail}


def first_failure(gates: list[Gate]) -> Gate | None:
    return next((gate for gate in gates if not gate["ok"]), None)


# --- static gates ----------------------------------------------------------------------------------

def static_gates(source: str, model_dir: Path | None = None) -> list[Gate]:
    """parse, imports, calls (and config when `model_dir` is given), stopping at the first failure."""
    return source_gates(source, "model.py", model_dir)


def check_snippet(source: str) -> list[Gate]:
    """The same gates for a piece of generated code: a module, a class, or a method body (indented or not)."""
    return source_gates(textwrap.dedent(source), "code", None)


def source_gates(source: str, label: str, model_dir: Path | None) -> list[Gate]:
    parsed: dict[str, ast.Module] = {}

    def parse() -> str:
        parsed["module"] = parse_source(source, label)
        return f"{label} parses"

    gates = [timed_gate("parse", parse)]
    checks: list[tuple[str, Callable[[ast.Module], str]]] = [("imports", check_imports), ("calls", check_calls)]
    if model_dir is not None:
        checks.append(("config", lambda module: check_config(Path(model_dir), module)))
    for name, check in checks:
        if not gates[-1]["ok"]:
            break
        gates.append(timed_gate(name, lambda check=check: check(parsed["module"])))
    return gates


def parse_source(source: str, label: str) -> ast.Module:
    """The module; a method body (with `return` or `yield`) is parsed as the body of a function."""
    try:
        return ast.parse(source, filename=label)
    except SyntaxError as exc:
        if "outside function" not in str(exc.msg):
            raise GateFailure(f"{label} line {exc.lineno}: {exc.msg}") from None
    wrapped = "def __slot__(self, *args, **kwargs):\n" + textwrap.indent(source, "    ")
    try:
        module = ast.parse(wrapped, filename=label)
    except SyntaxError as exc:
        raise GateFailure(f"{label} line {(exc.lineno or 2) - 1}: {exc.msg}") from None
    return ast.increment_lineno(module, -1)


def is_allowed_module(name: str) -> bool:
    return any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_IMPORTS)


def forbidden_module(name: str) -> str | None:
    return next((bad for bad in FORBIDDEN_MODULES if name == bad or name.startswith(bad + ".")), None)


def check_imports(module: ast.Module) -> str:
    count = 0
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise GateFailure(f"relative import on line {node.lineno} is not allowed")
            names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            count += 1
            if not is_allowed_module(name):
                raise GateFailure(f"import of '{name}' on line {node.lineno} is not allowed "
                                  f"(allowed: {', '.join(ALLOWED_IMPORTS)})")
            if forbidden_module(name):
                raise GateFailure(f"import of '{name}' on line {node.lineno} is not allowed "
                                  "(file, process, network or native code access)")
    return f"{count} imports, all allowed"


# --- forbidden calls and attributes ------------------------------------------------------------------

def dotted_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def import_aliases(module: ast.Module) -> dict[str, str]:
    """Local name -> full dotted name for every import (np -> numpy, F -> torch.nn.functional, load -> torch.load)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    aliases[head] = head
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def bound_names(module: ast.Module) -> set[str]:
    """Names the code binds itself (arguments, assignments, definitions): `input` as a parameter is fine."""
    names: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


class ForbiddenUse(ast.NodeVisitor):
    """Finds the first forbidden call, name or attribute; its reason is the calls gate's message."""

    def __init__(self, module: ast.Module) -> None:
        self.aliases = import_aliases(module)
        self.bound = bound_names(module)

    def canonical(self, name: str) -> tuple[str, bool]:
        """(the full name, whether it starts at an imported module)."""
        head, _, rest = name.partition(".")
        if head in self.aliases:
            return self.aliases[head] + (f".{rest}" if rest else ""), True
        return name, False

    def why_forbidden(self, name: str) -> str | None:
        full, imported = self.canonical(name)
        parts = full.split(".")
        if full in FORBIDDEN_CALLS and (imported or "." in full or full not in self.bound):
            return FORBIDDEN_CALLS[full]
        if (parts[0] in FORBIDDEN_ROOTS and parts[0] not in self.bound) or (
                imported and any(part in REACHABLE_MODULES for part in parts[1:])):
            return "file, process or network access"
        if imported and forbidden_module(full):
            return "file, process, network or native code access"
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted_name(node.func)
        reason = self.why_forbidden(name) if name else None
        if reason is None and isinstance(node.func, ast.Attribute) and node.func.attr in FORBIDDEN_METHODS:
            reason, name = FORBIDDEN_METHODS[node.func.attr], name or f".{node.func.attr}"
        if reason:
            raise GateFailure(f"call to '{name}' on line {node.lineno} is not allowed ({reason})")
        if name in ATTRIBUTE_BUILTINS and name not in self.bound:
            self.check_attribute_call(name, node)
        self.generic_visit(node)

    def check_attribute_call(self, name: str, node: ast.Call) -> None:
        """getattr(obj, "name") is fine; a computed name or a forbidden one is a way around this gate."""
        if len(node.args) < 2 or not (isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            raise GateFailure(f"{name} with a computed attribute name on line {node.lineno} is not allowed")
        attribute = node.args[1].value
        target = dotted_name(node.args[0])
        if attribute in FORBIDDEN_ATTRIBUTES or (target and self.why_forbidden(f"{target}.{attribute}")):
            raise GateFailure(f"{name}(..., {attribute!r}) on line {node.lineno} is not allowed")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES or (isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_CALLS
                                          and node.id not in self.bound and node.id not in self.aliases):
            raise GateFailure(f"use of '{node.id}' on line {node.lineno} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in FORBIDDEN_ATTRIBUTES:
            raise GateFailure(f"use of attribute '{node.attr}' on line {node.lineno} is not allowed (introspection)")
        name = dotted_name(node)
        reason = self.why_forbidden(name) if name else None
        if reason:
            raise GateFailure(f"use of '{name}' on line {node.lineno} is not allowed ({reason})")
        self.generic_visit(node)


def check_calls(module: ast.Module) -> str:
    ForbiddenUse(module).visit(module)
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
    """build, shapes, overfit, leakage: the probe in a sandboxed subprocess, so a hanging, hostile or
    crashing model cannot take the caller down. Settings: timeout_s, memory_mb, overfit_steps,
    overfit_lr, probe_batch_size (DEFAULTS for those missing)."""
    settings = {**DEFAULTS, **dict(settings or {})}
    command = [
        sys.executable, "-m", "paper_autotrain.worker.probe", "--model-dir", str(Path(model_dir).resolve()),
        "--split-dir", str(Path(split.path).resolve()), "--steps", str(settings["overfit_steps"]),
        "--lr", str(settings["overfit_lr"]), "--batch-size", str(settings["probe_batch_size"]),
    ]
    limits = SandboxLimits(wall_s=float(settings["timeout_s"]), memory_mb=int(settings["memory_mb"] or 0) or None)
    workdir = Path(tempfile.mkdtemp(prefix="probe-"))
    try:
        result = run_sandboxed(command, workdir=workdir, limits=limits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    gates = parse_probe_output(result.stdout)
    if result.killed == "timeout":
        return [probe_failure(result.seconds, f"timed out after {settings['timeout_s']} s")]
    if result.killed and result.killed.startswith(BLOCKED_PREFIX):
        # the gates that passed before it, then the refusal itself: it fails the run even when the code
        # (or a gate reporting the exception) caught it
        passed = [gate for gate in (gates or []) if gate["ok"]]
        return [*passed, probe_failure(result.seconds, result.one_line(), "sandbox")]
    if result.killed:
        return [probe_failure(result.seconds, result.one_line())]
    if result.returncode != 0 or gates is None:
        return [probe_failure(result.seconds,
                              f"probe exited with {result.returncode}: {last_meaningful_line(result.stderr)}")]
    return gates


def probe_failure(seconds: float, detail: str, name: str = "probe") -> Gate:
    return {"name": name, "ok": False, "seconds": round(seconds, 3), "detail": detail}


def parse_probe_output(stdout: str) -> list[Gate] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            return list(json.loads(line)["gates"])
        except (ValueError, KeyError, TypeError):
            continue
    return None
