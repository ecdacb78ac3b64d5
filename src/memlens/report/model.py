"""A recording judged as a whole: the figures, the verdicts, what went wrong and what to
try. Pure: it reads a recording already in memory and returns plain frozen data, which
one renderer per format (report/markdown.py, html.py, json.py) turns
into bytes. docs/cli.md ("memlens report") describes every field.

Where the recording holds the live alerts (events of kind "leak" and "threshold"), the
report counts those: they are what was raised while it ran. Otherwise it runs the leak
detector over each target's RSS and derives threshold crossings from the samples when a
limit is given, and says so (`source`). The machine's memory, swap and CPU come from
the recording's system readings when it holds them (recorded since schema version 3,
unless sampled with --no-system); its threshold alerts are counted either way.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from memlens.analysis.explain import (
    FDS_MIN,
    THREADS_MIN,
    Change,
    Recommendation,
    explain,
    measure,
    rss_limit_advice,
    system_memory_advice,
)
from memlens.analysis.leakmodel import DetectorConfig, LeakFinding, Severity
from memlens.analysis.leaks import detect
from memlens.analysis.leaktext import headline
from memlens.analysis.stats import summarize
from memlens.config import limit_for
from memlens.model import Target

HOUR = 3600.0
UNITS = {"rss": "bytes", "system_memory": "percent", "leak_rate": "bytes/s", "gc_growth": "1/s"}


class RecordingRow(Protocol):
    """The recording's own row (`memlens.store.RecordingInfo` fits)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def started(self) -> float: ...
    @property
    def ended(self) -> float | None: ...
    @property
    def command(self) -> str | None: ...
    @property
    def host(self) -> str: ...
    @property
    def interval(self) -> float: ...
    @property
    def exit_code(self) -> int | None: ...


class EventRow(Protocol):
    """One stored event (`memlens.store.Event` fits)."""

    @property
    def kind(self) -> str: ...
    @property
    def t(self) -> float: ...
    @property
    def target_key(self) -> str | None: ...
    @property
    def data(self) -> dict[str, Any]: ...


class RecordingLike(Protocol):
    """A whole recording in memory (`memlens.formats.Recording` fits)."""

    @property
    def info(self) -> RecordingRow: ...
    @property
    def targets(self) -> Sequence[Target]: ...
    @property
    def series(self) -> Mapping[str, Mapping[str, Sequence[float | int | None]]]: ...
    @property
    def events(self) -> Sequence[EventRow]: ...
    @property
    def system(self) -> Mapping[str, Sequence[Any]] | None:
        """The machine's readings: "t" and a column per figure (None: none recorded)."""


