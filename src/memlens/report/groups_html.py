"""The HTML report's groups: the table of groups, then one section per group with its
sum, the measure it is in, its leaks in one sentence, a chart (for the largest groups)
and its members in a table that scrolls, so 300 processes do not make 300 sections."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from memlens.formats.group_chart import Series, group_chart
from memlens.formats.grouping import SumSeries
from memlens.formats.html import BUCKETS, COLORS, bytes_attr
from memlens.formats.html_groups import CHARTED_GROUPS
from memlens.report.grouptext import (
    MEMBER_HEAD,
    grouped_text,
    growth_text,
    measure_text,
    member_verdict,
    sum_text,
    title_text,
)
from memlens.report.model import GroupReport, Member, Report
from memlens.units import human_bytes


def group_charts(report: Report) -> list[dict[str, Any]]:
    """The JSON block's charts of the first CHARTED_GROUPS groups (the largest)."""
    out = []
    for g in report.groups[:CHARTED_GROUPS]:
        total = SumSeries(list(g.times), list(g.totals), _counts(g), g.measure)
        members: list[Series] = [
            (m.target.label, m.target.times, m.target.rss_values) for m in g.members
        ]
        out.append(group_chart(g.label, total, members, palette=COLORS, buckets=BUCKETS))
    return out


def _counts(g: GroupReport) -> list[int]:
    """How many members were sampled at each moment of the sum."""
    at = {t: i for i, t in enumerate(g.times)}
    counts = [0] * len(g.times)
    for m in g.members:
        for t, v in zip(m.target.times, m.target.rss_values, strict=True):
            i = at.get(t)
            if i is not None and v is not None:
                counts[i] += 1
    return [max(1, n) for n in counts]


def groups_html(report: Report) -> str:
    if not report.groups:
        return ""
    rows = "".join(
        f'<tr data-group="{escape(g.label)}"><td>{escape(g.label)}</td>'
        f'<td class=num data-stat="count">{len(g.members):,}</td>'
        f'<td class=num data-stat="peak" data-bytes="{_total(g.peak)}">'
        f"{human_bytes(None if g.peak is None else g.peak.total)}</td>"
        f'<td class=num data-stat="end" data-bytes="{_total(g.end)}">'
        f"{human_bytes(None if g.end is None else g.end.total)}</td>"
        f'<td class=num data-stat="growth">{escape(growth_text(g.growth))}</td>'
        f'<td data-stat="leaks" data-count="{g.leaking}">{g.leaking} of {len(g.members)} leak'
        "</td></tr>"
        for g in report.groups
    )
    head = (
        "<tr><th>group</th><th class=num>processes</th><th class=num>peak sum</th>"
        "<th class=num>at the end</th><th class=num>growth</th><th>leaks</th></tr>"
    )
    sections = "".join(_group(g, i) for i, g in enumerate(report.groups))
    return (
        f'<p class="note">{escape(grouped_text(report))}</p>'
        f'<table id="groups"><thead>{head}</thead><tbody>{rows}</tbody></table>{sections}'
    )


def _total(s: Any) -> str:
    return "" if s is None else bytes_attr(s.total)


def _group(g: GroupReport, index: int) -> str:
    chart = (
        f'<div class="chart group-chart" id="chart-g{index}"></div>'
        if index < CHARTED_GROUPS
        else ""
    )
    bad = " bad" if g.leaking else ""
    return (
        f'<div class="group" data-group="{escape(g.label)}">'
        f"<h3>{escape(title_text(g))}</h3>"
        f'<p class="meta">sum {escape(sum_text(g))}</p>'
        f'<p class="note">{escape(measure_text(g))}</p>'
        f'<p class="verdict group-leaks{bad}" data-count="{g.leaking}">{escape(g.leak_text)}</p>'
        f"{chart}{_members(g.members, g.label)}</div>"
    )


def _members(members: Sequence[Member], label: str) -> str:
    head = "".join(
        f"<th{' class=num' if i in (1, 2, 3) else ''}>{escape(n)}</th>"
        for i, n in enumerate(MEMBER_HEAD)
    )
    rows = "".join(
        f'<tr data-key="{escape(m.target.target.key)}"><td>{escape(m.target.target.name)}</td>'
        f'<td class=num data-stat="pid">{m.target.target.pid}</td>'
        f'<td class=num data-stat="peak" data-bytes="{bytes_attr(m.peak)}">'
        f"{human_bytes(m.peak)}</td>"
        f'<td class=num data-stat="growth">{escape(growth_text(m.growth))}</td>'
        f'<td data-stat="verdict" data-leak="{int(m.leak is not None)}">'
        f"{escape(member_verdict(m))}</td></tr>"
        for m in members
    )
    return (
        f'<div class="scroll"><table class="members" data-group="{escape(label)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )
