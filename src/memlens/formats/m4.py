"""M4 downsampling of an in-memory series, for pages that must stay small.

The same reduction as the store's SQL one (`memlens.store.downsample`): per equal time
bucket the first, lowest, highest and last sample, so a chart drawn from at most
4 × buckets points looks the same as one drawn from all of them, single-sample spikes
included. The exported page has the whole series in memory already, so it is done here
rather than asking SQLite again.
"""

from __future__ import annotations

from collections.abc import Sequence

Value = float | int | None


def m4(
    ts: Sequence[float], vs: Sequence[Value], buckets: int
) -> tuple[list[float], list[Value], bool]:
    """(times, values, bucketed): the input as it is when it holds at most 4 × buckets
    points, else its M4 points in time order. Unknown values never count as the lowest
    or highest; a bucket's first and last points are kept even when unknown (a gap)."""
    if buckets < 1:
        raise ValueError("the number of buckets must be at least 1")
    if len(ts) <= 4 * buckets:
        return list(ts), list(vs), False
    start, end = ts[0], ts[-1]
    width = (end - start) / buckets
    keep: set[int] = set()
    current = -1
    first = last = lo = hi = -1
    for i, (t, v) in enumerate(zip(ts, vs, strict=True)):
        b = min(int((t - start) / width), buckets - 1) if width > 0 else 0
        if b != current:
            if current >= 0:
                keep.update(x for x in (first, lo, hi, last) if x >= 0)
            current, first, lo, hi = b, i, -1, -1
        last = i
        if v is not None:
            if lo < 0 or v < vs[lo]:  # type: ignore[operator]
                lo = i
            if hi < 0 or v > vs[hi]:  # type: ignore[operator]
                hi = i
    keep.update(x for x in (first, lo, hi, last) if x >= 0)
    order = sorted(keep)
    return [ts[i] for i in order], [vs[i] for i in order], True
