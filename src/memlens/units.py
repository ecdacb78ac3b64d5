"""Human units at the edges: bytes and seconds inside, KB/MB/GB, durations, wall-clock
times and exit states outside, worded alike on every page, report and terminal."""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memlens.model import Target

_STEPS = ("B", "KB", "MB", "GB", "TB")


def human_bytes(value: float | None) -> str:
    """1024-based, as the dashboard shows them: '123.4 MB'."""
    if value is None:
        return "–"
    size = float(value)
    sign = "-" if size < 0 else ""
    size = abs(size)
    for unit in _STEPS:
        if size < 1024 or unit == _STEPS[-1]:
            return f"{sign}{size:.0f} {unit}" if unit == "B" else f"{sign}{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float | None) -> str:
    """'45 s', '12 min 5 s', '3 h 20 min', '2 d 4 h'."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def utc_time(t: float | None) -> str:
    """A wall-clock time as 'YYYY-MM-DD HH:MM:SS UTC': unambiguous wherever it is read."""
    if t is None or not math.isfinite(t):
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def exit_text(target: Target) -> str:
    """'running', 'exited (code 3)', 'exited: pid-reused', ..."""
    if target.state == "running":
        return "running"
    text = target.state
    if target.exit_reason and target.exit_reason != target.state:
        text += f": {target.exit_reason}"
    if target.exit_code is not None:
        text += f" (code {target.exit_code})"
    return text


# -- parsing what people type: sizes, rates and durations ------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_FACTOR = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
# The longest duration memlens takes (--duration, --history, --warmup, ages, settings):
# far beyond any use, far below what overflows a clock or a buffer's size.
MAX_DURATION = 10 * 365 * 86400.0
MAX_DURATION_TEXT = "10 years"
_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


def parse_size(text: str) -> int:
    """'500MB', '1.5 GiB', '512k', '1048576' → bytes. 1024-based, as human_bytes shows
    them (so a limit typed as it is displayed means the same thing)."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a size (try 500MB, 2GB, 512KB)")
    return round(float(m.group(1)) * _SIZE_FACTOR[m.group(2).lower()])


def parse_duration(text: str) -> float:
    """'90', '90s', '10m', '1.5h', '2d', '250ms' → seconds."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (try 30s, 10m, 1h)")
    seconds = float(m.group(1)) * _SECONDS[(m.group(2) or "s").lower()]
    return check_duration(seconds, text)


def check_duration(seconds: float, text: object = None) -> float:
    """`seconds` if no deadline or history built from it can overflow (finite, at most
    MAX_DURATION), else ValueError; 400 digits make inf."""
    if not math.isfinite(seconds) or seconds > MAX_DURATION:
        shown = text if text is not None else seconds
        raise ValueError(f"{shown!r} is longer than {MAX_DURATION_TEXT}")
    return seconds


def parse_rate(text: str) -> float:
    """'10MB/h', '1.5 MB/min', '2MB/s', '512KB/min' → bytes per second. The time unit is
    required: a bare size would be ambiguous."""
    size, sep, per = text.partition("/")
    if not sep:
        raise ValueError(f"{text!r} is not a rate (try 10MB/h, 1MB/min)")
    try:
        seconds = parse_duration("1" + per.strip()) if per.strip()[:1].isalpha() else None
        if seconds is None:
            seconds = parse_duration(per)
        return parse_size(size) / seconds
    except ValueError:
        raise ValueError(f"{text!r} is not a rate (try 10MB/h, 1MB/min)") from None
