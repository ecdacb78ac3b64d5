"""A heap profile as one self-contained HTML page: the flame graph, with search and zoom,
and the top stacks, opening offline from a file.

The page draws with the dashboard's own flame graph (`web/static/js/flamegraph.js` and
`flametree.js`, inlined by memlens.formats.page with format.js and the graph's style
sheet), so the live view and the file look and behave alike. Function names and paths
come from the profiled process: the profile is copied field by field into bounded plain
values before it goes into the page's JSON block, and every name in the markup is escaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any, Protocol, TextIO

from memlens._version import __version__
from memlens.formats.page import asset, dashboard_style, module_scripts, render_page
from memlens.units import human_bytes, human_duration, utc_time

MAX_STACKS = 20_000  # as many as an agent answers
MAX_FRAMES = 128
MAX_TEXT = 4096
TABLE_STACKS = 50  # rows of the top-stacks table; the graph has every stack
NO_FRAME = "[no Python frame]"
_PATH_SEP = re.compile(r"[/\\]")
KINDS = ("inuse", "allocated", "growth")
FIGURES = ("inuse_bytes", "inuse_count", "alloc_bytes", "alloc_count")


class HeapProfileLike(Protocol):
    """The typed profile (memlens.formats.heap_profile) or anything else that gives the
    JSON form of a profile."""

    def to_dict(self) -> dict[str, Any]: ...


def write_html(profile: Mapping[str, Any] | HeapProfileLike, out: str | Path | TextIO) -> None:
    """Writes the page of `profile` (the "memlens.heap" JSON form, docs/heap.md) to a path
    or an open text file. ValueError when it is not a heap profile."""
    text = render_heap_html(profile)
    if isinstance(out, (str, Path)):
        Path(out).write_text(text, encoding="utf-8")
    else:
        out.write(text)


def render_heap_html(profile: Mapping[str, Any] | HeapProfileLike) -> str:
    raw = profile if isinstance(profile, Mapping) else profile.to_dict()
    p = clean_profile(raw)
    kind = p["kind"]
    title = f"memlens heap profile: process {p['pid']}" if p["pid"] else "memlens heap profile"
    body = f"""<header>
<h1>{escape(title)}</h1>
<p class="meta">{escape(_what(p))}</p>
<p class="meta">{escape(_when(p))}</p>
{_figures(p)}
</header>
<section>
<h2>Flame graph <span class="meta">({escape(_kind_words(kind))})</span></h2>
<div id="flame"></div>
<p class="note">Each bar is a frame, callers above callees; the bottom of each column is \
the line that allocated. Click a bar to zoom into it, search to highlight the frames that \
match. Colours follow the file.</p>
</section>
<section>
<h2>Top stacks</h2>
{_stacks_table(p)}
</section>
<footer>Written by memlens {escape(__version__)}.</footer>"""
    return render_page(
        title=title,
        body=body,
        data={"profile": p},
        style=dashboard_style("flamegraph.css") + asset("heap.css"),
        script=module_scripts("flametree.js", "flamegraph.js") + asset("heap.js"),
    )


# -- the profile, bounded ------------------------------------------------------------------


def clean_profile(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's known fields as plain, bounded values: numbers finite, strings cut
    to MAX_TEXT, at most MAX_STACKS stacks of MAX_FRAMES frames (the stacks beyond are
    counted in `truncated`). ValueError for what is no heap profile at all."""
    if not isinstance(raw, Mapping):
        raise ValueError("a heap profile is a JSON object")
    if raw.get("format", "memlens.heap") != "memlens.heap":
        raise ValueError("not a memlens heap profile (format is not memlens.heap)")
    stacks = raw.get("stacks", [])
    if not isinstance(stacks, list):
        raise ValueError("the profile's stacks are not a list")
    kind = raw.get("kind", "inuse")
    if kind not in KINDS:
        raise ValueError(f"the profile's kind is not one of {', '.join(KINDS)}")
    sampler = raw.get("sampler")
    since_mark = raw.get("since_mark")
    kept = [_stack(s) for s in stacks[:MAX_STACKS] if isinstance(s, Mapping)]
    return {
        "format": "memlens.heap",
        "version": 1,
        "kind": kind,
        "sampler": sampler if sampler in ("sampling", "tracemalloc") else None,
        "interval_bytes": _int(raw.get("interval_bytes")),
        "max_frames": _int(raw.get("max_frames")),
        "pid": _int(raw.get("pid")),
        "time": _number(raw.get("time")),
        "start": _number(raw.get("start")),
        "since": _number(raw.get("since")),
        "since_mark": _text(since_mark) if isinstance(since_mark, str) else None,
        **{name: _number(raw.get(name), signed=kind == "growth") for name in FIGURES},
        "samples": _int(raw.get("samples")),
        "stacks": kept,
        "truncated": _int(raw.get("truncated")) + max(0, len(stacks) - MAX_STACKS),
    }


