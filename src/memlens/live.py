"""The event loop's view of a watch: targets, recent history and the hub.

The sampler thread hands each `Tick` to `LiveView.apply` through the loop
(`call_soon_threadsafe`), so history, target states and publishing change only on the
loop's thread. A client that subscribes and then reads the history without awaiting in
between therefore sees every tick exactly once: in the backfill or in its queue.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from memlens.alerts import Alert
from memlens.archive import Archive, concat
from memlens.history import Column, History
from memlens.hub import Hub
from memlens.messages import backfill, dumps, encode_tick, hello
from memlens.model import Target, Tick
from memlens.store import RecordingInfo

# The part of a live backfill older than the ring: raw up to 4 × this many samples, then
# M4 buckets. Kept small because it bounds what every new tab costs the server (and its
# own memory's high-water mark); zooming in fetches the detail from /api/range.
OLDER_BUCKETS = 500
# Alerts a new tab gets in its backfill (the store keeps all of them).
RECENT_ALERTS = 200


class LiveView:
    """What the web face serves for a live watch (`memlens.replay.ReplayView` serves a
    recording through the same methods)."""

    mode = "live"

    def __init__(
        self,
        *,
        interval: float,
        history_capacity: int,
        hub: Hub | None = None,
        archive: Archive | None = None,
    ) -> None:
        self.interval = interval
        self.hub = hub or Hub()
        self.history = History(history_capacity)
        self.archive = archive
        self.targets: dict[str, Target] = {}
        self.seq = 0
        self.started = time.time()
        self.alerts: deque[dict[str, Any]] = deque(maxlen=RECENT_ALERTS)
        self.python: dict[tuple[str, str], dict[str, Any]] = {}  # latest per (key, part)

    def apply(self, tick: Tick) -> None:
        for target in tick.new_targets:
            self.targets[target.key] = target
        for key, reading in tick.samples.items():
            self.history.add(key, tick.time, reading)
        for target in tick.exits:
            self.targets[target.key] = target
        self.seq = tick.seq
        for message in encode_tick(tick):
            self.hub.publish(message)

    def post_alert(self, alert: Alert) -> None:
        """Keep the alert for tabs that open later, and send it to those open now (on the
        loop's thread, like `apply`)."""
        message = alert.message()
        self.alerts.append(message)
        self.hub.publish(dumps(message))

    def post_python(self, message: dict[str, Any]) -> None:
        """An answer of a Python agent (top sites, gc pauses) for open tabs; the latest of
        each kind per target is kept for tabs that open later (on the loop's thread)."""
        for part in ("top", "gc"):
            if part in message:
                self.python[(str(message["key"]), part)] = message
        self.hub.publish(dumps(message))

    def hello_message(self) -> str:
        recording = None
        if self.archive is not None:
            recording = recording_summary(self.archive.info())
        return dumps(
            hello(
                self.targets.values(),
                interval=self.interval,
                history_capacity=self.history.capacity,
                mode=self.mode,
                recording=recording,
            )
        )

    def older_history(self) -> dict[str, tuple[dict[str, Column], int]]:
        """From the store, what the ring no longer holds (blocking: call it on a thread)."""
        if self.archive is None:
            return {}
        start = self.archive.info().started
        out = {}
        for key in list(self.targets):
            first = self.history.first_time(key)
            end = (first if first is not None else float("inf")) - 1e-6
            if first is None:
                continue  # never sampled while this view lived: nothing older to add
            out[key] = self.archive.as_series(key, start, end, OLDER_BUCKETS)
        return out

    def backfill_message(
        self, older: dict[str, tuple[dict[str, Column], int]] | None = None
    ) -> str:
        series = self.history.all_series()
        bucketed: dict[str, int] = {}
        for key, (past, buckets) in (older or {}).items():
            if key in series and past["t"]:
                series[key] = concat(past, series[key])
                bucketed[key] = buckets
        return dumps(
            backfill(self.seq, series, bucketed, list(self.alerts), list(self.python.values()))
        )

    def samples(self, key: str, since: float | None, limit: int | None) -> dict[str, Column]:
        return self.history.series(key, since, limit)

    def range(self, key: str, start: float, end: float, buckets: int) -> dict[str, object]:
        """RSS of one target between start and end, bucketed when long (blocking)."""
        if self.archive is not None:
            return self.archive.downsampled(key, start, end, buckets)
        series = self.history.series(key, since=start - 1e-9)
        keep = [i for i, t in enumerate(series["t"]) if t is not None and t <= end]
        return {
            "t": [series["t"][i] for i in keep],
            "rss": [series["rss"][i] for i in keep],
            "bucketed": False,
        }

    def knows(self, key: str) -> bool:
        return key in self.targets or key in self.history


def recording_summary(info: RecordingInfo) -> dict[str, object]:
    return {"id": info.id, "name": info.name, "started": info.started, "ended": info.ended}
