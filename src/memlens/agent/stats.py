"""The runtime stats a viewer polls: cheap enough to answer every second.

Everything here reads counters the interpreter and the kernel already keep; nothing walks
the heap. RSS and fds come from /proc on Linux; elsewhere only the peak RSS that
`getrusage` reports is known, and the fd count is 0. Only C modules are loaded for it:
tracemalloc's C half (`_tracemalloc`, what `tracemalloc.py` wraps), `posix` for `os`.
"""

from __future__ import annotations

import _tracemalloc
import gc
import sys
import time

if sys.platform == "win32":  # no agent there, but memlens.api reads these stats there too
    import os as posix
else:
    import posix

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

_PAGE = posix.sysconf("SC_PAGE_SIZE") if hasattr(posix, "sysconf") else 4096


def runtime_stats(agent_started: float) -> dict[str, Any]:
    """One snapshot of the process's memory-related counters, in bytes and seconds."""
    rss, vms = _statm()
    tracing = _tracemalloc.is_tracing()
    current, peak = _tracemalloc.get_traced_memory() if tracing else (0, 0)
    return {
        "time": time.time(),
        "uptime_s": time.time() - agent_started,
        "rss_bytes": rss,
        "vms_bytes": vms,
        "max_rss_bytes": _max_rss(),
        "threads": _os_threads(),
        "python_threads": python_threads(),
        "fds": _fd_count(),
        "allocated_blocks": sys.getallocatedblocks(),
        "gc": _gc_stats(),
        "tracemalloc": {
            "tracing": tracing,
            "frames": _tracemalloc.get_traceback_limit() if tracing else 0,
            "current_bytes": current,
            "peak_bytes": peak,
            "overhead_bytes": _tracemalloc.get_tracemalloc_memory() if tracing else 0,
        },
    }


def _gc_stats() -> dict[str, Any]:
    generations = [
        {
            "collections": int(g.get("collections", 0)),
            "collected": int(g.get("collected", 0)),
            "uncollectable": int(g.get("uncollectable", 0)),
        }
        for g in gc.get_stats()
    ]
    return {
        "enabled": gc.isenabled(),
        "counts": list(gc.get_count()),
        "thresholds": list(gc.get_threshold()),
        "generations": generations,
        "garbage": len(gc.garbage),
    }


def _statm() -> tuple[int | None, int | None]:
    """Current (RSS, VMS) from /proc/self/statm, or (None, None) where there is none."""
    try:
        with open("/proc/self/statm", "rb") as f:
            fields = f.read().split()
        return int(fields[1]) * _PAGE, int(fields[0]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None, None


def _max_rss() -> int | None:
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux and the BSDs count kilobytes; macOS counts bytes.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _os_threads() -> int:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return python_threads()


def python_threads() -> int:
    """The threads that run Python code: `threading`'s own, and those started through
    `_thread` (the agent's) or by C code, which `threading.active_count()` leaves out."""
    current_frames = getattr(sys, "_current_frames", None)
    if current_frames is None:  # not CPython
        import threading

        return threading.active_count()
    return len(current_frames())


def _fd_count() -> int:
    try:
        # Listing the directory opens one descriptor of its own, which the listing shows.
        return max(0, len(posix.listdir("/proc/self/fd")) - 1)
    except OSError:
        return 0
