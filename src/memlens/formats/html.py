"""The HTML export: one file that opens offline in any browser, years from now.

Everything is inside the file (memlens.formats.page builds the shell: uPlot, the style, the
scripts, the data as a JSON block, a Content-Security-Policy that fetches nothing), so a
command line that smuggles markup in stays text. Series longer than 4 × `BUCKETS` points
are reduced with M4, so a day at 1 Hz stays a page of a few hundred kilobytes.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from memlens._version import __version__
from memlens.analysis import SeriesSummary, summarize
from memlens.analysis.groups import DEFAULT_GROUP_BY, DEFAULT_TOP
from memlens.formats.grouping import group_targets
from memlens.formats.html_groups import (
    OVERVIEW_LINES,
    Section,
    charts,
    grouped_page,
    groups_html,
    sections,
    summary_blocks,
)
from memlens.formats.m4 import m4
from memlens.formats.page import asset, render_page
from memlens.model import Target
from memlens.store.recording import Recording, counted
from memlens.units import exit_text, human_bytes, human_duration, utc_time

BUCKETS = 1000  # M4 buckets per series: at most 4,000 points each
EVENTS_FEW = 20  # more events than this scroll in a box
COLORS = ("#2f6fdf", "#e4572e", "#17a673", "#9b59b6", "#f0a202", "#1fa5c4", "#c0392b", "#6c7a89")


def dump_html(recording: Recording, *, group_by: str = DEFAULT_GROUP_BY) -> bytes:
    return render_html(recording, group_by=group_by).encode()


def render_html(recording: Recording, *, group_by: str = DEFAULT_GROUP_BY) -> str:
    info = recording.info
    grouping = group_targets(recording.targets, group_by)
    parts = sections(recording, grouping) if grouped_page(recording, grouping) else None
    title = f"memlens: {info.name} (recording {info.id})"
    duration = None if info.ended is None else info.ended - info.started
    bucketed = any(len(s["t"]) > 4 * BUCKETS for s in recording.series.values())
    note = (
        f"Series longer than {4 * BUCKETS:,} samples are drawn from their M4 reduction "
        "(first, lowest, highest and last sample of each of "
        f"{BUCKETS:,} time slices); the table below uses every sample."
        if bucketed
        else "Every sample is drawn."
    )
    body = f"""<header>
