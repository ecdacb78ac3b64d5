"""Live levels: a calm "growing" status, and the "leak" alarm, from one evaluation.

The whole-series verdict (classify.py) is right about a series once it has seen it. Live,
the series is cut at "now", and a warm-up still climbing at a steady pace is, for a while,
the same series as a leak. Alarming on the first LEAK verdicts called 85% of the
corpus's warm-ups a leak at 7-8 minutes. So the live engine says two things:

- GROWING: the floor rises (a LEAK verdict not yet alarmed, or a short run that grew),
  shown calmly with its rate and where it leads;
- LEAK: the alarm, when one of these holds:
  - **trend**: the verdict is LEAK, its growth has not slowed (the second half of the
    leak's stretch is not confidently slower than `live_keep` × the first half's
    rate), and it has lasted long enough: `young_wait` when it began while the process
    was young (within `young_age` of its start, when warm-ups happen), else
    `min_leak_window`. A process's age is the prior: growth from the start is more often
    a warm-up than a leak; growth after a long flat life is not a warm-up.
  - **fast**: over the last 1-4 minutes the floor climbs at least `fast_rate`, along a
    line (not a step, not slowing), clear of its noise and above the floor's past, with
    no collector's sawtooth in sight: a leak this fast costs too much to wait for a
    trend, and a step or a burst does not look like it. A young process needs 4
    minutes of it, or 2 at `young_fast_rate`, or 1 at 2.5 × that: a warm-up this
    steep shows its slowing within a minute or two, a collector's cycle its drop.
  - **cost**: the verdict is LEAK and the limit is less than `cost_horizon` away,
    whatever the process's age.

Each rule returns the finding behind it; `OnlineDetector` (leaks.py) adds persistence.
docs/leak-detection.md ("Live levels") gives the rules and how they were tuned.
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from memlens.analysis.envelope import EnvelopeParams, lower_envelope
from memlens.analysis.leakmodel import DetectorConfig, LeakFinding, Verdict, severity_for
from memlens.analysis.leaktext import duration_text, rate_text
from memlens.analysis.shortrun import GREW, short_run
from memlens.analysis.trend import theil_sen
from memlens.units import human_bytes


class Level(str, Enum):
    QUIET = "quiet"
    GROWING = "growing"
    LEAK = "leak"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {Level.QUIET: 0, Level.GROWING: 1, Level.LEAK: 2}

FAST_WINDOWS = (60.0, 120.0, 240.0)  # s: the recent stretches the fast rule looks at
FAST_CHUNKS = 12  # floor points in each
DROPS, DROP_RATIO = 2, 1.5  # a collector's falls: two, each 1.5 × the biggest rise
YOUNG_FAST_WINDOW = 120.0  # s: a young process's shorter stretch, for `young_fast_rate`
YOUNG_SHORT_FACTOR = 2.5  # × `young_fast_rate` for a young process's last minute
YOUNG_FAST_KEEP = 0.9  # a young process's fast climb: a warm-up's slowing is slight at first


@dataclass(frozen=True)
class LiveStatus:
    """One live evaluation: its level, the rule that set it ("trend", "fast", "cost",
    "young", "slowing", "short", "" for QUIET), the finding behind it, and a sentence."""

    level: Level
    rule: str
    finding: LeakFinding
    text: str


def judge(
    times: Sequence[float],
    values: Sequence[float],
    found: LeakFinding,
    *,
    start: float | None,
    config: DetectorConfig,
) -> LiveStatus:
    """The level of a window whose whole-series finding is `found`. `start` is the
    process's start time (None: the window's first sample)."""
    if not times:
        return LiveStatus(Level.QUIET, "", found, found.reason)
    born = times[0] if start is None else min(start, times[0])
    if found.verdict is Verdict.LEAK:
        status = _trend(times, values, found, born, config)
        if status.level is Level.LEAK:
            return status
        fast = _fast(times, values, found.limit, born, config)
        return fast if fast is not None else status
    fast = _fast(times, values, found.limit, born, config)
    if fast is not None:
        return fast
    if found.verdict is Verdict.INSUFFICIENT and len(times) >= config.min_envelope_points:
        run = short_run(times, values, config)
        if run is not None and run.shape == GREW and run.duration > 0:
            found = dataclasses.replace(found, rate=run.growth / run.duration)
            return LiveStatus(Level.GROWING, "short", found, run.sentence())
    return LiveStatus(Level.QUIET, "", found, found.reason)


def _trend(
    times: Sequence[float],
    values: Sequence[float],
    found: LeakFinding,
    born: float,
    config: DetectorConfig,
) -> LiveStatus:
    now = times[-1]
    onset = found.onset if found.onset is not None else times[0]
    rate = found.rate or 0.0
    if found.time_to_limit is not None and found.time_to_limit < config.cost_horizon:
        return LiveStatus(
            Level.LEAK,
            "cost",
            found,
            f"{found.reason}; the limit is {duration_text(found.time_to_limit)} away",
        )
    young = onset - born < config.young_age
    first, second, second_high = _thirds(times, values, onset, config)
    if first is None and young:
        return LiveStatus(
            Level.GROWING,
            "young",
            found,
            f"growing {rate_text(rate)} since the process started "
            f"{duration_text(now - onset)} ago, too few floor points yet to tell a "
            f"warm-up from a leak; {_projection(rate, found)}",
        )
    # Young: a warm-up is likely, the rates themselves decide. Older: only a slowing
    # the interval confirms holds a growing floor back from the alarm.
    recent = second if young else second_high
    if first is not None and recent is not None and recent < config.live_keep * first:
        return LiveStatus(
            Level.GROWING,
            "slowing",
            found,
            f"growing, but slowing: {rate_text(first)}, then {rate_text(second or 0.0)} since "
            f"{duration_text(now - onset)} ago; {_projection(rate, found)}",
        )
    wait = config.young_wait if young else config.min_leak_window
    if now - onset < wait:
        why = "since the process started" if young else "so far"
        return LiveStatus(
            Level.GROWING,
            "young" if young else "trend",
            found,
            f"growing {rate_text(rate)} for {duration_text(now - onset)} {why}; "
            f"{_projection(rate, found)}; a leak if it keeps its pace for "
            f"{duration_text(wait)}",
        )
    growth = found.growth or 0.0
    if growth < config.live_min_growth:
        return LiveStatus(
            Level.GROWING,
            "trend",
            found,
            f"growing {rate_text(rate)} for {duration_text(now - onset)}, "
            f"+{human_bytes(growth)} so far; {_projection(rate, found)}; a leak alarm "
            f"from +{human_bytes(config.live_min_growth)}",
        )
    return LiveStatus(Level.LEAK, "trend", found, found.reason)


def _thirds(
    times: Sequence[float], values: Sequence[float], onset: float, config: DetectorConfig
) -> tuple[float | None, float | None, float | None]:
    """The floor's rate over the first and the last third of the leak's stretch, and
    the top of the last one's interval (None when there are too few floor points):
    thirds rather than halves, as their centres stand further apart and a warm-up's
    slowing shows sooner."""
    lo = bisect_left(times, onset)
    ts, vs = times[lo:], values[lo:]
    if len(ts) < 4:
        return None, None, None
    env = lower_envelope(ts, vs, _params(config, 36, config.envelope_window))
    xs, ys = list(env.times), list(env.values)
    third = len(xs) // 3
    if third < 2:
        return None, None, None
    a = theil_sen(xs[: third + 1], ys[: third + 1], level=config.ci_level)
    b = theil_sen(xs[-third - 1 :], ys[-third - 1 :], level=config.ci_level)
    return a.slope, b.slope, b.high


def _fast(
    times: Sequence[float],
    values: Sequence[float],
    limit: float | None,
    born: float,
    config: DetectorConfig,
) -> LiveStatus | None:
    """LEAK when the last 1-4 minutes climb at least `fast_rate` along a line. For a
    young process (the stretch begins within `young_age` of its start) a warm-up's
    slowing takes minutes to show at that pace, so the shorter stretches need more:
    2 minutes `young_fast_rate`, 1 minute 2.5 × it. Steep warm-ups slow visibly within
    that, and a collector's climb that fast either drops within the minute or is over
    the corpus's steepest (45 MB/min)."""
    if config.fast_rate <= 0.0:
        return None
    now = times[-1]
    for window in FAST_WINDOWS:
        if now - times[0] < window:
            return None
        young = now - window - born < config.young_age
        least = config.fast_rate
        if young and window < FAST_WINDOWS[-1]:
            if config.young_fast_rate <= 0.0:
                continue  # only the longest stretch for a young process
            factor = YOUNG_SHORT_FACTOR if window < YOUNG_FAST_WINDOW else 1.0
            least = max(least, config.young_fast_rate * factor)
        keep = max(config.live_keep, YOUNG_FAST_KEEP) if young else config.live_keep
        lo = bisect_left(times, now - window)
        ts, vs = times[lo:], values[lo:]
        if len(ts) < 2 * FAST_CHUNKS:
            continue
        env = lower_envelope(ts, vs, _params(config, FAST_CHUNKS, 0.0))
        if env.sawtooth_period is not None or len(env.values) < FAST_CHUNKS - 1:
            continue  # a collector's sawtooth: a minute of it is not a floor
        xs = [t - ts[0] for t in env.times]
        ys = list(env.values)
        trend = theil_sen(xs, ys, level=config.ci_level)
        rate = trend.slope
        if rate < least or trend.p_up >= config.alpha:
            continue
        if not _steady(xs, ys, rate, keep, config):
            continue
        if lo and ys[-1] <= _past_top(times, values, lo, window / FAST_CHUNKS, config.novelty):
            continue
        if _sawtooth(times, values, lo, config):
            return None
        growth = rate * window
        span = duration_text(window)
        ttl = None
        if limit is not None:
            ttl = max(0.0, (limit - max(vs)) / rate)
        finding = LeakFinding(
            verdict=Verdict.LEAK,
            rate=rate,
            rate_low=trend.low,
            rate_high=trend.high,
            onset=ts[0],
            growth=growth,
            confidence=1.0 - trend.p_up,
            severity=severity_for(rate, ttl, config),
            time_to_limit=ttl,
            limit=limit,
            start=times[0],
            end=now,
            points=len(times),
            reason=f"floor climbs {rate_text(rate)} steadily over the last {span} "
            f"(+{human_bytes(growth)}), above anything before it: too fast to wait for a "
            "trend",
        )
        return LiveStatus(Level.LEAK, "fast", finding, finding.reason)
    return None


