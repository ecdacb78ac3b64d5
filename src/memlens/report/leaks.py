"""The leaks a report counts: the live alerts when the recording holds them (what was
raised while it ran), else what the detector finds over the period."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memlens.analysis.leakmodel import Severity
from memlens.analysis.leaktext import headline
from memlens.report.model import EventRow, GrownStack, Leak, Leaks, Period, TargetReport
from memlens.report.period import number

MAX_STACKS = 32  # stacks read from one alert (memlens names at most 8)
MAX_FRAMES = 128  # frames read of one stack
MAX_TEXT = 4096  # characters read of a function's name or a path


@dataclass
class _Episode:
    key: str | None
    alerted: float
    onset: float | None
    name: str
    severity: str = "none"
    end: float | None = None
    rate: float | None = None
    growth: float | None = None
    text: str = ""
    stacks: tuple[GrownStack, ...] = ()
    stacks_window: tuple[float, float] | None = None


def leak_events(events: Sequence[EventRow], names: Mapping[str, str], period: Period) -> Leaks:
    """Each leak alert from its first "raised" to its "cleared" (or the end) is one leak,
    however often its severity rose meanwhile; kept when it overlaps the period. Its
    growth is the largest any of its alerts measured."""
    open_: dict[str | None, _Episode] = {}
    done: list[_Episode] = []
    for e in events:
        if e.kind != "leak":
            continue
        raw = e.data.get("finding")
        finding: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        state = e.data.get("state")
        if state == "raised":
            key = e.target_key
            fallback = str(e.data.get("name") or key or "?")
            ep = open_.get(key)
            if ep is None:
                ep = open_[key] = _Episode(
                    key, e.t, number(finding.get("onset")), names.get(key or "", fallback)
                )
            severity = str(e.data.get("severity") or finding.get("severity") or "none")
            ep.severity = _worse(ep.severity, severity)
            ep.rate = number(finding.get("rate"))
            growth = number(finding.get("growth"))
            if growth is not None and (ep.growth is None or growth > ep.growth):
                ep.growth = growth
            ep.text = str(e.data.get("text", ""))
            window, stacks = alert_stacks(e.data.get("heap_growth"))
            if stacks:
                ep.stacks, ep.stacks_window = stacks, window
        elif state == "cleared" and e.target_key in open_:
            ep = open_.pop(e.target_key)
            ep.end = e.t
            done.append(ep)
    done.extend(open_.values())
    items = []
    for ep in sorted(done, key=lambda d: d.alerted):
        start = ep.onset if ep.onset is not None else ep.alerted
        if ep.end is not None and period.start is not None and ep.end < period.start:
            continue
        if period.end is not None and start > period.end:
            continue
        items.append(
            Leak(
                ep.key,
                ep.name,
                start,
                ep.end,
                ep.alerted,
                ep.severity,
                ep.rate,
                ep.growth,
                ep.text,
                ep.stacks,
                ep.stacks_window,
            )
        )
    return Leaks("events", tuple(items))


def alert_stacks(raw: object) -> tuple[tuple[float, float] | None, tuple[GrownStack, ...]]:
    """The stacks of an alert's `heap_growth` field, read as a stored file's data: what
    is not of the documented shape is left out, and every list and text is bounded."""
    if not isinstance(raw, Mapping):
        return None, ()
    a, b = number(raw.get("from")), number(raw.get("to"))
    window = (a, b) if a is not None and b is not None else None
    entries = raw.get("stacks")
    if not isinstance(entries, list):
        return window, ()
    out = []
    for entry in entries[:MAX_STACKS]:
        if not isinstance(entry, Mapping):
            continue
        growth = number(entry.get("growth_bytes"))
        if growth is None:
            continue
        frames = entry.get("frames")
        kept = tuple(_frame(f) for f in (frames if isinstance(frames, list) else [])[-MAX_FRAMES:])
        depth = entry.get("depth")
        out.append(
            GrownStack(
                frames=tuple(f for f in kept if f is not None),
                depth=depth if isinstance(depth, int) and not isinstance(depth, bool) else 0,
                growth=growth,
                inuse=number(entry.get("inuse_bytes")) or 0.0,
            )
        )
    return window, tuple(out)


def _frame(raw: object) -> tuple[str, str, int] | None:
    if not isinstance(raw, Mapping):
        return None
    line = raw.get("line")
    return (
        str(raw.get("function") or "?")[:MAX_TEXT],
        str(raw.get("file") or "?")[:MAX_TEXT],
        line if isinstance(line, int) and not isinstance(line, bool) else 0,
    )


def detected(targets: Sequence[TargetReport]) -> Iterable[Leak]:
    """The detector's leaks, processes only: a summed series repeats its members'."""
    for t in targets:
        f = t.trend
        if t.target.kind != "process" or not f.is_leak:
            continue
        yield Leak(
            target_key=t.target.key,
            name=t.label,
            start=f.onset,
            end=None,
            alerted=None,
            severity=f.severity.value,
            rate=f.rate,
            growth=f.growth,
            text=f"{t.label}: {headline(f)}",
        )


def grown(items: Sequence[Leak], targets: Sequence[TargetReport]) -> Iterable[Leak]:
    """An alert measured the growth until it was raised; a leak that went on to the end
    of the period grew more since, which the detector over the period measures."""
    by_key = {t.target.key: t.trend for t in targets}
    for leak in items:
        trend = by_key.get(leak.target_key or "")
        if (
            leak.end is None
            and trend is not None
            and trend.is_leak
            and trend.growth is not None
            and trend.growth > (leak.growth or 0.0)
        ):
            yield dataclasses.replace(leak, growth=trend.growth)
        else:
            yield leak


_SEVERITIES = [s.value for s in Severity]


def _worse(a: str, b: str) -> str:
    rank = {name: i for i, name in enumerate(_SEVERITIES)}
    return a if rank.get(a, -1) >= rank.get(b, -1) else b
