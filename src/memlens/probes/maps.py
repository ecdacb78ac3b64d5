"""Where a process's memory lives: /proc/PID/smaps summed by category.

statm gives one RSS figure; smaps gives it per mapping, so the memory can be told apart:
the brk heap, anonymous mappings (malloc arenas, a runtime's heap), file-backed mappings
(code, mapped data files), thread stacks and shared memory. A reading walks every page
table of the target in the kernel (about 55 µs plus 11 µs per MiB of RSS for the
rollup, more with many mappings), so it is taken on request or at a low, budgeted rate,
never on the sampler's 1 Hz round.

Every mapping lands in exactly one category, so the categories add up to the totals of
`smaps_rollup` (the kernel's sum over the same mappings): RSS, USS (Private_Clean +
Private_Dirty) and swap exactly; PSS within 1 KiB per mapping, because smaps rounds
each mapping's PSS down to whole kB where the rollup sums first and rounds once. The
rules, first match wins (docs/maps.md says the same):

- `[heap]` (the brk heap: malloc's main arena) → heap;
- `[stack]` (the main thread's) and thread stacks (below) → stack;
- shared memory → shmem: a path under /dev/shm, `/memfd:`, `/SYSV` (System V
  segments), `[anon_shmem:` (a named shared anonymous mapping), and a shared (`s`)
  mapping of `/dev/zero` or `anon_hugepage` (shared anonymous memory);
- anonymous → anon: no path, `[anon:NAME]` (named with PR_SET_VMA_ANON_NAME), and a
  private mapping of `/dev/zero` or `anon_hugepage`;
- `[vdso]`, `[vvar]`, `[vsyscall]` and any other bracketed kernel mapping, and devices
  under /dev → other;
- any other path → file.

Thread stacks and runtimes are recognised by `map_runtimes.py`. Thread stacks are
anonymous mappings. They are recognised by the guard-page pattern:
glibc (and musl, and the JVM) allocates a thread's stack as one mapping and makes its
lowest pages inaccessible, so a stack reads as an anonymous `---p` mapping of at most
1 MiB directly followed by an anonymous `rw-p` one (the stack proper). glibc's malloc
arenas have the opposite order (usable pages at the bottom of a 64 MiB reservation,
inaccessible above), and are recognised first, so they are never taken for stacks.
The stack pointers would be exact, but /proc/PID/task/TID/stat shows 0 for them since
Linux 4.9, and task/TID/syscall needs ptrace-attach rights (more than smaps needs, and
refused under Yama) and has no stack pointer for a running thread. So a stack that
was given without a guard page (pthread_attr_setstack) counts as anon; with glibc's
`glibc.mem.decorate_maps` tunable the stacks are named and are recognised by name.

Runtimes are named only where the mappings make them plain (docs/maps.md):
glibc's malloc arenas (libc.so.6 mapped, 64 MiB-aligned heaps of 64 MiB), the Go heap
(anonymous mappings from Go's first arena hint, 0xc000000000), a JVM's heap
(libjvm.so mapped, -Xmx on its command line, and a run of anonymous mappings of
exactly that size, a mapped class-data archive included), and V8 (the node executable
or libnode mapped; its spaces are not told apart from other anonymous memory by the
mappings alone, so only the runtime is named).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from memlens.errors import AccessDenied, MapUnreadable, TargetGone, TargetNotFound, UsageError
from memlens.model import MAP_CATEGORIES, MAP_FIGURES, MAP_TOP, MapSample
from memlens.probes.map_runtimes import (
    ARENA,
    GO_HEAP_START,
    Row,
    Runtime,
    recognise,
    xmx_bytes,
)

CATEGORIES = MAP_CATEGORIES
USAGE_FIELDS = MAP_FIGURES

MAX_BYTES = 32 * 1024 * 1024  # of smaps read: about 30,000 mappings
MAX_MAPPINGS = 30_000  # parsed; the kernel's default limit is 65,530 per process
CHUNK = 1024 * 1024
_KB = 1024

_HEADER = re.compile(
    rb"^([0-9a-f]+)-([0-9a-f]+) ([-rwxsp]{4}) [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ (\d+) *([^\n]*)$",
    re.M,
)
_HEADER_AT = re.compile(
    rb"([0-9a-f]+)-([0-9a-f]+) ([-rwxsp]{4}) [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ (\d+) *([^\n]*)"
)
_FIELD_PATTERNS = tuple(
    re.compile(rb"\n" + name + rb": +(\d+) kB")
    for name in (b"Rss", b"Pss", b"Private_Clean", b"Private_Dirty", b"Swap")
)
_ROLLUP = re.compile(rb"^(Rss|Pss|Private_Clean|Private_Dirty|Swap): +(\d+) kB$", re.M)


class Usage(NamedTuple):
    """Bytes of one mapping or category: resident, proportional, private (USS), swap."""

    rss: int = 0
    pss: int = 0
    uss: int = 0
    swap: int = 0

    def plus(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(self, other, strict=True)))


ZERO = Usage()


@dataclass(frozen=True, slots=True)
class Mapping:
    """One line of the map: `path` is the kernel's text as read (control characters
    included: show it with `memlens.outside.visible`), '' for an anonymous one; `role`
    names what it was recognised as ("thread stack", "malloc arena", "Go heap",
    "Java heap"), '' when nothing is plain."""

    start: int
    end: int
    perms: str
    path: str
    category: str
    usage: Usage
    role: str = ""

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def label(self) -> str:
        """The path, or what the mapping is when it has none."""
        if self.role and not self.path.startswith("/"):
            return self.role
        return self.path or "[anon]"


@dataclass(frozen=True)
class MapsReading:
    """One reading of a process's map, summed by category (each of CATEGORIES present)."""

    pid: int
    time: float
    categories: dict[str, Usage]
    mappings: tuple[Mapping, ...]
    thread_stacks: int = 0
    runtimes: tuple[Runtime, ...] = ()
    truncated: bool = False  # MAX_BYTES or MAX_MAPPINGS reached: the sums are partial
    seconds: float = 0.0  # what the reading cost, on the clock
    total: Usage = field(default=ZERO)

    def top(self, n: int) -> list[Mapping]:
        """The `n` mappings with the most resident memory, largest first."""
        return sorted(self.mappings, key=lambda m: (-m.usage.rss, m.start))[: max(0, n)]

    def sample(self, top: int = MAP_TOP) -> MapSample:
        """The reading as it travels and is kept: sums, counts, the largest mappings."""
        return MapSample(
            self.time,
            {c: tuple(u) for c, u in self.categories.items()},  # type: ignore[misc]
            self.thread_stacks,
            len(self.mappings),
            tuple(
                {
                    "start": f"{m.start:#x}",
                    "perms": m.perms,
                    "label": m.label,
                    "category": m.category,
                    "role": m.role,
                    "size": m.size,
                    "rss": m.usage.rss,
                }
                for m in self.top(top)
            ),
            tuple(
                {"name": r.name, "what": r.what, "count": r.count, "size": r.size, "rss": r.rss}
                for r in self.runtimes
            ),
        )


def _translate(pid: int, e: OSError) -> Exception:
    """The OS's errors about a process as memlens errors, in one place."""
    if isinstance(e, FileNotFoundError):
        return TargetNotFound(f"no process with PID {pid}")
    if isinstance(e, ProcessLookupError) or e.errno == errno.ESRCH:
        return TargetGone(f"process {pid} has exited")
    if isinstance(e, PermissionError):
        return AccessDenied(f"not allowed to read process {pid}'s memory map ({e.strerror})")
    return MapUnreadable(f"cannot read process {pid}'s memory map ({e.strerror or e})")


class MapsProbe:
    """A kept handle on one process's /proc directory, read on demand.

    The directory descriptor pins the process it was opened on: once that process has
    gone, reads through it fail even if its PID has been handed on, so a reading never
    mixes two processes.
    """

    def __init__(self, pid: int) -> None:
        if pid <= 0:
            raise TargetNotFound(f"{pid} is not a valid PID (PIDs are positive integers)")
        if not os.path.isdir("/proc/self"):
            raise UsageError("memory maps are read from Linux's /proc, which is not here")
        self.pid = pid
        try:
            self._dir = os.open(f"/proc/{pid}", os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise _translate(pid, e) from e
        try:
            self._stat = os.open("stat", os.O_RDONLY, dir_fd=self._dir)
            self._check_alive()
            raw = os.pread(self._stat, 1024, 0)
            # After the name in parentheses (which may hold ')'), field 22 is the start.
            self.start_ticks = int(raw[raw.rindex(b")") + 2 :].split()[19])
        except BaseException as e:
            self.close()
            if isinstance(e, OSError):
                raise _translate(pid, e) from e
            raise

    @property
    def key(self) -> str:
        """The process's key as the sampler writes it: PID-STARTTICKS."""
        return f"{self.pid}-{self.start_ticks}"

    def _check_alive(self) -> None:
        raw = os.pread(self._stat, 1024, 0)
        state = raw[raw.rindex(b")") + 2 :][:1] if b")" in raw else b""
        if not raw or state in (b"Z", b"X"):
            raise TargetGone(f"process {self.pid} has exited")

    def _small(self, name: str) -> bytes:
        """A small /proc file of the process, b"" when it cannot be read."""
        try:
            fd = os.open(name, os.O_RDONLY, dir_fd=self._dir)
        except OSError:
            return b""
        try:
            return os.read(fd, 65536)
        except OSError:
            return b""
        finally:
            os.close(fd)

    def _cmdline(self) -> list[str]:
        return [a.decode("utf-8", "replace") for a in self._small("cmdline").split(b"\0") if a]

    @property
    def name(self) -> str:
        """The process's name (comm), as it set it: show it with `visible`."""
        return self._small("comm").decode("utf-8", "replace").rstrip("\n")

    def read(self, *, between: Callable[[], None] | None = None) -> MapsReading:
        """Read and sum the map. TargetGone when the process ended before or while it
        was read, AccessDenied when the OS refuses. `between` runs after each chunk
        read from the kernel (a test ends the target there, mid-read)."""
        began = time.perf_counter()
        try:
            raw = self._read_smaps(between)
            self._check_alive()  # a process that ends mid-read leaves a short, clean read
        except OSError as e:
            raise _translate(self.pid, e) from e
        try:
            reading = parse(raw, pid=self.pid, cmdline=self._cmdline)
        except ValueError as e:
            raise MapUnreadable(f"cannot read process {self.pid}'s memory map: {e}") from e
        return _with_cost(reading, time.perf_counter() - began)

    def _read_smaps(self, between: Callable[[], None] | None) -> bytes:
        fd = os.open("smaps", os.O_RDONLY, dir_fd=self._dir)
        try:
            parts: list[bytes] = []
            size = 0
            while size < MAX_BYTES:
                chunk = os.read(fd, min(CHUNK, MAX_BYTES - size))
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
                if between is not None:
                    between()
            return b"".join(parts)
        finally:
            os.close(fd)

    def rollup(self) -> Usage:
        """The kernel's own totals (smaps_rollup), which the categories add up to."""
        try:
            fd = os.open("smaps_rollup", os.O_RDONLY, dir_fd=self._dir)
            try:
                raw = os.read(fd, 8192)
            finally:
                os.close(fd)
        except OSError as e:
            raise _translate(self.pid, e) from e
        if not raw:
            self._check_alive()
        return parse_rollup(raw)

    def close(self) -> None:
        for name in ("_stat", "_dir"):
            fd = getattr(self, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)


def read_maps(pid: int) -> MapsReading:
    """One reading of `pid`'s map (opens and closes its own handle)."""
    probe = MapsProbe(pid)
    try:
        return probe.read()
    finally:
        probe.close()


def parse_rollup(raw: bytes) -> Usage:
    values = {name: int(kb) * _KB for name, kb in _ROLLUP.findall(raw)}
    return Usage(
        values.get(b"Rss", 0),
        values.get(b"Pss", 0),
        values.get(b"Private_Clean", 0) + values.get(b"Private_Dirty", 0),
        values.get(b"Swap", 0),
    )


def _with_cost(reading: MapsReading, seconds: float) -> MapsReading:
    return MapsReading(
        reading.pid,
        reading.time,
        reading.categories,
        reading.mappings,
        reading.thread_stacks,
        reading.runtimes,
        reading.truncated,
        seconds,
        reading.total,
    )


def _headers(raw: bytes) -> list[tuple[bytes, ...]]:
    """Each mapping's header line: the first line, and the line after each `VmFlags:`
    line (the last of every entry since Linux 3.8). Matching only there is several times
    faster than matching a header pattern at the start of every line; a text without
    VmFlags lines is matched line by line."""
    first = _HEADER_AT.match(raw)
    if first is None:
        return []
    out = [first.groups()]
    match = _HEADER_AT.match
    find = raw.find
    at = find(b"\nVmFlags:")
    if at < 0:
        return _HEADER.findall(raw)
    while at >= 0:
        line = find(b"\n", at + 1) + 1
        if line <= 0 or line >= len(raw):
            break
        header = match(raw, line)
        if header is None:
            raise ValueError("smaps has an unexpected layout")
        out.append(header.groups())
        at = find(b"\nVmFlags:", line)
    return out


def _split(raw: bytes) -> tuple[list[Row], bool]:
    """The mappings of an smaps text, at most MAX_MAPPINGS; whether some were left."""
    truncated = len(raw) >= MAX_BYTES
    last = raw.rfind(b"\nVmFlags:")
    if truncated and last >= 0:  # drop the entry cut short by the byte cap
        raw = raw[: raw.find(b"\n", last + 1) + 1]
    headers = _headers(raw)
    # One literal-prefixed search per field: each finds its lines with a fast scan.
    columns = [[int(v) * _KB for v in pattern.findall(raw)] for pattern in _FIELD_PATTERNS]
    if any(len(column) != len(headers) for column in columns):
        # Not the layout this parser knows (a kernel that left a field out): nothing
        # rather than figures assigned to the wrong mappings.
        raise ValueError("smaps has an unexpected layout")
    if len(headers) > MAX_MAPPINGS:
        headers = headers[:MAX_MAPPINGS]
        truncated = True
    new_usage = Usage._make
    out: list[Row] = []
    for (start, end, perms, inode, path), rss, pss, clean, dirty, swap in zip(
        headers, *columns, strict=False
    ):
        out.append(
            Row(
                int(start, 16),
                int(end, 16),
                perms.decode("ascii"),
                int(inode),
                path.decode("utf-8", "replace") if path else "",
                new_usage((rss, pss, clean + dirty, swap)),
            )
        )
    return out, truncated


def category_of(path: str, perms: str) -> str:
    """The category of one mapping by its path and permissions (the module's rules)."""
    if not path:
        return "anon"
    if path[0] == "[":
        if path == "[heap]":
            return "heap"
        if path == "[stack]" or path.startswith("[anon: glibc: pthread stack"):
            return "stack"
        if path.startswith("[anon:"):
            return "anon"
        if path.startswith("[anon_shmem:"):
            return "shmem"
        return "other"
    shared = perms[3] == "s"
    if path.startswith(("/dev/shm/", "/memfd:", "/SYSV")):
        return "shmem"
    if path.startswith(("/dev/zero", "/anon_hugepage")):
        return "shmem" if shared else "anon"
    if path.startswith("/dev/") and not path.startswith("/dev/shm"):
        return "other"
    return "file"


def parse(
    raw: bytes, *, pid: int = 0, cmdline: Callable[[], list[str]] | None = None
) -> MapsReading:
    """Sum an smaps text by category and recognise what is plain. `cmdline` is asked
    only when a JVM is mapped (its -Xmx finds the heap)."""
    rows, truncated = _split(raw)
    categories = [category_of(r.path, r.perms) for r in rows]
    roles = [""] * len(rows)
    runtimes, stacks = recognise(rows, categories, roles, cmdline)
    sums = {c: [0, 0, 0, 0] for c in CATEGORIES}
    mappings: list[Mapping] = []
    for row, category, role in zip(rows, categories, roles, strict=True):
        usage = row.usage
        acc = sums[category]
        acc[0] += usage[0]
        acc[1] += usage[1]
        acc[2] += usage[2]
        acc[3] += usage[3]
        mappings.append(Mapping(row.start, row.end, row.perms, row.path, category, usage, role))
    by_category = {c: Usage(*acc) for c, acc in sums.items()}
    total = Usage(*(sum(u[i] for u in by_category.values()) for i in range(4)))
    named = sum(1 for r in rows if r.path.startswith("[anon: glibc: pthread stack"))
    return MapsReading(
        pid,
        time.time(),
        by_category,
        tuple(mappings),
        len(stacks) + named,
        tuple(runtimes),
        truncated,
        0.0,
        total,
    )


__all__ = [
    "ARENA",
    "CATEGORIES",
    "GO_HEAP_START",
    "USAGE_FIELDS",
    "Mapping",
    "MapsProbe",
    "MapsReading",
    "Runtime",
    "Usage",
    "category_of",
    "parse",
    "parse_rollup",
    "read_maps",
    "xmx_bytes",
]
