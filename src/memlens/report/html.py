"""The report as one HTML page that opens offline: the figures as tables, each target's
RSS as a chart with its leak windows shaded and its alerts marked, and the advice.

Built as the HTML export is (memlens.formats.page: uPlot inlined, the data in a JSON block,
a Content-Security-Policy that runs only the page's own scripts by hash and fetches
nothing), every name or command line escaped where it is shown. Long series are drawn
from their M4 reduction; the tables use every sample.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from memlens._version import __version__
from memlens.analysis.explain import Recommendation
from memlens.analysis.leakstacks import callers_text, frame_text
from memlens.analysis.leaktext import headline, rate_text
from memlens.formats.html import BUCKETS, bytes_attr, color
from memlens.formats.m4 import m4
from memlens.formats.page import asset, render_page
from memlens.model import MAP_CATEGORIES
from memlens.report.groups_html import group_charts, groups_html
from memlens.report.heap_compare import stack_label
from memlens.report.markdown import (
    CALLERS_WIDTH,
    GAUGE_STATS,
    LEAK_SOURCES,
    METRICS,
    SYSTEM_FIGURES,
    THRESHOLD_SOURCES,
    count_text,
    counted,
    period_text,
    stacks_heading,
    totals_text,
    trend_text,
    value_text,
    violation_end,
)
from memlens.report.model import (
    GrownStack,
    HeapTop,
    Leak,
    Report,
    SystemMemory,
    TargetReport,
    Violation,
)
from memlens.units import exit_text, human_bytes, human_duration, utc_time

_CODE = re.compile(r"`([^`]+)`")
BAND = "rgba(228, 87, 46, 0.18)"  # the leak window's shade
MARK_COLORS = {"leak": "#c0392b", "threshold": "#f0a202", "exit": "#6c7a89", "mark": "#2c3e50"}

# The colours are the script's too (in the JSON block): the style takes them from here.
ROOT_STYLE = (
    f":root {{ --band: {BAND}; --leak: {MARK_COLORS['leak']}; "
    f"--threshold: {MARK_COLORS['threshold']}; --exit: {MARK_COLORS['exit']}; }}\n"
)


def dump_report_html(report: Report) -> bytes:
    return render_report_html(report).encode()


def render_report_html(report: Report) -> str:
    info = report.recording
    title = f"memlens report: {info.name} (recording {info.id})"
    singles = report.singles
    data = {
        "band": BAND,
        "markColors": MARK_COLORS,
        "charts": _charts(singles),
        "groups": group_charts(report),
    }
    command = (
        f'<p class="meta">command <code id="command">{escape(info.command)}</code></p>'
        if info.command
        else ""
    )
    made = f" · report made {utc_time(report.generated)}" if report.generated is not None else ""
    body = f"""<header>
<h1>{escape(title)}</h1>
<p class="meta">host <b>{escape(info.host)}</b> · <span id="period">\
{escape(period_text(report.period))}</span> · <span id="samples">{report.samples:,} samples\
</span> · one every {info.interval:g} s{made}</p>
{command}
</header>
<section id="summary">
<h2>Summary</h2>
{_cards(report)}
</section>
<section id="memory">
<h2>Process memory</h2>
{groups_html(report)}
{_figures_table(singles) if singles or not report.groups else ""}
{_charts_key() if singles else ""}
{"".join(_target(t, i) for i, t in enumerate(singles))}
</section>
{_maps(report)}{_heap(report.heap)}<section id="system">
<h2>System memory</h2>
<p>{escape(report.system_memory.note)}</p>
{_system_table(report.system_memory)}
{_violation_table(report.system_memory.violations, "system-violations")}
</section>
<section id="leaks">
<h2>Leaks</h2>
{_leaks(report)}
</section>
<section id="thresholds">
<h2>Threshold violations</h2>
<p>{counted(len(report.thresholds.items), "violation")}; \
{escape(THRESHOLD_SOURCES[report.thresholds.source])}.</p>
{_violation_table(report.thresholds.items, "violations")}
</section>
<section id="exits">
<h2>Exits</h2>
{_exits(report)}
</section>
<section>
<h2>Recommendations</h2>
{_recommendations(report.recommendations)}
</section>
<footer>Made by memlens {escape(__version__)}. Charts by uPlot (MIT licence, in the page \
source).</footer>"""
    return render_page(
        title=title,
        body=body,
        data=data,
        style=ROOT_STYLE + asset("report.css"),
        script=asset("groupchart.js") + asset("report.js"),
    )


def _charts_key() -> str:
    """What the marks on a process's chart mean."""
    return (
        '<p class="note">Charts: RSS over the period<span class="key band"></span>leak window '
        '(onset to end)<span class="key leak"></span>leak alert<span class="key threshold">'
        "</span>threshold crossed (a horizontal line: the RSS limit)"
        '<span class="key exit"></span>exit. Times on the charts are in this browser\'s time '
        f"zone; series longer than {4 * BUCKETS:,} samples are drawn from their M4 "
        "reduction.</p>"
    )


