"""A bounded, columnar in-memory history of samples per target, compacted with age.

A server may watch a thousand processes for an hour; one sample of every field costs
about 120 bytes, so keeping them all would take hundreds of megabytes. The store
(recording) holds everything, so memory keeps two tiers per target:

- the newest `recent` samples (5 minutes at 1 Hz) with every field (`Ring`), as the
  live faces draw and report them;
- everything older, down to about `capacity` samples in all, as buckets of `step`
  sampling intervals (`Buckets`) that keep only the two samples with the lowest and the
  highest RSS (their RSS and PSS), so a spike or a dip stays visible on a chart of the
  hour.

Columns are `array('d')` (8 bytes a value, NaN for "unknown") rather than lists of
Python objects (about 40 bytes a value), and a field a target has never had a value for
(the Python agent's, for a process without one) takes no column at all. Readers get the
same shape as before: "t" and every SAMPLE_FIELDS name, oldest first, the older points
with only "rss" and "pss" known (`coarse_points` says how many lead the series).
"""

from __future__ import annotations

import math
import operator
from array import array
from bisect import bisect_right
from collections.abc import Sequence

from memlens.model import SAMPLE_FIELDS, Column, Reading

_NAN = float("nan")
# Samples kept with every field, per target (at most `capacity`).
RECENT = 300
# Buckets older samples are kept in, per target, at most: a point every few seconds over
# an hour at 1 Hz, and the same count, coarser, for a longer --history.
MAX_BUCKETS = 300
_RSS = SAMPLE_FIELDS.index("rss")
_PSS = SAMPLE_FIELDS.index("pss")


