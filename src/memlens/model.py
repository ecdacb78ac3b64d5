"""Plain data shared by every layer: what a target is, what one reading of a process or
of the machine holds, what an alert says. A leaf: it imports nothing of memlens, so the
store, the analysis and the faces can name these types without importing the probes or
the live pipeline that produce them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

# One field of a series, oldest first; None where the value is unknown. The shape the
# history, the store's reader and the exports share.
Column = list[float | int | None]

# The order of the per-sample fields on the wire (see docs/protocol.md). Adding one at the
# end is compatible; changing the order is a protocol version change.
SAMPLE_FIELDS: tuple[str, ...] = (
    "rss",
    "vms",
    "shared",
    "swap",
    "threads",
    "fds",
    "cpu",
    "uss",
    "pss",
    # From the Python agent, when the process runs one (docs/agent.md); None otherwise.
    "py_heap",  # bytes traced by tracemalloc now (None while not tracing)
    "py_heap_peak",  # bytes traced at the peak since tracing started
    "py_blocks",  # blocks held by Python's allocator (sys.getallocatedblocks): objects
    "gc_collections",  # collections so far, all generations (a counter)
    "gc_uncollectable",  # objects the collector found uncollectable so far (a counter)
)
# The fields of the agent, in that order, at the end of a Reading.
PYTHON_FIELDS: tuple[str, ...] = SAMPLE_FIELDS[9:]
# The machine's scalar figures (`SystemReading` below, docs/protocol.md "System fields"),
# in the order the store's columns and the backfill's columns use; the GPUs ride beside
# them as a list per reading. Named here, not in the probe, so the faces and the store
# need not import the probe to know them.
SYSTEM_FIELDS: tuple[str, ...] = (
    "cpu_percent",
    "mem_total",
    "mem_used",
    "mem_available",
    "mem_percent",
    "swap_total",
    "swap_used",
    "disk_read_bps",
    "disk_write_bps",
    "net_rx_bps",
    "net_tx_bps",
)


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """A process as (pid, start time): PIDs are reused, the pair is not."""

    pid: int
    start_ticks: int  # kernel start time in clock ticks since boot (Linux) or µs (psutil)
    start_time: float  # wall-clock Unix time the process started

    @property
    def key(self) -> str:
        return f"{self.pid}-{self.start_ticks}"


class Reading(NamedTuple):
    """One measurement of one process. Memory in bytes; `None` where not known.

    A NamedTuple rather than a frozen dataclass because one is built per process per
    tick: a frozen slots dataclass costs about 1 µs to construct (each field goes through
    `object.__setattr__`), more than the pread it holds the result of, while a tuple
    subclass is one allocation; the probe's hot path builds it with `tuple.__new__`,
    skipping even NamedTuple's Python `__new__`. Fields are in SAMPLE_FIELDS order.
    """

    rss: int
    vms: int
    shared: int
    swap: int | None
    threads: int
    fds: int
    cpu: float | None
    uss: int | None = None
    pss: int | None = None
    py_heap: int | None = None
    py_heap_peak: int | None = None
    py_blocks: int | None = None
    gc_collections: int | None = None
    gc_uncollectable: int | None = None

    def values(self) -> list[int | float | None]:
        """The values in SAMPLE_FIELDS order, as sent on the wire."""
        return list(self)


@dataclass(slots=True)
class Target:
    """A series on the chart: one process, or the sum of a process and its descendants.

    Mutable on purpose: its state moves from running to exited, and only the sampler
    thread changes it.
    """

    key: str
    kind: str  # "process" or "sum"
    pid: int
    start_time: float
    name: str
    cmdline: str
    parent: str | None = None
    members: list[str] = field(default_factory=list)
    state: str = "running"
    exit_time: float | None = None
    exit_code: int | None = None
    exit_reason: str | None = None
    python: dict[str, object] | None = None  # the agent, when the process runs one
    # A CPython 3.10+ process of ours, where `memlens attach` could start an agent: a hint
    # for the live page, never recorded, and no part of what the target is.
    attachable: bool = field(default=False, compare=False)
    ppid: int | None = None  # the parent's PID when the target was found
    # The label of its group under the watch's --group-by (analysis/groups.py); "" for a
    # sum series, which is a group of its own.
    group: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "kind": self.kind,
            "pid": self.pid,
            "start_time": self.start_time,
            "name": self.name,
            "cmdline": self.cmdline,
            "parent": self.parent,
            "members": list(self.members),
            "state": self.state,
            "exit_time": self.exit_time,
            "exit_code": self.exit_code,
            "exit_reason": self.exit_reason,
            "python": None if self.python is None else dict(self.python),
            "attachable": self.attachable,
            "ppid": self.ppid,
            "group": self.group,
        }


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """One process using a GPU: its PID and the GPU memory it holds (bytes; None when
    the driver does not say, as for another user's process without privileges)."""

    pid: int
    used_memory: int | None


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One device at one moment. Percentages are over the driver's last sample period
    (between 1/6 s and 1 s depending on the product)."""

    index: int
    name: str
    uuid: str
    memory_total: int | None
    memory_used: int | None
    memory_free: int | None
    utilization_percent: float | None  # share of time a kernel was running
    memory_utilization_percent: float | None  # share of time memory was read or written
    processes: tuple[GpuProcess, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "uuid": self.uuid,
            "memory_total": self.memory_total,
            "memory_used": self.memory_used,
            "memory_free": self.memory_free,
            "utilization_percent": self.utilization_percent,
            "memory_utilization_percent": self.memory_utilization_percent,
            "processes": [{"pid": p.pid, "used_memory": p.used_memory} for p in self.processes],
        }


@dataclass(frozen=True, slots=True)
class SystemReading:
    """One reading of the machine. Memory in bytes; rates in bytes per second over the
    interval since the probe's previous reading, None on its first."""

    t: float  # Unix time
    cpu_percent: float | None  # all CPUs together, 0-100
    mem_total: int
    mem_used: int
    mem_available: int
    mem_percent: float
    swap_total: int
    swap_used: int
    disk_read_bps: float | None
    disk_write_bps: float | None
    net_rx_bps: float | None
    net_tx_bps: float | None
    gpus: tuple[GpuReading, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "cpu_percent": self.cpu_percent,
            "mem_total": self.mem_total,
            "mem_used": self.mem_used,
            "mem_available": self.mem_available,
            "mem_percent": self.mem_percent,
            "swap_total": self.swap_total,
            "swap_used": self.swap_used,
            "disk_read_bps": self.disk_read_bps,
            "disk_write_bps": self.disk_write_bps,
            "net_rx_bps": self.net_rx_bps,
            "net_tx_bps": self.net_tx_bps,
            "gpus": [g.to_dict() for g in self.gpus],
        }


@dataclass(frozen=True, slots=True)
class Tick:
    """Everything one sampling round produced, published to the hub as one unit."""

    seq: int
    time: float  # wall-clock
    samples: dict[str, Reading]
    new_targets: tuple[Target, ...] = ()
    exits: tuple[Target, ...] = ()
    system: SystemReading | None = None  # the machine at this tick, when sampled


@dataclass(frozen=True)
class Alert:
    """One event: kind "leak" (data: state raised/cleared, severity, finding, text, name,
    pid) or "threshold" (data: metric, state above/below, value, limit, text).
    `key` is the target's, None for the whole system."""

    kind: str
    t: float
    key: str | None
    data: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.data.get("text", ""))

    def message(self) -> dict[str, Any]:
        """As the stream sends it (docs/protocol.md)."""
        return {"type": self.kind, "t": self.t, "key": self.key, **self.data}


