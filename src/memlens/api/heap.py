"""The sampling heap profiler in this process, as a library (`import memlens.heap`).

    import memlens.heap

    memlens.heap.start()                 # one sample per 512 KiB allocated, on average
    memlens.heap.mark("batch")           # a moment to measure from
    run_batch()
    growth = memlens.heap.snapshot("growth", since="batch")
    for stack in growth.stacks[:5]:
        print(stack.inuse_bytes, stack.frames[-1].function)
    memlens.heap.save(memlens.heap.snapshot(), "heap.pb.gz")  # for `go tool pprof`
    memlens.heap.stop()

It is the same profiler the agent switches for a viewer (`memlens profile PID`, the
dashboard): one per process, whoever starts it. See docs/heap.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from memlens.agent import heap as _heap
from memlens.agent.protocol import RequestError
from memlens.errors import MemlensError

if TYPE_CHECKING:
    from memlens.formats.heap_profile import HeapProfile

DEFAULT_INTERVAL = _heap.DEFAULT_INTERVAL
MAX_FRAMES = _heap.MAX_FRAMES

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


class HeapProfilerError(MemlensError):
    """The profiler refused (it is off, a mark is unknown, another hook is above it)."""


def start(
    interval: int = DEFAULT_INTERVAL, frames: int = MAX_FRAMES, *, seed: int = 0
) -> dict[str, Any]:
    """Starts sampling (a no-op when it runs with these settings); returns the status.
    `seed` fixes the random intervals, for reproducible tests."""
    if not _heap.MIN_INTERVAL <= interval <= _heap.MAX_INTERVAL:
        raise ValueError(
            f"interval must be from {_heap.MIN_INTERVAL} to {_heap.MAX_INTERVAL} bytes"
        )
    if not 1 <= frames <= MAX_FRAMES:
        raise ValueError(f"frames must be from 1 to {MAX_FRAMES}")
    return _call(_heap.PROFILER.start, interval, frames, seed)


def stop() -> dict[str, Any]:
    """Stops sampling and restores the allocators it wrapped; refuses (HeapProfilerError)
    while another tool's allocator hooks sit above it."""
    return _call(_heap.PROFILER.stop)


def status() -> dict[str, Any]:
    return _heap.PROFILER.status()


def is_running() -> bool:
    return bool(_heap.PROFILER.status()["running"])


def mark(name: str) -> float:
    """Remembers this moment (its in-use and allocated figures) under `name`; returns its
    Unix time. At most 32 marks are kept."""
    return float(_call(_heap.PROFILER.mark, name)["time"])


def snapshot(kind: str = "inuse", since: str | None = None, limit: int = 2000) -> HeapProfile:
    """The profile now: `inuse` (live sampled blocks by stack), `allocated` (allocated
    since the start, or since the mark `since`), or `growth` (in use now minus in use at
    the mark `since`)."""
    from memlens.formats.heap_profile import from_dict

    if kind not in _heap.KINDS:
        raise ValueError(f"kind must be one of {', '.join(_heap.KINDS)}")
    if kind == "growth" and since is None:
        raise ValueError("a growth profile needs since: the name of a mark")
    return from_dict(_call(_heap.PROFILER.profile, kind, since, limit))


def save(profile: HeapProfile, path: str | Path, format: str | None = None) -> Path:
    """Writes `profile` to `path`: json, collapsed (folded stacks), pprof (gzipped
    profile.proto) or html (an offline flame graph). The format follows the file's
    suffix (.json, .txt/.folded/.collapsed, .pb.gz/.pprof, .html) unless named."""
    from memlens.formats.heap_files import FORMATS, encode, format_for
    from memlens.formats.output import write_atomic

    target = Path(path)
    chosen = format or format_for(target.name) or "json"
    if chosen not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return write_atomic(target, encode(profile, chosen), what="heap profile")


def _call(function: Any, *args: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = function(*args)
    except RequestError as exc:
        raise HeapProfilerError(exc.text) from None
    return result