def _charts(targets: Sequence[TargetReport]) -> list[dict[str, Any]]:
    out = []
    for index, t in enumerate(targets):
        ts, rss, bucketed = m4(t.times, t.rss_values, BUCKETS)
        out.append(
            {
                "key": t.target.key,
                "label": t.label,
                "color": color(index),
                "bucketed": bucketed,
                "t": [round(x, 3) for x in ts],
                "rss": rss,
                "windows": [[a, b] for a, b in t.leak_windows],
                "marks": [{"t": m.t, "kind": m.kind, "text": m.text} for m in t.marks],
                "limit": t.trend.limit,
            }
        )
    return out


def _cards(report: Report) -> str:
    leaks = report.leaks
    cards = [
        ("samples", f"{report.samples:,}", "samples", False),
        ("leaks", str(leaks.count), "leaks", leaks.count > 0),
        ("critical", str(leaks.critical), "critical", leaks.critical > 0),
        ("leaked", human_bytes(leaks.total_leaked), "leaked in all", leaks.total_leaked > 0),
        (
            "violations",
            str(len(report.thresholds.items)),
            "threshold violations",
            bool(report.thresholds.items),
        ),
        ("exits", str(len(report.exits)), "exits", False),
    ]
    html = "".join(
        f'<div class="card{" bad" if bad else ""}" data-card="{name}"><b>{escape(value)}</b>'
        f"{escape(text)}</div>"
        for name, value, text, bad in cards
    )
    return (
        f'<div class="cards">{html}</div>'
        f'<p class="note">Leaks {escape(LEAK_SOURCES[leaks.source])}.</p>'
    )


def _figures_table(targets: Sequence[TargetReport]) -> str:
    if not targets:
        return "<p>No samples in this period.</p>"
    names = ("current", "min", "max", "average", "p95")
    head = (
        "<tr><th>target</th><th class=num>samples</th>"
        + "".join(f"<th class=num>{n}</th>" for n in names)
        + "<th>trend</th></tr>"
    )
    rows = []
    for index, t in enumerate(targets):
        cells = [
            f'<td><span class="swatch" style="background:{color(index)}"></span>'
            f"{escape(t.label)}</td>",
            f'<td class=num data-stat="samples">{t.samples:,}</td>',
            *(
                f'<td class=num data-stat="{n}" data-bytes="{bytes_attr(v)}">{human_bytes(v)}</td>'
                for n, v in ((n, None if t.rss is None else getattr(t.rss, n)) for n in names)
            ),
            f'<td data-stat="trend" data-verdict="{t.trend.verdict.value}">'
            f"{escape(trend_text(t))}</td>",
        ]
        rows.append(f'<tr data-key="{escape(t.target.key)}">{"".join(cells)}</tr>')
    return f'<table id="figures"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def _target(t: TargetReport, index: int) -> str:
    f = t.trend
    items = [
        f"<li>command line <code>{escape(t.target.cmdline)}</code></li>",
        f"<li>{t.samples:,} samples, {utc_time(t.start)} – {utc_time(t.end)}</li>",
    ]
    if f.is_leak:
        items.append(f"<li>evidence: {escape(f.reason)}</li>")
    items += [
        f'<li data-window="{a!r},{b!r}">leak window {utc_time(a)} – {utc_time(b)} '
        f"({human_duration(b - a)})</li>"
        for a, b in t.leak_windows
    ]
    items += [
        f"<li>threads: {escape(count_text(t.threads))}</li>",
        f"<li>file descriptors: {escape(count_text(t.fds))}</li>",
        f"<li>state: {escape(exit_text(t.target))}</li>",
    ]
    return (
        f'<div class="target" data-key="{escape(t.target.key)}">'
        f"<h3>{escape(t.label)}</h3>"
        f'<p class="verdict" data-verdict="{f.verdict.value}">{escape(headline(f))}</p>'
        f'<div class="chart" id="chart-{index}" data-key="{escape(t.target.key)}"></div>'
        f"<ul>{''.join(items)}</ul></div>"
    )


