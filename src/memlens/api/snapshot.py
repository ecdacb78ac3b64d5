"""What the Profiler hands back: a snapshot of one process and a leak found in it.

The field names are the ones users of snapshot-and-monitor profilers already know, so
sizes here are in MB (2**20 bytes) where the rest of memlens says bytes; the store keeps
bytes. A snapshot is built from one probe `Reading` plus the three figures a reading has
no field for (system memory, gc-tracked objects, a context label), so a snapshot of the
Profiler's own process and `memlens snapshot PID` of another read the same way.
"""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass, field
from typing import Any

from memlens.analysis.leakmodel import LeakFinding, Severity
from memlens.model import Reading

MB = 1024.0 * 1024.0


@dataclass(frozen=True, slots=True)
class MemorySnapshot:
    """One moment of one process. `tracemalloc_*` are None while tracemalloc is off (and
    for another process without the Python agent); `gc_objects_count` is None where it
    could not be counted (another process without the agent)."""

    timestamp: float  # Unix time, seconds
    process_memory_mb: float  # resident set size (RSS)
    system_memory_percent: float  # of the machine's physical memory in use
    tracemalloc_current_mb: float | None
    tracemalloc_peak_mb: float | None
    gc_objects_count: int | None
    thread_count: int  # OS threads, native ones included
    file_descriptors: int
    context: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MemoryLeak:
    """A leak the detector found between two snapshots. `leak_rate_mb_per_sec` and
    `total_leaked_mb` are the detector's (the growth of the memory's floor, so a GC
    sawtooth does not count), `top_allocations` the source lines whose traced memory grew
    most meanwhile ("file.py:12: +40.0 MB (+160 blocks)"), `finding` the detector's whole
    evidence."""

    start_snapshot: MemorySnapshot
    end_snapshot: MemorySnapshot
    leak_rate_mb_per_sec: float
    total_leaked_mb: float
    duration_seconds: float
    severity: Severity  # a str enum: compares equal to "low", "medium", "high", "critical"
    analysis: str
    top_allocations: list[str] = field(default_factory=list)
    finding: LeakFinding | None = None


def snapshot_of(
    reading: Reading,
    *,
    timestamp: float,
    system_percent: float,
    gc_objects: int | None,
    context: str = "",
) -> MemorySnapshot:
    """A snapshot from a probe reading whose Python fields (py_heap, py_heap_peak) are
    filled when tracemalloc traces."""
    return MemorySnapshot(
        timestamp=timestamp,
        process_memory_mb=reading.rss / MB,
        system_memory_percent=system_percent,
        tracemalloc_current_mb=None if reading.py_heap is None else reading.py_heap / MB,
        tracemalloc_peak_mb=None if reading.py_heap_peak is None else reading.py_heap_peak / MB,
        gc_objects_count=gc_objects,
        thread_count=reading.threads,
        file_descriptors=reading.fds,
        context=context,
    )


def system_memory_percent() -> float:
    import psutil

    return float(psutil.virtual_memory().percent)


def gc_objects_count() -> int:
    """`len(gc.get_objects())`: every object the collector tracks (containers and
    instances; ints and strs are not tracked). It walks the whole heap and builds a list
    as long as the count, so it costs time in proportion to the number of objects;
    docs/library.md gives a measure."""
    objects = gc.get_objects()
    try:
        return len(objects)
    finally:
        del objects


def with_own_python_fields(reading: Reading) -> Reading:
    """The reading with this process's own Python fields, read as its agent reads them
    for a viewer (tracemalloc, allocated blocks, gc counters)."""
    from memlens.agent.stats import runtime_stats
    from memlens.probes.python import fields_of

    heap, peak, blocks, collections, uncollectable = fields_of(runtime_stats(0.0))
    return reading._replace(
        py_heap=heap,
        py_heap_peak=peak,
        py_blocks=blocks,
        gc_collections=collections,
        gc_uncollectable=uncollectable,
    )
