"""What the terminal shows of a target, as plain data taken from the live view.

The widgets only lay this out; everything here is read from the `LiveView` the sampler
feeds and from the alert engine's findings, with the figures from
`memlens.analysis.stats`, so the terminal and the dashboard never disagree on a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memlens.analysis.leakmodel import LeakFinding
from memlens.analysis.stats import SeriesSummary, summarize
from memlens.model import Target
from memlens.outside.visible import visible
from memlens.units import human_duration
from memlens.watch.live import LiveView

# The chart's windows, in the order `w` cycles through them.
WINDOWS: tuple[float, ...] = (60.0, 600.0, 3600.0)
# The intervals `+` and `-` step through (the sampler accepts any from 0.05 s).
INTERVALS: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

Values = list[float | None]


@dataclass(frozen=True)
class TargetView:
    """One target over the chart's window, ending at `end`."""

    key: str
    label: str
    short: str
    state: str
    running: bool
    start: float
    end: float
    times: list[float]
    rss: Values
    heap: Values
    rss_summary: SeriesSummary | None
    heap_summary: SeriesSummary | None
    last: dict[str, float | int | None]
    python: dict[str, object] | None
    top: dict[str, Any] | None
    gc: dict[str, Any] | None
    finding: LeakFinding | None
    heap_stacks: dict[str, Any] | None = None  # the heap profiler's top stacks
    maps: dict[str, Any] | None = None  # the newest reading of its memory map ("maps")
    objects: dict[str, Any] | None = None  # object types growing fastest ("objects")
    marks: tuple[tuple[float, str], ...] = ()  # (t, text) in the window: memlens.mark()


def target_view(
    live: LiveView, key: str, *, window: float, end: float, finding: LeakFinding | None
) -> TargetView:
    """The view of target `key` over (end - window, end]; samples after `end` (those
    that came while the screen was paused) are left out."""
    target = live.targets[key]
    start = end - window
    series = live.history.series(key, since=start)
    keep = sum(1 for t in series["t"] if t is not None and t <= end)
    times = [float(t) for t in series["t"][:keep] if t is not None]
    rss = _floats(series["rss"][:keep])
    heap = _floats(series["py_heap"][:keep])
    last: dict[str, float | int | None] = {}
    if keep:
        last = {name: column[keep - 1] for name, column in series.items()}
    top = live.python.get((key, "top"))
    gc = live.python.get((key, "gc"))
    stacks = live.python.get((key, "heap"))
    objects = live.python.get((key, "objects"))
    recent = live.maps.get(key)
    return TargetView(
        key=key,
        label=label(target),
        short=short_label(target),
        state=state_text(target),
        running=target.state == "running",
        start=start,
        end=end,
        times=times,
        rss=rss,
        heap=heap,
        rss_summary=summarize(times, rss),
        heap_summary=summarize(times, heap),
        last=last,
        python=target.python,
        top=None if top is None else top.get("top"),
        gc=None if gc is None else gc.get("gc"),
        finding=finding,
        heap_stacks=None if stacks is None else stacks.get("heap"),
        maps=recent[-1] if recent else None,
        objects=None if objects is None else objects.get("objects"),
        marks=tuple(
            (float(m["t"]), str(m["text"]))
            for m in live.marks
            if m.get("key") == key and start < float(m["t"]) <= end
        ),
    )


def latest_rss(live: LiveView, key: str, end: float) -> float | None:
    """The target's last RSS at or before `end` (for the row of targets). The newest
    sample alone while live; the last hour only while paused, where newer ones exist."""
    series = live.history.series(key, limit=1)
    if series["t"] and (series["t"][-1] or 0.0) > end:
        series = live.history.series(key, since=end - WINDOWS[-1])
    for t, value in zip(reversed(series["t"]), reversed(series["rss"]), strict=True):
        if t is not None and t <= end and value is not None:
            return float(value)
    return None


def label(target: Target) -> str:
    """'python (PID 4242)', or a sum's own name; a name is the process's own choice, so
    what it holds that is not text is shown as escapes (memlens.outside.visible)."""
    name = visible(target.name)
    return f"{name} (PID {target.pid})" if target.kind == "process" else name


def short_label(target: Target) -> str:
    name = visible(target.name)
    return f"{name} {target.pid}" if target.kind == "process" else name


def state_text(target: Target) -> str:
    """The state in words, so it reads without colour: 'running', 'EXITED (code 1)'."""
    if target.state == "running":
        return "running"
    if target.exit_reason == "unreadable":
        return "UNREADABLE"
    if target.exit_reason == "pid-reused":
        return "EXITED (PID reused)"
    if target.exit_code is not None:
        return f"EXITED (code {target.exit_code})"
    return "EXITED"


def window_text(window: float) -> str:
    return {60.0: "1 min", 600.0: "10 min", 3600.0: "1 h"}.get(window) or human_duration(window)


def interval_text(interval: float) -> str:
    return f"{interval:g} s"


def next_window(window: float) -> float:
    later = [w for w in WINDOWS if w > window]
    return later[0] if later else WINDOWS[0]


def next_interval(interval: float, step: int) -> float:
    """The next interval up (step 1) or down (step -1) the ladder; unchanged at its ends.
    An interval between two rungs (from --interval) moves to the nearer rung that way."""
    if step > 0:
        up = [i for i in INTERVALS if i > interval + 1e-9]
        return up[0] if up else interval
    down = [i for i in INTERVALS if i < interval - 1e-9]
    return down[-1] if down else interval


def _floats(column: Sequence[float | int | None]) -> Values:
    return [None if v is None else float(v) for v in column]