def _maps(report: Report) -> str:
    """Where each process's memory lived; nothing for a recording made without maps."""
    if not report.maps:
        return ""
    parts = ['<section id="maps">\n<h2>Where the memory lives</h2>']
    for m in report.maps:
        since = "over the leak" if m.window is not None else "over the period"
        rows = "".join(
            f'<tr data-category="{c}"><td>{c}</td>'
            + "".join(
                f'<td class=num data-value="{v}">{escape(human_bytes(v))}</td>'
                for v in (m.first[c], m.last[c], m.grew[c])
            )
            + "</tr>"
            for c in MAP_CATEGORIES
        )
        cause = f'<p class="cause">{escape(m.cause)}</p>' if m.cause else ""
        parts.append(
            f'<h3>{escape(m.name)}</h3><p class="meta">{escape(m.reading)} · '
            f"{m.readings:,} readings</p>{cause}"
            f'<table class="maps" data-target="{escape(m.target_key)}">'
            f"{_head(('category', 'first', 'last', f'grew {since}'))}<tbody>{rows}</tbody></table>"
        )
    return "\n".join(parts) + "\n</section>\n"


def _heap(h: HeapTop | None) -> str:
    """The last kept heap profile's largest stacks; nothing without heap profiles."""
    if h is None:
        return ""
    rows = "".join(
        f'<tr><td class=num data-value="{size}">{escape(human_bytes(size))}</td>'
        f"<td><code>{escape(stack_label(frames))}</code></td></tr>"
        for frames, size in h.stacks
    )
    return (
        '<section id="heap">\n<h2>Heap in use by stack</h2>\n'
        f"<p>The last heap profile kept of {escape(h.name)} (PID {h.pid}, "
        f"{escape(utc_time(h.t))}): {escape(human_bytes(h.inuse_bytes))} in use; its "
        "largest stacks, the allocating frame first.</p>\n"
        f'<table class="heap" data-target="{escape(h.target_key)}">'
        f"{_head(('in use', 'stack'))}<tbody>{rows}</tbody></table>\n</section>\n"
    )


