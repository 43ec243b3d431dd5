"""The one way a child process that runs generated code is started: limits, isolation, a clean kill.

:func:`run_sandboxed` starts a Python command through :mod:`paper_autotrain.sandbox.boot`, which applies
CPU-time, address-space and file-size limits, moves the child into fresh network and mount namespaces where
the kernel allows it (no network; every mount read-only but the writable folders), and always installs an
audit hook refusing network access, new processes and writes outside the writable folders. The child runs
in its own working directory and session, with its own TMPDIR inside that directory; the parent enforces
the wall clock and kills the whole process group. What went wrong comes back as one line: a timeout, the
CPU or memory limit, or the refused action.

Linux (rlimits, /proc, namespaces); where namespaces are refused, the audit hook and the limits still apply.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from paper_autotrain.paths import child_pythonpath
from paper_autotrain.sandbox.boot import BLOCKED_PREFIX, FILESYSTEM_MARKER, MEMORY_MARKER, NETWORK_MARKER, SANDBOX_ENV
from paper_autotrain.sandbox.subprocesses import last_meaningful_line

log = logging.getLogger(__name__)

CPU_SLACK_S = 30.0  # interpreter start-up and imports on top of wall_s x cores
TMP_NAME = ".sandbox-tmp"
# temporary and cache folders libraries write to, all pointed at the child's own TMPDIR (torch sets
# TORCHINDUCTOR_CACHE_DIR in our environment on import, which a child would otherwise inherit)
TMP_VARIABLES = ("TMPDIR", "TEMP", "TMP", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "XDG_CACHE_HOME",
                 "MPLCONFIGDIR", "TORCH_EXTENSIONS_DIR")
OUTPUT_TAIL_CHARS = 1_000_000  # what a result keeps of a chatty child's stdout/stderr
POLL_S = 0.05
FOLLOW_POLL_S = 0.2  # how often live progress reads the child's stderr file
FOLLOW_JOIN_S = 5.0
READ_ONLY_SIGN = "Read-only file system"
MEMORY_SIGNS = ("memoryerror", "can't allocate memory", "cannot allocate memory", "std::bad_alloc", "out of memory",
                "unable to create type object",  # pybind11: an import out of address space
                "memory limit of")  # lower case; the last: our own line for a run the memory cap stopped
# how native code dies when an allocation fails under the address-space cap, often before it can print a word:
# it uses the NULL it got (SIGSEGV, SIGBUS), aborts on it (SIGABRT: glibc, an uncaught std::bad_alloc), or the
# kernel's OOM killer picks it (SIGKILL)
MEMORY_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGKILL})


def mentions_out_of_memory(text: str) -> bool:
    """Whether an error text reads as memory exhaustion (Python, glibc, the C++ allocator, pybind11, or a
    SandboxResult.one_line of a run stopped for memory): what the train and validate stages hint on."""
    lowered = text.lower()
    return any(sign in lowered for sign in MEMORY_SIGNS)


def crashed_under_memory_cap(returncode: int, memory_mb: int | None) -> bool:
    """Whether a child died of a MEMORY_SIGNALS signal while it ran under an address-space cap: out of memory,
    most likely, even with nothing on stderr. Without a cap a crash is a crash."""
    return bool(memory_mb) and returncode < 0 and -returncode in MEMORY_SIGNALS


def signal_name(returncode: int) -> str | None:
    """The signal that killed a child ("SIGSEGV" for returncode -11); None when it exited."""
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one sandboxed run; None or 0 switches a limit off."""

    wall_s: float = 300.0
    cpu_s: float | None = None  # RLIMIT_CPU over all threads; None: wall_s x cores + slack
    memory_mb: int | None = 16384  # RLIMIT_AS; None for CUDA runs, which map far more than they use
    file_mb: int | None = 16384  # RLIMIT_FSIZE: the largest file the child may write
    network_namespace: bool = True  # a fresh, empty network namespace when the kernel allows it
    workers: bool = False  # multi-device training: may re-run this interpreter and use loopback sockets

    def cpu_limit_s(self) -> int:
        if self.cpu_s:
            return max(1, int(self.cpu_s))
        return int(self.wall_s * (os.cpu_count() or 1) + CPU_SLACK_S)


