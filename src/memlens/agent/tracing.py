"""tracemalloc on a viewer's behalf: switching it, and the sites whose memory grows.

Tracing slows every allocation and costs memory for each traced block, so it is off until
a viewer switches it on. The agent never stops tracing that the program itself started.
Growth is measured against what the same connection saw at its previous `top` (or, the
first time, against nothing, that is since tracing started); only the grouped totals are
kept between calls, never a whole snapshot.

Switching and reading the state go through `_tracemalloc`, the C half of `tracemalloc`;
`tracemalloc.py` itself (with `fnmatch`, `linecache` and `pickle`) is loaded by the first
`top`, which needs its snapshots.
"""

from __future__ import annotations

import _thread
import _tracemalloc
import time

from memlens.agent.protocol import E_NOT_TRACING, E_REFUSED, RequestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from tracemalloc import Filter, Snapshot
    from typing import Any

MAX_FRAMES = 100
MAX_LIMIT = 100

Key = tuple[tuple[str, int], ...]
Totals = dict[Key, tuple[int, int]]

_filters: list[Filter] = []  # made by the first `top`: see _exclusions


def _exclusions() -> list[Filter]:
    """The groups `top` leaves out: tracemalloc's, the import system's and the agent's."""
    if not _filters:
        import os
        import tracemalloc

        own_files = os.path.join(os.path.dirname(os.path.abspath(__file__)), "*")
        _filters[:] = [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
            tracemalloc.Filter(False, "<unknown>"),
            # Any frame: the agent's own passing allocations in the standard library are
            # left out too when tracing keeps more than one frame.
            tracemalloc.Filter(False, own_files, all_frames=True),
        ]
    return _filters


class _Row:
    __slots__ = ("blocks", "count_diff", "key", "size", "size_diff")

    def __init__(self, key: Key, size: int, blocks: int, size_diff: int, count_diff: int) -> None:
        self.key = key
        self.size = size
        self.blocks = blocks
        self.size_diff = size_diff
        self.count_diff = count_diff


class Tracing:
    """Process-wide, like tracemalloc itself: who switched it on, and since when."""

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        self.ours = False
        self.generation = 0
        self.since: float | None = None

    def start(self, frames: int) -> dict[str, Any]:
        with self.lock:
            was_tracing = _tracemalloc.is_tracing()
            if was_tracing and not self.ours:
                raise RequestError(
                    E_REFUSED, "the program traces with tracemalloc itself; left as it is"
                )
            if was_tracing and _tracemalloc.get_traceback_limit() == frames:
                return self._state()
            if was_tracing:
                _tracemalloc.stop()  # a new depth applies only to a fresh trace
            _tracemalloc.start(frames)
            self.ours = True
            self.generation += 1
            self.since = time.time()
            return self._state()

    def stop(self) -> dict[str, Any]:
        with self.lock:
            if _tracemalloc.is_tracing() and not self.ours:
                raise RequestError(
                    E_REFUSED, "the program started tracemalloc itself; left running"
                )
            self.stop_if_ours()
            return self._state()

    def stop_if_ours(self) -> None:
        if self.ours and _tracemalloc.is_tracing():
            _tracemalloc.stop()
        if self.ours:
            self.generation += 1
        self.ours = False
        self.since = None

    def _state(self) -> dict[str, Any]:
        tracing = _tracemalloc.is_tracing()
        return {
            "tracing": tracing,
            "frames": _tracemalloc.get_traceback_limit() if tracing else 0,
            "started_by_agent": self.ours,
            "since": self.since,
        }


def require_tracing() -> None:
    if not _tracemalloc.is_tracing():
        raise RequestError(E_NOT_TRACING, "tracemalloc is off; send tracemalloc.start first")


