"""The verdict on one clean series: the steps of the leak detector in order.

leaks.py is the front (cleaning input, the live detector, the naive peer); this is the
reasoning, in the order docs/leak-detection.md tells it: floor, shapes, then STEP,
PLATEAU, the leak's own stretch, and the guards a LEAK must pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from memlens.analysis.envelope import EnvelopeParams, lower_envelope
from memlens.analysis.leakmodel import (
    DetectorConfig,
    LeakFinding,
    Severity,
    Verdict,
    severity_for,
)
from memlens.analysis.leaktext import clock, duration_text, p_text, rate_range, rate_text
from memlens.analysis.shapes import Shape, fit_shapes
from memlens.analysis.shortrun import short_run
from memlens.analysis.trend import Trend, theil_sen, upper_p
from memlens.units import human_bytes


def classify(
    ts: Sequence[float], vs: Sequence[float], limit: float | None, config: DetectorConfig
) -> LeakFinding:
    """The finding for samples already cleaned: floats, in time order, no None."""
    return _Analysis(ts, vs, limit, config).run()


class _Analysis:
    """One run of the detector over clean, time-ordered samples."""

    def __init__(
        self, ts: Sequence[float], vs: Sequence[float], limit: float | None, config: DetectorConfig
    ) -> None:
        self.ts = ts
        self.vs = vs
        self.limit = limit
        self.config = config

    def run(self) -> LeakFinding:
        cfg = self.config
        short = too_short(self.ts, cfg, self.limit, self.vs)
        if short is not None:
            return short
        env = lower_envelope(self.ts, self.vs, _envelope_params(cfg))
        m = len(env.times)
        if m < cfg.min_envelope_points:
            return finding(
                Verdict.INSUFFICIENT,
                self.ts,
                self.limit,
                confidence=0.0,
                reason=f"{m} floor points of {duration_text(env.window)} each; "
                f"need {cfg.min_envelope_points} (a slow GC cycle needs a longer series)",
            )
        self.env = env
        self.t0 = self.ts[0]
        self.x = [t - self.t0 for t in env.times]
        self.y = list(env.values)
        whole = theil_sen(self.x, self.y, level=cfg.ci_level)
        shapes = fit_shapes(
            self.x,
            self.y,
            min_tail=cfg.min_leak_window,
            min_points=cfg.min_piece_points,
            max_steps=cfg.max_steps,
            penalty=cfg.shape_penalty,
            sse_floor=m * 1024.0**2,
        )
        stairs = shapes.pop("stairs", None)
        best = min(shapes.values(), key=lambda s: s.score)
        if best.kind == "steps" and not (
            stairs is not None and stairs.score < best.score and self._climbs(stairs)
        ):
            step = self._step(best)
            if step is not None:
                return step
        brk = shapes.get("break")
        if brk is not None and brk.score < shapes["line"].score:
            plateau = self._plateau(brk)
            if plateau is not None:
                return plateau
        # A late start (hinge) must beat both the line and the flat: then the leak is
        # judged on its own stretch, where a long flat past no longer dilutes it.
        hinge = shapes.get("hinge")
        k = 0
        if hinge is not None and hinge.score < min(shapes["line"].score, shapes["flat"].score):
            k = hinge.at[0]
        if not k and (whole.slope <= 0.0 or whole.p_up >= cfg.alpha):
            return self._flat(whole, "no significant growth of the floor")
        slowing = self._slowing(k)
        if slowing is not None:
            return slowing
        trend = theil_sen(self.x[k:], self.y[k:], level=cfg.ci_level) if k else whole
        return self._leak(trend, k, whole)

    # -- verdicts

    def _leak(self, trend: Trend, k: int, whole: Trend) -> LeakFinding:
        cfg = self.config
        x, y = self.x[k:], self.y[k:]
        span = self.ts[-1] - (self.t0 + x[0] if k else self.t0)
        rate = trend.slope
        growth = rate * span
        scatter = _mad_scale([v - trend.at(u) for u, v in zip(x, y, strict=True)])
        if trend.p_up >= cfg.alpha:
            return self._flat(whole, "the floor's recent growth is not significant")
        if rate < cfg.min_rate:
            return self._flat(whole, f"the floor grows slower than {rate_text(cfg.min_rate)}")
        if growth < cfg.min_growth_noise * scatter:
            return self._flat(
                whole,
                f"the floor's growth ({human_bytes(growth)}) is within its scatter "
                f"({human_bytes(scatter)})",
            )
        if k and trend.at(x[-1]) <= _past_top(self.y[:k], cfg.novelty):
            # A late rise that has not yet climbed clear of the floor's own past is no
            # more than the wander the past already showed.
            return self._flat(trend, "the floor's recent rise stays within its past range")
        onset = self.t0 + x[0] if k else self.t0
        ttl = None
        if self.limit is not None:
            ttl = time_to_limit(self.limit, self._level_now(trend, onset), rate)
        reason = (
            f"floor grows {rate_text(rate)} ({cfg.ci_level:.0%} CI "
            f"{rate_range(trend.low, trend.high, rate)}) since {clock(onset, self.t0)}; "
            f"Mann–Kendall {p_text(trend.p_up)}"
        )
        if ttl is not None and self.limit is not None:
            reason += f"; reaches {human_bytes(self.limit)} in {duration_text(ttl)}"
        return finding(
            Verdict.LEAK,
            self.ts,
            self.limit,
            rate=rate,
            low=trend.low,
            high=trend.high,
            onset=onset,
            growth=growth,
            confidence=1.0 - trend.p_up,
            severity=severity_for(rate, ttl, cfg),
            time_to_limit=ttl,
            reason=reason,
        )

    def _plateau(self, brk: Shape) -> LeakFinding | None:
        cfg = self.config
        kb = brk.at[0]
        rise = theil_sen(self.x[: kb + 1], self.y[: kb + 1], level=cfg.ci_level)
        tail = theil_sen(self.x[kb:], self.y[kb:], level=cfg.ci_level)
        if rise.slope <= 0.0 or tail.high >= cfg.plateau_ratio * rise.slope:
            return None
        if tail.high < 0.0:
            return self._flat(tail, "the floor rose, then fell back")
        growth = rise.slope * (self.x[kb] - self.x[0])
        # A quick warm-up leaves few floor points on its rise, too few for Mann–Kendall
        # to reach `alpha` (5 rising points give p = 0.014): a rise that stands out of
        # the tail's scatter as a step would counts as well.
        scatter = _mad_scale(
            [v - tail.at(u) for u, v in zip(self.x[kb:], self.y[kb:], strict=True)]
        )
        if rise.p_up >= cfg.alpha and growth < max(cfg.step_min, cfg.step_min_sigmas * scatter):
            return None
        when = self.t0 + self.x[kb]
        return finding(
            Verdict.PLATEAU,
            self.ts,
            self.limit,
            rate=tail.slope,
            low=tail.low,
            high=tail.high,
            onset=None,
            growth=growth,
            confidence=1.0 - rise.p_up,
            reason=f"floor rose {human_bytes(growth)} at {rate_text(rise.slope)}, then "
            f"levelled off from {clock(when, self.t0)} (now {rate_text(tail.slope)}, "
            f"{cfg.ci_level:.0%} CI {rate_range(tail.low, tail.high, tail.slope)}): "
            "warm-up or a filling cache",
        )

    def _slowing(self, k: int) -> LeakFinding | None:
        """PLATEAU when the second half of the growth is confidently slower than the
        first (`decel_ratio`): a warm-up still under way rather than a leak, which keeps
        its pace. Too short a tail for the break test is no reason to call it a leak."""
        cfg = self.config
        x, y = self.x[k:], self.y[k:]
        mid = next(i for i, u in enumerate(x) if u >= (x[0] + x[-1]) / 2.0)
        if mid < cfg.min_piece_points or len(x) - mid < cfg.min_piece_points:
            return None
        first = theil_sen(x[: mid + 1], y[: mid + 1], level=cfg.ci_level)
        second = theil_sen(x[mid:], y[mid:], level=cfg.ci_level)
        if first.slope <= 0.0 or second.high >= cfg.decel_ratio * first.slope:
            return None
        if second.high < 0.0:
            return self._flat(second, "the floor rose, then fell back")
        growth = first.slope * (x[mid] - x[0]) + max(0.0, second.slope) * (x[-1] - x[mid])
        return finding(
            Verdict.PLATEAU,
            self.ts,
            self.limit,
            rate=second.slope,
            low=second.low,
            high=second.high,
            growth=growth,
            confidence=1.0 - first.p_up,
            reason=f"floor grows, but slower and slower: {rate_text(first.slope)}, then "
            f"{rate_text(second.slope)} ({cfg.ci_level:.0%} CI "
            f"{rate_range(second.low, second.high, second.slope)}): a warm-up so far",
        )

    def _levels(self, steps: Shape) -> tuple[list[float], float]:
        """Each piece's median, and the robust scatter of the floor around them."""
        bounds = [0, *steps.at, len(self.y)]
        pieces = [self.y[a:b] for a, b in itertools.pairwise(bounds)]
        levels = [_median(piece) for piece in pieces]
        residuals = [v - level for piece, level in zip(pieces, levels, strict=True) for v in piece]
        return levels, _mad_scale(residuals)

    def _climbs(self, stairs: Shape) -> bool:
        """More than `max_steps` steps, every one of them up and clear of the scatter: a
        staircase, which is a leak however flat its treads."""
        levels, scatter = self._levels(stairs)
        least = max(self.config.step_min, self.config.step_min_sigmas * scatter)
        return all(b - a >= least for a, b in itertools.pairwise(levels))

    def _step(self, steps: Shape) -> LeakFinding | None:
        cfg = self.config
        bounds = [0, *steps.at, len(self.y)]
        levels, scatter = self._levels(steps)
        net = levels[-1] - levels[0]
        if net < max(cfg.step_min, cfg.step_min_sigmas * scatter):
            return None
        first_up = next((i for i in range(len(levels) - 1) if levels[i + 1] > levels[i]), 0)
        when = self.env.times[steps.at[first_up]] - self.env.window / 2.0
        n_before = bounds[1]
        n_after = len(self.y) - bounds[-2]
        z = net / max(scatter, 1.0) / math.sqrt(1.0 / n_before + 1.0 / n_after)
        count = len(steps.at)
        what = (
            f"at {clock(when, self.t0)}"
            if count == 1
            else f"in {count} steps, the first at {clock(when, self.t0)},"
        )
        return finding(
            Verdict.STEP,
            self.ts,
            self.limit,
            rate=0.0,
            onset=when,
            growth=net,
            confidence=1.0 - upper_p(z),
            reason=f"floor stepped up {human_bytes(net)} {what} and holds the new level: "
            "not a leak",
        )

    def _flat(self, trend: Trend, why: str) -> LeakFinding:
        """FLAT, with the floor's rate over the stretch `trend` was fitted on. Its
        confidence is the Mann–Kendall p-value of "no growth": near 1 when nothing
        points at growth, just above `alpha` when growth only just missed."""
        if trend.high < 0.0:
            why = "the floor falls"
        return finding(
            Verdict.FLAT,
            self.ts,
            self.limit,
            rate=trend.slope,
            low=trend.low,
            high=trend.high,
            growth=trend.slope * (self.ts[-1] - self.t0),
            confidence=trend.p_up,
            reason=f"{why}: {rate_text(trend.slope)}, Mann–Kendall {p_text(trend.p_up)}",
        )

    def _level_now(self, trend: Trend, onset: float) -> float:
        """Where memory peaks now: the floor's line at the last sample plus how far the
        samples of the last stretch rise above the floor (`headroom_quantile`); the
        limit is hit by the peaks, not by the floor."""
        horizon = max(onset, self.ts[-1] - self.config.window)
        above = sorted(
            v - trend.at(t - self.t0) for t, v in zip(self.ts, self.vs, strict=True) if t >= horizon
        )
        headroom = above[int(self.config.headroom_quantile * (len(above) - 1))] if above else 0.0
        return trend.at(self.ts[-1] - self.t0) + max(0.0, headroom)


