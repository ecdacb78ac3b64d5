"""The event loop's view of a watch: targets, recent history and the hub.

The sampler thread hands each `Tick` to `LiveView.apply` through the loop
(`call_soon_threadsafe`), so history, target states and publishing change only on the
loop's thread. A client that subscribes and then reads the history without awaiting in
between therefore sees every tick exactly once: in the backfill or in its queue.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.model import SYSTEM_FIELDS, Alert, Column, MapSample, SystemReading, Target, Tick
from memlens.store import RecordingInfo
from memlens.watch.archive import Archive, concat
from memlens.watch.history import RECENT, History
from memlens.watch.hub import Hub
from memlens.watch.messages import backfill, dumps, encode_tick, hello, maps_message
from memlens.watch.messages import mark as mark_message

# The part of a live backfill older than the ring: raw up to 4 × this many samples, then
# M4 buckets. Kept small because it bounds what every new tab costs the server (and its
# own memory's high-water mark); zooming in fetches the detail from /api/range.
OLDER_BUCKETS = 500
# Alerts a new tab gets in its backfill (the store keeps all of them).
RECENT_ALERTS = 200
# Readings of each target's memory map kept for new tabs: an hour at the default pace.
RECENT_MAPS = 360
RECENT_MARKS = 200  # marks kept for tabs that open later


class LiveView:
    """What the web face serves for a live watch (`memlens.watch.replay.ReplayView` serves a
    recording through the same methods)."""

    mode = "live"

    def __init__(
        self,
        *,
        interval: float,
        history_capacity: int,
        hub: Hub | None = None,
        archive: Archive | None = None,
        system: bool = True,
        recent: int = RECENT,
    ) -> None:
        """`recent`: the samples of each target kept with every field; older ones keep
        only RSS and PSS extremes per time bucket (memlens.watch.history). A face that
        computes its figures from the history rather than drawing it (`memlens top`)
        keeps them all: `recent=history_capacity`."""
        self.interval = interval
        self.hub = hub or Hub()
        self.history = History(history_capacity, recent=recent, interval=interval)
        self.system_enabled = system  # the sampler reads the machine (not --no-system)
        self.system = SystemRing(history_capacity)
        self.archive = archive
        self.targets: dict[str, Target] = {}
        self.seq = 0
        self.last_time: float | None = None  # of the latest tick applied
        self.started = time.time()
        self.alerts: deque[dict[str, Any]] = deque(maxlen=RECENT_ALERTS)
        self.python: dict[tuple[str, str], dict[str, Any]] = {}  # latest per (key, part)
        self.maps: dict[str, deque[dict[str, Any]]] = {}  # recent readings per target
        self.marks: deque[dict[str, Any]] = deque(maxlen=RECENT_MARKS)
        self.group_by = DEFAULT_GROUP_BY  # the session sets its sampler's --group-by

    def apply(self, tick: Tick) -> None:
        for target in tick.new_targets:
            self.targets[target.key] = target
        for key, reading in tick.samples.items():
            self.history.add(key, tick.time, reading)
        for target in tick.exits:
            self.targets[target.key] = target
        if tick.system is not None:
            self.system.add(tick.system)
        self.seq = tick.seq
        self.last_time = tick.time
        for message in encode_tick(tick):
            self.hub.publish(message)

    def post_alert(self, alert: Alert) -> None:
        """Keep the alert for tabs that open later, and send it to those open now (on the
        loop's thread, like `apply`)."""
        message = alert.message()
        self.alerts.append(message)
        self.hub.publish(dumps(message))

    def post_mark(self, key: str | None, t: float, data: Mapping[str, Any]) -> None:
        """A mark for open tabs, kept for those that open later (on the loop's thread)."""
        message = mark_message(key, t, str(data.get("text", "")), str(data.get("source", "")))
        self.marks.append(message)
        self.hub.publish(dumps(message))

    def post_python(self, message: dict[str, Any]) -> None:
        """An answer of a Python agent (top sites, gc pauses, the heap profiler's top
        stacks) for open tabs; the latest of each kind per target is kept for tabs that
        open later (on the loop's thread)."""
        for part in ("top", "gc", "heap", "objects"):
            if part in message:
                self.python[(str(message["key"]), part)] = message
        self.hub.publish(dumps(message))

    def post_maps(self, key: str, sample: MapSample) -> None:
        """A reading of a target's memory map for open tabs, kept for those that open
        later (on the loop's thread)."""
        message = maps_message(key, sample)
        self.maps.setdefault(key, deque(maxlen=RECENT_MAPS)).append(message)
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
                system=self.system_enabled,
                group_by=self.group_by,
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
            end = math.nextafter(first, -math.inf) if first is not None else math.inf
            if first is None:
                continue  # never sampled while this view lived: nothing older to add
            out[key] = self.archive.as_series(key, start, end, OLDER_BUCKETS)
        return out

    def backfill_message(
        self, older: dict[str, tuple[dict[str, Column], int]] | None = None
    ) -> str:
        older = older or {}
        keys = self.history.keys()
        # The leading points that are buckets' rather than samples: the history's own
        # older tier, after what the store adds before it (all of that counted too when
        # both are there, so the coarse part stays one run of leading points).
        bucketed = {key: count for key in keys if (count := self.history.coarse_points(key)) > 0}
        for key, (past, buckets) in older.items():
            if key in self.history and past["t"]:
                coarse = bucketed.get(key, 0)
                bucketed[key] = len(past["t"]) + coarse if coarse else buckets

        def series() -> Iterator[tuple[str, dict[str, Column]]]:
            for key in keys:
                past = older.get(key, (None, 0))[0]
                recent = self.history.series(key)
                yield key, concat(past, recent) if past and past["t"] else recent

        head = backfill(
            self.seq,
            {},
            bucketed,
            list(self.alerts),
            list(self.python.values()),
            system=self.system.series(),
            maps=[m for recent in self.maps.values() for m in recent],
            marks=list(self.marks),
        )
        return backfill_text(head, series())

    def samples(self, key: str, since: float | None, limit: int | None) -> dict[str, Column]:
        return self.history.series(key, since, limit)

    def range(self, key: str, start: float, end: float, buckets: int) -> dict[str, object]:
        """RSS of one target between start and end, bucketed when long (blocking)."""
        if self.archive is not None:
            return self.archive.downsampled(key, start, end, buckets)
        series = self.history.series(key, since=math.nextafter(start, -math.inf))
        keep = [i for i, t in enumerate(series["t"]) if t is not None and t <= end]
        # Without a store, what is older than the recent samples is the history's buckets.
        coarse_end = self.history.coarse_end(key)
        first = series["t"][keep[0]] if keep else None
        return {
            "t": [series["t"][i] for i in keep],
            "rss": [series["rss"][i] for i in keep],
            "bucketed": first is not None and coarse_end is not None and first <= coarse_end,
        }

    def knows(self, key: str) -> bool:
        return key in self.targets or key in self.history


class SystemRing:
    """The machine's recent readings, for the backfill of a tab that opens later.

    As many as a target's history holds, kept as `memlens.watch.history.Ring` keeps samples:
    a column of doubles per field (NaN for unknown), not a reading object each, so a day
    of them stays a few megabytes. The GPUs, usually none, ride beside in a deque. Ticks
    repeat the last reading until the next is due (see the sampler): a reading no newer
    than the newest held is one already held.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("history capacity must be at least 1")
        self.capacity = capacity
        self._cols = [array("d") for _ in range(len(SYSTEM_FIELDS) + 1)]  # t first
        self._gpus: deque[list[dict[str, Any]] | None] = deque(maxlen=capacity)
        self._start = 0

    def __len__(self) -> int:
        return len(self._cols[0])

    def add(self, reading: SystemReading) -> None:
        cols = self._cols
        if cols[0] and reading.t <= cols[0][self._start - 1]:
            return
        values = (getattr(reading, name) for name in SYSTEM_FIELDS)
        row = [reading.t, *(math.nan if v is None else float(v) for v in values)]
        if len(cols[0]) < self.capacity:
            for col, value in zip(cols, row, strict=True):
                col.append(value)
        else:
            for col, value in zip(cols, row, strict=True):
                col[self._start] = value
            self._start = (self._start + 1) % self.capacity
        self._gpus.append([g.to_dict() for g in reading.gpus] if reading.gpus else None)

    def series(self) -> dict[str, list[Any]] | None:
        """Columns "t", every SYSTEM_FIELDS name and "gpus", oldest first; None when
        there are none."""
        if not self._cols[0]:
            return None
        at = self._start
        out: dict[str, list[Any]] = {}
        for name, col in zip(("t", *SYSTEM_FIELDS), self._cols, strict=True):
            ordered = col[at:] + col[:at] if at else col
            out[name] = [_json_value(v) for v in ordered]
        out["gpus"] = list(self._gpus)
        return out


def _json_value(v: float) -> float | int | None:
    if math.isnan(v):
        return None
    return int(v) if v.is_integer() else v


def backfill_text(head: dict[str, object], series: Iterable[tuple[str, dict[str, Column]]]) -> str:
    """The backfill message `head` (its own "series" left out) with `series` in it, each
    target's serialised as it comes: with a thousand targets, all of their columns as
    Python lists at once would take several times the text's own size. A column with no
    known value (a field the target never had) is left out (docs/protocol.md)."""
    parts = [dumps({k: v for k, v in head.items() if k != "series"})[:-1], ',"series":{']
    for i, (key, columns) in enumerate(series):
        kept = {
            name: column
            for name, column in columns.items()
            if name in ("t", "rss") or column.count(None) < len(column)
        }
        parts.append(f"{',' if i else ''}{dumps(key)}:{dumps(kept)}")
    parts.append("}}")
    return "".join(parts)


def recording_summary(info: RecordingInfo) -> dict[str, object]:
    return {"id": info.id, "name": info.name, "started": info.started, "ended": info.ended}
