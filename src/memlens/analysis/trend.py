"""Robust trend of a short series: Theil–Sen slope, its confidence interval, and the
Mann–Kendall test corrected for autocorrelation (Hamed & Rao, 1998).

Why these: memory series are not Gaussian around a line (GC sawtooth, batch spikes,
page-sized quantisation), so a least-squares slope and its t-test are pulled around by a
few samples. Theil–Sen (the median of all pairwise slopes) ignores up to ~29% of wild
points, and Mann–Kendall only counts which of two points is higher. Neighbouring points of
a memory series are correlated, though, and Mann–Kendall's plain variance then calls
random wander a trend; Hamed and Rao's correction widens the variance by the measured
autocorrelation of the ranks of the detrended series (an effective sample size).

The pairwise slopes are computed once, sorted, and give the slope, its interval and the
Mann–Kendall statistic S (the count of positive minus negative slopes) together: O(n²)
in n, so callers keep n to a few hundred (the leak detector feeds the downsampled floor).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul
from statistics import NormalDist

_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Trend:
    """A robust straight line through (x, y) and how sure we are that it rises.

    `intercept` is the line's value at x = 0 (callers pass x relative to a start).
    `p_up` is the one-sided p-value of "no upward trend"; `n_eff` the sample size the
    autocorrelation leaves (n divided by the Hamed–Rao variance factor).
    """

    slope: float
    intercept: float
    low: float
    high: float
    s: int
    var_s: float
    z: float
    p_up: float
    n: int
    n_eff: float

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def z_two_sided(level: float) -> float:
    """The normal quantile for a two-sided interval of `level` (0.95 -> 1.96)."""
    return _NORMAL.inv_cdf(0.5 + level / 2.0)


def upper_p(z: float) -> float:
    """P(Z >= z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def theil_sen(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    level: float = 0.95,
    max_lag: int | None = None,
) -> Trend:
    """Theil–Sen slope with Sen's interval at `level`, and Mann–Kendall with Hamed–Rao.

    `xs` must be strictly increasing. The interval uses the autocorrelation-corrected
    variance of S, so it widens on wandering series just as the test's p-value rises.
    """
    n = len(xs)
    if n < 3 or len(ys) != n:
        raise ValueError("need at least 3 points, as many x as y")
    slopes: list[float] = []
    for i in range(n - 1):
        xi = xs[i]
        yi = ys[i]
        slopes += [(y - yi) / (x - xi) for x, y in zip(xs[i + 1 :], ys[i + 1 :], strict=True)]
    slopes.sort()
    count = len(slopes)
    slope = _median_sorted(slopes)
    intercept = _median_sorted(sorted(y - slope * x for x, y in zip(xs, ys, strict=True)))
    negative = bisect_left(slopes, 0.0)
    positive = count - bisect_right(slopes, 0.0)
    s = positive - negative

    var_s = (n * (n - 1) * (2 * n + 5) - _tie_term(ys)) / 18.0
    factor = hamed_rao_factor([y - slope * x for x, y in zip(xs, ys, strict=True)], max_lag=max_lag)
    var_s = max(var_s * factor, 1e-12)
    sd = math.sqrt(var_s)
    z = (s - math.copysign(1.0, s)) / sd if s != 0 else 0.0

    # Sen (1968): the interval is between the order statistics (N - C)/2 and (N + C)/2
    # of the sorted pairwise slopes, C = z * sd(S).
    c = z_two_sided(level) * sd
    lo_rank = max(0, min(count - 1, math.floor((count - c) / 2.0)))
    hi_rank = max(0, min(count - 1, math.ceil((count + c) / 2.0)))
    return Trend(
        slope=slope,
        intercept=intercept,
        low=slopes[lo_rank],
        high=slopes[hi_rank],
        s=s,
        var_s=var_s,
        z=z,
        p_up=upper_p(z),
        n=n,
        n_eff=n / factor,
    )


def hamed_rao_factor(residuals: Sequence[float], *, max_lag: int | None = None) -> float:
    """Hamed & Rao's (1998) inflation of Var(S) for autocorrelated data, at least 1.

    Autocorrelations of the ranks of the detrended series, kept where they are
    significant at 5% (|r| > 1.96/sqrt(n)), weighted as in the paper. Lags stop at
    `max_lag` (default n/3): beyond it too few pairs remain to estimate anything, and
    the weights (n-k)(n-k-1)(n-k-2) make them small anyway. Never below 1: negative
    autocorrelation is rare in memory series and would only make the test bolder.
    """
    n = len(residuals)
    if n < 4:
        return 1.0
    ranks = _ranks(residuals)
    mean = (n - 1) / 2.0
    centred = [r - mean for r in ranks]
    denominator = sum(map(mul, centred, centred))
    if denominator <= 0.0:
        return 1.0
    bound = 1.96 / math.sqrt(n)
    lags = min(n - 3, max_lag if max_lag is not None else max(1, n // 3))
    total = 0.0
    for k in range(1, lags + 1):
        r = sum(map(mul, centred, centred[k:])) / denominator
        if abs(r) > bound:
            total += (n - k) * (n - k - 1) * (n - k - 2) * r
    factor = 1.0 + 2.0 * total / (n * (n - 1) * (n - 2))
    return max(1.0, factor)


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 0, ties sharing their average rank: an exact line leaves residuals
    that all tie, and ranking them by position would fake a perfect autocorrelation."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0
        i = j + 1
    return ranks


def _tie_term(ys: Sequence[float]) -> float:
    """Σ t(t-1)(2t+5) over groups of equal values: page-quantised RSS has ties."""
    return float(sum(t * (t - 1) * (2 * t + 5) for t in Counter(ys).values() if t > 1))


def _median_sorted(ordered: Sequence[float]) -> float:
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2.0
