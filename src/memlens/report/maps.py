"""Where each process's memory lived over the period, from the readings of its memory map
(docs/maps.md): resident bytes by category at the first and the last reading, what grew,
and for a process that leaked, which category carried the growth over the leak
("anonymous memory grew 300 MB over the leak: a native heap leak"). That sentence is
added to the leak's advice, so a leak of a Java, Go or C++ service says where it grows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from memlens.analysis.maptext import growth_cause, reading
from memlens.model import MAP_CATEGORIES, MapSample
from memlens.probes.maps import Runtime
from memlens.report.model import TargetMaps, TargetReport
from memlens.report.targets import LEAK_KINDS


def maps_section(
    maps: Mapping[str, Sequence[MapSample]],
    targets: Sequence[TargetReport],
    cutoff: float | None,
) -> tuple[TargetMaps, ...]:
    out = []
    for t in targets:
        found = [m for m in maps.get(t.target.key, ()) if cutoff is None or m.t >= cutoff]
        if not found:
            continue
        first, last = found[0], found[-1]
        window = _window(t)
        if window is not None:
            before, after = _around(found, window)
            grew = {c: after.rss()[c] - before.rss()[c] for c in MAP_CATEGORIES}
            cause = growth_cause(grew) if after.t > before.t else None
        else:
            grew = {c: last.rss()[c] - first.rss()[c] for c in MAP_CATEGORIES}
            cause = None
        runtimes = [
            Runtime(
                str(r.get("name", "")),
                str(r.get("what", "")),
                int(r.get("count", 0) or 0),
                rss=int(r.get("rss", 0) or 0),
            )
            for r in last.runtimes
        ]
        out.append(
            TargetMaps(
                target_key=t.target.key,
                name=t.label,
                readings=len(found),
                first_t=first.t,
                last_t=last.t,
                first=first.rss(),
                last=last.rss(),
                last_figures={c: last.categories.get(c, (0, 0, 0, 0)) for c in MAP_CATEGORIES},
                grew=grew,
                window=window,
                cause=cause,
                reading=reading(last.rss(), runtimes),
                thread_stacks=last.thread_stacks,
            )
        )
    return tuple(out)


def _window(t: TargetReport) -> tuple[float, float] | None:
    """From the first leak's onset to the last one's end, when the process leaked."""
    if t.leak_windows:
        return t.leak_windows[0][0], t.leak_windows[-1][1]
    if t.trend.is_leak and t.start is not None and t.end is not None:
        return t.start, t.end
    return None


def _around(found: Sequence[MapSample], window: tuple[float, float]) -> tuple[MapSample, MapSample]:
    """The readings that bracket the window as closely as there are: the last at or
    before its start (else the first), the last at or before its end."""
    start, end = window
    before = [m for m in found if m.t <= start]
    until = [m for m in found if m.t <= end]
    return (before[-1] if before else found[0]), (until[-1] if until else found[-1])


def with_causes(
    targets: Sequence[TargetReport], maps: Sequence[TargetMaps]
) -> tuple[TargetReport, ...]:
    """The targets with each leak's advice saying which category carried the growth."""
    causes = {m.target_key: m.cause for m in maps if m.cause}
    out = []
    for t in targets:
        cause = causes.get(t.target.key)
        if cause is None:
            out.append(t)
            continue
        told = cause[0].upper() + cause[1:]
        recommendations = tuple(
            dataclasses.replace(r, seen=f"{r.seen} {told}.") if r.kind in LEAK_KINDS else r
            for r in t.recommendations
        )
        out.append(dataclasses.replace(t, recommendations=recommendations))
    return tuple(out)


__all__ = ["TargetMaps", "maps_section", "with_causes"]
