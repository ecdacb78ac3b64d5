"""The part of `Profiler.generate_memory_report` that a recording's report has no field
for: what the Profiler's own snapshots add (system memory, traced memory, gc-tracked
objects), read back from its recording over the report's period. Pure: plain data in,
plain data out; units as in the report (bytes, seconds, percent, counts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from memlens.analysis.explain import GC_MIN, measure
from memlens.analysis.stats import summarize
from memlens.report import EventRow, TargetReport

NOTE_SOURCE = "profiler"  # data["source"] of the note events a Profiler writes


def profiler_section(
    series: Mapping[str, Sequence[float | int | None]],
    events: Sequence[EventRow],
    *,
    target: TargetReport | None,
    start: float | None,
    thresholds: Mapping[str, float],
) -> dict[str, Any]:
    """`series` and `events` are the recording's for the Profiler's process; `start` the
    report period's start; `target` the report's section on that process, if any."""
    ts = [float(t) for t in series.get("t", []) if t is not None]
    first = 0 if start is None else next((i for i, t in enumerate(ts) if t >= start), len(ts))
    times = ts[first:]

    def column(name: str) -> list[float | int | None]:
        return list(series.get(name, [None] * len(ts))[first:])

    notes = [
        e
        for e in events
        if e.kind == "note"
        and e.data.get("source") == NOTE_SOURCE
        and (start is None or e.t >= start)
    ]
    note_times = [e.t for e in notes]
    percents = [_number(e.data.get("system_memory_percent")) for e in notes]
    objects = [_number(e.data.get("gc_objects_count")) for e in notes]
    process = _figures(times, column("rss"))
    if process is not None and target is not None:
        process["trend"] = target.trend.verdict.value
        process["rate"] = target.trend.rate
    traced = _figures(times, column("py_heap"))
    if traced is not None:
        peaks = [v for v in column("py_heap_peak") if v is not None]
        traced["peak"] = max(peaks) if peaks else None
    gc_objects = _figures(note_times, objects)
    change = measure((note_times, objects), GC_MIN)
    if gc_objects is not None and change is not None:
        gc_objects.update(change=change.change, rate=change.rate, grows=change.grows)
    return {
        "snapshots": len(notes),
        "process_memory": process,
        "system_memory": _figures(note_times, percents),
        "traced_memory": traced,
        "gc_objects": gc_objects,
        "thresholds": dict(thresholds),
    }


def _figures(times: Sequence[float], values: Sequence[float | int | None]) -> dict[str, Any] | None:
    summary = summarize(times, values)
    if summary is None:
        return None
    return {
        "current": summary.last,
        "min": summary.min,
        "max": summary.max,
        "average": summary.mean,
        "p95": summary.p95,
    }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