def _steady(
    xs: Sequence[float], ys: Sequence[float], rate: float, keep: float, config: DetectorConfig
) -> bool:
    """Growth along a line: the line fits better than one step, the last third's rate is
    at least `live_keep` × the first third's, and the growth is clear of the scatter
    around the line."""
    n = len(xs)
    third = n // 3
    first = theil_sen(xs[: third + 1], ys[: third + 1]).slope
    last = theil_sen(xs[-third - 1 :], ys[-third - 1 :]).slope
    if first <= 0.0 or last < keep * first:
        return False
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    line = sum((y - mean_y - rate * (x - mean_x)) ** 2 for x, y in zip(xs, ys, strict=True))
    best_step = min(_sse(ys[:k]) + _sse(ys[k:]) for k in range(2, n - 1))
    if line >= best_step:
        return False
    scatter = math.sqrt(line / max(1, n - 2))
    growth = rate * (xs[-1] - xs[0])
    return bool(growth >= max(config.step_min, config.min_growth_noise * scatter))


def _sawtooth(
    times: Sequence[float], values: Sequence[float], lo: int, config: DetectorConfig
) -> bool:
    """A collector's sawtooth in the last 15 minutes: its climbs between collections are
    steady growth for as long as a cycle, so the fast rule does not judge such a series.
    Seen by the envelope (three drops, each a jump beyond 6 sigmas) or by two falls
    bigger than any rise (drops the noise hides from the jump test)."""
    begin = bisect_left(times, times[-1] - 900.0)
    env = lower_envelope(times[begin:], values[begin:], _params(config, 8, 0.0))
    return env.sawtooth_period is not None or _drop(values, begin)


