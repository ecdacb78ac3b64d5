"""What a report says, as plain frozen data, and the shapes of the recording it reads.
The builders (report/build.py and one module per section) fill it in; one renderer per
format (report/markdown.py, html.py, json.py) turns it into bytes. docs/cli.md
("memlens report") describes every field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from memlens.analysis.explain import Change, Recommendation
from memlens.analysis.groups import DEFAULT_GROUP_BY, GroupSum
from memlens.analysis.leakmodel import LeakFinding, Severity
from memlens.formats.grouping import FEW
from memlens.model import Frame, Target


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
    """A moment the chart marks: a leak alert, a threshold crossed, an exit, a mark set
    from the program or the shell (`memlens.mark`, `memlens mark`)."""

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
class GrownStack:
    """A stack whose in-use heap bytes grew while a process leaked, from the alert's
    `heap_growth` (docs/leak-detection.md). `frames` run root first, the allocating frame
    last, and are the innermost of `depth`; their text is the profiled process's own."""

    frames: tuple[tuple[str, str, int], ...]
    depth: int
    growth: float  # bytes
    inuse: float  # bytes in use at the later profile

    @property
    def top(self) -> tuple[str, str, int] | None:
        return self.frames[-1] if self.frames else None


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
    # The stacks its last alert named, and the times of the two heap profiles compared.
    stacks: tuple[GrownStack, ...] = ()
    stacks_window: tuple[float, float] | None = None


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
class TargetMaps:
    """One process's map over the period: `first` and `last` are resident bytes by
    category at the first and last reading, `last_figures` every figure (rss, pss, uss,
    swap) at the last; `grew` is by category over the leak (`window`) when the process
    leaked, else over the period; `cause` the sentence naming the category that carried
    a leak's growth (None when it did not leak, or no category carried most of it)."""

    target_key: str
    name: str
    readings: int
    first_t: float
    last_t: float
    first: dict[str, int]
    last: dict[str, int]
    last_figures: dict[str, tuple[int, int, int, int]]
    grew: dict[str, int]
    window: tuple[float, float] | None
    cause: str | None
    reading: str
    thread_stacks: int


@dataclass(frozen=True)
class Member:
    """A process in its group's table: its RSS peak and growth over the period (last
    known value less first), and its leak when one is counted (report.leaks)."""

    target: TargetReport
    peak: float | None
    growth: float | None
    leak: Leak | None


@dataclass(frozen=True)
class GroupReport:
    """A group of two processes or more (report/groups.py): its honest sum at its peak
    and at the end of the period (`measure` says which measure the sum series is), the
    sum's growth from its first moment to its last, how many members leak and the
    sentence that says so, and its members, the largest peak first. `times` and
    `totals` are the sum over time, `top` the keys of the members a chart draws."""

    label: str
    by: str
    members: tuple[Member, ...]
    peak: GroupSum | None
    peak_t: float | None
    end: GroupSum | None
    end_t: float | None
    growth: float | None
    measure: str
    leaking: int
    rate_each: float | None  # bytes/s, the mean of the leaking members' rates
    leak_text: str
    times: tuple[float, ...]
    totals: tuple[int, ...]
    top: tuple[str, ...]

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(m.target.target.key for m in self.members)


@dataclass(frozen=True)
class HeapTop:
    """The largest stacks of the last heap profile the recording kept of its main
    target (report/heap_compare.py), by bytes in use; frames root first."""

    target_key: str
    name: str
    t: float
    pid: int
    inuse_bytes: float
    stacks: tuple[tuple[tuple[Frame, ...], float], ...]


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
    # Where each process's memory lived (report/maps.py: TargetMaps), for the targets whose
    # memory map was read; empty for a recording made without them.
    maps: tuple[TargetMaps, ...] = ()
    # The targets in groups (report/groups.py): how they were grouped, each process's
    # group label by key ("" for a sum series), and the groups of two or more.
    group_by: str = DEFAULT_GROUP_BY
    group_labels: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[GroupReport, ...] = ()

    @property
    def singles(self) -> tuple[TargetReport, ...]:
        """The targets with a section of their own: all of them up to FEW processes (a
        group's section then comes in addition), else those in no group of two or more."""
        if sum(1 for t in self.targets if t.target.kind == "process") <= FEW:
            return self.targets
        grouped = {key for g in self.groups for key in g.keys}
        return tuple(t for t in self.targets if t.target.key not in grouped)

    # The last kept heap profile's largest stacks; None without heap profiles.
    heap: HeapTop | None = None


def label(target: Target) -> str:
    """A process by name and PID: several processes often share a name."""
    return f"{target.name} ({target.pid})" if target.kind == "process" else target.name