def _system_table(s: SystemMemory) -> str:
    """The machine's figures; each cell's number (bytes or percent) in data-value."""
    if not s.recorded:
        return ""
    rows = []
    for field, what, unit in SYSTEM_FIGURES:
        gauge = getattr(s, field)
        cells = "".join(
            f'<td class=num data-stat="{n}" data-value="{"" if v is None else repr(float(v))}">'
            f"{escape(value_text(v, unit))}</td>"
            for n, v in ((n, None if gauge is None else getattr(gauge, n)) for n in GAUGE_STATS)
        )
        rows.append(f'<tr data-figure="{field}"><td>{escape(what)}</td>{cells}</tr>')
    head = "<tr><th>figure</th>" + "".join(f"<th class=num>{n}</th>" for n in GAUGE_STATS)
    return (
        f'<p class="meta">installed: {escape(totals_text(s))} · {s.readings:,} readings</p>'
        f'<table id="system-figures"><thead>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _leaks(report: Report) -> str:
    leaks = report.leaks
    text = (
        f"<p>{counted(leaks.count, 'leak')}, {leaks.critical} critical, "
        f"{human_bytes(leaks.total_leaked)} leaked in all; "
        f"{escape(LEAK_SOURCES[leaks.source])}.</p>"
    )
    if not leaks.items:
        return text
    rows = _rows(
        [
            escape(leak.name),
            escape(leak.severity),
            utc_time(leak.start),
            utc_time(leak.alerted),
            utc_time(leak.end) if leak.end is not None else "the end",
            escape(rate_text(leak.rate)) if leak.rate is not None else "–",
            human_bytes(leak.growth),
        ]
        for leak in leaks.items
    )
    head = _head(("target", "severity", "since", "alerted", "until", "rate", "leaked"))
    stacks = "".join(_stacks(leak) for leak in leaks.items if leak.stacks)
    return f'{text}<table id="leak-table">{head}<tbody>{rows}</tbody></table>{stacks}'


def _stacks(leak: Leak) -> str:
    """The stacks a leak's alert named; every frame is the profiled process's own text."""
    rows = "".join(
        f"<tr><td class=num>+{human_bytes(s.growth)}</td>"
        f"<td class=num>{human_bytes(s.inuse)}</td>"
        f'<td class="stack-top" title="{escape(_full_stack(s), quote=True)}">'
        f"{escape(frame_text(*s.top) if s.top is not None else frame_text(None, None, None))}"
        f"</td><td>{escape(callers_text(s.frames, s.depth, CALLERS_WIDTH) or '–')}</td></tr>"
        for s in leak.stacks
    )
    head = (
        "<thead><tr><th class=num>grew</th><th class=num>in use</th><th>allocated in</th>"
        "<th>called from</th></tr></thead>"
    )
    key = escape(leak.target_key or "", quote=True)
    return (
        f'<p class="stacks-note">{escape(stacks_heading(leak))}:</p>'
        f'<table class="leak-stacks" data-key="{key}">{head}<tbody>{rows}</tbody></table>'
    )


def _full_stack(stack: GrownStack) -> str:
    """Every frame kept, the allocating one first: the cell's tooltip."""
    return "\n".join(f"{f} {p}:{n}" for f, p, n in reversed(stack.frames))


def _violation_table(items: Sequence[Violation], ident: str) -> str:
    if not items:
        return ""
    rows = _rows(
        [
            escape(METRICS.get(v.metric, v.metric)),
            escape(v.name),
            utc_time(v.start),
            escape(violation_end(v)),
            human_duration(v.duration),
            escape(value_text(v.value, v.unit)),
            escape(value_text(v.peak, v.unit)),
            escape(value_text(v.limit, v.unit)),
        ]
        for v in items
    )
    head = _head(("metric", "target", "from", "to", "above for", "value", "peak", "limit"))
    return f'<table id="{ident}">{head}<tbody>{rows}</tbody></table>'


def _exits(report: Report) -> str:
    if not report.exits:
        return "<p>No target exited in this period.</p>"
    rows = _rows(
        [
            escape(e.name),
            utc_time(e.t),
            escape(e.state),
            "–" if e.code is None else str(e.code),
            escape(e.reason or "–"),
        ]
        for e in report.exits
    )
    head = _head(("target", "time", "state", "exit code", "reason"))
    return f'<table id="exit-table">{head}<tbody>{rows}</tbody></table>'


def _recommendations(recommendations: Sequence[Recommendation]) -> str:
    if not recommendations:
        return "<p>None: there were no samples to judge.</p>"
    items = []
    for r in recommendations:
        about = f" ({escape(r.subject)})" if r.subject else ""
        advice = "".join(f"<li>{_prose(a)}</li>" for a in r.advice)
        items.append(
            f'<li data-kind="{escape(r.kind)}"><b>{escape(r.title)}</b>{about}: '
            f"{_prose(r.seen)}<ul>{advice}</ul></li>"
        )
    return f'<ol class="advice" id="recommendations">{"".join(items)}</ol>'


def _prose(text: str) -> str:
    """Escaped text whose `code spans` (the advice's commands) are shown as code."""
    return _CODE.sub(r"<code>\1</code>", escape(text))


def _head(names: Iterable[str]) -> str:
    return "<thead><tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr></thead>"


def _rows(rows: Iterable[Sequence[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
