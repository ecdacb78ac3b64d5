"""What the leak detector says and how it is tuned: verdicts, severities, the
configuration with every threshold, and the finding.

Kept apart from the detector so that faces (CLI, dashboard, exporters) can read a
finding without importing the statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

MB = 1024.0 * 1024.0
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


class Verdict(str, Enum):
    LEAK = "leak"
    PLATEAU = "plateau"  # warm-up or cache fill: grew, then levelled off
    STEP = "step"  # one or a few jumps to a new level that then holds
    FLAT = "flat"
    INSUFFICIENT = "insufficient"


class Severity(str, Enum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {
    Severity.NONE: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


def worst(*severities: Severity) -> Severity:
    return max(severities, key=_RANK.__getitem__, default=Severity.NONE)


@dataclass(frozen=True)
class DetectorConfig:
    """Every threshold of the detector; docs/leak-detection.md explains each default.

    Units are bytes and seconds. The defaults are tuned on the labelled corpus of
    tests/leakgen.py (bench/bench_leaks.py reports how they do).
    """

    # -- enough data to say anything
    min_points: int = 60  # samples (a minute at 1 Hz)
    min_duration: float = 300.0  # s: less than 5 minutes cannot tell warm-up from leak
    min_envelope_points: int = 8  # floor points: Mann–Kendall needs ~8 to reach p < 0.01

    # -- the floor (lower envelope)
    envelope_window: float = 10.0  # s: shortest window one floor point summarises
    max_envelope_points: int = 120  # keeps the O(n²) steps to a few milliseconds
    envelope_quantile: float = 0.2  # floor of a window without a GC sawtooth
    jump_sigmas: float = 6.0  # a jump: > this many robust SDs of sample differences
    jump_min: float = 1.0 * MB  # ... and more than this many bytes
    sawtooth_min_drops: int = 3  # drops needed to believe in a collector's sawtooth
    sawtooth_cover: float = 1.5  # window >= this × the median collection cycle
    excursion_max: float = 900.0  # s: a jump up undone within this is a burst

    # -- the trend
    alpha: float = 0.01  # one-sided significance of Mann–Kendall
    ci_level: float = 0.95  # of the rate's confidence interval
    min_rate: float = 0.01 * MB / MINUTE  # bytes/s: 0.01 MB/min = 14 MB a day
    min_growth_noise: float = 3.0  # growth >= this × the floor's robust scatter
    min_leak_window: float = 300.0  # s: the shortest leak (or flat tail) considered
    novelty: float = 1.0  # a late leak must clear its past's top by this × (top - median)

    # -- shapes: steps and plateaus
    shape_penalty: float = 1.0  # × BIC's log(n) per parameter when comparing shapes
    min_piece_points: int = 3  # fewest floor points in any piece of a shape
    max_steps: int = 3  # more steps than this that keep climbing: a staircase leak
    step_min_sigmas: float = 5.0  # a step: >= this × the scatter around the levels
    step_min: float = 1.0 * MB  # ... and at least this many bytes
    plateau_ratio: float = 0.25  # plateau: the tail's rate (upper CI) < this × the rise's
    decel_ratio: float = 0.5  # slowing: 2nd half's rate (upper CI) < this × the 1st half's

    # -- live alerts
    persistence: int = 3  # consecutive LEAK evaluations before an alert
    window: float = 4.0 * HOUR  # s of samples the online detector keeps
    headroom_quantile: float = 0.95  # peaks above the floor, for the time to a limit

    # -- live levels (analysis/live.py): when a LEAK verdict becomes an alarm
    young_age: float = 600.0  # s: growth that began this soon after the start may be a warm-up
    young_wait: float = 480.0  # s: ... and must keep its pace this long before an alarm
    live_keep: float = 0.75  # the last third's rate >= this × the first third's
    fast_rate: float = 10.0 * MB / MINUTE  # bytes/s: a steady climb this fast alarms at once
    young_fast_rate: float = 20.0 * MB / MINUTE  # bytes/s: ... on 2 min for a young process
    cost_horizon: float = 1.0 * HOUR  # s: a leak this close to the limit alarms at once
    live_min_growth: float = 4.0 * MB  # bytes: a trend alarm needs this much growth so far

    # -- severity: the worse of the rate band and the time-to-limit band
    rate_bands: tuple[tuple[float, Severity], ...] = field(
        default=(
            (1.0 * MB, Severity.LOW),
            (2.0 * MB, Severity.MEDIUM),
            (5.0 * MB, Severity.HIGH),
            (10.0 * MB, Severity.CRITICAL),
        )
    )  # (bytes/s at least, severity)
    limit_bands: tuple[tuple[float, Severity], ...] = field(
        default=(
            (1.0 * HOUR, Severity.CRITICAL),
            (1.0 * DAY, Severity.HIGH),
            (7.0 * DAY, Severity.MEDIUM),
        )
    )  # (time to limit under, severity); LOW beyond the last

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ValueError("alpha must be in (0, 0.5)")
        if not 0.0 < self.ci_level < 1.0:
            raise ValueError("ci_level must be in (0, 1)")
        if not 0.0 <= self.envelope_quantile <= 1.0:
            raise ValueError("envelope_quantile must be in [0, 1]")
        if self.min_envelope_points < 4 or self.max_envelope_points < self.min_envelope_points:
            raise ValueError("need 4 <= min_envelope_points <= max_envelope_points")
        if self.persistence < 1:
            raise ValueError("persistence must be at least 1")
        if self.window <= self.min_duration:
            raise ValueError("window must be longer than min_duration")


@dataclass(frozen=True)
class LeakFinding:
    """The answer to "is this a leak?" for one series, with its evidence.

    `rate` is bytes/s of the floor (for a plateau: its rate now); `rate_low`/`rate_high`
    its confidence interval; `onset` when the leak began (the start of the samples
    judged when it began before them; the step's time for a step);
    `growth` bytes gained over the leak (the rise, or the step); `confidence` 1 - p of
    the test behind the verdict (for FLAT: the p-value of "no growth", so near 1 when
    nothing points at growth); `start`, `end`, `points` the samples judged.
    """

    verdict: Verdict
    rate: float | None
    rate_low: float | None
    rate_high: float | None
    onset: float | None
    growth: float | None
    confidence: float
    severity: Severity
    time_to_limit: float | None
    limit: float | None
    start: float | None
    end: float | None
    points: int
    reason: str

    @property
    def is_leak(self) -> bool:
        return self.verdict is Verdict.LEAK

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types; infinities and NaNs become None."""
        return {
            "verdict": self.verdict.value,
            "rate": _finite(self.rate),
            "rate_low": _finite(self.rate_low),
            "rate_high": _finite(self.rate_high),
            "onset": _finite(self.onset),
            "growth": _finite(self.growth),
            "confidence": _finite(self.confidence),
            "severity": self.severity.value,
            "time_to_limit": _finite(self.time_to_limit),
            "limit": _finite(self.limit),
            "start": _finite(self.start),
            "end": _finite(self.end),
            "points": self.points,
            "reason": self.reason,
        }


def _finite(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def severity_for(rate: float, time_to_limit: float | None, config: DetectorConfig) -> Severity:
    """A leak's severity: the worse of its rate band and its time-to-limit band, at
    least LOW (a leak is never NONE). Rate bands alone (MB/s) would leave a service that
    leaks megabytes an hour at NONE until it dies; the limit bands catch it."""
    by_rate = Severity.NONE
    for threshold, severity in config.rate_bands:
        if rate >= threshold:
            by_rate = worst(by_rate, severity)
    by_limit = Severity.NONE
    if time_to_limit is not None:
        by_limit = Severity.LOW
        for under, severity in sorted(config.limit_bands, key=lambda band: band[0]):
            if time_to_limit < under:
                by_limit = severity
                break
    return worst(Severity.LOW, by_rate, by_limit)
