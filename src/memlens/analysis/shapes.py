"""Which simple shape fits the floor best: flat, a line, a late start, growth that
stops, or a few steps.

The verdicts differ in shape more than in slope: a leak is a line (perhaps starting
late: a hinge), a warm-up is growth that stops (a line that breaks into a flat), a step
is a few flat levels. Each shape is fitted by least squares on the envelope, trying every
change point at once with prefix sums (O(points) per shape, O(points × steps) for the
steps), and the shapes are compared by the Bayesian information criterion, so a shape
with more parameters must earn them. The robust statistics (Theil–Sen, Mann–Kendall)
then judge the chosen pieces; least squares only picks the shape and its change points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shape:
    """One fitted shape. `at` holds the indices where pieces start (hinge: the onset;
    break: the first point of the flat; steps: the first point of each new level)."""

    kind: str  # "flat" | "line" | "hinge" | "break" | "steps" | "stairs"
    sse: float
    params: int
    at: tuple[int, ...] = ()
    score: float = math.inf


class _Sums:
    """Prefix sums of 1, x, y, x², xy, y² on centred data: any segment's least-squares
    fit in O(1). Centring keeps the sums of squares of bytes far from float limits."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        mx = math.fsum(xs) / len(xs)
        my = math.fsum(ys) / len(ys)
        self.x = [x - mx for x in xs]
        y = [v - my for v in ys]
        self.sx = [0.0]
        self.sy = [0.0]
        self.sxx = [0.0]
        self.sxy = [0.0]
        self.syy = [0.0]
        for xi, yi in zip(self.x, y, strict=True):
            self.sx.append(self.sx[-1] + xi)
            self.sy.append(self.sy[-1] + yi)
            self.sxx.append(self.sxx[-1] + xi * xi)
            self.sxy.append(self.sxy[-1] + xi * yi)
            self.syy.append(self.syy[-1] + yi * yi)

    def const_sse(self, a: int, b: int) -> float:
        n = b - a
        if n <= 0:
            return 0.0
        sy = self.sy[b] - self.sy[a]
        return max(0.0, self.syy[b] - self.syy[a] - sy * sy / n)

    def line_sse(self, a: int, b: int) -> float:
        n = b - a
        if n <= 2:
            return 0.0
        sx = self.sx[b] - self.sx[a]
        sy = self.sy[b] - self.sy[a]
        cxx = self.sxx[b] - self.sxx[a] - sx * sx / n
        cxy = self.sxy[b] - self.sxy[a] - sx * sy / n
        cyy = self.syy[b] - self.syy[a] - sy * sy / n
        return max(0.0, cyy - (cxy * cxy / cxx if cxx > 0 else 0.0))

    def regress_sse(self, su: float, suu: float, suy: float) -> float:
        """SSE of y on (1, u) over all points, from the sums of u, u² and uy."""
        m = len(self.x)
        sy = self.sy[-1]
        cuu = suu - su * su / m
        cuy = suy - su * sy / m
        cyy = self.syy[-1] - sy * sy / m
        return max(0.0, cyy - (cuy * cuy / cuu if cuu > 1e-12 else 0.0))


def fit_shapes(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    min_tail: float,
    min_points: int,
    max_steps: int,
    penalty: float,
    sse_floor: float,
) -> dict[str, Shape]:
    """Every shape's best fit, scored. "steps" holds the best of 1..`max_steps` steps,
    "stairs" the fit with one step more (a staircase leak has more steps than a STEP).

    `min_tail`: the shortest stretch after a hinge or a break (in x units) and
    `min_points` the fewest points in any piece, so that a change point cannot hide
    one odd point at the end. `sse_floor` keeps the logarithm finite on exact data.
    """
    m = len(xs)
    sums = _Sums(xs, ys)
    x = sums.x

    def score(sse: float, params: int) -> float:
        return m * math.log(max(sse, sse_floor) / m) + penalty * params * math.log(m)

    shapes: dict[str, Shape] = {}
    flat = sums.const_sse(0, m)
    shapes["flat"] = Shape("flat", flat, 1, (), score(flat, 1))
    line = sums.line_sse(0, m)
    shapes["line"] = Shape("line", line, 2, (), score(line, 2))

    last = x[-1]
    sx, sy, sxx, sxy = sums.sx, sums.sy, sums.sxx, sums.sxy
    best_hinge: tuple[float, int] | None = None
    best_break: tuple[float, int] | None = None
    for k in range(min_points, m - min_points + 1):
        if last - x[k] < min_tail:
            break
        xk = x[k]
        ns = m - k
        # Hinge at x_k: u = max(x - x_k, 0), zero before k.
        sxs = sx[m] - sx[k]
        sys_ = sy[m] - sy[k]
        su = sxs - xk * ns
        suu = (sxx[m] - sxx[k]) - 2.0 * xk * sxs + xk * xk * ns
        suy = (sxy[m] - sxy[k]) - xk * sys_
        sse = sums.regress_sse(su, suu, suy)
        if best_hinge is None or sse < best_hinge[0]:
            best_hinge = (sse, k)
        # Break at x_k: u = min(x, x_k), flat from k on.
        su = sx[k] + xk * ns
        suu = sxx[k] + xk * xk * ns
        suy = sxy[k] + xk * sys_
        sse = sums.regress_sse(su, suu, suy)
        if best_break is None or sse < best_break[0]:
            best_break = (sse, k)
    for kind, best in (("hinge", best_hinge), ("break", best_break)):
        if best is not None:
            shapes[kind] = Shape(kind, best[0], 3, (best[1],), score(best[0], 3))

    best_steps: Shape | None = None
    for sse, cuts in _segment(sums, m, max_steps + 1, min_points):
        params = 2 * len(cuts) + 1
        shape = Shape("steps", sse, params, tuple(cuts), score(sse, params))
        if len(cuts) > max_steps:
            # One step more than a STEP may have: kept apart, to recognise a staircase.
            shapes["stairs"] = Shape("stairs", sse, params, tuple(cuts), shape.score)
        elif best_steps is None or shape.score < best_steps.score:
            best_steps = shape
    if best_steps is not None:
        shapes["steps"] = best_steps
    return shapes


def _segment(sums: _Sums, m: int, max_steps: int, min_points: int) -> list[tuple[float, list[int]]]:
    """Binary segmentation into constant levels: after each split, (total SSE, cuts)."""
    segments: list[tuple[int, int]] = [(0, m)]
    total = sums.const_sse(0, m)
    out: list[tuple[float, list[int]]] = []
    for _ in range(max_steps):
        best: tuple[float, int, int] | None = None  # gain, segment index, cut
        for index, (a, b) in enumerate(segments):
            whole = sums.const_sse(a, b)
            for k in range(a + min_points, b - min_points + 1):
                gain = whole - sums.const_sse(a, k) - sums.const_sse(k, b)
                if best is None or gain > best[0]:
                    best = (gain, index, k)
        if best is None or best[0] <= 0.0:
            break
        gain, index, k = best
        a, b = segments[index]
        segments[index : index + 1] = [(a, k), (k, b)]
        total -= gain
        out.append((max(0.0, total), sorted(s[0] for s in segments[1:])))
    return out
