"""What can honestly be said of a run too short for a trend.

Under `min_duration` (5 minutes) a warm-up, a step and a leak look alike, so the
detector gives no verdict. That is no reason to say nothing: "grew 50 MB in 30 s and
did not come back" is true and useful, as long as it does not pretend to be a trend.
One sentence, made here, is what `analyze`, `leaks`, `report`, `check` and the live page
all say of a short run (it is the reason of the INSUFFICIENT finding).

The levels are the floor's (the same lower envelope as the detector's, with windows as
short as three samples), so one garbage collection does not read as "came back down".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from memlens.analysis.envelope import EnvelopeParams, lower_envelope
from memlens.analysis.leakmodel import DetectorConfig
from memlens.analysis.leaktext import duration_text
from memlens.analysis.trend import theil_sen
from memlens.units import human_bytes

GREW = "grew"
FELL = "fell"
RETURNED = "returned"
STEADY = "steady"


@dataclass(frozen=True, slots=True)
class ShortRun:
    """The floor of a short run: where it started, peaked and ended (bytes), over
    `duration` seconds, and which of GREW, FELL, RETURNED, STEADY that makes."""

    shape: str
    start: float
    peak: float
    end: float
    duration: float
    points: int

    @property
    def growth(self) -> float:
        return self.end - self.start

    def sentence(self) -> str:
        """'grew 50.0 MB in 30 s and did not come back: growth, too short to call a
        trend'."""
        span = duration_text(self.duration)
        tail = "too short to call a trend"
        if self.shape == GREW:
            back = self.peak - self.end
            how = (
                "and did not come back"
                if back <= 0.25 * (self.peak - self.start)
                else f"(peak +{human_bytes(self.peak - self.start)}) and came only partly back"
            )
            return f"grew {human_bytes(self.growth)} in {span} {how}: growth, {tail}"
        if self.shape == RETURNED:
            return (
                f"rose {human_bytes(self.peak - self.start)} and came back down within "
                f"{span}: no lasting growth, {tail}"
            )
        if self.shape == FELL:
            return f"fell {human_bytes(-self.growth)} in {span}: no growth, {tail}"
        return (
            f"held steady (within {human_bytes(max(0.0, self.peak - self.start))}) over "
            f"{span}: no growth seen, {tail}"
        )


def short_run(
    times: Sequence[float], values: Sequence[float], config: DetectorConfig
) -> ShortRun | None:
    """The shape of a short run's floor, or None under 2 samples. Growth counts when it
    is at least `step_min` (1 MB) and `min_growth_noise` times the floor's scatter."""
    if len(times) < 2:
        return None
    env = lower_envelope(times, values, _params(config))
    floor = list(env.values) if len(env.values) >= 2 else list(values)
    duration = times[-1] - times[0]
    # The start and the end are the lowest of the first and the last fifth: a run of a
    # few samples has no floor windows to spare, and its last sample may sit on a peak.
    head = max(1, len(floor) // 5)
    start = min(floor[:head])
    end = min(floor[-head:])
    peak = max(floor)
    # The scatter of the floor from its successive differences around their median: a
    # steady climb (equal differences) has none, noise has as much as it has.
    diffs = sorted(b - a for a, b in itertools.pairwise(floor))
    centre = diffs[len(diffs) // 2] if diffs else 0.0
    spread = sorted(abs(d - centre) for d in diffs)
    scatter = 1.4826 * spread[len(spread) // 2] / math.sqrt(2.0) if spread else 0.0
    least = max(config.step_min, config.min_growth_noise * scatter)
    if end - start >= least and _rises(env.times, floor, start, scatter, config):
        shape = GREW
    elif peak - start >= least:
        shape = RETURNED
    elif start - end >= least:
        shape = FELL
    else:
        shape = STEADY
    return ShortRun(shape, start, peak, end, duration, len(times))


def _rises(
    times: Sequence[float],
    floor: Sequence[float],
    start: float,
    scatter: float,
    cfg: DetectorConfig,
) -> bool:
    """A rise that is no wander: Mann–Kendall finds it (a ramp), or the end stands clear
    of the start as a step would (`step_min_sigmas` × the scatter)."""
    if floor[-1] - start >= max(cfg.step_min, cfg.step_min_sigmas * scatter):
        return True
    if len(times) != len(floor) or len(floor) < 4:
        return False
    return theil_sen(list(times), list(floor)).p_up < cfg.alpha


def _params(config: DetectorConfig) -> EnvelopeParams:
    """The detector's floor with windows as short as three samples (a run of seconds
    has no ten-second windows to spare), at most 12 of them."""
    return EnvelopeParams(
        min_window=0.0,
        max_points=12,
        quantile=config.envelope_quantile,
        jump_sigmas=config.jump_sigmas,
        jump_min=config.jump_min,
        sawtooth_min_drops=config.sawtooth_min_drops,
        cover=config.sawtooth_cover,
        min_points=3,
        excursion_max=config.excursion_max,
    )