@dataclass
class SandboxResult:
    """How a sandboxed run ended. `killed` is "timeout", "cpu", "memory", "file size", "blocked: ..." or None."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    killed: str | None = None
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    network: str = "audit-hook"  # the network isolation the child got: "namespace" or "audit-hook"
    filesystem: str = "audit-hook"  # and its write isolation: "read-only mounts" (as well) or "audit-hook"
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.killed is None

    def one_line(self) -> str:
        """What went wrong, in one line, for a gate message or a StageError ("ok" when nothing did)."""
        if self.killed and self.killed.startswith(BLOCKED_PREFIX):
            return self.killed
        if self.killed == "timeout":
            return f"killed: wall-clock timeout after {self.limits.wall_s:g} s"
        if self.killed == "cpu":
            return f"killed: CPU time limit of {self.limits.cpu_limit_s()} s reached"
        if self.killed == "memory":
            limit = f"memory limit of {self.limits.memory_mb} MB reached" if self.limits.memory_mb else "out of memory"
            return f"killed: {limit} ({self.last_words()})"
        if self.killed == "file size":
            return f"killed: file size limit of {self.limits.file_mb} MB reached"
        if self.returncode != 0:
            return f"exit {self.returncode}: {self.last_words()}"
        return "ok"

    def last_words(self) -> str:
        """The child's last stderr line, after the signal that killed it: a crash often leaves stderr empty, or
        ending in a line that is no error ("SIGSEGV; Seed set to 0")."""
        died = signal_name(self.returncode)
        line = last_meaningful_line(self.stderr)
        return f"{died}; {line}" if died else line


def run_sandboxed(argv: Sequence[str], *, workdir: Path, writable: Sequence[Path] = (),
                  limits: SandboxLimits = SandboxLimits(), env: Mapping[str, str] | None = None,
                  stdout_path: Path | None = None, stderr_path: Path | None = None,
                  on_stderr_line: Callable[[str], None] | None = None) -> SandboxResult:
    """Run the Python command `argv` ([python, "-m", module, ...], [python, "-c", code, ...] or
    [python, script, ...]) in `workdir`, writing only there and under `writable`.

    stdout/stderr go to the given files (kept) or to private temporary ones; the result holds their tail.
    `on_stderr_line` sees each line of the child's stderr while it runs (live progress; paper_autotrain.progress).
    Never raises for what the child does; raises ValueError when `argv` is not a Python command.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = workdir / TMP_NAME
    tmp.mkdir(exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="sandbox-"))  # the report and logs, out of the child's reach
    report_path = private / "report"
    report_fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        child_env = child_environment(env, tmp, sandbox_policy(limits, workdir, writable, report_fd))
        out_path, err_path = stdout_path or private / "stdout", stderr_path or private / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err, following(err_path, on_stderr_line):
            returncode, seconds, cpu_seconds, timed_out = wait_with_deadline(
                bootstrap_command(argv), workdir, child_env, out, err, report_fd, limits.wall_s)
        markers = report_path.read_text(encoding="utf-8", errors="replace").splitlines()
        result = SandboxResult(returncode=returncode, stdout=read_tail(out_path), stderr=read_tail(err_path),
                               seconds=round(seconds, 3), limits=limits, cpu_seconds=round(cpu_seconds, 3),
                               network=marker(markers, NETWORK_MARKER), filesystem=marker(markers, FILESYSTEM_MARKER))
        result.killed = classify(result, markers, timed_out)
    finally:
        os.close(report_fd)
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    log_isolation_once(result.network, result.filesystem)
    if result.killed:  # the caller reports it (a StageError or a gate message); this is the trail
        log.info("sandboxed run in %s: %s", workdir, result.one_line())
    return result


def sandbox_policy(limits: SandboxLimits, workdir: Path, writable: Sequence[Path], report_fd: int) -> dict:
    """What sandbox/boot.py applies in the child (passed as JSON in its environment)."""
    folders = [workdir, *(Path(folder).resolve() for folder in writable)]
    if limits.workers and Path("/dev/shm").is_dir():  # ranks of multi-device training share memory there (NCCL)
        folders.append(Path("/dev/shm"))
    return {
        "writable": [str(folder) for folder in folders], "report_fd": report_fd, "cpu_s": limits.cpu_limit_s(),
        "memory_mb": limits.memory_mb or 0, "file_mb": limits.file_mb or 0, "workers": limits.workers,
        "network_namespace": limits.network_namespace and not limits.workers,  # ranks talk over loopback
    }


@functools.cache
def log_isolation_once(network: str, filesystem: str) -> None:
    log.info("sandbox: children run with rlimits and an audit hook; network isolated by %s, writes confined by %s",
             network, filesystem)


def network_isolation() -> str:
    """The network isolation sandboxed children get on this machine: "namespace" or "audit-hook"."""
    return isolation_probe().network


def filesystem_isolation() -> str:
    """How their writes are confined: "read-only mounts" (kernel, plus the audit hook) or "audit-hook"."""
    return isolation_probe().filesystem


@functools.cache
def isolation_probe() -> SandboxResult:
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as folder:
        return run_sandboxed([sys.executable, "-c", "pass"], workdir=Path(folder), limits=SandboxLimits(wall_s=30.0))