def _drop(values: Sequence[float], begin: int) -> bool:
    """Two falls from one sample to the next, each bigger by half than any rise: memory
    freed at once, twice, as a collector frees it. Noise rises as much as it falls, a
    leak's growth makes the rises the bigger; a collector's drops fall further than
    anything rises even when the envelope's jump test (6 sigmas) misses them in noise."""
    rises: float = 0.0
    falls: list[float] = []
    for i in range(begin + 1, len(values)):
        d = values[i] - values[i - 1]
        if d > rises:
            rises = d
        elif d < 0.0:
            falls.append(-d)
    falls.sort()
    return len(falls) >= DROPS and falls[-DROPS] > DROP_RATIO * rises


def _sse(ys: Sequence[float]) -> float:
    mean = sum(ys) / len(ys)
    return sum((y - mean) ** 2 for y in ys)


def _past_top(
    times: Sequence[float], values: Sequence[float], lo: int, window: float, novelty: float
) -> float:
    """How high the floor must now stand to be new: above the highest of the past's
    floors (20th percentiles of windows as long as the stretch's own floor points, over
    the whole past the detector keeps: a burst or a sawtooth peak is not the floor) by
    `novelty` × (that top − their median), as classify.py asks of a late leak. A floor
    that wanders reaches new highs now and then; a leak leaves its past range behind."""
    floors: list[float] = []
    end = lo
    while end > 0:
        begin = bisect_left(times, times[end - 1] - window, 0, end)
        chunk = sorted(values[begin:end])
        floors.append(chunk[int(0.2 * (len(chunk) - 1))])
        end = begin
    if not floors:
        return float("-inf")
    top = max(floors)
    floors.sort()
    return top + novelty * (top - floors[len(floors) // 2])


def _projection(rate: float, found: LeakFinding) -> str:
    """'at this pace +126 MB an hour' and, with a limit, when it is reached."""
    text = f"at this pace +{human_bytes(max(0.0, rate) * 3600.0)} an hour"
    if found.time_to_limit is not None and found.limit is not None:
        text += f", {human_bytes(found.limit)} in {duration_text(found.time_to_limit)}"
    return text


def _params(config: DetectorConfig, points: int, min_window: float) -> EnvelopeParams:
    return EnvelopeParams(
        min_window=min_window,
        max_points=points,
        quantile=config.envelope_quantile,
        jump_sigmas=config.jump_sigmas,
        jump_min=config.jump_min,
        sawtooth_min_drops=config.sawtooth_min_drops,
        cover=config.sawtooth_cover,
        min_points=min(points, config.min_envelope_points),
        excursion_max=config.excursion_max,
    )
