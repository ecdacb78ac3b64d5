"""A tracker export as one HTML page that opens offline: the figures, the tracked memory
over time, the machine's memory (and GPUs') when the system was monitored, the hotspots,
the threads and the latest events.

Built as the recording's HTML export is (`memlens.formats.page`: uPlot inlined, the data
in a JSON block with `<`, `>` and `&` escaped, a Content-Security-Policy that runs only
the page's own scripts by hash and fetches nothing), every name escaped where it is
shown (a tracked name is the program's own text, and a subscript's key can hold
anything). Long series are drawn from their M4 reduction; the tables use every event.
"""

from __future__ import annotations

from html import escape
from typing import Any

from memlens._version import __version__
from memlens.formats.html import BUCKETS, bytes_attr
from memlens.formats.m4 import m4
from memlens.formats.page import asset, render_page
from memlens.units import human_bytes, human_duration, utc_time

HOTSPOT_ROWS = 50
EVENT_ROWS = 200

_COLORS = ("#2f6fdf", "#e4572e", "#17a673", "#9b59b6", "#f0a202", "#1fa5c4")


def render_tracker_html(document: dict[str, Any]) -> str:
    summary = document["summary"]
    data = {"memory": _memory_chart(document), "system": _system_chart(document)}
    title = "memlens tracker"
    rate = document["sampling"]["rate"]
    system_section = (
        '<section>\n<h2>System memory</h2>\n<div id="system-chart" class="chart"></div>\n'
        '<p class="note">Memory in use on the machine (total less available), read every '
        "interval by the tracker's system monitor; GPU memory per device where NVML "
        "answered.</p>\n</section>"
        if document["system"]
        else ""
    )
    body = f"""<header>
<h1>{title}</h1>
<p class="meta">started {utc_time(document["started"])} · exported \
{utc_time(document["exported"])} ({human_duration(summary["duration_s"])}) · \
{rate:.0%} of track calls recorded ({summary["track_calls"]:,} calls)</p>
</header>
<section>
<h2>Figures</h2>
{_cards(summary)}
<p class="note">{escape(_notes(summary))}</p>
</section>
<section>
<h2>Tracked memory</h2>
<div id="memory-chart" class="chart"></div>
<p class="note">The deep size of the tracked objects not seen to end, after each event. \
Times on the charts are in this browser's time zone.</p>
</section>
{system_section}
<section>
<h2>Hotspots</h2>
{_hotspots(document["hotspots"])}
</section>
<section>
<h2>Threads</h2>
{_threads(document["threads"])}
</section>
<section>
<h2>Latest events</h2>
{_events(document["events"])}
</section>
<footer>Exported by memlens {escape(__version__)}. Charts by uPlot (MIT licence, in the \
page source).</footer>"""
    return render_page(
        title=title, body=body, data=data, style=asset("tracker.css"), script=asset("tracker.js")
    )


def _memory_chart(document: dict[str, Any]) -> dict[str, Any]:
    events = document["events"]
    t, values, _ = m4([e["t"] for e in events], [e["current_bytes"] for e in events], BUCKETS)
    return {
        "t": [round(x, 6) for x in t],
        "lines": [{"label": "tracked", "color": _COLORS[0], "values": values, "stepped": True}],
    }


def _system_chart(document: dict[str, Any]) -> dict[str, Any] | None:
    readings = document["system"]
    if not readings:
        return None
    readings = sorted(readings, key=lambda r: r["t"])
    ts = [r["t"] for r in readings]
    used = [r["mem_used"] for r in readings]
    devices = sorted({g["index"] for r in readings for g in r["gpus"]})
    if not devices:
        t, reduced, _ = m4(ts, used, BUCKETS)
        lines = [{"label": "memory used", "color": _COLORS[1], "values": reduced}]
        return {"t": [round(x, 3) for x in t], "lines": lines}
    # With GPUs every reading is drawn (the lines share their times); GPU monitoring is
    # for runs of minutes, and the snapshot window is ten minutes at most.
    lines = [{"label": "memory used", "color": _COLORS[1], "values": used}]
    for n, index in enumerate(devices):
        values = [
            next((g["memory_used"] for g in r["gpus"] if g["index"] == index), None)
            for r in readings
        ]
        color = _COLORS[(2 + n) % len(_COLORS)]
        lines.append({"label": f"GPU {index} memory used", "color": color, "values": values})
    return {"t": [round(x, 3) for x in ts], "lines": lines}


