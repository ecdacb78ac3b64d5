"""The report's groups: the processes of one group (by name, command or parent, as the
live page groups them) as one section, with the group's honest sum, its peak and growth,
how many of its members leak, and its members ranked by their peak.

A group of one process is no group: that process keeps its own section, as before
groups. The sum adds PSS (analysis/groups.honest_sum; formats/grouping.py sums it over
time), so a parent and its forked workers sharing pages are not counted once per process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from memlens.analysis.explain import Recommendation
from memlens.analysis.groups import DEFAULT_TOP, group_leak_text
from memlens.formats.grouping import Columns, Grouping, sum_at, summed
from memlens.report.model import GroupReport, Leak, Leaks, Member, TargetReport


def group_reports(
    grouping: Grouping,
    targets: Sequence[TargetReport],
    series: Mapping[str, Columns],
    leaks: Leaks,
    since: float | None,
) -> tuple[GroupReport, ...]:
    """One GroupReport per group of two members or more that had samples in the period,
    the largest peak first. `series` are the recording's columns by target key, read in
    place from `since` on."""
    reported = {t.target.key: t for t in targets}
    leaked = {leak.target_key: leak for leak in leaks.items if leak.target_key is not None}
    out = []
    for label, members in grouping.multi.items():
        shown = [reported[m.key] for m in members if m.key in reported]
        if len(shown) < 2:
            continue
        columns = [series[t.target.key] for t in shown if t.target.key in series]
        total = summed(columns, since)
        rows = sorted(
            (_member(t, leaked.get(t.target.key)) for t in shown),
            key=lambda m: (m.peak is None, -(m.peak or 0.0), m.target.target.pid),
        )
        peak_i = total.peak_index
        peak = end = growth = None
        peak_t = end_t = None
        if peak_i is not None:
            peak_t = total.t[peak_i]
            end_t = total.t[-1]
            peak = sum_at(columns, peak_t)
            end = sum_at(columns, end_t)
            growth = float(total.total[-1] - total.total[0])
        rates = [m.leak.rate for m in rows if m.leak is not None and m.leak.rate is not None]
        leaking = sum(1 for m in rows if m.leak is not None)
        rate_each = math.fsum(rates) / len(rates) if rates else None
        out.append(
            GroupReport(
                label=label,
                by=grouping.by,
                members=tuple(rows),
                peak=peak,
                peak_t=peak_t,
                end=end,
                end_t=end_t,
                growth=growth,
                measure=total.measure,
                leaking=leaking,
                rate_each=rate_each,
                leak_text=group_leak_text(label, leaking, len(rows), rate_each),
                times=tuple(total.t),
                totals=tuple(total.total),
                top=tuple(m.target.target.key for m in rows[:DEFAULT_TOP]),
            )
        )
    out.sort(key=lambda g: (g.peak is None, -(g.peak.total if g.peak else 0), g.label))
    return tuple(out)


def _member(t: TargetReport, leak: Leak | None) -> Member:
    known = [v for v in t.rss_values if v is not None]
    growth = float(known[-1] - known[0]) if known else None
    return Member(
        target=t,
        peak=None if t.rss is None else t.rss.max,
        growth=growth,
        leak=leak,
    )


def merged_advice(
    advice: Sequence[Recommendation], groups: Sequence[GroupReport]
) -> tuple[Recommendation, ...]:
    """The recording's advice with one piece per kind per group: 64 leaking workers of
    one gunicorn get one "leak" recommendation that names the group, how many of its
    processes it stands for and what was seen of the first of them, not 64 of them."""
    group_of = {m.target.label: g for g in groups for m in g.members}
    counts: dict[tuple[str, str], int] = {}
    for r in advice:
        g = group_of.get(r.subject or "")
        if g is not None:
            counts[(r.kind, g.label)] = counts.get((r.kind, g.label), 0) + 1
    out: list[Recommendation] = []
    done: set[tuple[str, str]] = set()
    for r in advice:
        g = group_of.get(r.subject or "")
        key = (r.kind, g.label) if g is not None else None
        if g is None or key is None or counts[key] < 2:
            out.append(r)
            continue
        if key in done:
            continue
        done.add(key)
        n = counts[key]
        out.append(
            Recommendation(
                r.kind,
                f"{n} of the {len(g.members)} processes of {g.label}; the first, "
                f"{r.subject}: {r.seen}",
                r.advice,
                f"{g.label}, {n} processes",
            )
        )
    return tuple(out)
