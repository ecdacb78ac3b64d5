"""The pieces of the terminal screen: a memory chart drawn with block characters, and
the lines of figures, verdict and Python details around it.

Every state reads without colour (NO_COLOR=1, a monochrome terminal, a pasted screen):
RSS and the traced heap are different glyphs, states are words (EXITED, PAUSED, LEAK),
and the selected target is marked with brackets. Colour only repeats what the text says.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from memlens.analysis.leaktext import headline, rate_text
from memlens.analysis.stats import SeriesSummary
from memlens.model import MAP_CATEGORIES
from memlens.outside.visible import visible
from memlens.tui.stacks import stack_lines
from memlens.tui.view import TargetView, interval_text, window_text
from memlens.units import human_bytes, human_duration

RSS_GLYPH = "█"
HEAP_GLYPH = "▒"
EIGHTHS = " ▁▂▃▄▅▆▇█"
LABEL_WIDTH = 9  # "1023.9 MB"
MB = 1024.0 * 1024.0
RSS_STYLE = "bold cyan"
HEAP_STYLE = "yellow"
MARK_GLYPH = "┊"  # a mark's column, where nothing else is drawn
MARK_TICK = "▲"  # under it, on the time axis
MARK_STYLE = "bold magenta"


@dataclass(frozen=True)
class Tab:
    short: str
    rss: float | None
    state: str
    selected: bool


# -- the chart ----------------------------------------------------------------------------


def chart_lines(
    view: TargetView, width: int, height: int, *, paused: bool = False
) -> list[list[tuple[str, str]]]:
    """The chart as rows of (text, style) runs: a y axis of sizes, RSS as a filled area
    (eighth blocks at its top edge), the traced heap as a shaded area inside it, and an x
    axis naming the window. Each column shows the largest value of its slice of time,
    so a one-sample spike stays visible however long the window."""
    plot_width = max(1, width - LABEL_WIDTH - 1)
    rows = max(1, height - 1)
    marked = _mark_columns(view, plot_width)
    rss = _columns(view.times, view.rss, view.start, view.end, plot_width)
    heap = _columns(view.times, view.heap, view.start, view.end, plot_width)
    known = [v for v in (*rss, *heap) if v is not None]
    lines: list[list[tuple[str, str]]] = []
    if not known:
        empty = "waiting for samples…" if view.running else "no samples in this window"
        for r in range(rows):
            text = empty if r == rows // 2 else ""
            lines.append([(" " * LABEL_WIDTH + "│", ""), (text.center(plot_width), "")])
    else:
        lo, hi = _scale(min(known), max(known))
        rss_e = [_eighths(v, lo, hi, rows) for v in rss]
        heap_e = [_eighths(v, lo, hi, rows) for v in heap]
        for r in range(rows - 1, -1, -1):
            row = _row(r, rss_e, heap_e, marked)
            lines.append([(_axis_label(r, rows, lo, hi) + "│", ""), *row])
    left = f"-{window_text(view.end - view.start)}"
    right = "paused" if paused else "now"
    fill = max(1, plot_width - len(left) - len(right) - 2)
    axis = f"{left} {'─' * fill} {right}"
    lines.append([(" " * LABEL_WIDTH + "└", ""), *_with_ticks(axis, marked)])
    return lines


def _mark_columns(view: TargetView, n: int) -> set[int]:
    """The plot's columns that hold a mark (memlens.mark) of the window."""
    span = view.end - view.start
    if span <= 0:
        return set()
    return {min(n - 1, max(0, int((t - view.start) / span * n))) for t, _ in view.marks}


def _with_ticks(axis: str, marked: set[int]) -> list[tuple[str, str]]:
    """The time axis as runs, a tick under each marked column."""
    runs: list[tuple[str, str]] = []
    for c, ch in enumerate(axis):
        cell, style = (MARK_TICK, MARK_STYLE) if c in marked and ch == "─" else (ch, "")
        if runs and runs[-1][1] == style:
            runs[-1] = (runs[-1][0] + cell, style)
        else:
            runs.append((cell, style))
    return runs


