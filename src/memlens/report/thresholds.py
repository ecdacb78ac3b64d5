"""The thresholds crossed: the live threshold alerts when the recording holds them, else
RSS against the settings' limit from the samples."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from memlens.report.model import EventRow, Period, RecordingLike, Violation, Violations
from memlens.report.period import clip, number

UNITS = {"rss": "bytes", "system_memory": "percent", "leak_rate": "bytes/s", "gc_growth": "1/s"}


def threshold_events(
    events: Sequence[EventRow],
    names: Mapping[str, str],
    period: Period,
    recording: RecordingLike,
    limit: float | None,
) -> Violations:
    """Each "above" until the next "below" of the same metric and target is one
    violation; kept when it overlaps the period, its start clipped to the period's."""
    crossings = [e for e in events if e.kind == "threshold"]
    if not crossings:
        if limit is None:
            return Violations("none", ())
        return Violations("samples", tuple(_from_samples(recording, names, period, limit)))
    open_: dict[tuple[str, str | None], EventRow] = {}
    pairs: list[tuple[EventRow, EventRow | None]] = []
    for e in crossings:
        metric = str(e.data.get("metric", "?"))
        state = e.data.get("state")
        if state == "above":
            open_.setdefault((metric, e.target_key), e)
        elif state == "below" and (metric, e.target_key) in open_:
            pairs.append((open_.pop((metric, e.target_key)), e))
    pairs.extend((above, None) for above in open_.values())
    end = period.end if period.end is not None else 0.0
    items: list[Violation] = []
    for above, below in sorted(pairs, key=lambda p: p[0].t):
        stop = below.t if below is not None else None
        if stop is not None and period.start is not None and stop < period.start:
            continue
        start = max(above.t, period.start) if period.start is not None else above.t
        metric = str(above.data.get("metric", "?"))
        value = number(above.data.get("value")) or 0.0
        peak = value
        # The peak is the highest reading while above, from the same series as the
        # report's figures (the event only holds the value it crossed at).
        if metric == "rss" and above.target_key is not None:
            rss = recording.series.get(above.target_key, {})
            peak = max(value, _peak(rss, "rss", above.t, stop) or value)
        elif metric == "system_memory" and above.target_key is None:
            peak = max(value, _peak(recording.system or {}, "mem_percent", above.t, stop) or value)
        items.append(
            Violation(
                metric=metric,
                target_key=above.target_key,
                name=names.get(above.target_key, "?") if above.target_key else "system",
                start=start,
                end=stop,
                duration=max(0.0, (stop if stop is not None else end) - start),
                value=value,
                peak=peak,
                limit=number(above.data.get("limit")) or 0.0,
                unit=UNITS.get(metric, ""),
                text=str(above.data.get("text", "")),
            )
        )
    return Violations("events", tuple(items))


def _peak(
    series: Mapping[str, Sequence[Any]], column: str, start: float, stop: float | None
) -> float | None:
    known = [
        float(v)
        for t, v in zip(series.get("t", []), series.get(column, []), strict=False)
        if v is not None and t is not None and t >= start and (stop is None or t <= stop)
    ]
    return max(known, default=None)


def _from_samples(
    recording: RecordingLike, names: Mapping[str, str], period: Period, limit: float
) -> Iterable[Violation]:
    """RSS above `limit` from the samples, for recordings made without live alerts."""
    cutoff = period.start if period.hours is not None else None
    for target in recording.targets:
        if target.kind != "process":
            continue
        ts, columns = clip(recording.series.get(target.key, {}), cutoff)
        run: list[tuple[float, float]] = []
        for t, v in [*zip(ts, columns.get("rss", []), strict=False), (math.inf, None)]:
            if v is not None and v > limit:
                run.append((t, float(v)))
                continue
            if v is None and t != math.inf:
                continue  # unknown: neither above nor below
            if run:
                stop = None if t == math.inf else t
                last = run[-1][0] if stop is None else stop
                yield Violation(
                    metric="rss",
                    target_key=target.key,
                    name=names.get(target.key, target.key),
                    start=run[0][0],
                    end=stop,
                    duration=last - run[0][0],
                    value=run[0][1],
                    peak=max(v for _, v in run),
                    limit=limit,
                    unit="bytes",
                    text="",
                )
                run = []
