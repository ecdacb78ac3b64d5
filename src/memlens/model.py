"""Plain frozen data shared by every layer: what a target is and what one reading holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from memlens.probes.system import SystemReading

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
# The machine's scalar figures (`memlens.probes.system.SystemReading`, docs/protocol.md
# "System fields"), in the order the store's columns and the backfill's columns use; the
# GPUs ride beside them as a list per reading. Named here, not in the probe, so the faces
# and the store need not import the probe to know them.
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
