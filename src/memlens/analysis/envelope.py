"""The floor of a memory series, downsampled: what a leak detector should look at.

A process's memory is its live data (the floor) plus garbage not yet collected, buffers
of the request in flight and batch jobs that come and go. A leak is the floor rising, so
the detector works on a lower envelope rather than on the samples: everything above the
floor is noise to it, and sometimes large, lopsided noise (a GC sawtooth of 80 MB over a
floor that rises 1 MB a minute).

How, in a few passes over the samples and sorts of at most a thousand differences:

- Jumps: a sample-to-sample change larger than `jump_sigmas` robust standard deviations
  of the differences (and than `jump_min` bytes) is a jump, not noise.
- GC sawtooth: many jumps down and few jumps up (memory climbs gradually and falls at
  once) is a collector at work. Then each envelope window is made at least `cover`
  times the median cycle (cycles vary) and the floor is the window's minimum: every
  window then holds a post-collection trough.
- Excursions: a jump up answered by a jump back down within `excursion_max` seconds is a
  batch job or a burst, not the floor; its samples are left out.
- Otherwise the floor of a window is a low quantile (`quantile`) of its samples rather
  than the minimum: on symmetric noise the minimum of k samples scatters about twice as
  much as the 20th percentile, and a quantile still ignores short bursts.

Windows are laid out backwards from the last sample, so the newest window is always
complete (a half-filled newest window would hold no trough and look like a jump up), and
they are wide enough to leave at most `max_points` of them: the trend statistics that
follow are O(points²).
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from operator import sub

# How many differences the robust scale is estimated from at most: a strided sample is
# as good as all of them for a median and keeps the cost flat on long series.
_SCALE_SAMPLE = 1000


@dataclass(frozen=True, slots=True)
class EnvelopeParams:
    """How the floor is taken; DetectorConfig documents each default."""

    min_window: float = 10.0
    max_points: int = 120
    quantile: float = 0.2
    jump_sigmas: float = 6.0
    jump_min: float = 1024.0 * 1024.0
    sawtooth_min_drops: int = 3
    cover: float = 1.5
    min_points: int = 8
    excursion_max: float = 900.0
    edge: int = 5


@dataclass(frozen=True, slots=True)
class Envelope:
    """Window centres and floor values, and what was learnt on the way."""

    times: tuple[float, ...]
    values: tuple[float, ...]
    window: float
    statistic: str  # "min" (sawtooth found) or "quantile"
    sawtooth_period: float | None
    excluded: int  # samples left out as excursions
    jump_threshold: float


def lower_envelope(
    times: Sequence[float], values: Sequence[float], params: EnvelopeParams
) -> Envelope:
    """The floor of (times, values), times increasing, at most `params.max_points` long."""
    n = len(times)
    if n < 2:
        return Envelope(tuple(times), tuple(values), 0.0, "quantile", None, 0, math.inf)
    # Collections drop memory from one sample to the next: lag-1 differences find them.
    diffs = list(map(sub, values[1:], values[:-1]))
    centre, scale = _centre_scale(diffs)
    threshold = max(params.jump_sigmas * scale, params.jump_min)
    drops = _jumps(diffs, centre, threshold, -1.0)
    rises = _jumps(diffs, centre, threshold, 1.0)
    period = None
    if len(drops) >= params.sawtooth_min_drops and 2 * len(rises) <= len(drops):
        cycles = sorted(times[b.first] - times[a.first] for a, b in itertools.pairwise(drops))
        period = cycles[len(cycles) // 2]

    # Bursts take a few seconds to allocate and to free: lag-`edge` differences see
    # their whole edges.
    lag = min(params.edge, n - 1)
    wide = list(map(sub, values[lag:], values[:-lag]))
    centre, scale = _centre_scale(wide)
    wide_threshold = max(params.jump_sigmas * scale, params.jump_min)
    ups = _jumps(wide, centre, wide_threshold, 1.0)
    downs = _jumps(wide, centre, wide_threshold, -1.0)
    keep_t, keep_v, excluded = _drop_excursions(times, values, ups, downs, lag=lag, params=params)

    duration = keep_t[-1] - keep_t[0] if keep_t else 0.0
    step = duration / max(1, len(keep_t) - 1)
    window = max(params.min_window, 3.0 * step, duration / params.max_points)
    if period is not None:
        # Long enough to hold a trough, short enough to leave `min_points` windows: a
        # window without a trough only adds scatter, no window at all says nothing.
        window = max(window, min(params.cover * period, duration / params.min_points))
    statistic = "min" if period is not None else "quantile"

    out_t: list[float] = []
    out_v: list[float] = []
    end = keep_t[-1] if keep_t else 0.0
    count = int(duration // window) if window > 0 else 0
    # Oldest first; window k (from the end) covers (end - (k+1)w, end - kw].
    hi = len(keep_t)
    for k in range(count):
        start = end - (k + 1) * window
        lo = bisect_left(keep_t, start, 0, hi)
        if lo < hi and keep_t[lo] == start:
            lo += 1  # half-open on the left: that sample belongs to the older window
        chunk = keep_v[lo:hi]
        if len(chunk) >= 2:
            if period is not None:
                value = min(chunk)
            else:
                chunk.sort()
                value = chunk[int(params.quantile * (len(chunk) - 1))]
            out_t.append(start + window / 2.0)
            out_v.append(value)
        hi = lo
    out_t.reverse()
    out_v.reverse()
    return Envelope(tuple(out_t), tuple(out_v), window, statistic, period, excluded, threshold)


@dataclass(frozen=True, slots=True)
class _Jump:
    """Neighbouring differences beyond the threshold, as one event."""

    first: int  # index of the first difference over the threshold
    last: int
    size: float  # the largest difference, signed


def _centre_scale(diffs: list[float]) -> tuple[float, float]:
    """Median and 1.4826 × MAD of (a strided sample of) the differences: the typical
    change and its spread, blind to the jumps that are being looked for."""
    stride = max(1, -(-len(diffs) // _SCALE_SAMPLE))
    sample = sorted(diffs[::stride])
    if not sample:
        return 0.0, 0.0
    centre = sample[len(sample) // 2]
    deviations = sorted([abs(d - centre) for d in sample])
    return centre, 1.4826 * deviations[len(deviations) // 2]


def _jumps(diffs: list[float], centre: float, threshold: float, sign: float) -> list[_Jump]:
    """Jumps in the direction `sign`; differences at most 2 apart are one event (a
    collection spread over two readings, the lagged differences of one edge)."""
    # Most series have no jump at all: max()/min() in C says so at a third of the cost
    # of the scan that finds them.
    if sign > 0:
        bound = centre + threshold
        hits = [i for i, d in enumerate(diffs) if d > bound] if max(diffs) > bound else []
    else:
        bound = centre - threshold
        hits = [i for i, d in enumerate(diffs) if d < bound] if min(diffs) < bound else []
    jumps: list[_Jump] = []
    for i in hits:
        d = diffs[i]
        if jumps and i <= jumps[-1].last + 2:
            prev = jumps[-1]
            jumps[-1] = _Jump(prev.first, i, d if sign * d > sign * prev.size else prev.size)
        else:
            jumps.append(_Jump(i, i, d))
    return jumps


def _drop_excursions(
    times: Sequence[float],
    values: Sequence[float],
    ups: list[_Jump],
    downs: list[_Jump],
    *,
    lag: int,
    params: EnvelopeParams,
) -> tuple[list[float], list[float], int]:
    """The samples without excursions: from a jump up to the jump down that undoes at
    least half of it within `excursion_max` seconds, with samples after the fall. A jump
    up with no such answer is a step and stays."""
    n = len(times)
    spans: list[tuple[int, int]] = []
    j = 0
    for up in ups:
        if spans and up.first < spans[-1][1]:
            continue
        while j < len(downs) and downs[j].first <= up.last:
            j += 1
        k = j
        while k < len(downs) and times[downs[k].first] - times[up.first] <= params.excursion_max:
            # Lagged differences: the rise is in (first, first + lag], the fall ends by
            # last + lag; a few floor samples more or less do not matter. A fall with no
            # sample after it is where the series ends (a process freeing its memory as
            # it exits), not a return to the floor that anything has shown.
            end = downs[k].last + lag + 1
            if -downs[k].size >= 0.5 * up.size and end < n:
                spans.append((up.first + 1, end))
                break
            k += 1
    if not spans:
        return list(times), list(values), 0
    keep_t: list[float] = []
    keep_v: list[float] = []
    last = 0
    excluded = 0
    for a, b in spans:
        keep_t += times[last:a]
        keep_v += values[last:a]
        excluded += b - a
        last = b
    keep_t += times[last:]
    keep_v += values[last:]
    return keep_t, keep_v, excluded