def _columns(
    times: Sequence[float], values: Sequence[float | None], start: float, end: float, n: int
) -> list[float | None]:
    """The largest value per column of time; columns without a sample between two that
    have one carry the one before (the line goes on), outside them nothing is drawn."""
    out: list[float | None] = [None] * n
    span = end - start
    if span <= 0:
        return out
    first = last = None
    for t, v in zip(times, values, strict=True):
        if v is None:
            continue
        c = min(n - 1, max(0, int((t - start) / span * n)))
        current = out[c]
        out[c] = v if current is None else max(current, v)
        first = c if first is None else first
        last = c
    if first is None or last is None:
        return out
    for c in range(first + 1, last + 1):
        if out[c] is None:
            out[c] = out[c - 1]
    return out


def _scale(lo: float, hi: float) -> tuple[float, float]:
    """Axis limits with a margin, never below zero; a flat line sits mid-height."""
    pad = max((hi - lo) * 0.1, MB)
    return max(0.0, lo - pad), hi + pad


def _eighths(value: float | None, lo: float, hi: float, rows: int) -> int:
    if value is None:
        return 0
    e = round((value - lo) / (hi - lo) * rows * 8)
    return min(rows * 8, max(1, e))


def _row(
    r: int, rss: list[int], heap: list[int], marked: set[int] | None = None
) -> list[tuple[str, str]]:
    runs: list[tuple[str, str]] = []
    for c, (top, inner) in enumerate(zip(rss, heap, strict=True)):
        if inner >= r * 8 + 4 and top >= (r + 1) * 8:
            cell, style = HEAP_GLYPH, HEAP_STYLE
        elif top >= (r + 1) * 8:
            cell, style = RSS_GLYPH, RSS_STYLE
        elif top > r * 8:
            cell, style = EIGHTHS[top - r * 8], RSS_STYLE
        elif marked and c in marked:
            cell, style = MARK_GLYPH, MARK_STYLE
        else:
            cell, style = " ", ""
        if runs and runs[-1][1] == style:
            runs[-1] = (runs[-1][0] + cell, style)
        else:
            runs.append((cell, style))
    return runs


def _axis_label(r: int, rows: int, lo: float, hi: float) -> str:
    if r == rows - 1:
        value: float | None = hi
    elif r == 0:
        value = lo
    elif rows >= 5 and r == rows // 2:
        value = lo + (hi - lo) * (r + 0.5) / rows
    else:
        value = None
    return (human_bytes(value) if value is not None else "").rjust(LABEL_WIDTH)[-LABEL_WIDTH:]


class Chart(Widget):
    """The selected target's RSS (and traced heap) over the window, sized to the widget."""

    DEFAULT_CSS = "Chart { height: 1fr; min-height: 4; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: TargetView | None = None
        self.paused = False

    def show(self, view: TargetView | None, *, paused: bool) -> None:
        self.view = view
        self.paused = paused
        self.refresh()

    def render(self) -> RenderResult:
        if self.view is None:
            return Text("")
        lines = chart_lines(self.view, self.size.width, self.size.height, paused=self.paused)
        text = Text(no_wrap=True, overflow="crop")
        for i, runs in enumerate(lines):
            if i:
                text.append("\n")
            for chunk, style in runs:
                text.append(chunk, style=style or None)
        return text


# -- the lines around it ------------------------------------------------------------------


def header_text(
    view: TargetView | None, *, interval: float, window: float, paused: bool, note: str = ""
) -> str:
    what = f"{view.label} {view.state}" if view is not None else note or "no target yet"
    mode = "PAUSED" if paused else "LIVE"
    return (
        f"memlens top · {what} · every {interval_text(interval)} · "
        f"window {window_text(window)} · {mode}"
    )


