"""Bootstrap of a sandboxed child: limits, namespaces and an audit hook, then the real program.

    python -P -m paper_autotrain.sandbox.boot -m MODULE [args...]
    python -P -m paper_autotrain.sandbox.boot -c CODE [args...]
    python -P -m paper_autotrain.sandbox.boot SCRIPT.py [args...]

Started only by :func:`paper_autotrain.sandbox.process.run_sandboxed`, which passes the policy as JSON in the
environment variable below. Before any of the program's code runs, this module

- sets RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE (soft = hard, so the program cannot raise them) and no core files;
- moves into a fresh network namespace when the kernel allows it (nothing but a downed loopback inside) and a
  fresh mount namespace where every mount is read-only except the writable folders (native code included);
- installs a Python audit hook (it cannot be removed) that refuses network access, starting or signalling
  processes, changing limits, and writes outside the writable folders, and guards the one way to start a
  process that raises no audit event (_posixsubprocess.fork_exec). A refusal raises
  :class:`SandboxViolation` (a PermissionError) in the program and writes one line to the report file
  descriptor, so the parent reports it even when the program swallows the exception.

It imports only the standard library: it must stay cheap and must not import what it guards.
"""

from __future__ import annotations

import _posixsubprocess
import _thread
import ctypes
import json
import os
import resource
import runpy
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

SANDBOX_ENV = "PAPER_AUTOTRAIN_SANDBOX"
BLOCKED_PREFIX = "blocked: "
MEMORY_MARKER = "memory"
NETWORK_MARKER = "network: "  # followed by "namespace" or "audit-hook"
FILESYSTEM_MARKER = "filesystem: "  # followed by "read-only mounts" or "audit-hook"
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 1 << 18
MOUNT_ATTR_RDONLY, AT_RECURSIVE, AT_FDCWD = 0x1, 0x8000, -100
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (syscalls added since Linux 5.1)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
LOOPBACK_HOSTS = ("localhost", "::1")
# commands libraries run to probe the machine and do without when refused (numpy.testing runs lscpu on
# import): refused like any process, but not reported, so they do not fail a well-behaved run
QUIETLY_REFUSED_COMMANDS = frozenset({"lscpu"})
ALWAYS_WRITABLE = ("/dev/null",)


class SandboxViolation(PermissionError):
    """An action the sandbox refuses; its message is the one-line reason the parent reports."""


# --- limits and namespaces --------------------------------------------------------------------------

def apply_limits(policy: dict[str, Any]) -> None:
    """Soft = hard limits: an unprivileged program cannot raise them again (and the hook refuses it)."""
    limits = {resource.RLIMIT_CORE: (0, 0)}
    if policy.get("cpu_s"):  # SIGXCPU at the soft limit, SIGKILL a second later
        limits[resource.RLIMIT_CPU] = (int(policy["cpu_s"]), int(policy["cpu_s"]) + 1)
    if policy.get("memory_mb"):
        limits[resource.RLIMIT_AS] = (int(policy["memory_mb"]) * 1024 * 1024,) * 2
    if policy.get("file_mb"):
        limits[resource.RLIMIT_FSIZE] = (int(policy["file_mb"]) * 1024 * 1024,) * 2
    for kind, (soft, hard) in limits.items():
        resource.setrlimit(kind, (soft, hard))


def enter_namespaces(libc: ctypes.CDLL, flags: int) -> bool:
    """unshare(flags): as root directly, otherwise inside a new user namespace that maps our own ids.

    Python 3.11 has no os.unshare, hence libc through ctypes. Must run while the process has one thread.
    """
    if os.geteuid() == 0:
        return libc.unshare(flags) == 0
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | flags) != 0:
        return False
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w", encoding="ascii") as handle:
                handle.write(text)
    except OSError:
        return False
    return True


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def set_read_only(libc: ctypes.CDLL, path: str, read_only: bool) -> bool:
    """mount_setattr(2) on the mount at `path` and every mount below it (Linux 5.12+)."""
    attr = MountAttr(MOUNT_ATTR_RDONLY if read_only else 0, 0 if read_only else MOUNT_ATTR_RDONLY, 0, 0)
    done = libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_long(AT_FDCWD), ctypes.c_char_p(os.fsencode(path)),
                        ctypes.c_long(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_long(ctypes.sizeof(attr)))
    return done == 0


