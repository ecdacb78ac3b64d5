"""Two recordings as one, aligned at their starts, for the dashboard's comparison
(`memlens serve A B`): every target of each, named "A: …" and "B: …", B's samples, events
and exits moved by the difference of the two starts. Its keys gain "-B" so that the two
runs of one program stay two series. Pure: two Recordings in, one out; `memlens serve`
writes it into a temporary store and serves that as any recording.
"""

from __future__ import annotations

import dataclasses

from memlens.model import Target
from memlens.store.reader import Event, RecordingInfo
from memlens.store.recording import Recording, Series

SUFFIX = "-B"


def overlay(a: Recording, b: Recording) -> Recording:
    shift = a.info.started - b.info.started
    targets = [_renamed(t, "A", "", 0.0) for t in a.targets]
    targets += [_renamed(t, "B", SUFFIX, shift) for t in b.targets]
    series: dict[str, Series] = dict(a.series)
    for key, columns in b.series.items():
        moved = dict(columns)
        moved["t"] = [None if t is None else t + shift for t in columns["t"]]
        series[key + SUFFIX] = moved
    events = list(a.events) + [
        dataclasses.replace(
            e, t=e.t + shift, target_key=None if e.target_key is None else e.target_key + SUFFIX
        )
        for e in b.events
    ]
    ends = [t for t in (a.info.ended, None if b.info.ended is None else b.info.ended + shift) if t]
    info = RecordingInfo(
        id=0,
        name=f"A: {a.info.name} | B: {b.info.name} (aligned at their starts)",
        started=a.info.started,
        ended=max(ends) if len(ends) == 2 else None,
        command=None,
        host=a.info.host if a.info.host == b.info.host else f"{a.info.host}, {b.info.host}",
        interval=min(a.info.interval, b.info.interval),
        exit_code=None,
        target_count=len(targets),
        sample_count=a.sample_count + b.sample_count,
        memlens_version=a.info.memlens_version,
    )
    return Recording(info, targets, series, sorted(events, key=_when), None, dict(a.maps))


def _renamed(target: Target, side: str, suffix: str, shift: float) -> Target:
    return dataclasses.replace(
        target,
        key=target.key + suffix,
        name=f"{side}: {target.name}",
        start_time=target.start_time + shift,
        parent=None if target.parent is None else target.parent + suffix,
        members=[m + suffix for m in target.members],
        exit_time=None if target.exit_time is None else target.exit_time + shift,
    )


def _when(event: Event) -> float:
    return event.t
