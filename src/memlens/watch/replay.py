"""A recording served like a live watch: the same page, its whole history, no ticks."""

from __future__ import annotations

import time
from typing import Any

from memlens.model import Column, Target
from memlens.store import StoreReader
from memlens.watch.archive import Archive
from memlens.watch.hub import Hub
from memlens.watch.live import backfill_text, recording_summary
from memlens.watch.messages import backfill, dumps, hello, maps_message
from memlens.watch.messages import mark as mark_message

ALERT_KINDS = ("leak", "growing", "threshold", "group_leak")  # the events a page shows
# The machine's readings a backfill carries at most: a recording's are thinned to these,
# enough for the system strip's sparklines over the whole of it.
SYSTEM_POINTS = 2000
# Readings of a target's memory map a backfill carries at most (every k-th, the last kept).
MAPS_POINTS = 720


class ReplayView:
    mode = "recording"

    def __init__(self, reader: StoreReader, recording_id: int) -> None:
        self.archive = Archive(reader, recording_id)
        self.info = self.archive.info()
        self.interval = self.info.interval
        self.hub = Hub()  # nothing is ever published: a recording does not move
        self.targets: dict[str, Target] = {t.key: t for t in reader.targets(recording_id)}
        self.seq = 0
        self.started = time.time()
        self.alerts = [
            {"type": e.kind, "t": e.t, "key": e.target_key, **e.data}
            for e in reader.events(recording_id, kinds=ALERT_KINDS)
        ]
        # Read with the older history, on a thread (`older_history`), since a recording
        # still being written grows; the latest read serves every hello and backfill.
        self._system: dict[str, list[Any]] | None = None
        self._maps: list[dict[str, object]] = []
        self._marks: list[dict[str, object]] = []

    @property
    def end(self) -> float:
        return self.info.ended if self.info.ended is not None else time.time()

    def hello_message(self) -> str:
        return dumps(
            hello(
                self.targets.values(),
                interval=self.interval,
                history_capacity=0,
                mode=self.mode,
                recording=recording_summary(self.info),
                system=bool(self.system_series()),
            )
        )

    def system_series(self) -> dict[str, list[Any]] | None:
        """The recording's readings of the machine, thinned; None when it has none."""
        if self._system is None:
            self._read_system()
        return self._system or None

    def _read_system(self) -> None:
        reader, rid = self.archive.reader, self.archive.recording_id
        series = reader.system_series(rid, points=SYSTEM_POINTS)
        self._system = series if series["t"] else {}
        maps: list[dict[str, object]] = []
        for key in self.targets:
            found = reader.map_samples(rid, key)
            step = max(1, -(-len(found) // MAPS_POINTS))
            kept = found[::-1][::step][::-1]  # every k-th, counted back from the last
            maps.extend(maps_message(key, sample) for sample in kept)
        self._maps = maps
        self._marks = [
            mark_message(
                e.target_key, e.t, str(e.data.get("text", "")), str(e.data.get("source", ""))
            )
            for e in reader.events(rid, kinds=("mark",))
        ]

    def older_history(self) -> dict[str, tuple[dict[str, Column], int]]:
        start = self.info.started
        self._read_system()
        return {key: self.archive.as_series(key, start, self.end) for key in self.targets}

    def backfill_message(
        self, older: dict[str, tuple[dict[str, Column], int]] | None = None
    ) -> str:
        older = older if older is not None else self.older_history()
        bucketed = {key: count for key, (_, count) in older.items() if count}
        head = backfill(
            self.seq,
            {},
            bucketed,
            self.alerts,
            system=self.system_series(),
            maps=self._maps,
            marks=self._marks,
        )
        return backfill_text(head, ((key, past) for key, (past, _) in older.items()))

    def samples(self, key: str, since: float | None, limit: int | None) -> dict[str, Column]:
        return self.archive.reader.series(self.archive.recording_id, key, since=since, limit=limit)

    def range(self, key: str, start: float, end: float, buckets: int) -> dict[str, object]:
        return self.archive.downsampled(key, start, end, buckets)

    def knows(self, key: str) -> bool:
        return key in self.targets
