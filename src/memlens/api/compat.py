"""The names and units of the snapshot-and-monitor Profiler memlens replaces, so code
written for it runs unchanged: `MemoryThresholds` in MB, and the report's keys at the top
level in MB (`period_hours`, `snapshots_count`, `process_memory.avg_mb`,
`memory_leaks.detected_count`...). memlens's own objects stay beside them, in bytes.

Pure: the report built by `Profiler.generate_memory_report` in, the same dict with the
familiar keys added out. docs/library.md ("Coming from another Profiler") maps each name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memlens.config import Thresholds

MB = 1024.0 * 1024.0


@dataclass(frozen=True)
class MemoryThresholds:
    """Limits in the units people wrote them in: MB of RSS, percent of the machine's
    memory, MB/s of a leak, gc-tracked objects per second. None: not watched. Assign one
    to `Profiler.thresholds`; memlens keeps them as `memlens.config.Thresholds` (bytes)."""

    process_memory_mb: float | None = None
    system_memory_percent: float | None = None
    leak_rate_mb_per_sec: float | None = None
    gc_objects_growth_rate: float | None = None

    def to_thresholds(self) -> Thresholds:
        return Thresholds(
            max_rss=None if self.process_memory_mb is None else round(self.process_memory_mb * MB),
            max_system_memory=self.system_memory_percent,
            max_leak_rate=(
                None if self.leak_rate_mb_per_sec is None else self.leak_rate_mb_per_sec * MB
            ),
            max_gc_growth=self.gc_objects_growth_rate,
        )

    @classmethod
    def of(cls, thresholds: Thresholds) -> MemoryThresholds:
        return cls(
            process_memory_mb=None if thresholds.max_rss is None else thresholds.max_rss / MB,
            system_memory_percent=thresholds.max_system_memory,
            leak_rate_mb_per_sec=(
                None if thresholds.max_leak_rate is None else thresholds.max_leak_rate / MB
            ),
            gc_objects_growth_rate=thresholds.max_gc_growth,
        )


def as_thresholds(value: Thresholds | MemoryThresholds | None) -> Thresholds | None:
    return value.to_thresholds() if isinstance(value, MemoryThresholds) else value


class Advice(dict[str, Any]):
    """A recommendation of the report: a dict (its JSON fields) that prints as its text,
    so `print(f"- {rec}")` reads as a sentence."""

    def __str__(self) -> str:
        advice = self.get("advice") or []
        text = str(self.get("seen") or self.get("title") or "")
        return " ".join([text, *(str(a) for a in advice)]).strip()

    __repr__ = dict.__repr__


def add_familiar_keys(out: dict[str, Any], hours: float) -> dict[str, Any]:
    """`out` (the report with its "profiler" object) with the familiar keys added, in MB."""
    mine: Mapping[str, Any] = out["profiler"]
    out["period_hours"] = hours
    out["snapshots_count"] = mine["snapshots"]
    out["process_memory"] = _in_mb(mine["process_memory"], trend=True)
    out["tracemalloc"] = _in_mb(mine["traced_memory"], peak=True)
    gc_objects = mine["gc_objects"]
    out["gc_objects"] = (
        None
        if gc_objects is None
        else {
            "current": gc_objects["current"],
            "min": gc_objects["min"],
            "max": gc_objects["max"],
            "avg": gc_objects["average"],
            "growth_rate": gc_objects.get("rate"),
        }
    )
    percent = mine["system_memory"]
    if percent is not None:
        out["system_memory"].update(
            current_percent=percent["current"],
            min_percent=percent["min"],
            max_percent=percent["max"],
            avg_percent=percent["average"],
        )
    leaks = out["leaks"]
    total = leaks.get("total_leaked")
    out["memory_leaks"] = {
        "detected_count": leaks["count"],
        "critical_count": leaks["critical"],
        "total_leaked_mb": 0.0 if total is None else total / MB,
    }
    out["threshold_violations"] = out["thresholds"]["count"]
    out["recommendations"] = [Advice(r) for r in out["recommendations"]]
    return out


def _in_mb(
    figures: Mapping[str, Any] | None, *, trend: bool = False, peak: bool = False
) -> dict[str, Any] | None:
    if figures is None:
        return None
    out: dict[str, Any] = {
        f"{name}_mb": None if figures.get(key) is None else figures[key] / MB
        for name, key in (
            ("current", "current"),
            ("min", "min"),
            ("max", "max"),
            ("avg", "average"),
            ("p95", "p95"),
        )
    }
    if trend:
        out["trend"] = figures.get("trend")
        rate = figures.get("rate")
        out["rate_mb_per_sec"] = None if rate is None else rate / MB
    if peak:
        out["peak_mb"] = None if figures.get("peak") is None else figures["peak"] / MB
    return out
