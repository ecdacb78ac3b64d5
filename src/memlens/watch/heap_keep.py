"""The heap profiles a recording keeps: each compact in-use profile the watch takes of a
process that runs the heap profiler (every `stacks_every`, 30 s by default; see
memlens.watch.heap_history) goes into the store as its JSON, compressed, so that
`memlens diff` can compare the stacks of two runs and `report` name a run's largest.

Bounded: at most `keep` per target. When one more comes, the kept profile whose removal
leaves the smallest gap is deleted in the same transaction, so those kept stay spread
over the whole run, and the first and the newest (the last before the process exited or
the watch stopped) always stay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from memlens.formats.heap_profile import dump_json
from memlens.store.heap_blob import pack
from memlens.watch.heap_points import HeapPoint

log = logging.getLogger(__name__)

KEEP = 20  # profiles per target in a recording

HeapRow = tuple[int, int, int, bytes]  # pid, stacks, in-use bytes, compressed JSON
Write = Callable[[str, float, HeapRow, Sequence[float]], None]  # key, t, row, times to drop


class HeapKeeper:
    """A sink of `HeapHistory`: called on the Python poller's thread, per profile kept."""

    def __init__(self, write: Write, keep: int = KEEP) -> None:
        if keep < 2:
            raise ValueError("keep at least two profiles: the first and the newest")
        self.keep = keep
        self._write = write
        self._kept: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def on_point(self, key: str, point: HeapPoint) -> None:
        profile = point.profile
        row = (profile.pid, len(profile.stacks), int(profile.inuse_bytes), pack(dump_json(profile)))
        with self._lock:
            kept = self._kept.setdefault(key, [])
            if kept and point.t <= kept[-1]:
                return  # an older answer than one already kept
            kept.append(point.t)
            drop = [kept.pop(_thinnest(kept))] if len(kept) > self.keep else []
        self._write(key, point.t, row, drop)

    def kept(self, key: str) -> list[float]:
        with self._lock:
            return list(self._kept.get(key, ()))


def _thinnest(times: list[float]) -> int:
    """The index of the inner time whose neighbours are nearest each other."""
    return min(range(1, len(times) - 1), key=lambda i: times[i + 1] - times[i - 1])