def _cards(summary: dict[str, Any]) -> str:
    cards = [
        ("allocations", f"{summary['total_allocations']:,}", "total_allocations"),
        ("deallocations", f"{summary['total_deallocations']:,}", "total_deallocations"),
        ("active", f"{summary['active_allocations']:,}", "active_allocations"),
        ("current", human_bytes(summary["current_memory_bytes"]), "current_memory_bytes"),
        ("peak", human_bytes(summary["peak_memory_bytes"]), "peak_memory_bytes"),
        ("untracked lifetime", f"{summary['untracked_lifetime']:,}", "untracked_lifetime"),
        ("allocations / s", f"{summary['allocation_rate']:.1f}", "allocation_rate"),
        ("deallocations / s", f"{summary['deallocation_rate']:.1f}", "deallocation_rate"),
    ]
    items = "".join(
        f'<div class="card" data-stat="{key}" data-value="{escape(str(summary[key]))}">'
        f"{label}<b>{escape(text)}</b></div>"
        for label, text, key in cards
    )
    return f'<div class="cards" id="figures">{items}</div>'


def _notes(summary: dict[str, Any]) -> str:
    notes = []
    if summary["untracked_lifetime"]:
        notes.append(
            f"{summary['untracked_lifetime']:,} active allocations "
            f"({human_bytes(summary['untracked_lifetime_bytes'])}) are of objects whose end "
            "cannot be observed (no weak references: list, dict, tuple, str...), so current "
            "memory is an upper bound."
        )
    if summary["unnamed"]:
        notes.append(f"{summary['unnamed']:,} recorded calls could not name their argument.")
    if summary["truncated_sizes"]:
        notes.append(
            f"{summary['truncated_sizes']:,} deep sizes stopped at the node limit (lower bounds)."
        )
    if summary["events_dropped"]:
        notes.append(f"The oldest {summary['events_dropped']:,} events were not kept.")
    return " ".join(notes)


def _hotspots(hotspots: list[dict[str, Any]]) -> str:
    if not hotspots:
        return "<p>Nothing was tracked.</p>"
    head = (
        "<tr><th>name</th><th>type</th><th>location</th><th class=num>allocations</th>"
        "<th class=num>total</th><th class=num>average</th></tr>"
    )
    rows = "".join(
        f"<tr><td><code>{escape(h['var_name'])}</code></td><td>{escape(h['type_name'])}</td>"
        f"<td><code>{escape(h['location'])}</code></td>"
        f'<td class=num data-stat="count">{h["allocation_count"]:,}</td>'
        f'<td class=num data-bytes="{bytes_attr(h["total_size"])}">'
        f"{human_bytes(h['total_size'])}</td>"
        f"<td class=num>{human_bytes(h['total_size'] / max(h['allocation_count'], 1))}</td></tr>"
        for h in hotspots[:HOTSPOT_ROWS]
    )
    more = (
        f'<p class="note">The {HOTSPOT_ROWS} largest of {len(hotspots):,}.</p>'
        if len(hotspots) > HOTSPOT_ROWS
        else ""
    )
    return f'<table id="hotspots"><thead>{head}</thead><tbody>{rows}</tbody></table>{more}'


def _threads(threads: list[dict[str, Any]]) -> str:
    if not threads:
        return "<p>No thread called track.</p>"
    head = (
        "<tr><th>thread</th><th class=num>track calls</th><th class=num>allocations</th>"
        "<th class=num>deallocations</th><th class=num>tracked</th><th class=num>current</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{escape(t['thread_name'])} <code>{t['thread_id']}</code></td>"
        f"<td class=num>{t['track_calls']:,}</td><td class=num>{t['allocations']:,}</td>"
        f"<td class=num>{t['deallocations']:,}</td>"
        f"<td class=num>{human_bytes(t['bytes_tracked'])}</td>"
        f"<td class=num>{human_bytes(t['current_bytes'])}</td></tr>"
        for t in threads
    )
    return f'<table id="threads"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _events(events: list[dict[str, Any]]) -> str:
    if not events:
        return "<p>No events.</p>"
    head = (
        "<tr><th>time</th><th>event</th><th>name</th><th>type</th><th class=num>size</th>"
        "<th>location</th><th>thread</th></tr>"
    )
    shown = events[-EVENT_ROWS:]
    rows = "".join(
        f'<tr data-id="{e["id"]}"><td>{utc_time(e["t"])}</td><td>{e["kind"]}</td>'
        f'<td class="{"" if e["name_captured"] else "unnamed"}" '
        f'title="{escape(e["name_note"] or "")}"><code>{escape(e["name"])}</code></td>'
        f"<td>{escape(e['type_name'])}</td><td class=num>{human_bytes(e['size'])}</td>"
        f"<td><code>{escape(e['file'])}:{e['line']}</code></td>"
        f"<td>{escape(e['thread_name'])}</td></tr>"
        for e in reversed(shown)
    )
    more = (
        f'<p class="note">The latest {EVENT_ROWS} of {len(events):,} events, newest first.</p>'
        if len(events) > EVENT_ROWS
        else ""
    )
    return f'<table id="events"><thead>{head}</thead><tbody>{rows}</tbody></table>{more}'
