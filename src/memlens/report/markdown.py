"""The report as Markdown: readable as plain text in a terminal, rendered in a pull
request or an issue.

The phrases that say what a figure is (`value_text`, `period_text`, the sources of the
counts) live here and the HTML report uses them too, so both read the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from memlens.analysis.explain import Change
from memlens.analysis.leakstacks import callers_text, frame_text
from memlens.analysis.leaktext import headline, rate_text, verdict_word
from memlens.model import MAP_CATEGORIES
from memlens.outside.visible import visible, visible_md
from memlens.report.grouptext import groups_md, title_text
from memlens.report.heap_compare import stack_label
from memlens.report.model import (
    Gauge,
    HeapTop,
    Leak,
    Period,
    Report,
    SystemMemory,
    TargetReport,
    Violation,
)
from memlens.units import exit_text, human_bytes, human_duration, utc_time

_TAG = re.compile(r"<(?=[A-Za-z/!?])")

LEAK_SOURCES = {
    "events": "from the leak alerts raised while it was recorded",
    "detector": "judged here by the leak detector over each process's RSS",
}
THRESHOLD_SOURCES = {
    "events": "from the threshold alerts raised while it was recorded",
    "samples": "RSS samples above the configured max_rss",
    "none": "no threshold alerts were recorded and no max_rss was configured",
}
METRICS = {
    "rss": "RSS",
    "system_memory": "system memory",
    "leak_rate": "leak rate",
    "gc_growth": "gc object growth",
}
# The machine's figures a report shows, in order: (SystemMemory field, what, unit).
SYSTEM_FIGURES = (
    ("memory_percent", "memory in use", "percent"),
    ("memory_used", "memory used", "bytes"),
    ("swap_used", "swap used", "bytes"),
    ("cpu_percent", "CPU, all cores", "percent"),
)
GAUGE_STATS = ("current", "min", "max", "average")


def value_text(value: float | None, unit: str) -> str:
    """A threshold's value in the unit it is about."""
    if value is None:
        return "–"
    if unit == "bytes":
        return human_bytes(value)
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "bytes/s":
        return rate_text(value)
    if unit == "1/s":
        return f"{value * 60.0:,.0f}/min"
    return f"{value:g}"


def period_text(period: Period) -> str:
    text = f"{utc_time(period.start)} – {utc_time(period.end)} ({human_duration(period.duration)})"
    if period.hours is not None:
        text += f", the last {period.hours:g} h of the recording"
    if period.ongoing:
        text += ", not ended (still recording, or stopped without ending it)"
    return text


def trend_text(t: TargetReport) -> str:
    """'LEAK (high) 2.1 MB/min', 'FLAT', ... for a table cell."""
    f = t.trend
    word = verdict_word(f.verdict.value)
    if f.is_leak and f.rate is not None:
        return f"{word} ({f.severity.value}) {rate_text(f.rate)}"
    return word


def count_text(change: Change | None) -> str:
    """'4 → 11 (min 4, max 11), growing' for a Change of threads or fds."""
    if change is None:
        return "not recorded"
    state = "growing" if change.grows else "steady"
    return (
        f"{change.first:.0f} → {change.last:.0f} (min {change.min:.0f}, max {change.max:.0f}), "
        f"{state}"
    )


def counted(n: int, word: str) -> str:
    """'1 leak', '3 leaks'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def system_text(s: SystemMemory) -> str:
    """'62.0% of 15.6 GB in use at the end (max 71.3%), 1 alert on it' for the summary."""
    alerts = counted(len(s.violations), "alert")
    if s.memory_percent is None:
        return f"not recorded; {alerts} on it"
    g = s.memory_percent
    return (
        f"{g.current:.1f}% of {human_bytes(s.memory_total)} in use at the end "
        f"(min {g.min:.1f}%, max {g.max:.1f}%, average {g.average:.1f}%); {alerts} on it"
    )


def gauge_texts(g: Gauge | None, unit: str) -> list[str]:
    """A Gauge's figures in GAUGE_STATS order, as text in `unit`."""
    return [value_text(None if g is None else getattr(g, name), unit) for name in GAUGE_STATS]


def totals_text(s: SystemMemory) -> str:
    """'memory 15.6 GB, swap 2.0 GB' (no swap: 'none')."""
    swap = human_bytes(s.swap_total) if s.swap_total else "none"
    return f"memory {human_bytes(s.memory_total)}, swap {swap}"


def violation_end(v: Violation) -> str:
    return utc_time(v.end) if v.end is not None else "still above at the end"


def dump_report_md(report: Report) -> bytes:
    return render_report_md(report).encode()


