"""A recording's targets in groups, and a group's honest sum over time: what the exports
and the report share, so that a file groups its targets as the live page does.

The store keeps no group: a target's group is its label under `--group-by`
(analysis/groups.group_label), worked out here from its name, command line and parent's
PID. A parent is named when it is itself a target of the recording; otherwise the label
shows its PID only, and a target whose parent is unknown (a recording made before the
store kept it) is in the group "no parent".

A group's sum at one moment adds each member's PSS (RSS where the PSS is unknown), as
`honest_sum` does for live readings: a process's samples all carry the round's time, so
the members' samples of one round share their `t`, and the sum is taken over the
samples of each `t`. Only the group's own columns are read, once, and no member's
series is copied.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from memlens.analysis.groups import (
    DEFAULT_GROUP_BY,
    MIXED,
    PSS,
    RSS,
    GroupSum,
    check_group_by,
    group_label,
    groups_of,
    honest_sum,
)
from memlens.model import Target

Columns = Mapping[str, Sequence[float | int | None]]

# Processes a page or a report shows one by one, each with its own section and chart, as
# before groups; past this many, a group of them is one section.
FEW = 8


@dataclass(frozen=True, slots=True)
class Grouping:
    """The groups of a recording's processes under `by`: each label's members in the
    recording's order (groups in the order their first member came). A sum series is
    in no group: it is a group of its own, and its label is ""."""

    by: str
    labels: dict[str, str]  # target key -> its group's label ("" for a sum series)
    groups: dict[str, list[Target]]

    def label(self, target: Target) -> str:
        return self.labels.get(target.key, "")

    @property
    def multi(self) -> dict[str, list[Target]]:
        """The groups of two members or more: those a page shows as a group."""
        return {label: members for label, members in self.groups.items() if len(members) > 1}


def group_targets(targets: Sequence[Target], by: str = DEFAULT_GROUP_BY) -> Grouping:
    """Each process of `targets` labelled under `by`."""
    check_group_by(by)
    names = {t.pid: t.name for t in targets if t.kind == "process"}
    labels: dict[str, str] = {}
    for t in targets:
        if t.kind != "process":
            labels[t.key] = ""
            continue
        parent = names.get(t.ppid) if t.ppid is not None else None
        labels[t.key] = group_label(by, t.name, t.cmdline, t.ppid, parent)
    processes = [t for t in targets if t.kind == "process"]
    return Grouping(by, labels, groups_of(processes, lambda t: labels[t.key]))


@dataclass(frozen=True, slots=True)
class SumSeries:
    """A group's sum over time: at each `t`, the honest total of the members sampled
    then and how many they were, and `measure` over the whole series (pss, rss or
    pss+rss)."""

    t: list[float]
    total: list[int]
    count: list[int]
    measure: str

    @property
    def mean(self) -> list[float]:
        """The total per member sampled, at each `t`."""
        return [total / n for total, n in zip(self.total, self.count, strict=True)]

    @property
    def peak_index(self) -> int | None:
        if not self.total:
            return None
        return max(range(len(self.total)), key=self.total.__getitem__)


def summed(columns: Iterable[Columns], since: float | None = None) -> SumSeries:
    """The honest sum over time of the members' `columns` ("t", "rss", "pss"), from
    after `since` when given."""
    totals: dict[float, int] = {}
    counts: dict[float, int] = {}
    with_pss = without = 0
    for series in columns:
        ts, rss, pss = series["t"], series.get("rss"), series.get("pss")
        start = 0 if since is None else bisect.bisect_right(ts, since)  # type: ignore[type-var]
        for i in range(start, len(ts)):
            t = ts[i]
            p = None if pss is None else pss[i]
            if p is not None:
                value = p
                with_pss += 1
            else:
                r = None if rss is None else rss[i]
                if r is None or t is None:
                    continue
                value = r
                without += 1
            if t is None:
                continue
            totals[t] = totals.get(t, 0) + int(value)
            counts[t] = counts.get(t, 0) + 1
    order = sorted(totals)
    measure = PSS if not without else RSS if not with_pss else MIXED
    return SumSeries(order, [totals[t] for t in order], [counts[t] for t in order], measure)


def sum_at(columns: Iterable[Columns], t: float) -> GroupSum:
    """The members' honest sum of their samples at time `t` (analysis/groups.honest_sum):
    its measure, the plain RSS sum beside it and the USS when every member's is known."""
    readings: list[tuple[int, int | None, int | None]] = []
    for series in columns:
        ts = series["t"]
        i = bisect.bisect_left(ts, t)  # type: ignore[type-var]
        if i >= len(ts) or ts[i] != t:
            continue
        rss, pss, uss = (_int(series.get(name), i) for name in ("rss", "pss", "uss"))
        if rss is None and pss is None:
            continue
        readings.append((rss if rss is not None else pss or 0, pss, uss))
    return honest_sum(readings)


def _int(column: Sequence[float | int | None] | None, i: int) -> int | None:
    value = None if column is None else column[i]
    return None if value is None else int(value)