def read_only_outside(libc: ctypes.CDLL, writable: Sequence[str]) -> bool:
    """In our own mount namespace: every mount read-only except bind mounts of the writable folders, so the
    kernel refuses writes that never pass through Python (native code). False, changing nothing that
    matters, when the kernel does not allow it."""
    folders = [folder for folder in writable if os.path.isdir(folder)]
    if libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None) != 0:
        return False  # nothing below may propagate back to the parent's mounts
    for folder in folders:
        if libc.mount(os.fsencode(folder), os.fsencode(folder), None, ctypes.c_ulong(MS_BIND | MS_REC), None) != 0:
            return False
    if not set_read_only(libc, "/", True):
        return False
    if not all(set_read_only(libc, folder, False) for folder in folders):
        set_read_only(libc, "/", False)  # better the audit hook alone than a run that cannot write its folder
        return False
    os.chdir(os.getcwd())  # the working directory again, now through its writable bind mount
    return True


def isolate(policy: dict[str, Any], writable: Sequence[str]) -> tuple[str, str]:
    """(network, filesystem) isolation the kernel granted: "namespace" / "read-only mounts", or "audit-hook"."""
    network = filesystem = "audit-hook"
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        flags = (CLONE_NEWNET if policy.get("network_namespace", True) else 0) | CLONE_NEWNS
        if not enter_namespaces(libc, flags):
            flags &= ~CLONE_NEWNET  # a kernel may allow one namespace and not the other
            if not (flags and enter_namespaces(libc, flags)):
                return network, filesystem
        network = "namespace" if flags & CLONE_NEWNET else network
        filesystem = "read-only mounts" if read_only_outside(libc, writable) else filesystem
    except (OSError, AttributeError):
        pass
    return network, filesystem


# --- the audit hook -------------------------------------------------------------------------------

def is_under(path: str, folders: Sequence[str]) -> bool:
    return any(path == folder or path.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders)


def resolve(path: Any, dir_fd: Any = None) -> str:
    """The real absolute path an event names, symlinks resolved (a file descriptor: the file it is open on)."""
    if isinstance(path, int):
        return fd_path(path)
    text = os.fsdecode(path)
    if not os.path.isabs(text) and isinstance(dir_fd, int) and dir_fd >= 0:
        text = os.path.join(fd_path(dir_fd), text)
    return os.path.realpath(text)


def fd_path(fd: int) -> str:
    try:
        return os.path.realpath(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return f"file descriptor {fd}"


def opens_for_writing(mode: Any, flags: Any) -> bool:
    if isinstance(flags, int) and flags & WRITE_FLAGS:
        return True
    return isinstance(mode, str) and any(letter in mode for letter in "wax+")


def is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) and address else address
    return isinstance(host, str) and (host in LOOPBACK_HOSTS or host.startswith("127."))


def is_this_interpreter(executable: Any) -> bool:
    return isinstance(executable, str | bytes) and os.path.realpath(os.fsdecode(executable)) == os.path.realpath(
        sys.executable)


def describe_command(event: str, args: tuple) -> str:
    if event == "subprocess.Popen":
        return f"subprocess.Popen {args[1]!r}"
    if event == "os.system":
        return f"os.system {os.fsdecode(args[0])!r}"
    if event in ("os.exec", "os.posix_spawn"):
        return f"{event} {args[1]!r}"
    if event == "os.spawn":
        return f"os.spawn {args[2]!r}"
    return event


