"""A leak found by `Profiler.detect_memory_leaks` (or `watch_memory_leaks`), told as the CLI
tells it: the detector's finding, its headline and analysis, and the source lines that grew.

The lines come from two tracemalloc snapshots, one at each end of the detection,
compared by line: what was allocated between them and is still alive. memlens's own
lines (the profiler's snapshots, the store's queue) and tracemalloc's are left out.
"""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Sequence
from typing import Any

import memlens
from memlens.analysis.explain import Series, explain
from memlens.analysis.leakmodel import MB, LeakFinding
from memlens.analysis.leaktext import headline
from memlens.api.snapshot import MemoryLeak, MemorySnapshot
from memlens.units import human_bytes

TOP_ALLOCATIONS = 10
_OWN = os.path.join(os.path.dirname(memlens.__file__), "*")
_FILTERS = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, _OWN),
    tracemalloc.Filter(False, "<frozen *>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def top_allocations(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, limit: int = TOP_ALLOCATIONS
) -> list[str]:
    """'path/app.py:42: +40.0 MB (+160 blocks)' for the `limit` lines that grew most."""
    diffs = after.filter_traces(_FILTERS).compare_to(before.filter_traces(_FILTERS), "lineno")
    grown = sorted((d for d in diffs if d.size_diff > 0), key=lambda d: -d.size_diff)
    out = []
    for diff in grown[:limit]:
        frame = diff.traceback[0]
        out.append(
            f"{frame.filename}:{frame.lineno}: +{human_bytes(diff.size_diff)} "
            f"({diff.count_diff:+,} blocks)"
        )
    return out


def memory_leak(
    finding: LeakFinding,
    start: MemorySnapshot,
    end: MemorySnapshot,
    *,
    allocations: list[str],
    threads: Series | None = None,
    fds: Series | None = None,
    heap: Series | None = None,
    gc_objects: Series | None = None,
) -> MemoryLeak:
    """The MemoryLeak of a LEAK finding; `analysis` is the headline, then what the other
    series say of it (explain), one line each."""
    advice = explain(finding, threads=threads, fds=fds, heap=heap, gc_objects=gc_objects)
    lines = [headline(finding), *(f"{r.title}: {r.seen}" for r in advice)]
    return MemoryLeak(
        start_snapshot=start,
        end_snapshot=end,
        leak_rate_mb_per_sec=(finding.rate or 0.0) / MB,
        total_leaked_mb=(finding.growth or 0.0) / MB,
        duration_seconds=end.timestamp - start.timestamp,
        severity=finding.severity,
        analysis="\n".join(lines),
        top_allocations=allocations,
        finding=finding,
    )


def leak_event(
    state: str, finding: LeakFinding, *, name: str, pid: int, text: str, analysis: str = ""
) -> dict[str, Any]:
    """The data of a `leak` event, as the live alerts store it (docs/storage.md)."""
    data: dict[str, Any] = {
        "state": state,
        "severity": finding.severity.value,
        "finding": finding.to_dict(),
        "name": name,
        "pid": pid,
        "text": text,
    }
    if analysis:
        data["analysis"] = analysis
    return data


def series(times: Sequence[float], values: Sequence[float | int | None]) -> Series | None:
    """A series for explain, or None when nothing of it is known."""
    if all(v is None for v in values):
        return None
    return list(times), list(values)
