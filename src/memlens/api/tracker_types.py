"""What a `Tracker` hands out: events, hotspots, per-thread figures, the report.

Plain frozen dataclasses, built on request from the tracker's own compact tables, so
that a `track` call never pays for building one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from memlens.model import SystemReading

EventKind = Literal["track", "end"]
Lifetime = Literal["tracked", "untracked"]


@dataclass(frozen=True, slots=True)
class StackFrame:
    file: str
    line: int
    function: str


@dataclass(frozen=True, slots=True)
class TrackEvent:
    """One recorded `track` call (`kind="track"`) or the observed end of the object one
    recorded (`kind="end"`, with the same `id` and the tracked call's name and place).

    `name` is the argument as written at the call; when it could not be read,
    `name_captured` is False, `name` is `<expression at FILE:LINE>` and `name_note` says
    why. `size` is the deep size in bytes when tracked; `size_truncated` says the walk
    stopped at the sampling's `max_nodes` (a lower bound). `lifetime` is "untracked" for
    objects that cannot carry a weak reference (list, dict, tuple, int, str...): their end
    is never observed. `current_bytes` is the tracker's current memory after this event.
    `system` is the latest reading of the system monitor when there is one.
    """

    kind: EventKind
    id: int
    t: float
    name: str
    name_captured: bool
    name_note: str | None
    type_name: str
    size: int
    size_nodes: int
    size_truncated: bool
    lifetime: Lifetime
    file: str
    line: int
    function: str
    thread_id: int
    thread_name: str
    current_bytes: int
    stack: tuple[StackFrame, ...] | None
    system: SystemReading | None

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class AllocationHotspot:
    """Everything recorded at one call site under one name and type."""

    var_name: str
    type_name: str
    total_size: int
    allocation_count: int
    location: str  # FILE:LINE

    @property
    def average_size(self) -> float:
        return self.total_size / self.allocation_count if self.allocation_count else 0.0


@dataclass(frozen=True, slots=True)
class ThreadFigures:
    """One thread's part. Ends and current bytes belong to the thread that tracked the
    object, whichever thread let it go."""

    thread_id: int
    thread_name: str
    track_calls: int  # every call, recorded or skipped by sampling
    allocations: int
    deallocations: int
    superseded: int
    bytes_tracked: int
    current_bytes: int


@dataclass(frozen=True, slots=True)
class TrackerStats:
    """The counters, without the hotspots and snapshots that `analyze()` adds."""

    track_calls: int
    total_allocations: int
    total_deallocations: int
    superseded: int
    active_allocations: int
    untracked_lifetime: int
    current_memory_bytes: int
    peak_memory_bytes: int
    unnamed: int
    truncated_sizes: int
    events_kept: int
    events_dropped: int
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AnalysisReport:
    """The tracker's figures at one moment.

    Allocations are recorded `track` calls; deallocations are observed ends. `active`
    allocations are those not seen to end, including `untracked_lifetime` ones (objects
    without weak-reference support, whose end cannot be seen), so `current_memory_bytes`
    is an upper bound when there are any. Rates are per second over `duration_s`, the
    tracker's life so far. `hotspots` are sorted by total size, largest first.
    """

    total_allocations: int
    total_deallocations: int
    active_allocations: int
    peak_memory_bytes: int
    current_memory_bytes: int
    allocation_rate: float
    deallocation_rate: float
    hotspots: list[AllocationHotspot]
    system_snapshots: list[SystemReading]
    superseded: int
    untracked_lifetime: int
    untracked_lifetime_bytes: int
    track_calls: int
    sampling_rate: float
    duration_s: float
    threads: list[ThreadFigures]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, system snapshots left out (the exports keep them apart)."""
        return {
            "total_allocations": self.total_allocations,
            "total_deallocations": self.total_deallocations,
            "active_allocations": self.active_allocations,
            "peak_memory_bytes": self.peak_memory_bytes,
            "current_memory_bytes": self.current_memory_bytes,
            "allocation_rate": self.allocation_rate,
            "deallocation_rate": self.deallocation_rate,
            "superseded": self.superseded,
            "untracked_lifetime": self.untracked_lifetime,
            "untracked_lifetime_bytes": self.untracked_lifetime_bytes,
            "track_calls": self.track_calls,
            "sampling_rate": self.sampling_rate,
            "duration_s": self.duration_s,
            "hotspots": [asdict(h) for h in self.hotspots],
            "threads": [asdict(t) for t in self.threads],
        }
