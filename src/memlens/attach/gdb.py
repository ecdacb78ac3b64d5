"""Starting the agent inside a running CPython through gdb (before 3.14).

gdb is driven through its machine interface (MI), so that memlens, not gdb's script,
decides how long anything may take. The steps:

1. Attach (the process stops), then queue a pending call of a function that does
   nothing (`PyCallable_Check(NULL)`) with `Py_AddPendingCall`, break on that function
   and let the process run. The interpreter makes pending calls between bytecodes, with
   the GIL held and its frames consistent: when the breakpoint is hit, the process stops
   at a point where running Python code is as safe as in a finalizer.
2. There, `PyGILState_Ensure`, `PyRun_SimpleString` of the fixed bootstrap
   (`memlens.attach.bootstrap`), `PyGILState_Release`, and detach.
3. Only the main thread makes pending calls. If it does not within a second, it is
   either blocked outside Python with the GIL released (`time.sleep`, `accept`, a lock):
   then the calls of step 2 are made on it directly, as pyrasite does, once its stack
   shows no allocator or collector at work; or it holds the GIL in one long C call: then
   nothing is run, the process is detached and left running, and the attach times out.
   The queued call stays harmless: it runs later and does nothing.
"""

from __future__ import annotations

import contextlib
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from memlens.attach import bootstrap
from memlens.attach.target import blocked_by_ptrace
from memlens.errors import AttachFailed, AttachUnsupported, MemlensError, TargetGone

PENDING_WAIT_S = 1.0  # how long the main thread has to make the pending call
# Frames that mean the thread is inside the allocator or the collector: running Python
# code on it then could deadlock on a lock it holds, or find a structure half-changed.
_UNSAFE_FRAME = re.compile(
    r"malloc|calloc|realloc|free|_int_|arena|gc_collect|collect_main|deduce_unreachable|"
    r"dealloc|mutex_lock|lll_lock"
)
_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')
_VALUE = re.compile(r'value="((?:[^"\\]|\\.)*)"')
_FUNC = re.compile(r'func="([^"]*)"')
_REASON = re.compile(r'reason="([^"]*)"')

MISSING_GDB = (
    "gdb is not installed: memlens attaches to Python before 3.14 through gdb; "
    "install the package `gdb` (Debian and Ubuntu: `sudo apt-get install gdb`)"
)


@dataclass
class Injection:
    """How an attach went: the path taken and how long the process was stopped."""

    path: str  # "pending-call" or "direct"
    stopped_s: float


def gdb_path() -> str:
    found = shutil.which("gdb")
    if found is None:
        raise AttachUnsupported(MISSING_GDB)
    return found


def inject(
    pid: int, heap_interval: int = 0, timeout: float = 10.0, runtime: str | None = None
) -> Injection:
    """Runs the bootstrap in `pid` (see the module's text). Raises AttachUnsupported,
    AttachBlocked, AttachFailed or TargetGone; the process is always left running."""
    line = bootstrap.statement(heap_interval, runtime=runtime)
    deadline = time.monotonic() + timeout
    with _Mi.start(gdb_path()) as mi:
        for setting in (
            "pagination off",
            "confirm off",
            "mi-async on",
            "scheduler-locking off",  # other threads run (and drop the GIL) during calls
            "unwind-on-signal on",  # a call interrupted is undone, not left half-made
            "debuginfod enabled off",  # never fetch symbols from the network
            # Symbols of libpython and libc only (what the calls need), read while the
            # process is stopped: every other library's would lengthen its pause.
            "auto-solib-add off",
        ):
            with contextlib.suppress(_MiError):
                mi.command(f"-gdb-set {setting}", deadline)
        stopped_at = time.monotonic()  # the process stops as gdb attaches
        try:
            mi.command(f"-target-attach {pid}", deadline)
        except _MiError as exc:
            if "not permitted" in exc.text or "ptrace" in exc.text.lower():
                raise blocked_by_ptrace(pid, exc.text) from None
            if "No such process" in exc.text:
                raise TargetGone(f"PID {pid} exited before gdb could attach") from None
            raise AttachFailed(f"gdb could not attach to PID {pid}: {exc.text}") from None
        mi.wait_stopped(deadline)
        stopped_s = 0.0
        try:
            for library in ("libpython", "/libc[.-]"):  # gdb's regex: no alternation
                with contextlib.suppress(_MiError):
                    mi.command(f'-interpreter-exec console "sharedlibrary {library}"', deadline)
            try:
                mi.evaluate("(int)Py_AddPendingCall(&PyCallable_Check, (void*)0)", deadline)
            except _MiError as exc:
                raise AttachUnsupported(
                    f"PID {pid} has no CPython runtime gdb can call ({exc.text})"
                ) from None
            mi.command("-break-insert -t PyCallable_Check", deadline)
            stopped_s += time.monotonic() - stopped_at
            mi.command("-exec-continue", deadline)
            hit = mi.wait_breakpoint(min(deadline, time.monotonic() + PENDING_WAIT_S))
            stopped_at = time.monotonic()
            path = "pending-call"
            if not hit:
                mi.command("-exec-interrupt", deadline)
                mi.wait_stopped(deadline)
                stopped_at = time.monotonic()
                mi.command("-break-delete", deadline)
                mi.command("-thread-select 1", deadline)
                _check_blocked_outside_python(mi, pid, deadline)
                path = "direct"
            _run_bootstrap(mi, pid, line, deadline)
        finally:
            with contextlib.suppress(MemlensError, _MiError):
                mi.command("-break-delete", deadline + 2)
            with contextlib.suppress(MemlensError, _MiError):
                mi.command("-target-detach", deadline + 2)
            stopped_s += time.monotonic() - stopped_at
    return Injection(path, stopped_s)