# -- helpers ------------------------------------------------------------------------------


def _envelope_params(cfg: DetectorConfig) -> EnvelopeParams:
    return EnvelopeParams(
        min_window=cfg.envelope_window,
        max_points=cfg.max_envelope_points,
        quantile=cfg.envelope_quantile,
        jump_sigmas=cfg.jump_sigmas,
        jump_min=cfg.jump_min,
        sawtooth_min_drops=cfg.sawtooth_min_drops,
        cover=cfg.sawtooth_cover,
        min_points=cfg.min_envelope_points,
        excursion_max=cfg.excursion_max,
    )


def too_short(
    ts: Sequence[float],
    cfg: DetectorConfig,
    limit: float | None,
    vs: Sequence[float] | None = None,
) -> LeakFinding | None:
    """INSUFFICIENT below `min_points` samples or `min_duration` seconds, else None.
    With the values, its reason says what the short run did (analysis/shortrun.py):
    "grew 50 MB in 30 s and did not come back: growth, too short to call a trend"."""
    duration = ts[-1] - ts[0] if ts else 0.0
    if len(ts) >= cfg.min_points and duration >= cfg.min_duration:
        return None
    need = (
        f"{len(ts)} samples over {duration_text(duration)}; need at least "
        f"{cfg.min_points} over {duration_text(cfg.min_duration)}"
    )
    run = short_run(ts, vs, cfg) if vs is not None else None
    if run is None:
        return finding(Verdict.INSUFFICIENT, ts, limit, confidence=0.0, reason=need)
    return finding(
        Verdict.INSUFFICIENT,
        ts,
        limit,
        confidence=0.0,
        growth=run.growth,
        reason=f"{run.sentence()} ({need} for a verdict)",
    )