@dataclass(frozen=True)
class Period:
    """The stretch of time reported on: the whole recording, or its last `hours`."""

    start: float | None
    end: float | None
    hours: float | None  # what --hours asked for
    ongoing: bool  # the recording had not ended when it was read

    @property
    def duration(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass(frozen=True)
class Figures:
    """RSS over the period, bytes: the last known value and the usual statistics."""

    current: float
    min: float
    max: float
    average: float
    p95: float


@dataclass(frozen=True)
class Mark:
    """A moment the chart marks: a leak alert, a threshold crossed, an exit."""

    t: float
    kind: str
    text: str


@dataclass(frozen=True)
class TargetReport:
    target: Target
    samples: int
    start: float | None
    end: float | None
    rss: Figures | None
    trend: LeakFinding  # the detector on the period's RSS
    threads: Change | None
    fds: Change | None
    leak_windows: tuple[tuple[float, float], ...]  # (onset, end) of each leak, merged
    marks: tuple[Mark, ...]
    recommendations: tuple[Recommendation, ...]
    times: tuple[float, ...]  # the period's samples, for a chart
    rss_values: tuple[float | int | None, ...]

    @property
    def label(self) -> str:
        return label(self.target)


@dataclass(frozen=True)
class Leak:
    target_key: str | None
    name: str
    start: float | None  # the leak's onset, or its first alert when the onset is unknown
    end: float | None  # when it cleared; None when it lasted to the end
    alerted: float | None  # the first alert's time (None: found by the detector here)
    severity: str
    rate: float | None  # bytes/s
    growth: float | None  # bytes
    text: str


@dataclass(frozen=True)
class Leaks:
    source: str  # "events" (the live alerts) or "detector" (judged here)
    items: tuple[Leak, ...]

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def critical(self) -> int:
        return sum(1 for leak in self.items if leak.severity == Severity.CRITICAL.value)

    @property
    def total_leaked(self) -> float:
        return math.fsum(leak.growth for leak in self.items if leak.growth and leak.growth > 0)


@dataclass(frozen=True)
class Violation:
    metric: str  # rss, system_memory, leak_rate, gc_growth
    target_key: str | None  # None for the whole system
    name: str
    start: float
    end: float | None  # None: still above at the end of the period
    duration: float  # seconds above, to the period's end when still above
    value: float  # at the crossing
    peak: float | None  # the highest value known while above
    limit: float
    unit: str
    text: str


@dataclass(frozen=True)
class Violations:
    source: str  # "events", "samples" (RSS against --config's max_rss) or "none"
    items: tuple[Violation, ...]


@dataclass(frozen=True)
class Gauge:
    """One figure of the machine over the period: the last known value, the extremes and
    the mean of the readings (each reading weighs the same: they are evenly spaced)."""

    current: float
    min: float
    max: float
    average: float


@dataclass(frozen=True)
class SystemMemory:
    recorded: bool  # whether the machine's readings are in the period
    violations: tuple[Violation, ...]
    note: str
    readings: int = 0
    memory_total: float | None = None  # bytes, at the last reading
    memory_percent: Gauge | None = None  # percent of memory_total in use
    memory_used: Gauge | None = None  # bytes
    swap_total: float | None = None  # bytes, at the last reading
    swap_used: Gauge | None = None  # bytes
    cpu_percent: Gauge | None = None  # all CPUs together, 0-100


@dataclass(frozen=True)
class Exit:
    target_key: str
    name: str
    pid: int
    t: float | None
    state: str
    code: int | None
    reason: str | None


@dataclass(frozen=True)
class Report:
    recording: RecordingRow
    generated: float | None
    period: Period
    samples: int
    targets: tuple[TargetReport, ...]
    leaks: Leaks
    thresholds: Violations
    system_memory: SystemMemory
    exits: tuple[Exit, ...]
    recommendations: tuple[Recommendation, ...]


def build_report(
    recording: RecordingLike,
    *,
    hours: float | None = None,
    config: DetectorConfig = DetectorConfig(),  # noqa: B008 - frozen, shared safely
    limit: float | None = None,
    now: float | None = None,
    limits: Mapping[str, float] | None = None,
) -> Report:
    """The report of `recording` (of its last `hours` when given). `limit` is the RSS
    limit (bytes) from the settings: the detector's time to limit, and crossings counted
    from the samples when the recording holds no threshold alerts. `now` is when the
    report is made, shown as such. `limits` are the targets' own memory limits the
    recording kept: a leak's time to a limit is to the nearer one (`limit_for`)."""
    if hours is not None and not hours > 0:
        raise ValueError("hours must be positive")
    period = _period(recording, hours, now)
    cutoff = period.start if hours is not None else None
    events = sorted(recording.events, key=lambda e: e.t)
    names = {t.key: label(t) for t in recording.targets}
    leaks = _leak_events(events, names, period)
    violations = _threshold_events(events, names, period, recording, limit)
    targets: list[TargetReport] = []
    for target in recording.targets:
        ts, columns = _clip(recording.series.get(target.key, {}), cutoff)
        if not ts:
            continue
        targets.append(
            _target(
                target,
                ts=ts,
                columns=columns,
                config=config,
                limit=limit_for(limit, (limits or {}).get(target.key)),
                leaks=leaks,
                events=events,
            )
        )
    if any(e.kind == "leak" for e in events):
        leaks = Leaks("events", tuple(_grown(leaks.items, targets)))
    else:
        leaks = Leaks("detector", tuple(_detected(targets)))
    system = tuple(v for v in violations.items if v.metric == "system_memory")
    return Report(
        recording=recording.info,
        generated=now,
        period=period,
        samples=sum(t.samples for t in targets),
        targets=tuple(targets),
        leaks=leaks,
        thresholds=violations,
        system_memory=_system_memory(recording.system, cutoff, system),
        exits=tuple(_exits(recording.targets, period)),
        recommendations=tuple(_recommendations(targets, violations)),
    )


def label(target: Target) -> str:
    return f"{target.name} ({target.pid})" if target.kind == "process" else target.name


# -- the period -----------------------------------------------------------------------


def _period(recording: RecordingLike, hours: float | None, now: float | None) -> Period:
    info = recording.info
    last = max(
        (float(t) for s in recording.series.values() for t in s.get("t", [])[-1:] if t is not None),
        default=None,
    )
    end = info.ended if info.ended is not None else last
    if end is None:
        end = now if now is not None else info.started
    if last is not None and last > end:
        end = last
    start = info.started
    if hours is not None:
        start = max(start, end - hours * HOUR)
    return Period(start, end, hours, info.ended is None)


def _clip(
    series: Mapping[str, Sequence[float | int | None]], cutoff: float | None
) -> tuple[list[float], dict[str, list[float | int | None]]]:
    ts = [float(t) for t in series.get("t", []) if t is not None]
    first = 0 if cutoff is None else next((i for i, t in enumerate(ts) if t >= cutoff), len(ts))
    columns = {name: list(values[first:]) for name, values in series.items() if name != "t"}
    return ts[first:], columns


# -- one target ----------------------------------------------------------------------


def _target(
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
            (e.kind == "leak" and e.data.get("state") == "raised")
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
            Recommendation(r.kind, r.seen, r.advice, label(target)) for r in advice
        ),
        times=tuple(ts),
        rss_values=tuple(rss),
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


# -- leaks -------------------------------------------------------------------------------


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


def _leak_events(events: Sequence[EventRow], names: Mapping[str, str], period: Period) -> Leaks:
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
                    key, e.t, _number(finding.get("onset")), names.get(key or "", fallback)
                )
            severity = str(e.data.get("severity") or finding.get("severity") or "none")
            ep.severity = _worse(ep.severity, severity)
            ep.rate = _number(finding.get("rate"))
            growth = _number(finding.get("growth"))
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