def _check_blocked_outside_python(mi: _Mi, pid: int, deadline: float) -> None:
    """The main thread did not make the pending call: refuses unless it waits outside
    Python with the GIL released, at a point where calling into Python is safe."""
    holds_gil = mi.evaluate("(int)PyGILState_Check()", deadline)
    if holds_gil != "0":
        raise AttachFailed(
            f"timed out: PID {pid}'s main thread holds the GIL in one long call and runs no "
            "Python code; nothing was run in it and it goes on running; try again later"
        )
    frames = _FUNC.findall(mi.command("-stack-list-frames 0 12", deadline))
    inner = frames[:6]
    if any(_UNSAFE_FRAME.search(f) for f in inner):
        raise AttachFailed(
            f"timed out: PID {pid}'s main thread is inside {', '.join(inner[:3])} and makes no "
            "pending call; nothing was run in it and it goes on running; try again later"
        )


def _run_bootstrap(mi: _Mi, pid: int, line: str, deadline: float) -> None:
    gil = mi.evaluate("(int)PyGILState_Ensure()", deadline)
    try:
        result = mi.evaluate(f'(int)PyRun_SimpleString("{line}")', deadline)
    finally:
        mi.evaluate(f"(void)PyGILState_Release({int(gil)})", deadline)
    if result != "0":
        raise AttachFailed(
            f"the agent did not start inside PID {pid}: the start-up raised (the process's "
            "stderr shows why); the process goes on running"
        )


class _MiError(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Mi:
    """One gdb in MI mode: commands with tokens, answers matched by token, async records
    (stops, exits) kept for whoever waits for them."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stops: list[str] = []
        self.exited = False
        self._token = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def start(cls, gdb: str) -> _Mi:
        try:
            proc = subprocess.Popen(
                [gdb, "--interpreter=mi3", "-nx", "-q"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                errors="replace",
            )
        except FileNotFoundError:
            raise AttachUnsupported(MISSING_GDB) from None
        return cls(proc)

    def __enter__(self) -> _Mi:
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.write("-gdb-exit\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            # Killing gdb detaches it from the process (the kernel does); a breakpoint it
            # had not deleted yet would stay in the process's code (docs/attach.md).
            self.proc.kill()
            self.proc.wait()
            sys.stderr.write(
                "memlens: gdb did not end and was killed; had its breakpoint in "
                "PyCallable_Check not been removed, the process would stop with SIGTRAP "
                "at its next call: restart it when you can\n"
            )
        self._reader.join(5)  # it reads to the end of gdb's output, then closes nothing
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.rstrip("\n"))
        self.lines.put(None)

    def _next(self, deadline: float) -> str:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AttachFailed("timed out waiting for gdb; the process was left running")
        try:
            line = self.lines.get(timeout=left)
        except queue.Empty:
            raise AttachFailed("timed out waiting for gdb; the process was left running") from None
        if line is None:
            raise AttachFailed("gdb ended unexpectedly; the process was left running")
        if line.startswith("*stopped"):
            self.stops.append(line)
        if line.startswith("=thread-group-exited") or 'reason="exited' in line:
            self.exited = True
        return line

    def command(self, text: str, deadline: float) -> str:
        """Sends one MI command; its ^done/^running line, or _MiError with gdb's message."""
        self._token += 1
        token = str(self._token)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{token}{text}\n")
            self.proc.stdin.flush()
        except OSError:
            raise AttachFailed("gdb ended unexpectedly; the process was left running") from None
        while True:
            line = self._next(deadline)
            if line.startswith(token + "^"):
                if line.startswith(token + "^error"):
                    m = _MSG.search(line)
                    raise _MiError(_unescape(m[1]) if m else line)
                return line

    def evaluate(self, expression: str, deadline: float) -> str:
        quoted = expression.replace("\\", "\\\\").replace('"', '\\"')
        try:
            line = self.command(f'-data-evaluate-expression "{quoted}"', deadline)
        except _MiError as exc:
            if "exited" in exc.text:  # during the call: other threads run meanwhile
                raise TargetGone("the process exited during the attach") from None
            raise
        if self.exited:
            raise TargetGone("the process exited during the attach")
        m = _VALUE.search(line)
        return _unescape(m[1]) if m else ""

    def wait_stopped(self, deadline: float) -> str:
        while not self.stops:
            if self.exited:
                raise TargetGone("the process exited during the attach")
            self._next(deadline)
        if self.exited:
            raise TargetGone("the process exited during the attach")
        return self.stops.pop(0)

    def wait_breakpoint(self, deadline: float) -> bool:
        """Whether the breakpoint was hit before `deadline`; other stops (a signal the
        program receives) are let go on."""
        while True:
            try:
                stop = self.wait_stopped(deadline)
            except AttachFailed:
                if self.exited:
                    raise TargetGone("the process exited during the attach") from None
                return False
            reason = _REASON.search(stop)
            if reason and reason[1] == "breakpoint-hit":
                return True
            if reason and reason[1].startswith("exited"):
                raise TargetGone("the process exited during the attach")
            self.command("-exec-continue", deadline + 5)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), text)