def render_report_md(report: Report) -> str:
    info = report.recording
    lines = [f"# memlens report: {visible_md(info.name)} (recording {info.id})", ""]
    lines.append(f"- **Host:** {visible_md(info.host)}")
    if info.command:
        lines.append(f"- **Command:** {_code(info.command)}")
    lines.append(f"- **Period:** {period_text(report.period)}")
    targets = len(report.targets)
    lines.append(
        f"- **Samples:** {report.samples:,} from {targets} target{'' if targets == 1 else 's'}"
        f", one every {info.interval:g} s"
    )
    if report.generated is not None:
        lines.append(f"- **Report made:** {utc_time(report.generated)}")
    lines += ["", "## Summary", "", *_summary(report), ""]
    lines += ["## Process memory", "", *_memory(report), ""]
    if report.maps:
        lines += ["## Where the memory lives", "", *_maps(report), ""]
    if report.heap is not None:
        lines += ["## Heap in use by stack", "", *_heap(report.heap), ""]
    lines += ["## System memory", "", *_system(report), ""]
    lines += ["## Leaks", "", *_leaks(report), ""]
    lines += ["## Threshold violations", "", *_violations(report), ""]
    lines += ["## Exits", "", *_exits(report), ""]
    lines += ["## Recommendations", "", *_recommendations(report), ""]
    return "\n".join(lines).rstrip() + "\n"


def _summary(report: Report) -> Iterable[str]:
    leaks = report.leaks
    yield (
        f"- **Leaks:** {leaks.count} ({leaks.critical} critical), "
        f"{human_bytes(leaks.total_leaked)} leaked in all; {LEAK_SOURCES[leaks.source]}"
    )
    thresholds = report.thresholds
    yield (
        f"- **Threshold violations:** {len(thresholds.items)}; "
        f"{THRESHOLD_SOURCES[thresholds.source]}"
    )
    yield f"- **System memory:** {system_text(report.system_memory)}"
    yield f"- **Exits:** {len(report.exits)}"
    for g in report.groups:
        yield f"- **{visible_md(title_text(g))}:** {visible_md(g.leak_text)}"
    for t in report.singles:
        yield f"- **{visible_md(t.label)}:** {_inline(headline(t.trend))}"


def _memory(report: Report) -> Iterable[str]:
    if not report.targets:
        yield "No samples in this period."
        return
    yield from groups_md(report, _table, _inline, visible_md)
    singles = report.singles
    if not singles:
        return
    if report.groups:
        yield ""
        yield (
            "Each process:"
            if len(singles) == len(report.targets)
            else "Processes in no group, and sums of a process tree:"
        )
        yield ""
    yield from _table(
        ("target", "samples", "current", "min", "max", "average", "p95", "trend"),
        (
            [
                t.label,
                f"{t.samples:,}",
                *(
                    human_bytes(None if t.rss is None else getattr(t.rss, name))
                    for name in ("current", "min", "max", "average", "p95")
                ),
                trend_text(t),
            ]
            for t in singles
        ),
        right=range(1, 7),
    )
    for t in singles:
        yield ""
        yield f"### {visible_md(t.label)}"
        yield ""
        yield f"- **Command line:** {_code(t.target.cmdline)}"
        yield f"- **Samples:** {t.samples:,}, {utc_time(t.start)} – {utc_time(t.end)}"
        yield f"- **Trend:** {_inline(headline(t.trend))}"
        if t.trend.is_leak:
            yield f"- **Evidence:** {_inline(t.trend.reason)}"
        for a, b in t.leak_windows:
            yield f"- **Leak window:** {utc_time(a)} – {utc_time(b)} ({human_duration(b - a)})"
        yield f"- **Threads:** {count_text(t.threads)}"
        yield f"- **File descriptors:** {count_text(t.fds)}"
        yield f"- **State:** {_inline(exit_text(t.target))}"


def _maps(report: Report) -> Iterable[str]:
    for m in report.maps:
        yield f"### {visible_md(m.name)}"
        yield ""
        yield f"- **Reading:** {_inline(m.reading)}"
        if m.cause:
            yield f"- **Over the leak:** {_inline(m.cause)}"
        if m.thread_stacks:
            yield f"- **Thread stacks:** {m.thread_stacks}"
        yield ""
        since = "over the leak" if m.window is not None else "over the period"
        yield from _table(
            ("category", "first", "last", f"grew {since}"),
            (
                [c, human_bytes(m.first[c]), human_bytes(m.last[c]), human_bytes(m.grew[c])]
                for c in MAP_CATEGORIES
            ),
            right=range(1, 4),
        )
        yield ""


def _heap(h: HeapTop) -> Iterable[str]:
    yield (
        f"The last heap profile kept of {visible_md(h.name)} (PID {h.pid}, "
        f"{utc_time(h.t)}): {human_bytes(h.inuse_bytes)} in use; its largest stacks, "
        "the allocating frame first."
    )
    yield ""
    yield from _table(
        ("in use", "stack"),
        ([human_bytes(size), stack_label(frames)] for frames, size in h.stacks),
        right=(0,),
    )


def _system(report: Report) -> Iterable[str]:
    s = report.system_memory
    yield s.note
    if s.recorded:
        yield ""
        yield f"- **Installed:** {totals_text(s)}"
        yield ""
        yield from _table(
            ("figure", *GAUGE_STATS),
            ([what, *gauge_texts(getattr(s, field), unit)] for field, what, unit in SYSTEM_FIGURES),
            right=range(1, 5),
        )
    if report.system_memory.violations:
        yield ""
        yield from _violation_table(report.system_memory.violations)