<h1>{escape(title)}</h1>
<p class="meta">host <b>{escape(info.host)}</b> · started {utc_time(info.started)} · \
{_ended(info.ended, duration)} · one sample every {info.interval:g} s · \
{counted(recording)}{_exit_code(info.exit_code)}</p>
{_command(info.command)}
</header>
<section>
<h2>{"Memory by group" if parts else "Resident memory (RSS)"}</h2>
<div id="chart"></div>
<p class="note">{escape(_chart_note(parts))}{escape(note)} Times on the chart are in this \
browser's time zone.</p>
</section>
{_groups_section(parts, grouping.by)}<section>
<h2>Summary</h2>
{_summary_table(recording, parts)}
</section>
<section>
<h2>Events</h2>
{_events_table(recording)}
</section>
<footer>Exported by memlens {escape(__version__)}. Charts by uPlot (MIT licence, in the \
page source).</footer>"""
    data = _chart_data(recording, grouped=parts is not None)
    if parts is not None:
        data.update(charts(recording, parts, COLORS, BUCKETS))
    return render_page(
        title=title,
        body=body,
        data=data,
        style="",
        script=asset("groupchart.js") + asset("export.js"),
    )


def _chart_note(parts: list[Section] | None) -> str:
    if parts is None:
        return ""
    groups = sum(1 for s in parts if s.grouped)
    alone = len(parts) - groups
    return (
        f"{groups:,} group{'' if groups == 1 else 's'}, each drawn as its sum, and "
        f"{alone:,} process{'' if alone == 1 else 'es'} in no group; the {OVERVIEW_LINES} "
        "largest are lines, the others one band from the lowest to the highest of them. "
    )


def _groups_section(parts: list[Section] | None, by: str) -> str:
    if not parts or not any(s.grouped for s in parts):
        return ""
    return (
        f'<section id="groups">\n<h2>Groups (by {escape(by)})</h2>\n'
        '<p class="note">Each chart: the group\'s sum and mean per process, its '
        f"{DEFAULT_TOP} largest members' RSS, and the others' RSS as one band.</p>\n"
        f"{groups_html(parts)}\n</section>\n"
    )


def _ended(ended: float | None, duration: float | None) -> str:
    if ended is None:
        return "not ended (still recording, or memlens stopped without ending it)"
    return f"ended {utc_time(ended)} ({human_duration(duration)})"


def _exit_code(code: int | None) -> str:
    return "" if code is None else f" · exit code {code}"


def _command(command: str | None) -> str:
    if not command:
        return ""
    return f'<p class="meta">command <code id="command">{escape(command)}</code></p>'


def _label(target: Target) -> str:
    return f"{target.name} ({target.pid})" if target.kind == "process" else target.name


def color(index: int) -> str:
    return COLORS[index % len(COLORS)]


def _chart_data(recording: Recording, grouped: bool = False) -> dict[str, Any]:
    """Every target's RSS for the chart; none when the page shows groups, whose charts
    (html_groups.charts) hold only the lines they draw."""
    series = []
    for index, target in enumerate(recording.targets):
        if grouped:
            break
        columns = recording.series[target.key]
        ts = [t for t in columns["t"] if t is not None]
        t, rss, bucketed = m4(ts, columns["rss"], BUCKETS)
        series.append(
            {
                "key": target.key,
                "label": _label(target),
                "color": color(index),
                "bucketed": bucketed,
                "t": [round(x, 3) for x in t],
                "rss": rss,
            }
        )
    return {"recording": {"id": recording.info.id, "name": recording.info.name}, "series": series}


def _summary_table(recording: Recording, parts: list[Section] | None = None) -> str:
    head = (
        "<tr><th>target</th><th>command line</th><th class=num>current</th>"
        "<th class=num>min</th><th class=num>max</th><th class=num>average</th>"
        "<th class=num>p95</th><th class=num>samples</th><th>period</th><th>exit</th></tr>"
    )
    colors = {t.key: color(i) for i, t in enumerate(recording.targets)}

    def row(target: Target) -> str:
        columns = recording.series[target.key]
        ts = [t for t in columns["t"] if t is not None]
        s = summarize(ts, columns["rss"])
        period = (
            f"{utc_time(ts[0])} – {utc_time(ts[-1])} ({human_duration(ts[-1] - ts[0])})"
            if ts
            else "no samples"
        )
        cells = [
            f'<td><span class="swatch" style="background:{colors[target.key]}"></span>'
            f"{escape(_label(target))}<br><code>{escape(target.key)}</code></td>",
            f'<td><code class="cmdline">{escape(target.cmdline)}</code></td>',
            *(
                f'<td class=num data-stat="{name}" data-bytes="{bytes_attr(value)}">'
                f"{human_bytes(value)}</td>"
                for name, value in _figures(s)
            ),
            f'<td class=num data-stat="samples">{len(ts):,}</td>',
            f'<td data-stat="period">{escape(period)}</td>',
            f'<td data-stat="exit">{escape(exit_text(target))}</td>',
        ]
        return f'<tr data-key="{escape(target.key)}">{"".join(cells)}</tr>'

    if not recording.targets:
        return "<p>No targets were recorded.</p>"
    if parts is not None:
        return summary_blocks(parts, head, row)
    rows = "".join(row(t) for t in recording.targets)
    return f'<table id="summary"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _figures(s: SeriesSummary | None) -> list[tuple[str, float | None]]:
    """RSS figures of the table: current is the last known value; all unknown when no
    sample knew the RSS."""
    names = ("current", "min", "max", "average", "p95")
    if s is None:
        return [(name, None) for name in names]
    return list(zip(names, (s.last, s.min, s.max, s.mean, s.p95), strict=True))


def _events_table(recording: Recording) -> str:
    if not recording.events:
        return "<p>No events.</p>"
    names = {t.key: _label(t) for t in recording.targets}
    rows = "".join(
        f"<tr><td>{utc_time(e.t)}</td><td>{escape(e.kind)}</td>"
        f"<td>{escape(names.get(e.target_key or '', e.target_key or '–'))}</td>"
        f"<td><code>{escape(json.dumps(e.data, sort_keys=True))}</code></td></tr>"
        for e in recording.events
    )
    head = "<tr><th>time</th><th>kind</th><th>target</th><th>details</th></tr>"
    table = f'<table id="events"><thead>{head}</thead><tbody>{rows}</tbody></table>'
    # Many events (300 processes' exits) scroll in a box rather than make the page a wall.
    return f'<div class="scroll">{table}</div>' if len(recording.events) > EVENTS_FEW else table


def bytes_attr(value: float | None) -> str:
    """Exact bytes for scripts and tests: whole numbers without a trailing '.0'."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)
