"""The report's chart as one standalone SVG: each target's RSS over time, its leak windows
shaded, its marks (leak alerts, thresholds crossed, exits, marks the program or a person
set) as labelled vertical lines, and the memory limits as dashed lines, with readable
axes. For CI artefacts and chat, where an HTML page does not show.

Standalone: no script, no stylesheet, no font or image is fetched (fonts are named as a
list of families any viewer has); every text from the recording (names, mark texts) is
made visible and escaped, so a hostile name stays text. Series longer than 4 × BUCKETS
points are drawn from their M4 reduction. Ticks carry their exact value (`data-bytes`,
`data-t`) so that a reader, a test among them, can map points back to data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from memlens.formats.grouping import FEW
from memlens.formats.html import BUCKETS, color
from memlens.formats.m4 import m4
from memlens.model import Target
from memlens.outside.visible import visible
from memlens.report.model import Figures, GroupReport, Report, TargetReport
from memlens.units import human_bytes, utc_time

WIDTH, HEIGHT = 960, 420
LEFT, RIGHT, TOP, BOTTOM = 84, 24, 44, 56  # the plot's margins
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
BAND = "#e4572e"  # the leak window's shade (drawn at 18% opacity)
MARK_COLORS = {"leak": "#c0392b", "threshold": "#f0a202", "exit": "#6c7a89", "mark": "#2c3e50"}
LIMIT_COLOR = "#c0392b"
MAX_LABEL = 60  # characters of a mark's or a legend's text
LEGEND_ROW = 18

_BYTE_STEPS = tuple(m * 1024**p for p in range(5) for m in (1, 2, 5, 10, 20, 50, 100, 200, 500))
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)
_TIME_STEPS_LONG = (43200, 86400, 172800, 604800)


@dataclass(frozen=True)
class Limit:
    """A horizontal line: a memory limit in bytes, and what it is."""

    value: float
    text: str


def report_svg(report: Report, *, limits: Sequence[Limit] = ()) -> str:
    """The chart of every target in `report` (its period), with `limits` drawn; past
    FEW processes, each group of two or more as one line, its honest sum."""
    processes = sum(1 for t in report.targets if t.target.kind == "process")
    if processes > FEW and report.groups:
        title = f"memlens: {report.recording.name} (recording {report.recording.id}), by group"
        lines = [*(_group_line(g) for g in report.groups), *report.singles]
        measure = "memory: a group's sum (PSS), a process's RSS"
        return render_svg(title, lines, limits=limits, measure=measure)
    title = f"memlens: {report.recording.name} (recording {report.recording.id}), RSS"
    return render_svg(title, report.targets, limits=limits)


def _group_line(g: GroupReport) -> TargetReport:
    """A group drawn as one series: its sum over time, the leak windows and marks of its
    members (their exits left out: 300 of them would hide the lines)."""
    first = g.members[0].target
    target = Target(
        key=f"group:{g.label}",
        kind="sum",
        pid=0,
        start_time=first.target.start_time,
        name=f"{g.label}: sum of {len(g.members):,} ({g.measure.upper()})",
        cmdline="",
        group=g.label,
    )
    known = list(g.totals)
    marks = sorted(
        (mark for m in g.members for mark in m.target.marks if mark.kind != "exit"),
        key=lambda mark: mark.t,
    )
    windows = sorted(w for m in g.members for w in m.target.leak_windows)
    return dataclasses.replace(
        first,
        target=target,
        rss=None
        if not known
        else Figures(
            known[-1],
            min(known),
            max(known),
            sum(known) / len(known),
            sorted(known)[int(0.95 * (len(known) - 1))],
        ),
        leak_windows=tuple(windows),
        marks=tuple(marks),
        times=g.times,
        rss_values=g.totals,
    )


def limits_of(max_rss: float | None, target_limits: Mapping[str, float]) -> list[Limit]:
    """The lines to draw: the settings' max_rss, and each distinct memory limit the
    recording kept for its targets (a cgroup's, a ulimit's)."""
    out = [] if max_rss is None else [Limit(float(max_rss), f"max_rss {human_bytes(max_rss)}")]
    for value in sorted(set(target_limits.values())):
        if max_rss is None or value != max_rss:
            out.append(Limit(float(value), f"memory limit {human_bytes(value)}"))
    return out


def render_svg(
    title: str,
    targets: Sequence[TargetReport],
    *,
    limits: Sequence[Limit] = (),
    measure: str = "resident memory (RSS)",
) -> str:
    series = [_points(t) for t in targets]
    times = [t for ts, _ in series for t in ts]
    values = [v for _, vs in series for v in vs if v is not None]
    t0 = min(times) if times else 0.0
    span = max(1.0, (max(times) - t0) if times else 1.0)
    top = max(values, default=0.0)
    shown_limits = [lim for lim in limits if lim.value <= max(top, 1.0) * 2]
    y_max, y_step = _nice_bytes(max([top, *(lim.value for lim in shown_limits), 1024.0]))
    x_step = _nice_time(span)
    legend_rows = len(targets) + (1 if limits else 0)
    height = HEIGHT + legend_rows * LEGEND_ROW
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / y_max * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="12" '
        f'data-t0="{t0!r}" data-span="{span!r}" data-y-max="{y_max}">',
        f"<title>{_text(title)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{_text(title)}</text>',
    ]
    # Axes: the byte grid, then the time grid, labelled.
    out.append('<g class="y-axis" fill="#444" text-anchor="end">')
    tick = 0.0
    while tick <= y_max + 0.5:
        yy = y(tick)
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{yy:.2f}" y2="{yy:.2f}" '
            'stroke="#e3e3e3"/>'
            f'<text class="tick" data-bytes="{int(tick)}" x="{LEFT - 6}" y="{yy + 4:.2f}">'
            f"{_bytes_label(tick)}</text>"
        )
        tick += y_step
    out.append("</g>")
    out.append('<g class="x-axis" fill="#444" text-anchor="middle">')
    at = 0.0
    while at <= span + 1e-9:
        xx = x(t0 + at)
        out.append(
            f'<line x1="{xx:.2f}" x2="{xx:.2f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#eeeeee"/>'
            f'<text class="tick" data-t="{at:g}" x="{xx:.2f}" y="{TOP + plot_h + 16}">'
            f"{_time_label(at)}</text>"
        )
        at += x_step
    out.append("</g>")
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>'
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h + 36}" text-anchor="middle" '
        f'fill="#444">time since {utc_time(t0) if times else "the start"}</text>'
        f'<text transform="translate(16 {TOP + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle" fill="#444">{_text(measure)}</text>'
    )
    # Leak windows under the lines.
    for target in targets:
        for a, b in target.leak_windows:
            xa, xb = x(max(a, t0)), x(min(b, t0 + span))
            out.append(
                f'<rect class="leak-window" data-key="{_attr(target.target.key)}" '
                f'x="{xa:.2f}" y="{TOP}" width="{max(1.0, xb - xa):.2f}" height="{plot_h}" '
                f'fill="{BAND}" fill-opacity="0.18"><title>leak {_text(target.label)}</title>'
                "</rect>"
            )
    # The limits.
    for limit in shown_limits:
        yy = y(limit.value)
        out.append(
            f'<g class="limit" data-bytes="{limit.value!r}"><line x1="{LEFT}" '
            f'x2="{WIDTH - RIGHT}" y1="{yy:.2f}" y2="{yy:.2f}" stroke="{LIMIT_COLOR}" '
            'stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - RIGHT - 4}" y="{yy - 4:.2f}" text-anchor="end" '
            f'fill="{LIMIT_COLOR}">{_text(limit.text)}</text></g>'
        )
    # The series.
    for index, (target, (ts, vs)) in enumerate(zip(targets, series, strict=True)):
        paint = color(index)
        out.append(
            f'<g class="series" data-key="{_attr(target.target.key)}" '
            f'data-label="{_attr(target.label)}" stroke="{paint}" fill="none" '
            'stroke-width="1.6" stroke-linejoin="round">'
        )
        for run in _runs(ts, vs):
            points = " ".join(f"{x(t):.2f},{y(v):.2f}" for t, v in run)
            if len(run) == 1:
                (t, v) = run[0]
                out.append(f'<circle cx="{x(t):.2f}" cy="{y(v):.2f}" r="1.5" fill="{paint}"/>')
            out.append(f'<polyline points="{points}"/>')
        out.append("</g>")
    # Marks over the lines: a vertical line, its text beside it at the top (on four
    # rows in turn, so marks close in time do not write over each other; left of the
    # line in the right part of the chart).
    marks = sorted(
        (m for t in targets for m in t.marks if t0 <= m.t <= t0 + span), key=lambda m: m.t
    )
    for n, mark in enumerate(marks):
        xx = x(mark.t)
        paint = MARK_COLORS.get(mark.kind, MARK_COLORS["mark"])
        text = _short(mark.text or mark.kind)
        right = xx > LEFT + plot_w * 0.6
        out.append(
            f'<g class="mark" data-kind="{_attr(mark.kind)}" data-t="{mark.t!r}">'
            f'<line x1="{xx:.2f}" x2="{xx:.2f}" y1="{TOP}" y2="{TOP + plot_h}" '
            f'stroke="{paint}" stroke-width="1.2"/>'
            f'<text x="{xx - 3 if right else xx + 3:.2f}" y="{TOP + 12 + 13 * (n % 4)}" '
            f'fill="{paint}" font-size="11" text-anchor="{"end" if right else "start"}">'
            f"{_text(text)}</text></g>"
        )
    # The legend under the time axis.
    row = HEIGHT
    for index, target in enumerate(targets):
        peak = target.rss.max if target.rss is not None else None
        text = f"{target.label}: peak {human_bytes(peak)}"
        out.append(
            f'<g class="legend"><rect x="{LEFT}" y="{row - 10}" width="12" height="4" '
            f'fill="{color(index)}"/><text x="{LEFT + 18}" y="{row - 5}">{_text(_short(text))}'
            "</text></g>"
        )
        row += LEGEND_ROW
    if limits:
        words = ", ".join(
            lim.text + ("" if lim in shown_limits else " (off the chart)") for lim in limits
        )
        out.append(f'<text x="{LEFT}" y="{row - 5}" fill="{LIMIT_COLOR}">{_text(words)}</text>')
    if not times:
        out.append(
            f'<text x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}" '
            'text-anchor="middle" fill="#888">no samples</text>'
        )
    out.append("</svg>\n")
    return "\n".join(out)


def svg_to_png(svg: str) -> bytes:
    """The SVG rendered by CairoSVG (the `png` extra), at twice its size for sharp text."""
    try:
        import cairosvg
    except ImportError:
        from memlens.errors import UsageError

        raise UsageError(
            "PNG charts need CairoSVG: pip install 'memlens[png]' (and the cairo library, "
            "libcairo2 on Debian)"
        ) from None
    png = cairosvg.svg2png(bytestring=svg.encode(), scale=2.0)
    assert isinstance(png, bytes)
    return png


def _points(target: TargetReport) -> tuple[list[float], list[float | None]]:
    ts, vs, _ = m4(list(target.times), list(target.rss_values), BUCKETS)
    return list(ts), [None if v is None else float(v) for v in vs]


def _runs(ts: Sequence[float], vs: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    """The series split at its unknown values: a gap is no line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in zip(ts, vs, strict=True):
        if v is None or not math.isfinite(v):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((t, v))
    return [r for r in runs if r]


def _nice_bytes(top: float) -> tuple[float, float]:
    """(the axis' top, its step): 4 to 8 steps of 1, 2 or 5 × a power of 1024 × 10^k."""
    for step in _BYTE_STEPS:
        if top / step <= 8:
            return math.ceil(top / step) * step or step, step
    step = _BYTE_STEPS[-1]
    while top / step > 8:
        step *= 2
    return math.ceil(top / step) * step, step


def _nice_time(span: float) -> float:
    for step in (*_TIME_STEPS, *_TIME_STEPS_LONG):
        if span / step <= 10:
            return float(step)
    return float(math.ceil(span / 10 / 86400) * 86400)


def _bytes_label(value: float) -> str:
    if value == 0:
        return "0"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:g} B"


def _time_label(seconds: float) -> str:
    s = round(seconds)
    if s < 60 or s % 60:
        return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"
    if s < 3600 or s % 3600:
        return f"{s // 60} min" if s < 3600 else f"{s // 3600} h {s % 3600 // 60} min"
    if s < 86400 or s % 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _text(text: str) -> str:
    return escape(visible(text), quote=False)


def _attr(text: str) -> str:
    return escape(visible(text), quote=True)
