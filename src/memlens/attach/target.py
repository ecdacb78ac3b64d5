"""What memlens checks about a process before it attaches: whose it is, which Python it
runs, and whether the OS lets it be traced.

Everything is read from /proc and never from the process itself: the executable's path
and the files it has mapped name the interpreter (`libpython3.12.so`, `python3.12`,
extension modules tagged `cpython-312`). Nothing here stops or touches the process.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from memlens.errors import (
    AttachBlocked,
    AttachUnsupported,
    ForeignTarget,
    MemlensError,
    TargetNotFound,
)

MIN_VERSION = (3, 10)
# sys.remote_exec (PEP 768) is there from 3.14, in both the attaching and the target Python.
REMOTE_EXEC_VERSION = (3, 14)
CAP_SYS_PTRACE = 19

_LIBPYTHON = re.compile(r"/libpython(\d)\.(\d+)t?(?:d|m)?\.so(?:\.[\d.]+)?$")
_EXE = re.compile(r"^python(\d)\.(\d+)t?$")
_EXTENSION = re.compile(r"\.cpython-(\d)(\d+)t?-[^/]*\.so$")
_STDLIB = re.compile(r"/lib/python(\d)\.(\d+)t?/")
_OTHER_PYTHONS = (("libpypy", "PyPy"), ("pypy", "PyPy"), ("graalpy", "GraalPy"))


@dataclass(frozen=True)
class PythonTarget:
    """A CPython process as read from /proc: its version and how that was told."""

    pid: int
    version: tuple[int, int]
    exe: str
    evidence: str  # the file that named the version

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


def check_owner(pid: int) -> int:
    """The process's owner uid; ForeignTarget when it is not ours. Root too attaches only
    to its own processes: the agent would run, and register, as the process's user, where
    root's `memlens ls` does not look."""
    if pid <= 0:
        raise TargetNotFound(f"{pid} is not a valid PID (PIDs are positive integers)")
    try:
        uid = os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        raise TargetNotFound(f"no process has PID {pid}") from None
    me = os.geteuid()
    if uid != me:
        raise ForeignTarget(
            f"PID {pid} belongs to {_user(uid)}, not to you; memlens attaches only to your "
            f"own processes (run `sudo -u {_user_name(uid)} memlens attach {pid}`)"
        )
    return uid