class Ring:
    """Samples of one target, every field, oldest overwritten once `capacity` is reached."""

    __slots__ = ("_cols", "_start", "_times", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("history capacity must be at least 1")
        self.capacity = capacity
        self._times = array("d")
        # One column per field, made when its first known value comes (None until then).
        self._cols: list[array[float] | None] = [None] * len(SAMPLE_FIELDS)
        self._start = 0

    def __len__(self) -> int:
        return len(self._times)

    def append(self, t: float, reading: Reading) -> None:
        row = [t, *(_NAN if v is None else float(v) for v in reading.values())]
        self.append_row(row)

    def append_row(self, row: Sequence[float]) -> None:
        """`row`: t, then every SAMPLE_FIELDS value (NaN for unknown)."""
        times, cols = self._times, self._cols
        full = len(times) >= self.capacity
        at = self._start
        size = len(times)
        for i, value in enumerate(row[1:]):
            col = cols[i]
            if col is None:
                if math.isnan(value):  # still nothing known of this field
                    continue
                col = cols[i] = array("d", [_NAN]) * size
            if full:
                col[at] = value
            else:
                col.append(value)
        if full:
            times[at] = row[0]
            self._start = (at + 1) % self.capacity
        else:
            times.append(row[0])

    def oldest(self) -> tuple[float, float, float]:
        """(t, rss, pss) of the oldest sample: the one the next append overwrites when full."""
        at = self._start
        rss, pss = self._cols[_RSS], self._cols[_PSS]
        return (
            self._times[at],
            _NAN if rss is None else rss[at],
            _NAN if pss is None else pss[at],
        )

    def _ordered(self, col: array[float]) -> array[float]:
        if self._start == 0:
            return col
        return col[self._start :] + col[: self._start]

    def first_time(self) -> float | None:
        if not self._times:
            return None
        return self._times[self._start]

    def last_time(self) -> float | None:
        if not self._times:
            return None
        return self._times[self._start - 1]

    def series(self, since: float | None = None, limit: int | None = None) -> dict[str, Column]:
        """Columns of samples with t > since (the newest `limit` of them), JSON-ready."""
        times = self._ordered(self._times)
        lo = 0 if since is None else bisect_right(times, since)
        if limit is not None:
            lo = max(lo, len(times) - limit)
        size = len(times) - lo
        out: dict[str, Column] = {"t": list(times[lo:])}
        for name, col in zip(SAMPLE_FIELDS, self._cols, strict=True):
            if col is None:
                out[name] = [None] * size
            else:
                out[name] = _json_column(self._ordered(col)[lo:])
        return out


class Buckets:
    """Samples too old for the `Ring`, in buckets of `width` seconds, `capacity` at most.

    Of each bucket only two samples stay, the ones with the lowest and the highest RSS
    (RSS and PSS of each): the shape of the line and its extremes survive, at about 48
    bytes per bucket instead of 120 per sample. Once a bucket is closed its two points
    stand at its start and its middle, in the order they came: times every target shares
    (a page keeps one time column for all of them), whatever time each extreme had; only
    a bucket with none before it (a new target's first, the first after a gap) keeps their
    own times, so no point stands before the target's first sample.
    """

    __slots__ = (
        "_bucket",
        "_cols",
        "_count",
        "_joined",
        "_open",
        "_points",
        "_start",
        "capacity",
        "width",
    )

    # Columns: t, rss, pss of the low sample, then of the high one.
    _WIDTH = 6

    def __init__(self, capacity: int, width: float) -> None:
        if capacity < 1 or not width > 0:
            raise ValueError("buckets need a capacity of at least 1 and a width above 0")
        self.capacity = capacity
        self.width = width
        self._cols = [array("d") for _ in range(self._WIDTH)]
        self._start = 0
        self._open = array("d", [_NAN]) * self._WIDTH  # the bucket being filled
        self._bucket = 0  # its number: it holds [number × width, (number + 1) × width)
        self._count = 0  # samples in it
        self._joined = False  # whether the previous bucket had samples too
        self._points = 0  # points the closed buckets give (one or two each)

    def __len__(self) -> int:
        """Closed buckets held."""
        return len(self._cols[0])

    def add(self, t: float, rss: float, pss: float) -> None:
        """One more sample, older than any the `Ring` holds, newer than any held here."""
        bucket = math.floor(t / self.width)
        joined = False
        if self._count and bucket != self._bucket:
            joined = bucket == self._bucket + 1
            self._close()
        b = self._open
        if self._count == 0:
            self._bucket = bucket
            self._joined = joined
            b[0], b[1], b[2], b[3], b[4], b[5] = t, rss, pss, t, rss, pss
        elif not math.isnan(rss):  # a known RSS competes; an unknown one never displaces it
            if not rss >= b[1]:  # lower, or the low one is unknown
                b[0], b[1], b[2] = t, rss, pss
            if not rss <= b[4]:
                b[3], b[4], b[5] = t, rss, pss
        self._count += 1

    def _close(self) -> None:
        cols, b = self._cols, self._open
        start = self._bucket * self.width
        n = 1 if b[0] == b[3] else 2
        if not self._joined:
            pass  # the target's first bucket (or the first after a gap): its own times
        elif n == 1:
            b[0] = b[3] = start
        elif b[0] < b[3]:
            b[0], b[3] = start, start + self.width / 2
        else:
            b[0], b[3] = start + self.width / 2, start
        if len(cols[0]) < self.capacity:
            for col, value in zip(cols, b, strict=True):
                col.append(value)
        else:
            at = self._start
            self._points -= 1 if cols[0][at] == cols[3][at] else 2
            for col, value in zip(cols, b, strict=True):
                col[at] = value
            self._start = (at + 1) % self.capacity
        self._points += n
        self._count = 0

    def __bool__(self) -> bool:
        return self._count > 0 or len(self._cols[0]) > 0

    def points(self) -> int:
        """How many points `series` gives (closed buckets and the open one)."""
        if self._count == 0:
            return self._points
        return self._points + (1 if self._open[0] == self._open[3] else 2)

    def first_time(self) -> float | None:
        if self._cols[0]:
            at = self._start
            return min(self._cols[0][at], self._cols[3][at])
        if self._count:
            return min(self._open[0], self._open[3])
        return None

    def last_time(self) -> float | None:
        """The time of the newest point."""
        if self._count:
            return max(self._open[0], self._open[3])
        if self._cols[0]:
            at = self._start - 1
            return max(self._cols[0][at], self._cols[3][at])
        return None

    def series(self) -> tuple[list[float], list[float], list[float]]:
        """(t, rss, pss) of every bucket's points, oldest first."""
        t: list[float] = []
        rss: list[float] = []
        pss: list[float] = []
        at = self._start
        cols = [col[at:] + col[:at] if at else col for col in self._cols]
        if self._count:
            cols = [col + array("d", [value]) for col, value in zip(cols, self._open, strict=True)]
        for t_a, rss_a, pss_a, t_b, rss_b, pss_b in zip(*cols, strict=True):
            first, second = ((t_a, rss_a, pss_a), (t_b, rss_b, pss_b))
            if t_b < t_a:
                first, second = second, first
            t.append(first[0])
            rss.append(first[1])
            pss.append(first[2])
            if t_b != t_a:
                t.append(second[0])
                rss.append(second[1])
                pss.append(second[2])
        return t, rss, pss


class Track:
    """One target's history: the recent `Ring`, then `Buckets` for what it lets go."""

    __slots__ = ("older", "recent")

    def __init__(self, recent: int, buckets: int, width: float) -> None:
        self.recent = Ring(recent)
        self.older = Buckets(buckets, width) if buckets else None

    def add(self, t: float, reading: Reading) -> None:
        ring = self.recent
        if self.older is not None and len(ring) >= ring.capacity:
            self.older.add(*ring.oldest())
        ring.append(t, reading)

    def first_time(self) -> float | None:
        if self.older:
            return self.older.first_time()
        return self.recent.first_time()

    def coarse_points(self) -> int:
        return self.older.points() if self.older is not None else 0

    def coarse_end(self) -> float | None:
        return self.older.last_time() if self.older is not None else None

    def series(self, since: float | None = None, limit: int | None = None) -> dict[str, Column]:
        out = self.recent.series(since, limit)
        if self.older is None or not self.older:
            return out
        room = None if limit is None else limit - len(out["t"])
        if room is not None and room <= 0:
            return out
        t, rss, pss = self.older.series()
        lo = 0 if since is None else bisect_right(t, since)
        if room is not None:
            lo = max(lo, len(t) - room)
        if lo >= len(t):
            return out
        size = len(t) - lo
        older: dict[str, Column] = {"t": list(t[lo:])}
        for name in SAMPLE_FIELDS:
            if name == "rss":
                older[name] = _json_column(rss[lo:])
            elif name == "pss":
                older[name] = _json_column(pss[lo:])
            else:
                older[name] = [None] * size
        return {name: [*older[name], *column] for name, column in out.items()}


def _json_column(values: Sequence[float]) -> Column:
    """The values JSON-ready: whole numbers as int, NaN as None. A column at a time, in C
    when it can be (every value whole and known), since a backfill of a thousand
    targets converts millions of them."""
    try:
        whole: Column = list(map(int, values))
    except (ValueError, OverflowError):  # NaN or infinity among them
        return [_json_value(v) for v in values]
    if all(map(operator.eq, values, whole)):
        return whole
    return [_json_value(v) for v in values]


def _json_value(v: float) -> float | int | None:
    if math.isnan(v):
        return None
    return int(v) if v.is_integer() else v


class History:
    """Every target's history, keyed by target key: `capacity` samples' worth each, the
    newest `recent` of them with every field (see the module's docstring)."""

    def __init__(
        self,
        capacity: int,
        recent: int = RECENT,
        max_buckets: int = MAX_BUCKETS,
        interval: float = 1.0,
    ) -> None:
        if capacity < 1:
            raise ValueError("history capacity must be at least 1")
        self.capacity = capacity
        self.recent = max(1, min(capacity, recent))
        older = capacity - self.recent
        # `step` samples (at `interval`) to a bucket; one more bucket than the older
        # samples fill, since the buckets' edges fall on round times, not on samples.
        self.step = max(1, math.ceil(older / max(1, max_buckets))) if older else 0
        self.width = self.step * interval
        self.buckets = math.ceil(older / self.step) + 1 if older else 0
        self._tracks: dict[str, Track] = {}

    def add(self, key: str, t: float, reading: Reading) -> None:
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = Track(self.recent, self.buckets, self.width)
        track.add(t, reading)

    def first_time(self, key: str) -> float | None:
        track = self._tracks.get(key)
        return None if track is None else track.first_time()

    def coarse_points(self, key: str) -> int:
        """How many of the points `series(key)` gives first are buckets' (only "t", "rss"
        and "pss" known) rather than samples."""
        track = self._tracks.get(key)
        return 0 if track is None else track.coarse_points()

    def coarse_end(self, key: str) -> float | None:
        """The time of the newest of those bucket points (None when there are none)."""
        track = self._tracks.get(key)
        return None if track is None else track.coarse_end()

    def keys(self) -> list[str]:
        return list(self._tracks)

    def __contains__(self, key: object) -> bool:
        return key in self._tracks

    def series(
        self, key: str, since: float | None = None, limit: int | None = None
    ) -> dict[str, Column]:
        """Points with t > since (the newest `limit` of them), oldest first."""
        track = self._tracks.get(key)
        if track is None:
            return {"t": [], **{name: [] for name in SAMPLE_FIELDS}}
        return track.series(since, limit)

    def all_series(self) -> dict[str, dict[str, Column]]:
        return {key: track.series() for key, track in self._tracks.items()}
