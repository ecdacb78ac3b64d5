"""The recorded past of one recording, as the faces need it: long ranges downsampled.

A dashboard can hold an hour of raw samples; a recording can hold weeks. Ranges longer
than the screen are sent as M4 buckets (first, min, max, last of RSS per bucket, so no
spike is hidden) computed by the store.
"""

from __future__ import annotations

import math
from typing import Any

from memlens.model import SAMPLE_FIELDS, Column
from memlens.store import RecordingInfo, StoreReader

DEFAULT_BUCKETS = 2000


class Archive:
    def __init__(self, reader: StoreReader, recording_id: int) -> None:
        self.reader = reader
        self.recording_id = recording_id

    def info(self) -> RecordingInfo:
        return self.reader.recording(self.recording_id)

    def downsampled(
        self, key: str, start: float, end: float, buckets: int = DEFAULT_BUCKETS
    ) -> dict[str, Any]:
        """`{"t": [...], "rss": [...], "bucketed": bool}` for start ≤ t ≤ end."""
        return self.reader.downsampled(self.recording_id, key, start, end, buckets)

    def as_series(
        self, key: str, start: float, end: float, buckets: int = DEFAULT_BUCKETS
    ) -> tuple[dict[str, Column], int]:
        """The same as a full series (fields other than RSS unknown when bucketed), and
        how many of its points are buckets' rather than raw samples."""
        if end < start:
            return _empty(), 0
        points = self.downsampled(key, start, end, buckets)
        if not points["bucketed"]:
            return self.reader.series(
                self.recording_id, key, since=_just_before(start), until=end
            ), 0
        size = len(points["t"])
        series: dict[str, Column] = {"t": points["t"]}
        for name in SAMPLE_FIELDS:
            series[name] = points["rss"] if name == "rss" else [None] * size
        return series, size


def _empty() -> dict[str, Column]:
    return {"t": [], **{name: [] for name in SAMPLE_FIELDS}}


def concat(older: dict[str, Column], newer: dict[str, Column]) -> dict[str, Column]:
    """Two series of the same fields, the second after the first."""
    return {name: [*older.get(name, []), *column] for name, column in newer.items()}


def _just_before(t: float) -> float:
    """The float right below `t`: `since` is exclusive, and at Unix-time magnitudes a
    small constant (1e-9) rounds away and would drop the sample at `t` itself."""
    return math.nextafter(t, -math.inf)
