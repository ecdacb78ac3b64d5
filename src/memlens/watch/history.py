"""A bounded, columnar in-memory history of samples per target.

Columns are `array('d')` (8 bytes a value, NaN for "unknown") rather than lists of
Python objects (about 40 bytes a value), so an hour of one-second samples costs about
290 KB per target and memlens's own memory stays small and flat.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Sequence

from memlens.model import SAMPLE_FIELDS, Column, Reading

_NAN = float("nan")


class Ring:
    """Samples of one target, oldest overwritten once `capacity` is reached."""

    __slots__ = ("_cols", "_start", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("history capacity must be at least 1")
        self.capacity = capacity
        self._cols = [array("d") for _ in range(len(SAMPLE_FIELDS) + 1)]  # t first
        self._start = 0

    def __len__(self) -> int:
        return len(self._cols[0])

    def append(self, t: float, reading: Reading) -> None:
        row = [t, *(_NAN if v is None else float(v) for v in reading.values())]
        self.append_row(row)

    def append_row(self, row: Sequence[float]) -> None:
        cols = self._cols
        if len(cols[0]) < self.capacity:
            for col, value in zip(cols, row, strict=True):
                col.append(value)
        else:
            at = self._start
            for col, value in zip(cols, row, strict=True):
                col[at] = value
            self._start = (at + 1) % self.capacity

    def _ordered(self, col: array[float]) -> array[float]:
        if self._start == 0:
            return col
        return col[self._start :] + col[: self._start]

    def first_time(self) -> float | None:
        if not self._cols[0]:
            return None
        return self._cols[0][self._start]

    def last_time(self) -> float | None:
        if not self._cols[0]:
            return None
        return self._cols[0][self._start - 1]

    def series(self, since: float | None = None, limit: int | None = None) -> dict[str, Column]:
        """Columns of samples with t > since (the newest `limit` of them), JSON-ready."""
        times = self._ordered(self._cols[0])
        lo = 0 if since is None else bisect_right(times, since)
        if limit is not None:
            lo = max(lo, len(times) - limit)
        out: dict[str, Column] = {"t": list(times[lo:])}
        for name, col in zip(SAMPLE_FIELDS, self._cols[1:], strict=True):
            out[name] = [_json_value(v) for v in self._ordered(col)[lo:]]
        return out


def _json_value(v: float) -> float | int | None:
    if math.isnan(v):
        return None
    return int(v) if v.is_integer() else v


class History:
    """Rings for every target, keyed by target key."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rings: dict[str, Ring] = {}

    def add(self, key: str, t: float, reading: Reading) -> None:
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = Ring(self.capacity)
        ring.append(t, reading)

    def first_time(self, key: str) -> float | None:
        ring = self._rings.get(key)
        return None if ring is None else ring.first_time()

    def keys(self) -> list[str]:
        return list(self._rings)

    def __contains__(self, key: object) -> bool:
        return key in self._rings

    def series(
        self, key: str, since: float | None = None, limit: int | None = None
    ) -> dict[str, Column]:
        ring = self._rings.get(key)
        if ring is None:
            return {"t": [], **{name: [] for name in SAMPLE_FIELDS}}
        return ring.series(since, limit)

    def all_series(self) -> dict[str, dict[str, Column]]:
        return {key: ring.series() for key, ring in self._rings.items()}
