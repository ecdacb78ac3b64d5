"""What a report says about its groups, in words every renderer shares: the sum and the
measure it is in, a member's verdict, and the Markdown of the groups' sections. Raw text:
each renderer escapes it where it shows it (names are the profiled processes' own)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from memlens.analysis.groups import MEASURE_TEXT
from memlens.analysis.leaktext import rate_text, verdict_word
from memlens.report.model import GroupReport, Member, Report
from memlens.units import human_bytes, utc_time

GROUP_BY_TEXT = {
    "name": "process name",
    "command": "command (the program, or the script an interpreter runs)",
    "parent": "parent process",
}
MEMBER_HEAD = ("process", "PID", "peak RSS", "RSS growth", "verdict")


def grouped_text(report: Report) -> str:
    """'Grouped by process name: 2 groups of two processes or more (30 processes).'"""
    n = len(report.groups)
    members = sum(len(g.members) for g in report.groups)
    return (
        f"Grouped by {GROUP_BY_TEXT.get(report.group_by, report.group_by)}: {n} group"
        f"{'' if n == 1 else 's'} of two processes or more ({members:,} processes). A "
        "group's sum adds each member's PSS where it was read, so that a page shared by "
        "several counts once, and its RSS elsewhere; each group says which."
    )


def title_text(g: GroupReport) -> str:
    return f"{g.label} ({len(g.members):,} processes)"


def sum_text(g: GroupReport) -> str:
    """'114.8 MB at its peak (2026-12-07 19:30:03 UTC), 109.0 MB at the end; the RSS adds
    up to 495.6 MB there (4.3 times); USS 102.4 MB'."""
    if g.peak is None or g.end is None:
        return "no samples in this period"
    text = f"{human_bytes(g.peak.total)} at its peak ({utc_time(g.peak_t)}), "
    text += f"{human_bytes(g.end.total)} at the end"
    over = g.peak.overcount
    if over is not None and over >= 1.05:
        text += f"; the RSS adds up to {human_bytes(g.peak.rss)} at the peak ({over:.1f} times)"
    if g.peak.uss is not None:
        text += f"; USS {human_bytes(g.peak.uss)}"
    return text


def measure_text(g: GroupReport) -> str:
    """The one sentence that says which measure the sum is."""
    return f"The sum is {MEASURE_TEXT.get(g.measure, g.measure)}."


def growth_text(value: float | None) -> str:
    if value is None:
        return "–"
    return ("+" if value > 0 else "") + human_bytes(value) if value else "0 B"


def member_verdict(m: Member) -> str:
    """'LEAK (high) 2.1 MB/min' when the member's leak is counted, else the detector's word."""
    if m.leak is not None:
        rate = f" {rate_text(m.leak.rate)}" if m.leak.rate is not None else ""
        return f"LEAK ({m.leak.severity}){rate}"
    f = m.target.trend
    return verdict_word(f.verdict.value)


def member_cells(m: Member) -> list[str]:
    t = m.target.target
    return [t.name, str(t.pid), human_bytes(m.peak), growth_text(m.growth), member_verdict(m)]


def groups_md(
    report: Report,
    table: Callable[..., Iterable[str]],
    inline: Callable[[str], str],
    name: Callable[[str], str],
) -> Iterable[str]:
    """The groups' part of the Markdown report: the groups' table, then one section per
    group with its members' table. `table`, `inline` and `name` are the Markdown
    renderer's own helpers (a table, memlens's phrasing, a name shown as data)."""
    if not report.groups:
        return
    yield grouped_text(report)
    yield ""
    yield from table(
        ("group", "processes", "peak sum", "at the end", "growth", "leaks"),
        (_group_row(g) for g in report.groups),
        right=range(1, 5),
    )
    for g in report.groups:
        yield ""
        yield f"### {name(title_text(g))}"
        yield ""
        yield f"- **Sum:** {inline(sum_text(g))}"
        yield f"- **Measure:** {inline(measure_text(g))}"
        yield f"- **Growth of the sum:** {growth_text(g.growth)}"
        yield f"- **Leaks:** {name(g.leak_text)}"
        yield ""
        yield from table(MEMBER_HEAD, (member_cells(m) for m in g.members), right=(1, 2, 3))


def _group_row(g: GroupReport) -> Sequence[str]:
    return [
        g.label,
        f"{len(g.members):,}",
        human_bytes(None if g.peak is None else g.peak.total),
        human_bytes(None if g.end is None else g.end.total),
        growth_text(g.growth),
        f"{g.leaking} of {len(g.members)} leak",
    ]
