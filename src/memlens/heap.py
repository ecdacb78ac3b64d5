"""`import memlens.heap`: the sampling heap profiler's library face, which lives in
`memlens.api.heap` (see there, and docs/heap.md)."""

from __future__ import annotations

from memlens.api.heap import (
    DEFAULT_INTERVAL,
    MAX_FRAMES,
    HeapProfilerError,
    is_running,
    mark,
    save,
    snapshot,
    start,
    status,
    stop,
)

__all__ = [
    "DEFAULT_INTERVAL",
    "MAX_FRAMES",
    "HeapProfilerError",
    "is_running",
    "mark",
    "save",
    "snapshot",
    "start",
    "status",
    "stop",
]