def _leaks(report: Report) -> Iterable[str]:
    leaks = report.leaks
    yield (
        f"{counted(leaks.count, 'leak')}, {leaks.critical} critical, "
        f"{human_bytes(leaks.total_leaked)} leaked in all; {LEAK_SOURCES[leaks.source]}."
    )
    if not leaks.items:
        return
    yield ""
    yield from _table(
        ("target", "severity", "since", "alerted", "until", "rate", "leaked"),
        (
            [
                leak.name,
                leak.severity,
                utc_time(leak.start),
                utc_time(leak.alerted),
                utc_time(leak.end) if leak.end is not None else "the end",
                rate_text(leak.rate) if leak.rate is not None else "–",
                human_bytes(leak.growth),
            ]
            for leak in leaks.items
        ),
        right=(5, 6),
    )
    for leak in leaks.items:
        if leak.stacks:
            yield ""
            yield from _stacks(leak)


CALLERS_WIDTH = 60  # characters of a stack's callers in a report's table


def stacks_heading(leak: Leak) -> str:
    """What the table of a leak's stacks shows, in words (raw: escape where shown)."""
    window = leak.stacks_window
    between = (
        f" between the heap profiles of {utc_time(window[0])} and {utc_time(window[1])}"
        if window is not None
        else ""
    )
    return f"Stacks whose heap in use grew while {leak.name} leaked{between}"


def _stacks(leak: Leak) -> Iterable[str]:
    yield f"{visible_md(stacks_heading(leak))}:"
    yield ""
    yield from _table(
        ("grew", "in use", "allocated in", "called from"),
        (
            [
                f"+{human_bytes(s.growth)}",
                human_bytes(s.inuse),
                frame_text(*s.top) if s.top is not None else frame_text(None, None, None),
                callers_text(s.frames, s.depth, CALLERS_WIDTH) or "–",
            ]
            for s in leak.stacks
        ),
        right=(0, 1),
    )


def _violations(report: Report) -> Iterable[str]:
    v = report.thresholds
    yield f"{counted(len(v.items), 'violation')}; {THRESHOLD_SOURCES[v.source]}."
    if v.items:
        yield ""
        yield from _violation_table(v.items)


def _violation_table(items: Sequence[Violation]) -> Iterable[str]:
    return _table(
        ("metric", "target", "from", "to", "above for", "value", "peak", "limit"),
        (
            [
                METRICS.get(v.metric, v.metric),
                v.name,
                utc_time(v.start),
                violation_end(v),
                human_duration(v.duration),
                value_text(v.value, v.unit),
                value_text(v.peak, v.unit),
                value_text(v.limit, v.unit),
            ]
            for v in items
        ),
        right=(4, 5, 6, 7),
    )


def _exits(report: Report) -> Iterable[str]:
    if not report.exits:
        yield "No target exited in this period."
        return
    yield from _table(
        ("target", "time", "state", "exit code", "reason"),
        (
            [
                e.name,
                utc_time(e.t),
                e.state,
                "–" if e.code is None else str(e.code),
                e.reason or "–",
            ]
            for e in report.exits
        ),
        right=(3,),
    )


def _recommendations(report: Report) -> Iterable[str]:
    if not report.recommendations:
        yield "None: there were no samples to judge."
        return
    for i, r in enumerate(report.recommendations, 1):
        # What was seen may name processes (the ones that leak): it is shown as data.
        about = f" ({visible_md(r.subject)})" if r.subject else ""
        yield f"{i}. **{r.title}**{about}: {visible_md(r.seen)}"
        for advice in r.advice:
            yield f"   - {_inline(advice)}"


# -- Markdown helpers ----------------------------------------------------------------------


def _table(
    head: Sequence[str], rows: Iterable[Sequence[str]], *, right: Iterable[int] = ()
) -> Iterable[str]:
    aligned = set(right)
    yield "| " + " | ".join(head) + " |"
    yield "|" + "|".join("---:" if i in aligned else "---" for i in range(len(head))) + "|"
    for row in rows:
        yield "| " + " | ".join(_cell(c) for c in row) + " |"


def _cell(text: str) -> str:
    """A table cell: names, reasons and figures alike, shown as data (memlens.outside.visible)."""
    return " ".join(visible_md(text).split())


def _inline(text: str) -> str:
    """One line of memlens's own phrasing (it may use code spans), with nothing that
    would start an HTML tag of its own; 'p<1e-12' stays readable as plain text. Names
    and command lines go through `visible_md` instead."""
    return _TAG.sub("&lt;", " ".join(visible(text).split()))


def _code(text: str) -> str:
    """A code span that holds any text, backticks included; nothing is read as Markdown
    inside one, so only the control characters need showing."""
    flat = " ".join(visible(text).split())
    fence = "`"
    while fence in flat:
        fence += "`"
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
