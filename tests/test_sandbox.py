"""The sandbox generated code runs in: hostile code is blocked or killed and reported in one line,
the parent carries on; well-behaved code (torch included) works in its run directory."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from paper_autotrain.sandbox.process import (
    TMP_NAME,
    SandboxLimits,
    filesystem_isolation,
    mentions_out_of_memory,
    network_isolation,
    run_sandboxed,
)
from paper_autotrain.stages import train as train_stage
from paper_autotrain.stages import validate as validate_stage

# raw-Python hostile snippets need little address space; torch needs about 1 GB of it to import
TIGHT = SandboxLimits(wall_s=5.0, memory_mb=256)


def run_code(code: str, workdir: Path, limits: SandboxLimits = TIGHT, writable: tuple[Path, ...] = ()):
    return run_sandboxed([sys.executable, "-c", textwrap.dedent(code)], workdir=workdir, writable=list(writable),
                         limits=limits)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.3)
    yield server
    server.close()


def saw_a_connection(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except TimeoutError:
        return False
    return True


# --- network ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("namespace", [True, False], ids=["namespace-where-available", "audit-hook-only"])
def test_connecting_to_a_listening_port_is_blocked(namespace: bool, listener: socket.socket, tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    limits = SandboxLimits(wall_s=5.0, memory_mb=256, network_namespace=namespace)
    result = run_code(f"import socket\nsocket.socket().connect(('127.0.0.1', {port}))", tmp_path, limits)
    assert not result.ok
    assert result.killed == f"blocked: network access (socket.connect to ('127.0.0.1', {port}))"
    assert result.one_line() == result.killed
    assert not saw_a_connection(listener)
    if not namespace:
        assert result.network == "audit-hook"


def test_name_lookups_are_blocked(tmp_path: Path) -> None:
    result = run_code("import urllib.request\nurllib.request.urlopen('http://example.com/', timeout=2)", tmp_path)
    assert result.killed == "blocked: network access (socket.getaddrinfo of 'example.com')"


def test_the_machine_reports_its_isolation() -> None:
    assert network_isolation() in ("namespace", "audit-hook")
    assert filesystem_isolation() in ("read-only mounts", "audit-hook")


# --- files -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("write", [
    "open(TARGET, 'w').write('x')",
    "import pathlib; pathlib.Path(TARGET).write_text('x')",
    "import os; os.symlink(TARGET, 'link'); open('link', 'w').write('x')",
    "import os; fd = os.open(TARGET, os.O_WRONLY | os.O_CREAT); os.write(fd, b'x')",
    "import shutil; open('mine', 'w').write('x'); shutil.copyfile('mine', TARGET)",
])
def test_writing_outside_the_run_directory_is_blocked(write: str, tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    result = run_code(f"TARGET = {str(target)!r}\n{write}", tmp_path / "run")
    assert result.killed == f"blocked: write outside the run directory ({target})"
    assert not target.exists()


def test_removing_outside_the_run_directory_is_blocked(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "data.txt").write_text("precious")
    result = run_code(f"import shutil; shutil.rmtree({str(keep)!r})", tmp_path / "run")
    assert result.killed == f"blocked: write outside the run directory ({keep})"
    assert (keep / "data.txt").read_text() == "precious"


def test_changing_an_outside_file_through_a_descriptor_is_blocked(tmp_path: Path) -> None:
    target = tmp_path / "outside.txt"
    target.write_text("mine")
    target.chmod(0o600)
    result = run_code(f"import os; os.chmod(os.open({str(target)!r}, os.O_RDONLY), 0o777)", tmp_path / "run")
    assert result.killed == f"blocked: write outside the run directory ({target})"
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(filesystem_isolation() != "read-only mounts", reason="no mount namespace on this machine")
def test_writes_no_audit_event_sees_are_refused_by_the_read_only_mounts(tmp_path: Path) -> None:
    target = tmp_path / "fifo"
    result = run_code(f"import os; os.mkfifo({str(target)!r})", tmp_path / "run")  # os.mkfifo is not audited
    assert result.killed == "blocked: write outside the run directory (OSError: [Errno 30] Read-only file system)"
    assert not target.exists()


def test_writes_go_to_the_run_directory_its_tmpdir_and_the_writable_folders(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    result = run_code(f"""
        import os, tempfile
        open('here.txt', 'w').write('ok')
        open({str(shared / 'there.txt')!r}, 'w').write('ok')
        handle, path = tempfile.mkstemp()
        assert path.startswith(os.path.join(os.getcwd(), {TMP_NAME!r})), path
        print('done')
    """, tmp_path / "run", writable=(shared,))
    assert result.ok, result.one_line()
    assert result.stdout.strip() == "done" and result.one_line() == "ok"
    assert (tmp_path / "run" / "here.txt").read_text() == "ok" and (shared / "there.txt").read_text() == "ok"
    assert not (tmp_path / "run" / TMP_NAME).exists()  # the child's TMPDIR goes with the run


# --- processes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("spawn, reason", [
    ("import subprocess; subprocess.run(['true'])", "subprocess.Popen ['true']"),
    ("import os; os.system('true')", "os.system 'true'"),
    ("import os; os.fork()", "os.fork"),
    ("import os; os.execv('/bin/true', ['true'])", "os.exec ['true']"),
    ("import os; os.posix_spawn('/bin/true', ['true'], {})", "os.posix_spawn ['true']"),
    # multiprocessing's spawn starts its helpers through _posixsubprocess, which raises no audit event
    ("import multiprocessing as mp\nif __name__ == '__main__':\n"
     "    mp.get_context('spawn').Process(target=print).start()", "_posixsubprocess.fork_exec ["),
])
def test_starting_a_process_is_blocked(spawn: str, reason: str, tmp_path: Path) -> None:
    result = run_code(spawn, tmp_path)
    assert result.killed is not None and result.killed.startswith(f"blocked: starting a process ({reason}")
    assert not result.ok


def test_a_swallowed_refusal_still_fails_the_run(tmp_path: Path) -> None:
    result = run_code("""
        import subprocess
        try:
            subprocess.run(['true'])
        except Exception:
            pass
    """, tmp_path)
    assert result.returncode == 0
    assert not result.ok and result.killed == "blocked: starting a process (subprocess.Popen ['true'])"


def test_signalling_another_process_and_raising_limits_are_blocked(tmp_path: Path) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        result = run_code(f"import os, signal; os.kill({bystander.pid}, signal.SIGKILL)", tmp_path)
        assert result.killed == f"blocked: signalling another process (os.kill {bystander.pid})"
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
    result = run_code("import resource; resource.setrlimit(resource.RLIMIT_CPU, (-1, -1))", tmp_path)
    assert result.killed == "blocked: changing resource limits (resource.setrlimit)"


def test_only_python_commands_are_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="runs Python commands"):
        run_sandboxed([sys.executable, "-X", "dev"], workdir=tmp_path, limits=TIGHT)


# --- limits ----------------------------------------------------------------------------------------

def test_a_sleeping_loop_is_killed_by_the_wall_clock(tmp_path: Path) -> None:
    result = run_code("import time\nwhile True: time.sleep(0.1)", tmp_path, SandboxLimits(wall_s=2.0, memory_mb=256))
    assert result.killed == "timeout"
    assert result.one_line() == "killed: wall-clock timeout after 2 s"
    assert 2.0 <= result.seconds < 6.0


def test_a_busy_loop_is_killed_by_the_cpu_limit(tmp_path: Path) -> None:
    result = run_code("while True: pass", tmp_path, SandboxLimits(wall_s=20.0, cpu_s=1, memory_mb=256))
    assert result.killed == "cpu"
    assert result.one_line() == "killed: CPU time limit of 1 s reached"
    assert result.seconds < 15.0


def test_unbounded_allocation_is_stopped_by_the_memory_limit(tmp_path: Path) -> None:
    result = run_code("chunks = []\nwhile True: chunks.append(bytearray(10**7))", tmp_path)
    assert result.killed == "memory"
    assert result.one_line().startswith("killed: memory limit of 256 MB reached (MemoryError")


def kill_itself(sig: signal.Signals) -> str:
    return f"import os, signal\nos.kill(os.getpid(), signal.{sig.name})"


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGKILL],
                         ids=lambda sig: sig.name)
def test_a_crash_under_the_memory_cap_is_out_of_memory(sig: signal.Signals, tmp_path: Path) -> None:
    """Native code that gets no memory under RLIMIT_AS often dies of a signal, stderr empty, before Python
    could raise MemoryError: both stages must still say "out of memory" and what to change."""
    result = run_code(kill_itself(sig), tmp_path)
    assert result.returncode == -sig and result.killed == "memory"
    line = result.one_line()
    assert line == f"killed: memory limit of 256 MB reached ({sig.name}; no error output)"
    assert mentions_out_of_memory(line)
    assert train_stage.failure_hint(result.killed, line) == train_stage.MEMORY_HINT
    assert "raise validate.memory_mb" in validate_stage.memory_hint({"detail": line})


@pytest.mark.parametrize("sig, memory_mb", [(signal.SIGSEGV, None), (signal.SIGTERM, 256)],
                         ids=["SIGSEGV-without-a-cap", "SIGTERM-under-the-cap"])
def test_other_signal_deaths_are_not_out_of_memory(sig: signal.Signals, memory_mb: int | None,
                                                   tmp_path: Path) -> None:
    result = run_code(kill_itself(sig), tmp_path, SandboxLimits(wall_s=5.0, memory_mb=memory_mb))
    assert result.returncode == -sig and result.killed is None and not result.ok
    line = result.one_line()
    assert line == f"exit {-sig}: {sig.name}; no error output"
    assert not mentions_out_of_memory(line)
    assert train_stage.failure_hint(result.killed, line) == ""
    assert validate_stage.memory_hint({"detail": line}) == ""


# --- well-behaved code -----------------------------------------------------------------------------

def test_a_torch_script_writing_its_run_directory_works(tmp_path: Path) -> None:
    result = run_code("""
        import torch
        model = torch.nn.Linear(4, 1)
        loss = model(torch.ones(8, 4)).pow(2).mean()
        loss.backward()
        torch.save(model.state_dict(), 'weights.pt')
        print(round(float(loss), 6))
    """, tmp_path, SandboxLimits(wall_s=240.0, memory_mb=8192))
    assert result.ok, result.one_line()
    assert (tmp_path / "weights.pt").stat().st_size > 0
    assert float(result.stdout.strip()) >= 0.0


def test_secrets_in_the_environment_never_reach_the_child(tmp_path: Path, monkeypatch) -> None:
    secrets = {"OPENAI_API_KEY": "sk-1", "MY_LLM_KEY": "sk-2", "AWS_SECRET_ACCESS_KEY": "a", "GITHUB_TOKEN": "g",
               "DB_PASSWORD": "p", "HF_AUTH": "h"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code = "import os, json; json.dump(sorted(os.environ), open('env.json', 'w'))"
    assert run_code(code, tmp_path).ok
    seen = set(json.loads((tmp_path / "env.json").read_text()))
    assert seen.isdisjoint(secrets) and {"OMP_NUM_THREADS", "PATH", "PYTHONPATH"} <= seen
