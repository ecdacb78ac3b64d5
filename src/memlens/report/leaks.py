"""The leaks a report counts: the live alerts when the recording holds them (what was
raised while it ran), else what the detector finds over the period."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memlens.analysis.leakmodel import Severity
from memlens.analysis.leaktext import headline
from memlens.report.model import EventRow, Leak, Leaks, Period, TargetReport
from memlens.report.period import number


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
                ep.key, ep.name, start, ep.end, ep.alerted, ep.severity, ep.rate, ep.growth, ep.text
            )
        )
    return Leaks("events", tuple(items))


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
