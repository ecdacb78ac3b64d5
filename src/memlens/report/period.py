"""The stretch of time a report covers, and reading a recording within it: each section
clips its series to the same period and reads event fields the same way."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from memlens.report.model import Period, RecordingLike

HOUR = 3600.0


def period_of(recording: RecordingLike, hours: float | None, now: float | None) -> Period:
    """The whole recording, or its last `hours` up to its end (a recording still going on
    ends at its last sample, or at `now` when it has none)."""
    info = recording.info
    last = max(
        (float(t) for s in recording.series.values() for t in s.get("t", [])[-1:] if t is not None),
        default=None,
    )
    end = info.ended if info.ended is not None else last
    if end is None:
        end = now if now is not None else info.started
    if last is not None and last > end:
        end = last
    start = info.started
    if hours is not None:
        start = max(start, end - hours * HOUR)
    return Period(start, end, hours, info.ended is None)


def clip(
    series: Mapping[str, Sequence[float | int | None]], cutoff: float | None
) -> tuple[list[float], dict[str, list[float | int | None]]]:
    """A series from `cutoff` on; all of it when `cutoff` is None (the whole recording)."""
    ts = [float(t) for t in series.get("t", []) if t is not None]
    first = 0 if cutoff is None else next((i for i, t in enumerate(ts) if t >= cutoff), len(ts))
    columns = {name: list(values[first:]) for name, values in series.items() if name != "t"}
    return ts[first:], columns


def number(value: object) -> float | None:
    """A number from an event's data, or None: the data came from a file, so a bool, a
    string or a NaN may stand where a number should."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
