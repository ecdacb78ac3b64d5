"""A watch written to the store as it happens: one recording, fed tick by tick."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memlens.config import Settings, judged_with
from memlens.model import Alert, Tick
from memlens.probes.maps import MapsReading
from memlens.store import EVENTS_RETENTION_S, SAMPLES_RETENTION_S, Store, StoreReader
from memlens.watch.alerts import target_memory_limit

log = logging.getLogger(__name__)


class Recorder:
    """Owns the Store for one recording; `on_tick` is safe to call from the sampler thread."""

    def __init__(self, store: Store, recording_id: int) -> None:
        self.store = store
        self.recording_id = recording_id
        self._finished = False
        self._limited: set[str] = set()

    @classmethod
    def start(
        cls,
        path: Path,
        *,
        name: str,
        command: str | None,
        interval: float,
        keep_samples: float = SAMPLES_RETENTION_S,
        keep_events: float = EVENTS_RETENTION_S,
        settings: Settings | None = None,
    ) -> Recorder:
        """`settings` are those the recording is judged with, now and later (defaults
        when None)."""
        store = Store.open(path)
        try:
            prune(path, keep_samples=keep_samples, keep_events=keep_events)
            rid = store.begin_recording(
                name=name,
                command=command,
                interval=interval,
                host=socket.gethostname(),
                judged_with=judged_with(settings or Settings()),
            )
        except BaseException:
            store.close()
            raise
        return cls(store, rid)

    @property
    def path(self) -> Path:
        return Path(self.store.status()["path"])

    def on_tick(self, tick: Tick) -> None:
        self.store.add_tick(self.recording_id, tick)
        for target in tick.new_targets:
            if target.key in self._limited:
                continue
            self._limited.add(target.key)
            limit = target_memory_limit(target)
            if limit is not None:
                self.store.set_memory_limit(self.recording_id, target.key, tick.time, int(limit))

    def on_maps(self, key: str, reading: MapsReading) -> None:
        """Keep a reading of a target's memory map (the maps poller's sink, its thread)."""
        self.store.add_maps(self.recording_id, key, reading.sample())

    def on_heap(
        self, key: str, t: float, row: tuple[int, int, int, bytes], drop: Sequence[float]
    ) -> None:
        """Keep a heap profile of a target, dropping the older ones at `drop` (the heap
        keeper's sink, on the Python poller's thread)."""
        self.store.add_heap_profile(self.recording_id, key, t, row, drop)

    def on_alert(self, alert: Alert) -> None:
        """Keep a leak or threshold event with the recording (from any thread)."""
        self.store.add_event(self.recording_id, alert.kind, alert.t, alert.data, alert.key)

    def on_mark(self, key: str, t: float, data: dict[str, Any]) -> None:
        """Keep a program's mark (read from its agent) with the recording (any thread)."""
        self.store.add_event(self.recording_id, "mark", t, data, key)

    def finish(self, exit_code: int | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self.store.end_recording(self.recording_id, ended=time.time(), exit_code=exit_code)
        finally:
            self.store.close()


def prune(path: Path, *, keep_samples: float, keep_events: float) -> tuple[int, int]:
    """Drop samples and events older than the retention; returns how many went."""
    now = time.time()
    reader = StoreReader.open(path)
    try:
        return reader.prune(samples_before=now - keep_samples, events_before=now - keep_events)
    finally:
        reader.close()
