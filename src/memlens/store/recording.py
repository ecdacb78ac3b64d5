"""One recording as plain data, read whole from a store in one snapshot.

Every export writer takes a `Recording` and every importer gives one back, and reports
and the TUI's save read one too; it lives with the store because it is the store's own
shape of a recording, so those layers share it without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memlens.model import Column, MapSample, Target
from memlens.store.reader import Event, RecordingInfo, StoreReader

Series = dict[str, Column]  # "t" and every SAMPLE_FIELDS name, the reader's shape
# "t", every SYSTEM_FIELDS name and "gpus": `StoreReader.system_series`'s shape
SystemSeries = dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class Recording:
    """A whole recording: its row, its targets in order, every sample, every event, and
    the machine's readings when it holds any (None: none recorded, or read from an export,
    which does not carry them)."""

    info: RecordingInfo
    targets: list[Target]
    series: dict[str, Series]  # by target key, one entry per target
    events: list[Event]
    system: SystemSeries | None = None
    # Readings of the targets' memory maps, by target key (only the targets that have
    # any; empty for a recording made without them).
    maps: dict[str, list[MapSample]] = field(default_factory=dict)
    # The settings it was judged with (`config.judged_with`'s shape; None: it holds none,
    # a recording older than them) and each target's memory limit, by key.
    judged_with: dict[str, Any] | None = None
    limits: dict[str, int] = field(default_factory=dict)

    @property
    def sample_count(self) -> int:
        return sum(len(s["t"]) for s in self.series.values())


def counted(recording: Recording) -> str:
    """'2 targets, 1,234 samples, 1 event': what a command says it handled."""
    parts = (
        (len(recording.targets), "target"),
        (recording.sample_count, "sample"),
        (len(recording.events), "event"),
    )
    return ", ".join(f"{n:,} {word}{'' if n == 1 else 's'}" for n, word in parts)


def load_recording(reader: StoreReader, info: RecordingInfo) -> Recording:
    """Everything of one recording, read in one snapshot so a recording still being
    written exports as one consistent state."""
    with reader.snapshot():
        info = reader.recording(info.id)
        targets = reader.targets(info.id)
        series = {t.key: reader.series(info.id, t.key) for t in targets}
        events = reader.events(info.id)
        system = reader.system_series(info.id)
        maps = {t.key: reader.map_samples(info.id, t.key) for t in targets}
        judged, limits = reader.judged_with(info.id)
    return Recording(
        info,
        targets,
        series,
        events,
        system if system["t"] else None,
        {key: found for key, found in maps.items() if found},
        judged,
        limits,
    )
