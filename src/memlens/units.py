"""Human units at the edges: bytes and seconds inside, KB/MB/GB and durations outside."""

from __future__ import annotations

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