def _detected(targets: Sequence[TargetReport]) -> Iterable[Leak]:
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


def _grown(items: Sequence[Leak], targets: Sequence[TargetReport]) -> Iterable[Leak]:
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


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


# -- thresholds ---------------------------------------------------------------------------


def _threshold_events(
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
        value = _number(above.data.get("value")) or 0.0
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
                limit=_number(above.data.get("limit")) or 0.0,
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
        ts, columns = _clip(recording.series.get(target.key, {}), cutoff)
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


# -- the rest --------------------------------------------------------------------------


def _system_memory(
    series: Mapping[str, Sequence[Any]] | None,
    cutoff: float | None,
    violations: tuple[Violation, ...],
) -> SystemMemory:
    ts, columns = _clip(series or {}, cutoff)
    if not ts:
        return SystemMemory(False, violations, _system_note(violations, 0))

    def last(name: str) -> float | None:
        known = [v for v in columns.get(name, []) if v is not None]
        return float(known[-1]) if known else None

    return SystemMemory(
        recorded=True,
        violations=violations,
        note=_system_note(violations, len(ts)),
        readings=len(ts),
        memory_total=last("mem_total"),
        memory_percent=_gauge(columns.get("mem_percent")),
        memory_used=_gauge(columns.get("mem_used")),
        swap_total=last("swap_total"),
        swap_used=_gauge(columns.get("swap_used")),
        cpu_percent=_gauge(columns.get("cpu_percent")),
    )


def _gauge(values: Sequence[object] | None) -> Gauge | None:
    known = [float(v) for v in values or () if isinstance(v, int | float)]
    if not known:
        return None
    return Gauge(known[-1], min(known), max(known), math.fsum(known) / len(known))


def _system_note(violations: Sequence[Violation], readings: int) -> str:
    alerts = (
        f"{len(violations)} alert{'' if len(violations) == 1 else 's'} on it"
        if violations
        else "no alert on it"
    )
    if readings:
        return (
            f"The machine was read {readings:,} time{'' if readings == 1 else 's'} over the "
            f"period; {alerts} (thresholds.max_system_memory)."
        )
    base = (
        "System-wide memory is not recorded in this recording (made with --no-system, or "
        "by a memlens before schema version 3); only alerts on it are, when a limit "
        "(thresholds.max_system_memory) was set while recording."
    )
    if not violations:
        return base + " None are in this period."
    return base


def _exits(targets: Sequence[Target], period: Period) -> Iterable[Exit]:
    for t in targets:
        if t.state == "running":
            continue
        if t.exit_time is not None and period.start is not None and t.exit_time < period.start:
            continue
        yield Exit(t.key, label(t), t.pid, t.exit_time, t.state, t.exit_code, t.exit_reason)


def _recommendations(
    targets: Sequence[TargetReport], violations: Violations
) -> list[Recommendation]:
    """Every piece of advice about a process, most pressing first, then what the
    thresholds add; "nothing to do" and "too little data" once, only when nothing else
    is to be said."""
    out: list[Recommendation] = []
    quiet: list[Recommendation] = []
    for t in targets:
        if t.target.kind != "process":
            continue
        for r in t.recommendations:
            (quiet if r.kind in ("flat", "insufficient") else out).append(r)
    out.extend(_threshold_advice(violations, targets))
    out.sort(key=lambda r: r.rank)
    if out:
        return out
    if not quiet:
        return []
    kinds = {r.kind for r in quiet}
    if kinds == {"flat"} and len(quiet) > 1:
        return [
            Recommendation(
                "flat", "No process's RSS grew over the period.", ("Nothing to do.",), None
            )
        ]
    return sorted({r.kind: r for r in quiet}.values(), key=lambda r: r.rank)[:1]


def _threshold_advice(
    violations: Violations, targets: Sequence[TargetReport]
) -> Iterable[Recommendation]:
    system = [v for v in violations.items if v.metric == "system_memory"]
    if system:
        worst = max(system, key=lambda v: v.peak or v.value)
        yield system_memory_advice(
            limit=worst.limit,
            peak=worst.peak or worst.value,
            times=len(system),
            leaking=[t.label for t in targets if t.target.kind == "process" and t.trend.is_leak],
        )
    by_target: dict[str | None, list[Violation]] = {}
    for v in violations.items:
        if v.metric == "rss":
            by_target.setdefault(v.target_key, []).append(v)
    leaking_keys = {t.target.key for t in targets if t.trend.is_leak}
    for key, items in by_target.items():
        if key in leaking_keys:
            continue  # the leak's own advice covers it
        yield rss_limit_advice(
            items[0].name,
            peak=max((v.peak or v.value) for v in items),
            times=len(items),
            above=math.fsum(v.duration for v in items),
        )