def _stack(raw: Mapping[str, Any]) -> dict[str, Any]:
    frames = raw.get("frames")
    frames = frames if isinstance(frames, list) else []
    return {
        "frames": [
            {
                "function": _text(f.get("function")),
                "file": _text(f.get("file")),
                "line": _int(f.get("line")),
            }
            for f in frames[:MAX_FRAMES]
            if isinstance(f, Mapping)
        ],
        **{name: _number(raw.get(name), signed=True) for name in FIGURES},
    }


def _text(value: object) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text[:MAX_TEXT]


def _number(value: object, *, signed: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    number = float(value)
    if not math.isfinite(number):
        return 0.0
    return number if signed else max(number, 0.0)


def _int(value: object) -> int:
    return int(_number(value))


# -- the words -------------------------------------------------------------------------------


def _kind_words(kind: str) -> str:
    return {
        "inuse": "width: bytes in use",
        "allocated": "width: bytes allocated",
        "growth": "width: growth of the bytes in use",
    }[kind]


def _what(p: dict[str, Any]) -> str:
    if p["sampler"] == "tracemalloc" or p["interval_bytes"] == 0:
        sampler = "every allocation traced (tracemalloc): exact in-use bytes"
    else:
        sampler = (
            f"sampled allocations, one sample per {human_bytes(p['interval_bytes'])} "
            "allocated on average: estimates"
        )
    kind = {
        "inuse": "memory in use",
        "allocated": "memory allocated",
        "growth": "growth of memory in use",
    }[p["kind"]]
    depth = f" · stacks of up to {p['max_frames']} frames" if p["max_frames"] else ""
    return f"{kind} · {sampler}{depth}"


def _when(p: dict[str, Any]) -> str:
    taken = f"taken {utc_time(p['time'])}" if p["time"] else "time unknown"
    mark = p["since_mark"]
    window = f"since mark “{mark}”" if mark else "since the profiler started"
    if p["since"] and p["time"] >= p["since"]:
        window += f" ({utc_time(p['since'])}, {human_duration(p['time'] - p['since'])} before)"
    return f"{taken} · {window}"


def _signed(value: float, growth: bool) -> str:
    if not growth:
        return human_bytes(value)
    return ("+" if value > 0 else "−" if value < 0 else "±") + human_bytes(abs(value))


def _figures(p: dict[str, Any]) -> str:
    growth = p["kind"] == "growth"
    exact_only = p["sampler"] == "tracemalloc"
    inuse_label = "growth in use" if growth else "in use"
    alloc = (
        "not known (tracemalloc)"
        if exact_only
        else f"{human_bytes(p['alloc_bytes'])} <small>{p['alloc_count']:,.0f} blocks</small>"
    )
    listed = len(p["stacks"])
    left_out = f" <small>{p['truncated']:,} more not listed</small>" if p["truncated"] else ""
    blocks = f"<small>{p['inuse_count']:,.0f} blocks</small>"
    items = [
        ("inuse", inuse_label, f"{_signed(p['inuse_bytes'], growth)} {blocks}"),
        ("alloc", "allocated in the window", alloc),
        ("stacks", "stacks", f"{listed:,}{left_out}"),
    ]
    if not exact_only:
        items.append(("samples", "samples", f"{p['samples']:,}"))
    cells = "".join(
        f'<div data-figure="{key}"><dt>{label}</dt><dd>{value}</dd></div>'
        for key, label, value in items
    )
    return f'<dl class="figures">{cells}</dl>'


def _frame_html(frame: dict[str, Any]) -> str:
    where = f"{frame['file']}:{frame['line']}" if frame["file"] else ""
    named = frame["function"] not in ("", "?")  # tracemalloc names no function
    name = f"{escape(frame['function'])} " if named else ""
    return f'{name}<span class="where">{escape(where)}</span>'


def _graph_name(frame: dict[str, Any]) -> str:
    """The frame's name as the graph labels it (flametree.js): the function, or without
    one ("?" from tracemalloc) the file's last part and the line."""
    if frame["function"] not in ("", "?"):
        return str(frame["function"])
    if frame["file"]:
        base = _PATH_SEP.split(frame["file"])[-1]
        return f"{base}:{frame['line']}"
    return "?"


def _stacks_table(p: dict[str, Any]) -> str:
    growth = p["kind"] == "growth"
    key = "alloc_bytes" if p["kind"] == "allocated" else "inuse_bytes"
    stacks = sorted(p["stacks"], key=lambda s: s[key], reverse=True)[:TABLE_STACKS]
    if not stacks:
        return "<p>The profile holds no stacks.</p>"
    # the share of all the profile holds (its totals count the stacks it left out too);
    # for growth, of the growth of the stacks that grew
    listed_total = sum(s[key] for s in p["stacks"] if s[key] > 0)
    total = listed_total if growth else max(p[key], listed_total)
    rows = []
    for rank, stack in enumerate(stacks, 1):
        frames = stack["frames"]
        last: dict[str, Any] = frames[-1] if frames else {"function": NO_FRAME, "file": ""}
        share = f"{100 * stack[key] / total:.1f} %" if total > 0 and stack[key] > 0 else "–"
        chain = "".join(f"<li>{_frame_html(f)}</li>" for f in frames)
        summary = f"<summary>{len(frames)} frames, root first</summary>"
        details = f"<details>{summary}<ol>{chain}</ol></details>" if frames else ""
        find = escape(_graph_name(last))
        rows.append(
            f'<tr data-rank="{rank}"><td class=num>{rank}</td>'
            f'<td class=num data-bytes="{stack[key]:.0f}">{_signed(stack[key], growth)}</td>'
            f"<td class=num>{share}</td>"
            f"<td class=num>{stack[key.replace('bytes', 'count')]:,.0f}</td>"
            f'<td class="frame">{_frame_html(last)}{details}</td>'
            f'<td><button type="button" data-find="{find}">find in graph</button></td></tr>'
        )
    notes: list[str] = []
    smaller = len(p["stacks"]) - len(stacks)
    if smaller > 0:
        notes.append(f"The {smaller:,} smaller stacks are in the graph only.")
    if p["truncated"]:
        notes.append(
            f"The profile left out {p['truncated']:,} more stacks; the graph shows what they "
            "hold as one bar."
            if not growth
            else f"The profile left out {p['truncated']:,} more stacks."
        )
    note = f'<p class="note">{escape(" ".join(notes))}</p>' if notes else ""
    head = (
        "<tr><th class=num>#</th><th class=num>bytes</th><th class=num>share</th>"
        "<th class=num>blocks</th><th>allocated at</th><th></th></tr>"
    )
    return f'<table id="stacks"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>{note}'
