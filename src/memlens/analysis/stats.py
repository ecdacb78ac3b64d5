"""Plain statistics of one series of (time, value)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    count: int
    start: float
    end: float
    first: float
    last: float
    min: float
    max: float
    mean: float
    p95: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def growth(self) -> float:
        """Last minus first: what a naive look at the ends says, no more."""
        return self.last - self.first


def summarize(times: Sequence[float], values: Sequence[float | int | None]) -> SeriesSummary | None:
    """Summary of the known values (None is skipped); None when there are none."""
    pairs = [(t, float(v)) for t, v in zip(times, values, strict=True) if v is not None]
    if not pairs:
        return None
    ordered = sorted(v for _, v in pairs)
    return SeriesSummary(
        count=len(pairs),
        start=pairs[0][0],
        end=pairs[-1][0],
        first=pairs[0][1],
        last=pairs[-1][1],
        min=ordered[0],
        max=ordered[-1],
        mean=math.fsum(ordered) / len(ordered),
        p95=percentile(ordered, 0.95),
    )


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks, on already sorted values."""
    if not ordered:
        raise ValueError("no values")
    at = (len(ordered) - 1) * q
    lo = math.floor(at)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)
