"""Each target's section: its figures, the detector's verdict on its RSS, the moments a
chart marks and its own advice; and the targets that ended within the period."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from memlens.analysis.explain import FDS_MIN, THREADS_MIN, Recommendation, explain, measure
from memlens.analysis.leakmodel import DetectorConfig
from memlens.analysis.leaks import detect
from memlens.analysis.leakstacks import frame_text
from memlens.analysis.stats import summarize
from memlens.model import Target
from memlens.report.model import (
    EventRow,
    Exit,
    Figures,
    Leaks,
    Mark,
    Period,
    TargetReport,
    label,
)
from memlens.units import human_bytes


def target_report(
    target: Target,
    *,
    ts: list[float],
    columns: Mapping[str, list[float | int | None]],
    config: DetectorConfig,
    limit: float | None,
    leaks: Leaks,
    events: Sequence[EventRow],
) -> TargetReport:
    rss = columns.get("rss", [None] * len(ts))
    summary = summarize(ts, rss)
    figures = (
        None
        if summary is None
        else Figures(summary.last, summary.min, summary.max, summary.mean, summary.p95)
    )
    trend = detect(ts, rss, limit=limit, config=config)
    threads = _series(ts, columns, "threads")
    fds = _series(ts, columns, "fds")
    windows: list[tuple[float, float]] = []
    if trend.is_leak and trend.onset is not None and trend.end is not None:
        windows.append((trend.onset, trend.end))
    for leak in leaks.items:
        if leak.target_key == target.key and leak.start is not None:
            windows.append((max(leak.start, ts[0]), leak.end if leak.end is not None else ts[-1]))
    marks = [
        Mark(e.t, e.kind, str(e.data.get("text", "")))
        for e in events
        if e.target_key == target.key
        and ts[0] <= e.t <= ts[-1] + 1.0
        and (
            e.kind == "mark"
            or (e.kind == "leak" and e.data.get("state") == "raised")
            or (e.kind == "threshold" and e.data.get("state") == "above")
        )
    ]
    if target.exit_time is not None and ts[0] <= target.exit_time:
        marks.append(Mark(target.exit_time, "exit", f"{label(target)} exited"))
    heap = _series(ts, columns, "py_heap")  # from the Python agent, when it traced
    blocks = _series(ts, columns, "py_blocks")
    advice = explain(
        trend,
        threads=threads,
        fds=fds,
        heap=heap,
        gc_objects=blocks,
        config=config,
    )
    return TargetReport(
        target=target,
        samples=len(ts),
        start=ts[0],
        end=ts[-1],
        rss=figures,
        trend=trend,
        threads=measure(threads, THREADS_MIN),
        fds=measure(fds, FDS_MIN),
        leak_windows=tuple(_merge(windows)),
        marks=tuple(sorted(marks, key=lambda m: m.t)),
        recommendations=tuple(
            Recommendation(r.kind, _with_stacks(r, target, leaks), r.advice, label(target))
            for r in advice
        ),
        times=tuple(ts),
        rss_values=tuple(rss),
    )


LEAK_KINDS = frozenset({"python-objects", "native", "mixed", "leak"})


def _with_stacks(advice: Recommendation, target: Target, leaks: Leaks) -> str:
    """A leak's advice says where the heap grew most when its alert named the stacks."""
    if advice.kind not in LEAK_KINDS:
        return advice.seen
    named = [leak for leak in leaks.items if leak.target_key == target.key and leak.stacks]
    if not named:
        return advice.seen
    top = named[-1].stacks[0]
    where = frame_text(*top.top) if top.top is not None else frame_text(None, None, None)
    return (
        f"{advice.seen} The heap profile saw it grow most in {where}, "
        f"+{human_bytes(top.growth)} (the Leaks section lists the stacks)."
    )


def _series(
    ts: list[float], columns: Mapping[str, list[float | int | None]], name: str
) -> tuple[list[float], list[float | int | None]] | None:
    values = columns.get(name)
    if values is None or all(v is None for v in values):
        return None
    return ts, values


def _merge(windows: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(w for w in windows if w[1] >= w[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def exits(targets: Sequence[Target], period: Period) -> Iterable[Exit]:
    """The targets that ended, but not before the period began."""
    for t in targets:
        if t.state == "running":
            continue
        if t.exit_time is not None and period.start is not None and t.exit_time < period.start:
            continue
        yield Exit(t.key, label(t), t.pid, t.exit_time, t.state, t.exit_code, t.exit_reason)
