"""Garbage-collector pause times, collected only while a viewer keeps asking for them.

A `gc.callbacks` hook runs on every collection, in whatever thread triggered it, so it is
installed on the first ask and removed when no viewer has asked for IDLE_S seconds or the
last asking connection closed. The hook takes no lock: a collection can start while any
thread, the agent's own included, holds one, and waiting there could deadlock the host.
It only appends to bounded deques, which the GIL keeps consistent.
"""

from __future__ import annotations

import _thread
import gc
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

IDLE_S = 60.0
MAX_PAUSES = 4096


class _Viewer:
    def __init__(self) -> None:
        # collections.deque itself, without collections.py; loaded by the first viewer
        # that asks for pauses, not by one that polls stats.
        if TYPE_CHECKING:
            from collections import deque
        else:
            from _collections import deque

        self.pauses: deque[tuple[float, int, float, int, int]] = deque(maxlen=MAX_PAUSES)
        self.dropped = 0
        self.last_ask = time.monotonic()
        self.last_ask_wall = time.time()


class GcPauses:
    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()  # guards subscribe/unsubscribe, never the hook
        self._viewers: dict[int, _Viewer] = {}
        self._targets: tuple[_Viewer, ...] = ()
        self._hook = self._on_gc
        self._installed = False
        self._t0 = 0.0

    @property
    def collecting(self) -> bool:
        return self._installed

    def ask(self, viewer_id: int) -> dict[str, Any]:
        """The pauses since this viewer's previous ask; the first ask starts collecting."""
        now = time.monotonic()
        self.expire(now)
        with self._lock:
            viewer = self._viewers.get(viewer_id)
            since: float | None = None
            if viewer is None:
                viewer = self._viewers[viewer_id] = _Viewer()
                self._sync()
            else:
                since = viewer.last_ask_wall
            drained = [viewer.pauses.popleft() for _ in range(len(viewer.pauses))]
            dropped, viewer.dropped = viewer.dropped, 0
            viewer.last_ask, viewer.last_ask_wall = now, time.time()
        durations = [p[2] for p in drained]
        return {
            "collecting": True,
            "since": since,
            "count": len(drained),
            "total_s": sum(durations, 0.0),
            "max_s": max(durations, default=0.0),
            "dropped": dropped,
            "idle_stop_s": IDLE_S,
            "pauses": [
                {
                    "time": t,
                    "generation": gen,
                    "duration_s": d,
                    "collected": collected,
                    "uncollectable": uncollectable,
                }
                for t, gen, d, collected, uncollectable in drained
            ],
        }

    def drop(self, viewer_id: int) -> None:
        with self._lock:
            if self._viewers.pop(viewer_id, None) is not None:
                self._sync()

    def expire(self, now: float | None = None) -> None:
        """Forgets viewers that stopped asking; the hook goes when the last one does."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [k for k, v in self._viewers.items() if now - v.last_ask > IDLE_S]
            for key in idle:
                del self._viewers[key]
            if idle:
                self._sync()

    def clear(self) -> None:
        with self._lock:
            self._viewers.clear()
            self._sync()

    def _sync(self) -> None:
        self._targets = tuple(self._viewers.values())
        if self._targets and not self._installed:
            gc.callbacks.append(self._hook)
            self._installed = True
        elif not self._targets and self._installed:
            while self._hook in gc.callbacks:
                gc.callbacks.remove(self._hook)
            self._installed = False

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        try:
            if phase == "start":
                self._t0 = time.perf_counter()
                return
            duration = time.perf_counter() - self._t0
            record = (
                time.time(),
                int(info.get("generation", -1)),
                duration,
                int(info.get("collected", 0)),
                int(info.get("uncollectable", 0)),
            )
            for viewer in self._targets:
                if len(viewer.pauses) == MAX_PAUSES:
                    viewer.dropped += 1
                viewer.pauses.append(record)
        except Exception:  # a gc hook that raises is reported on the host's stderr
            return

    def reset_after_fork(self) -> None:
        """The child has no viewers: its copy of the hook goes, and the lock is renewed."""
        self._lock = _thread.allocate_lock()
        self._viewers.clear()
        self._sync()