@contextlib.contextmanager
def following(path: Path, on_line: Callable[[str], None] | None) -> Iterator[None]:
    """While the block runs, a thread hands each new line of the file at `path` to `on_line` (and the last,
    unterminated one when the block ends)."""
    if on_line is None:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(target=_follow, args=(path, on_line, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=FOLLOW_JOIN_S)


def _follow(path: Path, on_line: Callable[[str], None], stop: threading.Event) -> None:
    pending = b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(1 << 16)
            if chunk:
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    _deliver(on_line, line)
            elif stop.is_set():
                break
            else:
                time.sleep(FOLLOW_POLL_S)
    if pending:
        _deliver(on_line, pending)


def _deliver(on_line: Callable[[str], None], line: bytes) -> None:
    try:
        on_line(line.decode("utf-8", errors="replace"))
    except Exception:  # noqa: BLE001 - a broken progress callback must not stop the child's supervision
        log.debug("progress callback failed", exc_info=True)


# --- starting and waiting -------------------------------------------------------------------------

def bootstrap_command(argv: Sequence[str]) -> list[str]:
    """[python, -P, -m, paper_autotrain.sandbox.boot, ...]: -P keeps the child's cwd off sys.path."""
    if len(argv) < 2 or (argv[1].startswith("-") and argv[1] not in ("-m", "-c")):
        raise ValueError(f"run_sandboxed runs Python commands ([python, -m|-c|script, ...]), got {list(argv)!r}")
    return [argv[0], "-P", "-m", "paper_autotrain.sandbox.boot", *argv[1:]]


SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASS(WORD|WD)?\b|PASSWD|CREDENTIAL|AUTH|COOKIE", re.IGNORECASE)
"""Variables generated code has no business reading (API keys, tokens, passwords): never passed to the child."""


def child_environment(env: Mapping[str, str] | None, tmp: Path, policy: dict) -> dict[str, str]:
    """The child's environment, secrets left out: importable package, its own TMPDIR, no bytecode writes, the
    policy."""
    child = {name: value for name, value in (os.environ if env is None else env).items()
             if not SECRET_NAME.search(name)}
    child["PYTHONPATH"] = child_pythonpath(child.get("PYTHONPATH"))
    child.update({name: str(tmp) for name in TMP_VARIABLES})
    child.update({"PYTHONDONTWRITEBYTECODE": "1", SANDBOX_ENV: json.dumps(policy)})
    return child


def wait_with_deadline(command: list[str], workdir: Path, env: dict[str, str], out: BinaryIO, err: BinaryIO,
                       report_fd: int, wall_s: float) -> tuple[int, float, float, bool]:
    """(returncode, seconds, child CPU seconds, timed out): the process group is killed at the deadline
    (or when we are interrupted) and, once the child is gone, so is anything it left behind."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=str(workdir), env=env, stdin=subprocess.DEVNULL, stdout=out,
                               stderr=err, pass_fds=(report_fd,), start_new_session=True)
    timed_out = True
    try:
        timed_out = not wait_for_exit(process.pid, started + wall_s)
    finally:
        kill_group(process.pid)  # before reaping: the zombie leader keeps the group id from being reused
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    return process.returncode, time.monotonic() - started, usage.ru_utime + usage.ru_stime, timed_out


def wait_for_exit(pid: int, deadline: float) -> bool:
    """True when `pid` exited before `deadline` (it is left unreaped)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if has_exited(pid):
                return True
            if remaining <= 0:
                return False
            if pidfd is not None:
                select.select([pidfd], [], [], remaining)
            else:
                time.sleep(min(POLL_S, remaining))
    finally:
        if pidfd is not None:
            os.close(pidfd)


def has_exited(pid: int) -> bool:
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None and info.si_pid == pid


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- reading the outcome --------------------------------------------------------------------------

def read_tail(path: Path) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - OUTPUT_TAIL_CHARS))
        return handle.read().decode("utf-8", errors="replace")


def marker(markers: Sequence[str], prefix: str) -> str:
    found = [line[len(prefix):] for line in markers if line.startswith(prefix)]
    return found[0] if found else "audit-hook"


def classify(result: SandboxResult, markers: Sequence[str], timed_out: bool) -> str | None:
    """Why the run was stopped: a refused action first (even one the child swallowed), then the limits."""
    blocked = [line for line in markers if line.startswith(BLOCKED_PREFIX)]
    if blocked:
        return blocked[0]
    if timed_out:
        return "timeout"
    code = result.returncode
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and result.cpu_seconds >= result.limits.cpu_limit_s()):
        return "cpu"
    if code == -signal.SIGXFSZ:
        return "file size"
    if code != 0 and READ_ONLY_SIGN in result.stderr[-20_000:]:  # a native write the mounts refused
        return f"{BLOCKED_PREFIX}write outside the run directory ({last_meaningful_line(result.stderr)})"
    if code != 0 and (MEMORY_MARKER in markers or mentions_out_of_memory(result.stderr[-20_000:])):
        return "memory"
    if crashed_under_memory_cap(code, result.limits.memory_mb):  # a MemoryError it had no chance to raise
        return "memory"
    return None