def time_to_limit(limit: float | None, level: float, rate: float) -> float | None:
    """Seconds until `level` growing at `rate` reaches `limit`; 0 once past it."""
    if limit is None or rate <= 0.0:
        return None
    return max(0.0, (limit - level) / rate)


def finding(
    verdict: Verdict,
    ts: Sequence[float],
    limit: float | None,
    *,
    reason: str,
    confidence: float,
    rate: float | None = None,
    low: float | None = None,
    high: float | None = None,
    onset: float | None = None,
    growth: float | None = None,
    severity: Severity = Severity.NONE,
    time_to_limit: float | None = None,
) -> LeakFinding:
    """A finding over the samples `ts`; the interval defaults to the rate itself."""
    return LeakFinding(
        verdict=verdict,
        rate=rate,
        rate_low=low if low is not None else rate,
        rate_high=high if high is not None else rate,
        onset=onset,
        growth=growth,
        confidence=min(1.0, max(0.0, confidence)),
        severity=severity,
        time_to_limit=time_to_limit,
        limit=limit,
        start=ts[0] if ts else None,
        end=ts[-1] if ts else None,
        points=len(ts),
        reason=reason,
    )


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _mad_scale(values: Sequence[float]) -> float:
    """1.4826 × median absolute deviation: the SD of the bulk, ignoring outliers."""
    if not values:
        return 0.0
    centre = _median(values)
    return 1.4826 * _median([abs(v - centre) for v in values])


def _past_top(past: Sequence[float], novelty: float) -> float:
    """How high the floor must now stand to be new: above the past's highest point by
    `novelty` times that point's height over the past's median."""
    top = max(past)
    return top + novelty * (top - _median(past))
