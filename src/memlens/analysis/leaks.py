"""Is this a leak? A verdict with evidence for one series of (time, bytes).

A slope between the first and the last sample (`naive_slope`, kept as the benchmark's
peer) calls every warm-up a leak and misses a slow leak under a GC sawtooth. Here:

1. the floor of the series (envelope.py): window by window, the post-GC trough or a low
   quantile, with bursts left out;
2. its shape (shapes.py): flat, a line, a line starting late, growth that stops, or a
   few steps, whichever the information criterion prefers;
3. the robust trend (trend.py) of the pieces that matter: Theil–Sen rate with its
   interval, Mann–Kendall corrected for autocorrelation;
4. a verdict: STEP when a few flat levels explain the floor; PLATEAU when it rose
   significantly and the tail's rate is confidently far below the rise's; LEAK when the
   floor rises significantly, faster than `min_rate`, and by more than its own scatter;
   FLAT otherwise; INSUFFICIENT below `min_points` / `min_duration`.

`OnlineDetector` keeps a bounded window of a live series and raises an alert only when
LEAK has held for `persistence` evaluations in a row (and again when severity rises).
docs/leak-detection.md explains the method and every parameter.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import le

from memlens.analysis.classify import classify, finding, time_to_limit, too_short
from memlens.analysis.leakmodel import (
    MB,
    DetectorConfig,
    LeakFinding,
    Severity,
    Verdict,
    severity_for,
)
from memlens.analysis.leaktext import rate_text
from memlens.analysis.live import Level, LiveStatus, judge
from memlens.units import human_bytes

__all__ = [
    "DetectorConfig",
    "LeakFinding",
    "LevelEvent",
    "OnlineDetector",
    "Severity",
    "Verdict",
    "detect",
    "naive_slope",
    "severity_for",
]

Analyser = Callable[[Sequence[float], Sequence[float]], LeakFinding]

LEAK = "leak"
GROWING = "growing"
RAISED = "raised"
CLEARED = "cleared"


@dataclass(frozen=True)
class LevelEvent:
    """A change of a live level: `kind` LEAK or GROWING, `state` RAISED or CLEARED, and
    the evaluation's status (its level, rule, finding and sentence)."""

    kind: str
    state: str
    status: LiveStatus


def detect(
    times: Sequence[float],
    values: Sequence[float | int | None],
    *,
    limit: float | None = None,
    config: DetectorConfig = DetectorConfig(),  # noqa: B008 - frozen, shared safely
) -> LeakFinding:
    """Classify a series (times in seconds, values in bytes; None values skipped)."""
    ts, vs = _clean(times, values)
    return classify(ts, vs, limit, config)


def naive_slope(
    times: Sequence[float],
    values: Sequence[float | int | None],
    *,
    limit: float | None = None,
    min_growth: float = 1.0 * MB,
    config: DetectorConfig = DetectorConfig(),  # noqa: B008 - frozen, shared safely
) -> LeakFinding:
    """The first-to-last slope: LEAK whenever the last sample is `min_growth` above the
    first. What a glance at a chart does; the peer in bench/bench_leaks.py."""
    ts, vs = _clean(times, values)
    short = too_short(ts, config, limit, vs)
    if short is not None:
        return short
    duration = ts[-1] - ts[0]
    growth = vs[-1] - vs[0]
    rate = growth / duration
    if growth <= min_growth:
        return finding(
            Verdict.FLAT,
            ts,
            limit,
            rate=rate,
            growth=growth,
            confidence=0.5,
            reason=f"last − first = {human_bytes(growth)} (naive)",
        )
    ttl = time_to_limit(limit, vs[-1], rate)
    return finding(
        Verdict.LEAK,
        ts,
        limit,
        rate=rate,
        growth=growth,
        confidence=0.5,
        onset=ts[0],
        severity=severity_for(rate, ttl, config),
        time_to_limit=ttl,
        reason=f"grows {rate_text(rate)} from first to last sample (naive)",
    )


class OnlineDetector:
    """Leak detection over a live series: cheap to update, bounded in memory, and slow
    to cry wolf.

    `update()` appends a sample and forgets those older than `config.window`.
    `evaluate()` judges the window and returns a finding only when LEAK has been the
    verdict `config.persistence` evaluations in a row, then again only if the severity
    rises; `persistence` evaluations without LEAK re-arm it. `last` is the latest
    finding whatever it was, for a face that shows the current state. An `analyser`
    replaces the detector (the benchmark plugs in `naive_slope`); it gets the window's
    (times, values) and no limit.
    """

    def __init__(
        self,
        *,
        limit: float | None = None,
        config: DetectorConfig = DetectorConfig(),  # noqa: B008 - frozen, shared safely
        analyser: Analyser | None = None,
        start: float | None = None,
    ) -> None:
        self.limit = limit
        self.config = config
        self._analyser = analyser
        # Flat arrays of doubles (8 bytes a value, not a float object each) with a moving
        # head: a 4-hour window at 1 Hz is 230 KB per target, and a watch may hold
        # thousands of targets.
        self._times = array("d")
        self._values = array("d")
        self._head = 0
        self._streak = 0
        self._quiet = 0
        self._alerted: Severity | None = None
        self._calm = 0
        self.start = start
        self.growing = False  # a growing status stands
        self._growing_rule = ""  # the rule the standing growing status was last sent with
        self.last: LeakFinding | None = None
        self.status: LiveStatus | None = None

    def __len__(self) -> int:
        return len(self._times) - self._head

    @property
    def alerting(self) -> bool:
        """An alert was raised and has not been withdrawn yet (withdrawn after
        `persistence` evaluations in a row without LEAK)."""
        return self._alerted is not None

    def update(self, t: float, value: float | int | None) -> None:
        if value is None:
            return
        if len(self._times) > self._head and t < self._times[-1]:
            return  # out of order: a clock step back; the window assumes time moves on
        self._times.append(float(t))
        self._values.append(float(value))
        self._trim(t)

    def evaluate(self, now: float | None = None) -> LeakFinding | None:
        """One evaluation; the finding when a leak alarm is raised (or its severity
        rises), else None. `step()` gives every change of level."""
        for event in self.step(now):
            if event.kind == LEAK and event.state == RAISED:
                return event.status.finding
        return None

    def step(self, now: float | None = None) -> list[LevelEvent]:
        """One evaluation, and what changed: a leak alarm raised (again when its
        severity rises) or cleared, a growing status raised or cleared.

        The alarm needs LEAK from `persistence` evaluations in a row (one for the fast
        and cost rules, whose evidence already spans minutes); it is withdrawn after
        `persistence` evaluations without. GROWING is raised at once, since it is only
        shown; it ends when the alarm is raised, or after `persistence` quiet ones. A
        standing growing status is raised again, with its new sentence, when the rule
        behind it changes.
        """
        if now is not None:
            self._trim(now)
        times = self._times[self._head :].tolist()
        values = self._values[self._head :].tolist()
        if self._analyser is not None:
            found = self._analyser(times, values)
            level = Level.LEAK if found.is_leak else Level.QUIET
            status = LiveStatus(level, "trend", found, found.reason)
        else:
            found = classify(times, values, self.limit, self.config)
            status = judge(times, values, found, start=self.start, config=self.config)
        self.last = status.finding
        self.status = status
        events: list[LevelEvent] = []
        if status.level is Level.LEAK:
            self._streak += 1
            self._quiet = 0
        else:
            self._streak = 0
            self._quiet += 1
            if self._quiet >= self.config.persistence and self._alerted is not None:
                self._alerted = None
                events.append(LevelEvent(LEAK, CLEARED, status))
        need = 1 if status.rule in ("fast", "cost") else self.config.persistence
        severity = status.finding.severity
        if self._streak >= need and (self._alerted is None or severity.rank > self._alerted.rank):
            self._alerted = severity
            events.append(LevelEvent(LEAK, RAISED, status))
        if status.level is Level.GROWING and self._alerted is None:
            self._calm = 0
            if not self.growing or status.rule != self._growing_rule:
                # raised again when its reason changes (young, then trend...): a face
                # shows the latest text, which must say why it is shown now
                self.growing = True
                self._growing_rule = status.rule
                events.append(LevelEvent(GROWING, RAISED, status))
        elif self.growing:
            self._calm += 1
            if self._alerted is not None or self._calm >= self.config.persistence:
                self.growing = False
                events.append(LevelEvent(GROWING, CLEARED, status))
        return events

    def _trim(self, now: float) -> None:
        horizon = now - self.config.window
        times, head = self._times, self._head
        while head < len(times) and times[head] < horizon:
            head += 1
        if head > 1024 and head * 2 > len(times):  # compact now and then, not every sample
            del self._times[:head]
            del self._values[:head]
            head = 0
        self._head = head


def _clean(
    times: Sequence[float], values: Sequence[float | int | None]
) -> tuple[list[float], list[float]]:
    """Floats in time order without the unknown values; the common case (no None, in
    order) costs two list copies."""
    if len(times) != len(values):
        raise ValueError("times and values differ in length")
    vs = [float(v) for v in values if v is not None]
    if len(vs) == len(values):
        ts = list(map(float, times))
    else:
        ts = [float(t) for t, v in zip(times, values, strict=True) if v is not None]
    if not all(map(le, ts[:-1], ts[1:])):
        order = sorted(range(len(ts)), key=ts.__getitem__)
        ts = [ts[i] for i in order]
        vs = [vs[i] for i in order]
    return ts, vs