def tabs_text(tabs: Sequence[Tab], width: int) -> Text:
    """Every target side by side: its name, its RSS now and, when not running, its state;
    the selected one in brackets (and reversed where the terminal shows styles). When
    they do not all fit, the row starts late enough for the selected one to show."""
    cells = []
    for i, tab in enumerate(tabs):
        body = f"{i + 1} {tab.short} {human_bytes(tab.rss)}"
        if tab.state != "running":
            body += f" {tab.state}"
        cells.append(f"[{body}]" if tab.selected else f" {body} ")
    selected = next((i for i, tab in enumerate(tabs) if tab.selected), 0)
    first = 0
    while first < selected and sum(len(c) + 1 for c in cells[first : selected + 1]) + 2 > width:
        first += 1
    text = Text(no_wrap=True, overflow="ellipsis")
    if first:
        text.append("… ")
    for i in range(first, len(cells)):
        if i > first:
            text.append(" ")
        text.append(cells[i], style="reverse bold" if tabs[i].selected else None)
    return text


def figures_text(view: TargetView) -> str:
    """'RSS 40.1 MB  min …  max …  trend +32.0 MB (32.0 MB/min)', last minus first over
    the window, and the same for the traced Python heap when there is one."""
    lines = [_figures(f"{RSS_GLYPH} RSS", view.rss_summary, view.last.get("rss"))]
    if view.heap_summary is not None:
        lines.append(_figures(f"{HEAP_GLYPH} heap", view.heap_summary, view.last.get("py_heap")))
    elif view.python is not None:
        lines.append(f"{HEAP_GLYPH} heap  not traced: t switches tracemalloc on")
    return "\n".join(lines)


def _figures(name: str, summary: SeriesSummary | None, now: float | int | None) -> str:
    if summary is None:
        return f"{name:<6}  –"
    parts = [
        f"{name:<6}  {human_bytes(now if now is not None else summary.last)}",
        f"min {human_bytes(summary.min)}",
        f"max {human_bytes(summary.max)}",
        f"trend {_trend(summary)}",
    ]
    return "  ".join(parts)


def _trend(summary: SeriesSummary) -> str:
    growth = summary.growth
    if summary.duration <= 0:
        return "–"
    sign = "+" if growth >= 0 else ""
    rate = growth / summary.duration
    return f"{sign}{human_bytes(growth)} ({rate_text(rate)})"


def verdict_text(view: TargetView, *, detecting: bool, min_duration: float) -> str:
    """The leak detector's latest word on the target, as the alerts would say it."""
    if not detecting:
        return "verdict  leak detection off (--no-alerts)"
    if view.finding is None:
        seen = view.rss_summary.duration if view.rss_summary is not None else 0.0
        if not view.running:
            return "verdict  none (the process ended)"
        return (
            f"verdict  the first after {human_duration(min_duration)} of samples "
            f"({human_duration(seen)} so far)"
        )
    return f"verdict  {headline(view.finding)}"


def details_text(view: TargetView, *, top_limit: int, width: int = 80) -> str:
    """The process's threads, descriptors and CPU; with the agent, Python's heap, gc
    and, where the heap profiler runs, its top stacks (memlens.tui.stacks), else the
    allocation sites that grow fastest; no line wider than `width`."""
    last = view.last
    cpu = last.get("cpu")
    lines = [
        f"threads {_count(last.get('threads'))} · fds {_count(last.get('fds'))} · "
        f"cpu {'–' if cpu is None else f'{cpu:.1f}%'} · vms {human_bytes(last.get('vms'))}"
    ]
    if view.marks:
        lines.append(marks_text(view.marks, width))
    if view.maps is not None:
        lines.append(where_text(view.maps, width))
    python = view.python
    if python is None:
        lines.append("Python  no agent in this process")
        return "\n".join(lines)
    frames = python.get("frames") or 0
    tracing = (
        f"tracemalloc ON ({frames} frame{'' if frames == 1 else 's'})"
        if python.get("tracing")
        else "tracemalloc OFF"
    )
    lines.append(f"Python {python.get('python') or '?'} agent · {tracing}")
    lines.append(
        f"gc {_count(last.get('gc_collections'))} collections · "
        f"{_count(last.get('gc_uncollectable'))} uncollectable"
    )
    blocks = f"blocks {_count(last.get('py_blocks'))}"
    pauses = view.gc
    if pauses and pauses.get("count"):
        longest = float(pauses.get("max_s") or 0) * 1e3
        blocks += f" · gc pauses {pauses['count']}, max {longest:.1f} ms"
    lines.append(blocks)
    if view.objects is not None:
        lines.append(objects_text(view.objects, width))
    stacks = stack_lines(view.heap_stacks, limit=top_limit, width=width)
    lines.extend(stacks or _top_sites(view, top_limit))
    return "\n".join(lines)


