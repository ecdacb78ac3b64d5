"""The in-use heap profiles a watch keeps of each process that runs the heap profiler,
so that a leak alert can name the stacks that grew over its window.

The Python poller (`memlens.watch.python_poll`) adds one compact profile per process
every `Settings.stacks_every` seconds; the alert engine asks `growth(key, t0, t1)` on
its own thread when it raises a leak. Bounded: at most `keep` profiles per process
(each at most `heap_points.STACKS_KEPT` stacks). When full, the profile whose removal
leaves the smallest gap goes, so the kept ones stay spread over the whole watch: the
newest and the oldest stay, and a leak that began hours ago still finds a profile near
its onset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from memlens.errors import BadHeapProfile
from memlens.model import HeapProfile, Tick
from memlens.watch.heap_points import HeapPoint, compact, grown_stacks, pair

log = logging.getLogger(__name__)

KEEP = 40  # profiles per process

Sink = Callable[[str, HeapPoint], None]  # (target key, the profile kept)


class HeapHistory:
    """Compact in-use profiles per target key; safe to use from several threads."""

    def __init__(self, keep: int = KEEP) -> None:
        if keep < 2:
            raise ValueError("keep at least two profiles: growth needs a pair")
        self.keep = keep
        self._points: dict[str, list[HeapPoint]] = {}
        self._lock = threading.Lock()
        # Told of each profile kept, on the caller's thread: the recording keeps them too
        # (memlens.watch.heap_keep).
        self.sinks: list[Sink] = []

    def add(self, key: str, t: float, profile: Mapping[str, Any] | HeapProfile) -> HeapPoint:
        """Keep a compact copy of `profile`, received at `t` (the viewer's clock);
        BadHeapProfile when it is not a valid in-use profile."""
        return self.add_point(key, compact(profile, t))

    def add_point(self, key: str, point: HeapPoint) -> HeapPoint:
        """Keep a profile already compacted."""
        with self._lock:
            points = self._points.setdefault(key, [])
            points.append(point)
            points.sort(key=lambda p: p.t)
            if len(points) > self.keep:
                del points[_thinnest(points)]
        for sink in self.sinks:
            try:
                sink(key, point)
            except Exception:  # a sink's failure never costs the alerts their profiles
                log.exception("a heap profile could not be passed on")
        return point

    def points(self, key: str) -> list[HeapPoint]:
        with self._lock:
            return list(self._points.get(key, ()))

    def growth(self, key: str, t0: float, t1: float) -> dict[str, Any] | None:
        """The stacks that grew from the profile nearest t0 to the one nearest t1 (the
        alert's `heap_growth`); None without two profiles of one run of the profiler."""
        found = pair(self.points(key), t0, t1)
        if found is None:
            return None
        try:
            return grown_stacks(*found)
        except BadHeapProfile:  # not of one process, or the agent's clock went back
            return None

    def forget(self, key: str) -> None:
        with self._lock:
            self._points.pop(key, None)

    def on_tick(self, tick: Tick) -> None:
        """A tick consumer: an exited process's profiles go with it."""
        for target in tick.exits:
            self.forget(target.key)


def _thinnest(points: list[HeapPoint]) -> int:
    """The index of the inner profile whose neighbours are nearest each other."""
    return min(range(1, len(points) - 1), key=lambda i: points[i + 1].t - points[i - 1].t)