# -- memory maps --------------------------------------------------------------------------
# Where a process's memory lives (docs/maps.md), as a reading travels and is kept: read
# by probes/maps.py, recorded by store/, streamed as "maps" messages, exported.

MAP_CATEGORIES: tuple[str, ...] = ("heap", "anon", "file", "stack", "shmem", "other")
MAP_FIGURES: tuple[str, ...] = ("rss", "pss", "uss", "swap")
MAP_TOP = 32  # mappings kept per reading: the largest by RSS
# One of a reading's largest mappings: start address (hex text), permissions, what it is
# (its path as the kernel wrote it, or its kind: text from the process), category, role,
# size and RSS in bytes.
MAP_TOP_FIELDS: tuple[str, ...] = ("start", "perms", "label", "category", "role", "size", "rss")


@dataclass(frozen=True)
class MapSample:
    """One reading of a process's memory map: bytes by category (each `MAP_FIGURES`, in
    that order), the thread stacks and mappings counted, its largest mappings (dicts of
    `MAP_TOP_FIELDS`) and the runtimes recognised (dicts: name, what, count, size, rss)."""

    t: float
    categories: dict[str, tuple[int, int, int, int]]
    thread_stacks: int = 0
    mappings: int = 0
    top: tuple[dict[str, Any], ...] = ()
    runtimes: tuple[dict[str, Any], ...] = ()

    def rss(self) -> dict[str, int]:
        return {c: self.categories.get(c, (0, 0, 0, 0))[0] for c in MAP_CATEGORIES}

    def to_dict(self) -> dict[str, Any]:
        """As the stream and the JSON export carry it (docs/protocol.md, "maps")."""
        return {
            "t": self.t,
            "categories": {
                c: dict(zip(MAP_FIGURES, self.categories.get(c, (0, 0, 0, 0)), strict=True))
                for c in MAP_CATEGORIES
            },
            "thread_stacks": self.thread_stacks,
            "mappings": self.mappings,
            "top": [dict(m) for m in self.top],
            "runtimes": [dict(r) for r in self.runtimes],
        }


