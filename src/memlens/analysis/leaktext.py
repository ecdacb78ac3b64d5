"""How a finding reads to a person: rates in MB/s, MB/min or MB/h, times of day.

Bytes and seconds inside, human units only here at the edge (as units.py does for
sizes and durations).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from memlens.units import human_bytes, human_duration

if TYPE_CHECKING:
    from memlens.analysis.leakmodel import LeakFinding

_MB = 1024.0 * 1024.0
# Times above this are Unix timestamps (after 2001); below, seconds from some start.
_EPOCH_LIKE = 1e9


def _unit(rate: float) -> tuple[float, str]:
    """The unit a rate reads best in: MB/s from 1 MB/s, MB/min from 1 MB/min, else MB/h."""
    size = abs(rate)
    if size >= _MB:
        return _MB, "MB/s"
    if size * 60.0 >= _MB:
        return _MB / 60.0, "MB/min"
    return _MB / 3600.0, "MB/h"


def _number(value: float) -> str:
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 1 or size == 0:
        return f"{value:.1f}"
    return f"{value:.2g}"


def rate_text(rate: float) -> str:
    """'2.1 MB/min', '+0.35 MB/h', '12.0 MB/s'."""
    divisor, label = _unit(rate)
    return f"{_number(rate / divisor)} {label}"


def rate_range(low: float, high: float, like: float) -> str:
    """'1.9–2.3' in the unit `like` reads in (so the interval and the rate match)."""
    divisor, _ = _unit(like)
    return f"{_number(low / divisor)}–{_number(high / divisor)}"


def p_text(p: float) -> str:
    """'p=1e-6', 'p=0.003', 'p<1e-12'."""
    if p < 1e-12:
        return "p<1e-12"
    if p >= 0.001:
        return f"p={p:.2g}"
    mantissa, exponent = f"{p:.0e}".split("e")
    return f"p={mantissa}e{int(exponent)}"


def clock(t: float, start: float) -> str:
    """'14:02 UTC' for a Unix time, 't+12 min 5 s' for a time relative to a start."""
    if t >= _EPOCH_LIKE:
        return time.strftime("%H:%M UTC", time.gmtime(t))
    return f"t+{human_duration(t - start)}"


def duration_text(seconds: float) -> str:
    return human_duration(seconds)


_VERDICT_WORDS = {
    "leak": "LEAK",
    "plateau": "WARM-UP/PLATEAU",
    "step": "STEP",
    "flat": "FLAT",
    "insufficient": "INSUFFICIENT DATA",
}


def verdict_word(verdict: str) -> str:
    """'LEAK', 'WARM-UP/PLATEAU', ... for a Verdict's value."""
    return _VERDICT_WORDS.get(verdict, verdict.upper())


def headline(finding: LeakFinding) -> str:
    """One line a person reads first: 'LEAK (high): +2.1 MB/min (95% CI 1.9–2.3) since
    14:02 UTC, +120.0 MB, confidence 99.9%; limit in 3 h 10 min'."""
    word = verdict_word(finding.verdict.value)
    if finding.verdict.value != "leak" or finding.rate is None:
        return f"{word}: {finding.reason}"
    parts = [f"{rate_text(finding.rate)}"]
    if finding.rate_low is not None and finding.rate_high is not None:
        parts[0] += f" (CI {rate_range(finding.rate_low, finding.rate_high, finding.rate)})"
    if finding.onset is not None and finding.start is not None:
        parts.append(f"since {clock(finding.onset, finding.start)}")
    if finding.growth is not None:
        parts.append(f"+{human_bytes(finding.growth)}")
    sure = finding.confidence
    parts.append("confidence ≥99.9%" if sure >= 0.999 else f"confidence {sure:.1%}")
    line = f"{word} ({finding.severity.value}): " + ", ".join(parts)
    if finding.time_to_limit is not None:
        line += f"; limit {human_bytes(finding.limit)} in {human_duration(finding.time_to_limit)}"
    return line
