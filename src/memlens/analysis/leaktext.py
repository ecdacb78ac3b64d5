"""How a finding reads to a person: rates in MB/s, MB/min or MB/h, times of day.

Bytes and seconds inside, human units only here at the edge (as units.py does for
sizes and durations).
"""

from __future__ import annotations

import time

from memlens.units import human_duration

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
