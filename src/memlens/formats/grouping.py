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
import operator
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
    after `since` when given.

    Members sampled in the same rounds have equal time columns: theirs are added up
    column by column (`map` over whole lists, no Python step per sample), and the few
    distinct time columns are merged by time at the end."""
    grids: list[tuple[list[float], list[int], list[int]]] = []  # (times, totals, counts)
    with_pss = without = 0
    for series in columns:
        ts, values, counts, pss_known = _member(series, since)
        if not ts:
            continue
        with_pss += pss_known
        without += sum(counts) - pss_known
        for i, (times, totals, known) in enumerate(grids):
            if times == ts:
                grids[i] = (
                    times,
                    list(map(operator.add, totals, values)),
                    list(map(operator.add, known, counts)),
                )
                break
        else:
            grids.append((ts, values, counts))
    merged: dict[float, tuple[int, int]] = {}
    for times, totals, known in grids:
        for t, total, n in zip(times, totals, known, strict=True):
            if n:
                before = merged.get(t, (0, 0))
                merged[t] = (before[0] + total, before[1] + n)
    order = sorted(merged)
    measure = PSS if not without else RSS if not with_pss else MIXED
    return SumSeries(order, [merged[t][0] for t in order], [merged[t][1] for t in order], measure)


def _member(series: Columns, since: float | None) -> tuple[list[float], list[int], list[int], int]:
    """One member's (times, honest values, 1 where known, how many were its PSS): its PSS
    where read, its RSS elsewhere, 0 (and not known) where neither is."""
    every: list[float] = list(series["t"])  # type: ignore[arg-type]  # a time is never None
    start = 0 if since is None else bisect.bisect_right(every, since)
    ts = every[start:]
    n = len(ts)
    pss = list(series.get("pss") or [None] * (n + start))[start:]
    rss = list(series.get("rss") or [None] * (n + start))[start:]
    if not pss.count(None):
        return ts, list(map(int, pss)), [1] * n, n  # type: ignore[arg-type]
    values = [p if p is not None else r for p, r in zip(pss, rss, strict=True)]
    known = [0 if v is None else 1 for v in values]
    return ts, [0 if v is None else int(v) for v in values], known, n - pss.count(None)


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
