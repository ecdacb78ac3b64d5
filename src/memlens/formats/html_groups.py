"""The HTML export of many processes: past a few, the page shows groups, as the live page
does, so 300 processes make a page a few screens tall rather than a wall.

The chart at the top draws one line per group (its honest sum) or process in no group,
the largest few in full and the rest as one band; each group then has a section with its
sum, the measure it is in and, for the largest groups, a chart of its own (the sum, the
mean per process, its top members and the others as a band). The table of every target
stays, one block per group, its members the largest peak first, in a box that scrolls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from memlens.analysis.groups import MEASURE_TEXT, GroupSum
from memlens.formats.group_chart import Series, group_chart, ranked_chart
from memlens.formats.grouping import FEW, Grouping, SumSeries, sum_at, summed
from memlens.model import Target
from memlens.store.recording import Recording
from memlens.units import human_bytes, utc_time

CHARTED_GROUPS = 6  # groups with a chart of their own; the others have their figures
OVERVIEW_LINES = 8  # lines of the chart at the top; the rest are one band


@dataclass(frozen=True)
class Section:
    """A group of two or more processes (its members the largest peak first), or one
    process or sum series on its own (`members` holds it alone, `total` its measure)."""

    label: str
    members: list[Target]
    total: SumSeries
    peak: GroupSum | None
    peak_t: float | None
    grouped: bool

    @property
    def peak_total(self) -> int:
        return 0 if self.peak is None else self.peak.total


def grouped_page(recording: Recording, grouping: Grouping) -> bool:
    """Whether the page shows groups: more than FEW processes, some of them in a group."""
    processes = sum(1 for t in recording.targets if t.kind == "process")
    return processes > FEW and bool(grouping.multi)


def sections(recording: Recording, grouping: Grouping) -> list[Section]:
    """Every group of two or more, and every other target on its own, the largest peak
    first. A member's peak is its highest RSS."""
    series = recording.series
    out = []
    multi = grouping.multi
    alone = [t for t in recording.targets if grouping.label(t) not in multi]
    for label, members in [*multi.items(), *((t.name, [t]) for t in alone)]:
        columns = [series[t.key] for t in members]
        total = summed(columns) if len(members) > 1 else _alone(series[members[0].key])
        peak_i = total.peak_index
        peak_t = None if peak_i is None else total.t[peak_i]
        ranked = sorted(members, key=lambda t: (-_peak(series[t.key]["rss"]), t.pid))
        out.append(
            Section(
                label=label if len(members) > 1 else _label(members[0]),
                members=ranked,
                total=total,
                peak=None if peak_t is None else sum_at(columns, peak_t),
                peak_t=peak_t,
                grouped=len(members) > 1,
            )
        )
    out.sort(key=lambda s: -s.peak_total)
    return out


def _alone(columns: Any) -> SumSeries:
    """A target on its own on the overview: its RSS, as every chart of one process."""
    ts, rss = columns["t"], columns["rss"]
    known = [(t, int(v)) for t, v in zip(ts, rss, strict=True) if v is not None]
    return SumSeries([t for t, _ in known], [v for _, v in known], [1] * len(known), "rss")


def _peak(rss: Sequence[float | int | None]) -> float:
    return max((v for v in rss if v is not None), default=0.0)


def _label(target: Target) -> str:
    return f"{target.name} ({target.pid})" if target.kind == "process" else target.name


def charts(
    recording: Recording, parts: list[Section], palette: Sequence[str], buckets: int
) -> dict[str, Any]:
    """The JSON block's charts: the overview and one per charted group."""
    ranked: list[Series] = [
        (f"{s.label}: sum" if s.grouped else s.label, s.total.t, s.total.total) for s in parts
    ]
    overview = ranked_chart(
        ranked, palette=palette, buckets=buckets, top=OVERVIEW_LINES, others="others"
    )
    groups = []
    for s in [s for s in parts if s.grouped][:CHARTED_GROUPS]:
        members: list[Series] = [
            (_label(t), recording.series[t.key]["t"], recording.series[t.key]["rss"])  # type: ignore[misc]
            for t in s.members
        ]
        groups.append(group_chart(s.label, s.total, members, palette=palette, buckets=buckets))
    return {"overview": overview, "groups": groups}


def groups_html(parts: list[Section]) -> str:
    """One block per group of two or more: its sum, measure and chart (the first
    CHARTED_GROUPS of them)."""
    out = []
    charted = 0
    for s in parts:
        if not s.grouped:
            continue
        chart = ""
        if charted < CHARTED_GROUPS:
            chart = f'<div class="chart group-chart" id="chart-g{charted}"></div>'
            charted += 1
        out.append(
            f'<div class="group" data-group="{escape(s.label)}">'
            f"<h3>{escape(s.label)} ({len(s.members):,} processes)</h3>"
            f'<p class="meta" data-stat="sum" data-bytes="{s.peak_total}">{escape(sum_line(s))}'
            f'</p><p class="note">The sum is {escape(MEASURE_TEXT[s.total.measure])}.</p>'
            f"{chart}</div>"
        )
    return "".join(out)


def sum_line(s: Section) -> str:
    if s.peak is None:
        return "no samples"
    text = f"sum {human_bytes(s.peak.total)} at its peak ({utc_time(s.peak_t)})"
    over = s.peak.overcount
    if over is not None and over >= 1.05:
        text += f"; the RSS adds up to {human_bytes(s.peak.rss)} there ({over:.1f} times)"
    if s.total.total:
        text += f"; {human_bytes(s.total.total[-1])} at the end"
    return text


def summary_blocks(parts: list[Section], head: str, row: Callable[[Target], str]) -> str:
    """The summary table, one body per section (a group's head row first)."""
    bodies = []
    for s in parts:
        head_row = ""
        if s.grouped:
            head_row = (
                f'<tr class="group-head"><th colspan="10">{escape(s.label)} · '
                f"{len(s.members):,} processes · {escape(sum_line(s))}</th></tr>"
            )
        rows = "".join(row(t) for t in s.members)
        group = escape(s.label) if s.grouped else ""
        bodies.append(f'<tbody data-group="{group}">{head_row}{rows}</tbody>')
    return (
        f'<div class="scroll"><table id="summary"><thead>{head}</thead>'
        f"{''.join(bodies)}</table></div>"
    )