# -- heap profiles ------------------------------------------------------------------------
# What the heap profiler answers (docs/formats.md, "Heap profiles"): checked and read from
# JSON by formats/heap_profile.py, compared by analysis/heap_growth.py, drawn by the faces.

HEAP_FORMAT = "memlens.heap"
HEAP_VERSION = 1
HeapKind = Literal["inuse", "allocated", "growth"]
HeapSampler = Literal["sampling", "tracemalloc"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One Python frame: `function` is co_qualname (3.11+) or co_name."""

    function: str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Stack:
    """One stack, ROOT FIRST (the allocating frame last), and its estimates. In a
    growth profile inuse_* are signed differences. A stack cut at the agent's frame limit
    starts with the frame `[more frames]` (file "", line 0)."""

    frames: tuple[Frame, ...]
    inuse_bytes: float = 0.0
    inuse_count: float = 0.0
    alloc_bytes: float = 0.0
    alloc_count: float = 0.0


@dataclass(frozen=True, slots=True)
class HeapProfile:
    """A heap profile (heap-spec / docs/formats.md). Totals cover every stack, listed
    or not; `truncated` stacks were left out by a limit."""

    kind: HeapKind
    sampler: HeapSampler
    interval_bytes: int
    max_frames: int
    pid: int
    time: float
    start: float
    since: float
    since_mark: str | None = None
    inuse_bytes: float = 0.0
    inuse_count: float = 0.0
    alloc_bytes: float = 0.0
    alloc_count: float = 0.0
    samples: int = 0
    stacks: tuple[Stack, ...] = field(default_factory=tuple)
    truncated: int = 0

    @property
    def duration(self) -> float:
        """Seconds from the window's start to when the profile was taken."""
        return max(0.0, self.time - self.since)

    def to_dict(self) -> dict[str, Any]:
        """The profile as the JSON object of the spec (what `from_dict` reads back)."""
        return {
            "format": HEAP_FORMAT,
            "version": HEAP_VERSION,
            "kind": self.kind,
            "sampler": self.sampler,
            "interval_bytes": self.interval_bytes,
            "max_frames": self.max_frames,
            "pid": self.pid,
            "time": self.time,
            "start": self.start,
            "since": self.since,
            "since_mark": self.since_mark,
            "inuse_bytes": self.inuse_bytes,
            "inuse_count": self.inuse_count,
            "alloc_bytes": self.alloc_bytes,
            "alloc_count": self.alloc_count,
            "samples": self.samples,
            "stacks": [_stack_to_dict(s) for s in self.stacks],
            "truncated": self.truncated,
        }


def stack_value(stack: Stack, kind: HeapKind) -> float:
    """The bytes a stack is ranked and drawn by: allocated bytes for kind allocated,
    in-use bytes (or their growth) otherwise."""
    return stack.alloc_bytes if kind == "allocated" else stack.inuse_bytes


def sorted_stacks(stacks: Iterable[Stack], kind: HeapKind) -> tuple[Stack, ...]:
    """Descending by the kind's key; stable, so equal stacks keep their order."""
    return tuple(sorted(stacks, key=lambda s: -stack_value(s, kind)))


def _stack_to_dict(stack: Stack) -> dict[str, Any]:
    return {
        "frames": [{"function": f.function, "file": f.file, "line": f.line} for f in stack.frames],
        "inuse_bytes": stack.inuse_bytes,
        "inuse_count": stack.inuse_count,
        "alloc_bytes": stack.alloc_bytes,
        "alloc_count": stack.alloc_count,
    }