def python_target(pid: int) -> PythonTarget:
    """The process's CPython version; AttachUnsupported when it is not CPython or older
    than 3.10, or when nothing names its version."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="surrogateescape") as f:
            fields = [line.rstrip("\n").split(None, 5) for line in f]
        paths = [f[5] for f in fields if len(f) == 6]
    except FileNotFoundError:
        raise TargetNotFound(f"no process has PID {pid}") from None
    except PermissionError as exc:
        raise AttachBlocked(f"cannot read PID {pid}'s executable or maps: {exc.strerror}") from None
    found = version_from(exe, [p for p in paths if p.startswith("/")])
    if found is None:
        raise AttachUnsupported(
            f"PID {pid} ({os.path.basename(exe)}) is not a CPython process that memlens can "
            "recognise: no libpython, python3.X executable or CPython extension module is mapped"
        )
    version, evidence = found
    target = PythonTarget(pid, version, exe, evidence)
    if version < MIN_VERSION:
        raise AttachUnsupported(
            f"PID {pid} runs Python {target.version_text}; memlens attaches to CPython 3.10 "
            "and later (start the program with `memlens run --agent` after upgrading)"
        )
    return target


def attachable(probe: object) -> bool:
    """Whether a watched process could be attached to: a local process of ours (not an
    agent read over its address) that runs CPython 3.10 or later. Reads /proc only."""
    from memlens.probes.remote import RemoteAgentProbe

    if isinstance(probe, RemoteAgentProbe):
        return False
    pid = getattr(getattr(probe, "identity", None), "pid", None)
    if not isinstance(pid, int):
        return False
    try:
        check_owner(pid)
        python_target(pid)
    except MemlensError:
        return False
    return True


def version_from(exe: str, mapped: list[str]) -> tuple[tuple[int, int], str] | None:
    """(major, minor) and the file that said so, from the executable's path and the
    mapped files; AttachUnsupported for PyPy and the like. Pure, for tests."""
    names = [os.path.basename(exe).lower(), *(os.path.basename(p).lower() for p in mapped)]
    for marker, implementation in _OTHER_PYTHONS:
        if any(name.startswith(marker) for name in names):
            raise AttachUnsupported(
                f"the process runs {implementation}, not CPython; memlens attaches to CPython only"
            )
    for path in mapped:
        m = _LIBPYTHON.search(path)
        if m:
            return (int(m[1]), int(m[2])), path
    m = _EXE.match(os.path.basename(exe))
    if m:
        return (int(m[1]), int(m[2])), exe
    for pattern in (_EXTENSION, _STDLIB):
        for path in mapped:
            m = pattern.search(path)
            if m:
                return (int(m[1]), int(m[2])), path
    return None


@dataclass(frozen=True)
class PtraceReadings:
    """What decides whether this process may trace another: Yama's scope (None when Yama
    is not there) and whether CAP_SYS_PTRACE is in its effective capabilities."""

    yama_scope: int | None
    cap_sys_ptrace: bool


def ptrace_readings() -> PtraceReadings:
    scope: int | None
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope", encoding="ascii") as f:
            scope = int(f.read().strip())
    except (OSError, ValueError):
        scope = None
    cap = False
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    cap = bool(int(line.split()[1], 16) >> CAP_SYS_PTRACE & 1)
    except (OSError, ValueError):
        pass
    return PtraceReadings(scope, cap)


def check_ptrace(pid: int, readings: PtraceReadings | None = None) -> None:
    """AttachBlocked when Yama forbids tracing the process (a debugger, here gdb, is not
    its parent): what blocks it and the fix."""
    r = ptrace_readings() if readings is None else readings
    if r.yama_scope is None or r.yama_scope == 0:
        return
    if r.yama_scope >= 3:
        raise AttachBlocked(
            f"kernel.yama.ptrace_scope is {r.yama_scope}: no process may be traced until the "
            "next boot, so memlens cannot attach; start the program with "
            "`memlens run --agent` or MEMLENS_AGENT=1 instead"
        )
    if r.cap_sys_ptrace:
        return
    if r.yama_scope == 1:
        raise AttachBlocked(
            "kernel.yama.ptrace_scope is 1: only a process's own ancestors may trace it, and "
            f"gdb is not one of PID {pid}'s; allow it until the next boot with "
            "`sudo sysctl kernel.yama.ptrace_scope=0`, or give memlens CAP_SYS_PTRACE"
        )
    raise AttachBlocked(
        f"kernel.yama.ptrace_scope is {r.yama_scope}: only a process with CAP_SYS_PTRACE may "
        "trace another; give it to memlens (in a container: --cap-add=SYS_PTRACE) or lower "
        "the setting with `sudo sysctl kernel.yama.ptrace_scope=0`"
    )


def blocked_by_ptrace(
    pid: int, detail: str, readings: PtraceReadings | None = None
) -> AttachBlocked:
    """The error for a ptrace that the kernel refused although Yama allows it: in a
    container, most often a missing CAP_SYS_PTRACE or a seccomp profile."""
    r = ptrace_readings() if readings is None else readings
    try:
        check_ptrace(pid, r)
    except AttachBlocked as exc:
        return exc
    hint = (
        "the container or sandbox may forbid ptrace: run it with --cap-add=SYS_PTRACE "
        "(and a seccomp profile that allows ptrace)"
        if not r.cap_sys_ptrace
        else "another debugger may already trace it (see TracerPid in /proc/PID/status)"
    )
    return AttachBlocked(f"the kernel refused to let gdb trace PID {pid} ({detail}); {hint}")


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _user(uid: int) -> str:
    return f"user {_user_name(uid)!r}"
