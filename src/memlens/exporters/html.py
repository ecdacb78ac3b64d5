"""The HTML export: one file that opens offline in any browser, years from now.

Everything is inside the file: uPlot's script and style (from the vendored copy, its
licence kept in a comment), the page's own script, and the data as a JSON block. Nothing
refers to a URL, and a Content-Security-Policy allows only the page's own scripts (by
hash) and no network at all, so a command line that smuggles markup in stays text: it is
escaped where it is shown, `<` is escaped inside the JSON block, and an injected script
would not be allowed to run anyway. Series longer than 4 × `BUCKETS` points are reduced
with M4, so a day at 1 Hz stays a page of a few hundred kilobytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from memlens import __version__
from memlens.analysis import SeriesSummary, summarize
from memlens.exporters.bundle import Recording, counted
from memlens.exporters.html_page import SCRIPT, STYLE
from memlens.exporters.m4 import m4
from memlens.exporters.summary import exit_text, utc_time
from memlens.model import Target
from memlens.units import human_bytes, human_duration

BUCKETS = 1000  # M4 buckets per series: at most 4,000 points each
COLORS = ("#2f6fdf", "#e4572e", "#17a673", "#9b59b6", "#f0a202", "#1fa5c4", "#c0392b", "#6c7a89")
_BANNER = re.compile(r"^/\*!.*?\*/\s*", re.DOTALL)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def dump_html(recording: Recording) -> bytes:
    return render_html(recording).encode()


def render_html(recording: Recording) -> str:
    info = recording.info
    uplot_js, uplot_css = uplot_assets()
    data = script_json(_chart_data(recording))
    csp = page_csp((uplot_js, SCRIPT))
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
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{escape(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="memlens {escape(__version__)}">
<title>{escape(title)}</title>
<style>{uplot_css}</style>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{escape(title)}</h1>
<p class="meta">host <b>{escape(info.host)}</b> · started {utc_time(info.started)} · \
{_ended(info.ended, duration)} · one sample every {info.interval:g} s · \
{counted(recording)}{_exit_code(info.exit_code)}</p>
{_command(info.command)}
</header>
<section>
<h2>Resident memory (RSS)</h2>
<div id="chart"></div>
<p class="note">{escape(note)} Times on the chart are in this browser's time zone.</p>
</section>
<section>
<h2>Summary</h2>
{_summary_table(recording)}
</section>
<section>
<h2>Events</h2>
{_events_table(recording)}
</section>
<footer>Exported by memlens {escape(__version__)}. Charts by uPlot (MIT licence, in the \
page source).</footer>
<script type="application/json" id="memlens-data">{data}</script>
<script>{uplot_js}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


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


def _chart_data(recording: Recording) -> dict[str, Any]:
    series = []
    for index, target in enumerate(recording.targets):
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


def _summary_table(recording: Recording) -> str:
    head = (
        "<tr><th>target</th><th>command line</th><th class=num>current</th>"
        "<th class=num>min</th><th class=num>max</th><th class=num>average</th>"
        "<th class=num>p95</th><th class=num>samples</th><th>period</th><th>exit</th></tr>"
    )
    rows = []
    for index, target in enumerate(recording.targets):
        columns = recording.series[target.key]
        ts = [t for t in columns["t"] if t is not None]
        s = summarize(ts, columns["rss"])
        period = (
            f"{utc_time(ts[0])} – {utc_time(ts[-1])} ({human_duration(ts[-1] - ts[0])})"
            if ts
            else "no samples"
        )
        cells = [
            f'<td><span class="swatch" style="background:{color(index)}"></span>'
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
        rows.append(f'<tr data-key="{escape(target.key)}">{"".join(cells)}</tr>')
    if not rows:
        return "<p>No targets were recorded.</p>"
    return f'<table id="summary"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


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
    return f'<table id="events"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def bytes_attr(value: float | None) -> str:
    """Exact bytes for scripts and tests: whole numbers without a trailing '.0'."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)


def script_json(value: object) -> str:
    """JSON that cannot end its <script> block or open a comment in it."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_csp(scripts: tuple[str, ...]) -> str:
    """A policy that runs only these scripts (by hash) and fetches nothing at all: the
    page's own data is in a JSON block, its style inline."""
    return (
        "default-src 'none'; "
        f"script-src {' '.join(script_hash(s) for s in scripts)}; "
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


@cache
def uplot_assets() -> tuple[str, str]:
    """uPlot's script (its URL banner replaced by the licence text) and style."""
    folder = resources.files("memlens") / "web" / "static" / "vendor" / "uplot"
    js = folder.joinpath("uPlot.iife.min.js").read_text(encoding="utf-8")
    css = folder.joinpath("uPlot.min.css").read_text(encoding="utf-8")
    licence = folder.joinpath("LICENSE").read_text(encoding="utf-8")
    version = re.search(r"\(v(\d[\w.-]*)\)", js[:200])
    banner = f"uPlot {version.group(1) if version else ''}".strip()
    licence = licence.replace("*/", "* /").strip()
    js = f"/*! {banner}, by Leon Sorokin.\n\n{licence}\n*/\n{_BANNER.sub('', js, count=1)}"
    # The vendored copy holds neither, but a future one must not end the script element
    # early nor bring a URL into a page that promises none.
    js = re.sub(r"</(script)", r"<\\/\1", js, flags=re.IGNORECASE)
    css = re.sub(r"</(style)", r"<\\/\1", css, flags=re.IGNORECASE)
    if _URL.search(js) or _URL.search(css):
        raise RuntimeError("the vendored uPlot refers to a URL; the exported page must not")
    return js, css
