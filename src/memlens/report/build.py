"""A recording judged as a whole: the figures, the verdicts, what went wrong and what to
try. Pure: it reads a recording already in memory and returns plain frozen data
(report/model.py), which one renderer per format turns into bytes.

Where the recording holds the live alerts (events of kind "leak" and "threshold"), the
report counts those: they are what was raised while it ran. Otherwise it runs the leak
detector over each target's RSS and derives threshold crossings from the samples when a
limit is given, and says so (`source`). The machine's memory, swap and CPU come from
the recording's system readings when it holds them (recorded since schema version 3,
unless sampled with --no-system); its threshold alerts are counted either way.
"""

from __future__ import annotations

from collections.abc import Mapping

from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.analysis.leakmodel import DetectorConfig
from memlens.config import limit_for
from memlens.formats.grouping import group_targets
from memlens.report.advice import recommendations
from memlens.report.groups import group_reports, merged_advice
from memlens.report.leaks import detected, grown, leak_events
from memlens.report.maps import maps_section, with_causes
from memlens.report.model import Leaks, RecordingLike, Report, TargetReport, label
from memlens.report.period import clip, period_of
from memlens.report.system import system_section
from memlens.report.targets import exits, target_report
from memlens.report.thresholds import threshold_events


def build_report(
    recording: RecordingLike,
    *,
    hours: float | None = None,
    config: DetectorConfig = DetectorConfig(),  # noqa: B008 - frozen, shared safely
    limit: float | None = None,
    now: float | None = None,
    limits: Mapping[str, float] | None = None,
    group_by: str = DEFAULT_GROUP_BY,
) -> Report:
    """The report of `recording` (of its last `hours` when given). `limit` is the RSS
    limit (bytes) from the settings: the detector's time to limit, and crossings counted
    from the samples when the recording holds no threshold alerts. `now` is when the
    report is made, shown as such. `limits` are the targets' own memory limits the
    recording kept: a leak's time to a limit is to the nearer one (`limit_for`).
    `group_by` groups the processes as the live page does (analysis/groups.GROUP_BY)."""
    if hours is not None and not hours > 0:
        raise ValueError("hours must be positive")
    period = period_of(recording, hours, now)
    cutoff = period.start if hours is not None else None
    events = sorted(recording.events, key=lambda e: e.t)
    names = {t.key: label(t) for t in recording.targets}
    leaks = leak_events(events, names, period)
    violations = threshold_events(events, names, period, recording, limit)
    targets: list[TargetReport] = []
    for target in recording.targets:
        ts, columns = clip(recording.series.get(target.key, {}), cutoff)
        if not ts:
            continue
        targets.append(
            target_report(
                target,
                ts=ts,
                columns=columns,
                config=config,
                limit=limit_for(limit, (limits or {}).get(target.key)),
                leaks=leaks,
                events=events,
            )
        )
    maps = maps_section(getattr(recording, "maps", None) or {}, targets, cutoff)
    targets = list(with_causes(targets, maps))
    if any(e.kind == "leak" for e in events):
        leaks = Leaks("events", tuple(grown(leaks.items, targets)))
    else:
        leaks = Leaks("detector", tuple(detected(targets)))
    system = tuple(v for v in violations.items if v.metric == "system_memory")
    grouping = group_targets(recording.targets, group_by)
    groups = group_reports(grouping, targets, recording.series, leaks, cutoff)
    return Report(
        recording=recording.info,
        generated=now,
        period=period,
        samples=sum(t.samples for t in targets),
        targets=tuple(targets),
        leaks=leaks,
        thresholds=violations,
        system_memory=system_section(recording.system, cutoff, system),
        exits=tuple(exits(recording.targets, period)),
        recommendations=merged_advice(recommendations(targets, violations), groups),
        maps=maps,
        group_by=group_by,
        group_labels=grouping.labels,
        groups=groups,
    )