def paths_written(event: str, args: tuple) -> list[tuple[Any, Any]]:
    """(path, dir_fd) pairs an event would create, change or remove; [] when it writes nothing."""
    if event == "open":  # a descriptor was checked when it was opened (and may be a pipe: stdout)
        return [(args[0], None)] if opens_for_writing(args[1], args[2]) and not isinstance(args[0], int) else []
    if event in ("os.remove", "os.rmdir"):
        return [(args[0], args[1])]
    if event in ("os.mkdir", "os.chmod", "os.utime"):
        return [(args[0], args[-1])]
    if event == "os.chown":
        return [(args[0], args[3])]
    if event in ("os.rename", "os.link"):  # a hard link would let the run write the outside file's inode
        return [(args[0], args[2]), (args[1], args[3])]
    if event == "os.symlink":
        return [(args[1], args[2])]
    if event in ("os.truncate", "os.setxattr", "os.removexattr", "os.chflags", "os.lchflags", "os.lchmod",
                 "shutil.rmtree", "tempfile.mkstemp", "tempfile.mkdtemp", "shutil.chown"):
        return [(args[0], None)]
    if event in ("shutil.copyfile", "shutil.copymode", "shutil.copystat"):
        return [(args[1], None)]
    if event == "shutil.move":
        return [(args[0], None), (args[1], None)]
    if event == "shutil.make_archive":
        return [(args[0], None)]
    if event == "shutil.unpack_archive":
        return [(args[1], None)]
    if event == "sqlite3.connect":
        return [] if args[0] in (":memory:", b":memory:", "") else [(args[0], None)]
    return []


NETWORK_EVENTS = frozenset({"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"})
NAME_LOOKUP_EVENTS = frozenset({"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                                "socket.gethostbyaddr", "socket.getnameinfo"})
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                            "os.forkpty", "os.startfile"})
SIGNAL_EVENTS = frozenset({"os.kill", "os.killpg"})
LIMIT_EVENTS = frozenset({"resource.setrlimit", "resource.prlimit"})
WRITE_EVENTS = frozenset({
    "open", "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.utime", "os.chown", "os.rename", "os.link",
    "os.symlink", "os.truncate", "os.setxattr", "os.removexattr", "os.chflags", "os.lchflags", "os.lchmod",
    "shutil.rmtree", "tempfile.mkstemp", "tempfile.mkdtemp", "shutil.chown", "shutil.copyfile", "shutil.copymode",
    "shutil.copystat", "shutil.move", "shutil.make_archive", "shutil.unpack_archive", "sqlite3.connect",
})
WATCHED_EVENTS = NETWORK_EVENTS | NAME_LOOKUP_EVENTS | PROCESS_EVENTS | SIGNAL_EVENTS | LIMIT_EVENTS | WRITE_EVENTS


def refusal(event: str, args: tuple, writable: Sequence[str], workers: bool) -> str | None:
    """Why the sandbox refuses this event (the one-line reason), or None when it is allowed."""
    if event in NETWORK_EVENTS:
        address = args[1]
        return None if workers and is_loopback(address) else f"network access ({event} to {address!r})"
    if event in NAME_LOOKUP_EVENTS:
        return None if workers and is_loopback(args[0]) else f"network access ({event} of {args[0]!r})"
    if event in PROCESS_EVENTS:
        if workers and event == "subprocess.Popen" and is_this_interpreter(args[0]):
            return None  # multi-device training re-runs this interpreter for each rank
        return f"starting a process ({describe_command(event, args)})"
    if event in SIGNAL_EVENTS:
        target = int(args[0])
        own = os.getpid() if event == "os.kill" else os.getpgid(0)
        return None if target in (own, 0) else f"signalling another process ({event} {target})"
    if event in LIMIT_EVENTS:
        return f"changing resource limits ({event})"
    for path, dir_fd in paths_written(event, args):
        real = resolve(path, dir_fd)
        if is_under(real, writable) or (event == "os.mkdir" and os.path.isdir(real)):
            continue  # os.makedirs(..., exist_ok=True) of an existing folder changes nothing
        return f"write outside the run directory ({real})"
    return None


