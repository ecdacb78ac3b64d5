"""Linux fast path: reads /proc through file descriptors kept open for the target's life.

A kept descriptor costs one pread per file per tick (about 1 µs for statm) instead of an
open/read/close, and it is tied to the process it was opened on: once that process is
gone, reads fail with ESRCH even if the PID has been handed to a new process, so two
processes can never be mixed in one series.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from memlens.errors import AccessDenied, TargetGone, TargetNotFound
from memlens.model import PYTHON_FIELDS, ProcessIdentity, Reading

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_READ_SIZE = 4096
_STATM_READ = 256  # statm is seven numbers on one line
_pread = os.pread  # one global lookup instead of two, on the hot path
# tuple.__new__ builds a NamedTuple in C; Reading(...) goes through a Python __new__.
_new_reading = tuple.__new__
# swap, threads, fds, cpu, uss, pss and the Python agent's fields (None here; the sampler
# fills them for a process that runs the agent): a Reading after the memory fields.
_Tail = tuple[int | float | None, ...]
_NO_PYTHON: tuple[None, ...] = (None,) * len(PYTHON_FIELDS)
_PF_KTHREAD = 0x00200000  # the kernel-thread bit of /proc/PID/stat's flags field


def _boot_time() -> float:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime line")


BOOT_TIME = _boot_time()


def _fd_count_from_stat_supported() -> bool:
    # Since Linux 6.2, stat() of /proc/PID/fd reports the number of open fds in st_size,
    # which is far cheaper than listing the directory. Older kernels report 0.
    try:
        return os.stat("/proc/self/fd").st_size > 0
    except OSError:
        return False


_FD_COUNT_FROM_STAT = _fd_count_from_stat_supported()


@contextmanager
def _translated(pid: int) -> Iterator[None]:
    """Turn the OS's errors about a process into memlens errors, in one place."""
    try:
        yield
    except FileNotFoundError as e:
        raise TargetNotFound(f"no process with PID {pid}") from e
    except ProcessLookupError as e:
        raise TargetGone(f"process {pid} has exited") from e
    except PermissionError as e:
        raise AccessDenied(f"not allowed to read process {pid}'s memory ({e.strerror})") from e