def objects_text(objects: dict[str, Any], width: int) -> str:
    """'objects  since 12:04:31: +1,204 app.Order · +310 dict · new Foo (2,048)': the
    types whose counts grew most since the pane's first count (the agent's `objects`,
    every 30 s while shown); the first count names the most numerous instead."""
    types = objects.get("types") or []
    if objects.get("first"):
        parts = [f"{visible(str(t['type']))} {_count(t['count'])}" for t in types]
        line = "objects  most numerous: " + (" · ".join(parts) or "none")
        line += " (growth from the next count)"
    else:
        parts = []
        for t in types:
            name = visible(str(t["type"]))
            growth = t.get("growth")
            parts.append(
                f"new {name} ({_count(t['count'])})" if growth is None else f"+{growth:,} {name}"
            )
        since = time.strftime("%H:%M:%S", time.localtime(float(objects.get("since") or 0)))
        line = f"objects  since {since}: " + (" · ".join(parts) or "no type grew")
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def marks_text(marks: Sequence[tuple[float, str]], width: int) -> str:
    """'marks  ▲ 12:04:31 batch 2 starts · ▲ 12:05:02 phase 3': the window's marks, the
    newest last, their text made visible (it is the program's); cut to `width`."""
    parts = [
        f"{MARK_TICK} {time.strftime('%H:%M:%S', time.localtime(t))} {visible(text)}"
        for t, text in marks
    ]
    line = "marks  " + " · ".join(parts)
    if len(line) > width:
        line = "marks  … " + " · ".join(parts)[-(width - 9) :]
    return line[:width]


def where_text(reading: dict[str, Any], width: int) -> str:
    """'where  anon 40.1 MB · file 12.0 MB · heap 1.0 MB …': resident memory by category
    (docs/maps.md), largest first, from the newest reading of the memory map."""
    categories = reading.get("categories") or {}
    rss = {c: int((categories.get(c) or {}).get("rss") or 0) for c in MAP_CATEGORIES}
    parts = [f"{c} {human_bytes(v)}" for c, v in sorted(rss.items(), key=lambda kv: -kv[1]) if v]
    line = "where  " + " · ".join(parts)
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"


def _top_sites(view: TargetView, limit: int) -> list[str]:
    if not (view.python or {}).get("tracing"):
        return ["top sites: t starts tracing allocations"]
    sites = (view.top or {}).get("sites") or []
    if not sites:
        return ["top sites: waiting for the agent's first answer"]
    lines = ["top sites  growth      size  line"]
    for site in sites[:limit]:
        grown = float(site.get("size_diff_bytes") or 0)
        sign = "+" if grown >= 0 else ""
        lines.append(
            f"  {sign + human_bytes(grown):>12} {human_bytes(site.get('size_bytes')):>9}  "
            f"{_site(str(site.get('file', '?')), site.get('line'))}"
        )
    return lines


def _site(path: str, line: object) -> str:
    """The last two parts of the path: enough to find it, short enough to fit."""
    parts = path.replace("\\", "/").split("/")
    return visible(f"{'/'.join(parts[-2:])}:{line}")


def _count(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{int(value):,}"


HELP = "q quit  p pause  w window  t trace  o objects  +/- interval  s save  tab target"