def make_hook(writable: Sequence[str], report_fd: int, workers: bool) -> Callable[[str, tuple], None]:
    writable = tuple(os.path.realpath(folder) for folder in writable) + ALWAYS_WRITABLE
    checking: set[int] = set()  # threads inside the hook: what it does itself is not checked again

    def hook(event: str, args: tuple) -> None:
        thread = _thread.get_ident()
        if event not in WATCHED_EVENTS or thread in checking:
            return
        checking.add(thread)
        try:
            reason = refusal(event, args, writable, workers)
        finally:
            checking.discard(thread)
        if reason is None:
            return
        if event == "subprocess.Popen" and os.path.basename(os.fsdecode(args[0])) in QUIETLY_REFUSED_COMMANDS:
            raise SandboxViolation(BLOCKED_PREFIX + reason)
        refuse(report_fd, reason)

    return hook


def refuse(report_fd: int, reason: str) -> NoReturn:
    report(report_fd, BLOCKED_PREFIX + reason)
    raise SandboxViolation(BLOCKED_PREFIX + reason)


def guard_fork_exec(report_fd: int, workers: bool) -> None:
    """multiprocessing's spawn and forkserver start processes through _posixsubprocess.fork_exec, which
    raises no audit event: replace it by a guard (subprocess goes through it too, after its own event)."""
    original = _posixsubprocess.fork_exec

    def fork_exec(*args: Any, **kwargs: Any) -> Any:
        argv = list(args[0] or []) if args else []
        executables = list(args[1] or []) if len(args) > 1 else []
        if workers and any(is_this_interpreter(path) for path in executables):
            return original(*args, **kwargs)
        refuse(report_fd, f"starting a process (_posixsubprocess.fork_exec {[os.fsdecode(a) for a in argv]!r})")

    _posixsubprocess.fork_exec = fork_exec


def report(report_fd: int, line: str) -> None:
    """One line to the parent; os.write on a descriptor opened by the parent (no audited open)."""
    if report_fd >= 0:
        try:
            os.write(report_fd, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))
        except OSError:
            pass


# --- running the program --------------------------------------------------------------------------

def run_program(argv: Sequence[str]) -> None:
    """Run `-m module`, `-c code` or a script with sys.argv as the plain interpreter would set it."""
    if not argv:
        raise SystemExit("sandbox boot: nothing to run")
    if argv[0] == "-m" and len(argv) > 1:
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    elif argv[0] == "-c" and len(argv) > 1:
        sys.argv = ["-c", *argv[2:]]
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    elif not argv[0].startswith("-"):
        sys.argv = list(argv)
        runpy.run_path(argv[0], run_name="__main__")
    else:
        raise SystemExit(f"sandbox boot: unsupported interpreter option {argv[0]!r} (use -m, -c or a script)")


def main() -> None:
    policy = json.loads(os.environ.pop(SANDBOX_ENV, "{}") or "{}")
    report_fd = int(policy.get("report_fd", -1))
    writable = [os.path.realpath(folder) for folder in policy.get("writable", [])]
    apply_limits(policy)
    network, filesystem = isolate(policy, writable)
    report(report_fd, NETWORK_MARKER + network)
    report(report_fd, FILESYSTEM_MARKER + filesystem)
    sys.dont_write_bytecode = True  # importing model.py must not write __pycache__ next to it
    workers = bool(policy.get("workers", False))
    guard_fork_exec(report_fd, workers)
    sys.addaudithook(make_hook(writable, report_fd, workers))
    try:
        run_program(sys.argv[1:])
    except MemoryError:
        report(report_fd, MEMORY_MARKER)
        raise


if __name__ == "__main__":
    main()