class LinuxProcessProbe:
    """Reads statm (memory), stat (CPU, threads, state) and status (swap) each tick."""

    def __init__(self, pid: int, *, detail: bool = False) -> None:
        self.pid = pid
        self.detail = detail
        self._fds: list[int] = []
        self._rollup_fd: int | None = None
        self._last_cpu: tuple[float, float] | None = None
        self._slow: tuple[int | None, int, int, float | None] | None = None
        self._tail: _Tail | None = None  # what a memory-only reading repeats
        # statm as last read and the memory-only reading built from it: an idle process
        # (most of a machine's) reads the same bytes again, and its reading is unchanged.
        self._statm_raw: bytes | None = None
        self._last: Reading | None = None
        with _translated(pid):
            self._dir_fd = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
            self._fds.append(self._dir_fd)
            try:
                self._stat_fd = self._open("stat")
                self._statm_fd = self._open("statm")
                self._status_fd = self._open("status")
                stat = self._read_stat()
            except BaseException:
                self.close()
                raise
        if stat[0] in ("Z", "X"):
            self.close()
            raise TargetNotFound(f"process {pid} has already exited (it is a zombie)")
        self.owner_uid: int | None = os.fstat(self._dir_fd).st_uid
        start_ticks = int(stat[19])
        self.identity = ProcessIdentity(pid, start_ticks, BOOT_TIME + start_ticks / CLOCK_TICKS)
        self.kernel_thread = bool(int(stat[6]) & _PF_KTHREAD)
        self.ppid: int | None = int(stat[1])  # the parent when the probe was opened
        self.name, self.cmdline = self._read_names(kernel_thread=self.kernel_thread)

    def _read_names(self, *, kernel_thread: bool) -> tuple[str, list[str]]:
        # A process caught inside exec() (right after a spawn) shows an empty command
        # line and its parent's name for a moment; wait for the new ones briefly.
        for _ in range(50):
            args = [a for a in self._read_text("cmdline").split("\0") if a]
            name = self._read_text("comm").strip()
            if args or kernel_thread:
                return name, args or [f"[{name}]"]
            time.sleep(0.001)
        return name, [f"[{name}]"]

    def _open(self, name: str) -> int:
        fd = os.open(name, os.O_RDONLY, dir_fd=self._dir_fd)
        self._fds.append(fd)
        return fd

    def _read_text(self, name: str) -> str:
        try:
            fd = os.open(name, os.O_RDONLY, dir_fd=self._dir_fd)
        except OSError:
            return ""
        try:
            return os.read(fd, 65536).decode("utf-8", "replace")
        except OSError:
            return ""
        finally:
            os.close(fd)

    def _pread(self, fd: int) -> bytes:
        data = os.pread(fd, _READ_SIZE, 0)  # EINTR is retried by Python itself (PEP 475)
        if not data:
            raise ProcessLookupError(errno.ESRCH, "process has exited")
        return data

    def _read_stat(self) -> list[str]:
        raw = self._pread(self._stat_fd)
        # The command name sits in parentheses and may itself hold spaces or ')'.
        return raw[raw.rindex(b")") + 2 :].decode("ascii").split()

    def read(self, full: bool = True) -> Reading:
        """One reading; `full=False` reads memory only and repeats the slower fields.

        This is the hot loop of sampling many processes, and a memory-only reading is
        meant to cost at most twice the bare pread of statm (see docs/benchmarks.md), so
        every step counts. When statm reads the same bytes as last time, the memory
        fields are unchanged and the last memory-only reading is returned as it is: one
        pread and one comparison. Otherwise: one split, three int() and one tuple
        allocation, with the error handling inlined (a try costs nothing unless it
        raises, 3.11+).
        """
        try:
            raw = _pread(self._statm_fd, _STATM_READ, 0)
            if raw == self._statm_raw and not full:
                return self._last  # type: ignore[return-value]  # set with _statm_raw
            try:
                size, resident, shared, _ = raw.split(None, 3)
            except ValueError:  # nothing read: the process has been reaped
                raise ProcessLookupError(errno.ESRCH, "process has exited") from None
            vms = int(size) * PAGE_SIZE
            if not vms and not self.kernel_thread:  # no address space left: a zombie
                raise ProcessLookupError(errno.ESRCH, "process has exited")
            # After statm, which tells an ended process apart before stat is parsed.
            tail = self._tail
            if full or tail is None:
                tail = self._read_tail(full)
        except ProcessLookupError as e:
            raise TargetGone(f"process {self.pid} has exited") from e
        except PermissionError as e:
            raise AccessDenied(f"not allowed to read process {self.pid} ({e.strerror})") from e
        # `+ tail`, not `*tail`: a star in a tuple display builds a list first (3.11).
        head = (int(resident) * PAGE_SIZE, vms, int(shared) * PAGE_SIZE)
        reading: Reading = _new_reading(Reading, head + tail)
        if tail is self._tail:  # not `detail`, whose USS and PSS are read every time
            self._statm_raw, self._last = raw, reading
        return reading

    def _read_tail(self, full: bool) -> _Tail:
        """The fields after the memory ones; kept for memory-only readings unless
        `detail`, whose USS and PSS are read every time."""
        if full or self._slow is None:
            self._slow = self._read_slow()
        if self.detail:
            return (*self._slow, *(self.read_rollup() or (None, None)), *_NO_PYTHON)
        self._tail = (*self._slow, None, None, *_NO_PYTHON)
        return self._tail

    def _read_slow(self) -> tuple[int | None, int, int, float | None]:
        """swap, threads, fds and CPU percent since the previous call."""
        raw = os.pread(self._stat_fd, 1024, 0)
        # Fields after the command name, which sits in parentheses and may hold ')'.
        stat = raw[raw.rindex(b")") + 2 :].split(b" ", 18)
        if stat[0] in (b"Z", b"X"):
            raise ProcessLookupError(errno.ESRCH, "process is a zombie")
        now = time.monotonic()
        cpu_seconds = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
        cpu: float | None = None
        last = self._last_cpu
        if last is not None and now > last[0]:
            cpu = max(0.0, (cpu_seconds - last[1]) / (now - last[0]) * 100.0)
        self._last_cpu = (now, cpu_seconds)
        status = os.pread(self._status_fd, _READ_SIZE, 0)
        return _status_kb(status, b"VmSwap:"), int(stat[17]), self._fd_count(), cpu

    def _fd_count(self) -> int:
        try:
            if _FD_COUNT_FROM_STAT:
                return os.stat("fd", dir_fd=self._dir_fd).st_size
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except PermissionError:
            return 0  # another user's process: the OS hides its descriptors

    def read_rollup(self) -> tuple[int | None, int | None] | None:
        """(USS, PSS) from smaps_rollup, for the sampler's budgeted reads
        (watch/pss_budget.py); None when the process cannot be read (gone, or hidden)."""
        for _ in range(2):
            try:
                return self._read_rollup()
            except (OSError, ValueError):
                # A kept smaps_rollup is tied to the memory the process had when it was
                # opened: after an exec (a `python3` shim that execs the real one) it
                # reads ESRCH. Open it afresh once; a process really gone fails again.
                self._drop_rollup()
        return None

    def _drop_rollup(self) -> None:
        fd, self._rollup_fd = self._rollup_fd, None
        if fd is not None:
            self._fds.remove(fd)
            with suppress(OSError):
                os.close(fd)

    def _read_rollup(self) -> tuple[int | None, int | None]:
        # smaps_rollup walks every mapping of the target: tens of microseconds for a small
        # process, milliseconds for a large one; so every round only with `detail`.
        try:
            if self._rollup_fd is None:
                self._rollup_fd = self._open("smaps_rollup")
            raw = self._pread(self._rollup_fd)
        except PermissionError:
            return None, None
        private = (_status_kb(raw, b"Private_Clean:") or 0) + (
            _status_kb(raw, b"Private_Dirty:") or 0
        )
        return private, _status_kb(raw, b"Pss:")

    def close(self) -> None:
        for fd in self._fds:
            with suppress(OSError):
                os.close(fd)
        self._fds.clear()


def _status_kb(raw: bytes, label: bytes) -> int | None:
    """A `Label:   123 kB` line of /proc status-like files, in bytes."""
    if raw.startswith(label):
        at = 0
    else:
        at = raw.find(b"\n" + label)
        if at < 0:
            return None
        at += 1
    end = raw.find(b"\n", at)
    parts = raw[at + len(label) : end if end >= 0 else None].split()
    return int(parts[0]) * 1024 if parts else None