def group(snapshot: Snapshot, by: str) -> Totals:
    """(size, count) per site, frames oldest first: `Snapshot.statistics(by)` without its
    cost. statistics() builds a Frame and a Traceback object for every trace (seconds for
    a million blocks); grouping the snapshot's raw traces, tuples of (domain, size,
    frames most recent first, ...), does the same sums in a tenth of the time. Falls back
    to statistics() where the raw traces are not there (another interpreter)."""
    raw = getattr(snapshot.traces, "_traces", None)
    if by not in ("lineno", "traceback") or not isinstance(raw, list):
        return {
            tuple((f.filename, f.lineno) for f in stat.traceback): (stat.size, stat.count)
            for stat in snapshot.statistics(by)
        }
    sums: dict[Any, list[int]] = {}
    lineno = by == "lineno"
    for trace in raw:
        frames = trace[2]
        where = frames[:1] if lineno else frames
        entry = sums.get(where)
        if entry is None:
            sums[where] = [trace[1], 1]
        else:
            entry[0] += trace[1]
            entry[1] += 1
    return {tuple(reversed(where)): (size, count) for where, (size, count) in sums.items()}


def _excluded(key: Key) -> bool:
    """Whether a group's frames (oldest first) match one of the _exclusions() the way
    `Snapshot.filter_traces` would judge a trace with those frames."""
    if not key:
        return True
    import fnmatch

    for rule in _exclusions():
        names = [name for name, _ in key] if rule.all_frames else [key[-1][0]]
        if any(fnmatch.fnmatch(name, rule.filename_pattern) for name in names):
            return True
    return False


class Baselines:
    """One connection's totals from its previous `top`, per grouping."""

    def __init__(self) -> None:
        self._by: dict[str, tuple[int, float, Totals]] = {}

    def swap(self, by: str, generation: int, totals: Totals) -> tuple[Totals, float | None]:
        """Stores `totals` and returns the previous ones of this trace (or empty ones)."""
        old = self._by.get(by)
        self._by[by] = (generation, time.time(), totals)
        if old is None or old[0] != generation:
            return {}, None
        return old[2], old[1]


def top(tracing: Tracing, baselines: Baselines, by: str, limit: int, order: str) -> dict[str, Any]:
    """The sites holding (or gaining) the most traced memory; costly: takes a snapshot."""
    require_tracing()
    import tracemalloc

    snapshot = tracemalloc.take_snapshot()
    frames = snapshot.traceback_limit
    totals: Totals = {}
    # Group first, then leave out the groups of tracemalloc, the import system and the
    # agent itself: `Snapshot.filter_traces` runs every filter over every trace in Python
    # and took most of a `top` over a million blocks; the groups are far fewer. With more
    # than one frame traced and grouping by line, a block is judged by its own line only.
    for key, (size, count) in group(snapshot, by).items():
        if not _excluded(key):
            totals[key] = (size, count)
    del snapshot
    previous, previous_time = baselines.swap(by, tracing.generation, totals)
    rows = []
    for key in totals.keys() | previous.keys():
        size, count = totals.get(key, (0, 0))
        old_size, old_count = previous.get(key, (0, 0))
        rows.append(_Row(key, size, count, size - old_size, count - old_count))
    if order == "growth":
        rows.sort(key=lambda r: (r.size_diff, r.size), reverse=True)
    else:
        rows.sort(key=lambda r: r.size, reverse=True)
    total_size = sum(size for size, _ in totals.values())
    return {
        "by": by,
        "order": order,
        "frames": frames,
        "baseline": "previous" if previous_time is not None else "trace_start",
        "baseline_time": previous_time if previous_time is not None else tracing.since,
        "total_bytes": total_size,
        "total_blocks": sum(count for _, count in totals.values()),
        "total_diff_bytes": total_size - sum(size for size, _ in previous.values()),
        "sites": [_site(by, row) for row in rows[:limit]],
    }


def _site(by: str, row: _Row) -> dict[str, Any]:
    # Frames run from the oldest call to the one that allocated.
    file, line = row.key[-1] if row.key else ("<unknown>", 0)
    site: dict[str, Any] = {
        "file": file,
        "line": line,
        "size_bytes": row.size,
        "count": row.blocks,
        "size_diff_bytes": row.size_diff,
        "count_diff": row.count_diff,
    }
    if by == "traceback":
        site["traceback"] = [{"file": f, "line": n} for f, n in row.key]
    return site
