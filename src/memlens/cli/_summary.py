"""One-screen summaries of recorded targets, shared by `record`, `run` and `show`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from memlens.analysis import summarize
from memlens.model import Column, Target
from memlens.outside.visible import for_rich, visible
from memlens.store import RecordingInfo
from memlens.units import human_bytes, human_duration

if TYPE_CHECKING:
    # rich is imported where a table is printed: `memlens watch`, which shares this
    # command line, would otherwise carry it (about 7 MB) for as long as it runs.
    from rich.console import Console, JustifyMethod
    from rich.table import Table
    from rich.text import Text


def short_name(text: str, width: int = 60) -> str:
    """A one-line label: the first line, cut to `width` characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def shown_name(text: str, width: int = 60) -> str:
    """`short_name` for a terminal: a line break or control character in the name is
    shown as its escape (memlens.outside.visible) before the line is cut."""
    return short_name(visible(text), width)


def local_time(t: float | None) -> str:
    if t is None:
        return "–"
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


_WIDTHS = {"n": 4, "growth": 9, "state": 6, "min": 7, "max": 7, "last": 7}


def targets_table(
    targets: Sequence[Target], series_of: Callable[[str], Mapping[str, Column]]
) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(
        title="resident memory (RSS) per target",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("target", no_wrap=True, overflow="ellipsis", max_width=20)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("n", "right"),
        ("min", "right"),
        ("max", "right"),
        ("last", "right"),
        ("growth", "right"),
        ("state", "left"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True, min_width=_WIDTHS.get(name, 8))
    for target in targets:
        series = series_of(target.key)
        s = summarize(series["t"], series["rss"])  # type: ignore[arg-type]
        label: Text | str = for_rich(f"{target.name} (pid {target.pid})")
        if target.kind == "sum":
            label = f"total: pid {target.pid} + children"
        state = target.state
        if target.state == "exited":
            state = "exited" if target.exit_code is None else f"exit {target.exit_code}"
        if s is None:
            table.add_row(label, "0", "–", "–", "–", "–", state)
            continue
        growth = human_bytes(s.growth)
        table.add_row(
            label,
            str(s.count),
            human_bytes(s.min),
            human_bytes(s.max),
            human_bytes(s.last),
            growth if s.growth < 0 else f"+{growth}",
            state,
        )
    return table


def print_recording(
    console: Console,
    info: RecordingInfo,
    targets: Sequence[Target],
    series_of: Callable[[str], Mapping[str, Column]],
) -> None:
    ended = info.ended
    period = f"{local_time(info.started)} → {local_time(ended)}"
    if ended is not None:
        period += f" ({human_duration(ended - info.started)})"
    from rich.text import Text

    console.print(Text.assemble((f"recording {info.id}", "bold"), ": ", for_rich(info.name)))
    console.print(f"  period   {period}")
    console.print(
        Text(f"  interval {info.interval:g} s, {info.sample_count} samples, host ")
        + for_rich(info.host)
    )
    if info.command:
        console.print(Text("  command  ") + for_rich(info.command))
    if info.exit_code is not None:
        console.print(f"  exit     code {info.exit_code}")
    console.print(targets_table(targets, series_of))
    for target in targets:
        if target.kind == "sum":
            line = honest_total_line(series_of(target.key))
            if line is not None:
                console.print(f"  total of pid {target.pid} + children at its peak: {line}")


def honest_total_line(series: Mapping[str, Column]) -> str | None:
    """A tree's total at its peak, honest first: "1.0 GB RSS counted per process;
    218.0 MB PSS" (the PSS sum counts a shared page once; RSS where a member's PSS was
    unknown). None without samples."""
    best: tuple[float, float] | None = None
    rss_column = series["rss"]
    pss_column = series.get("pss") or [None] * len(rss_column)
    if all(p is None for p in pss_column):
        return None  # recorded before sums had PSS: the table's RSS is all there is
    for rss, pss in zip(rss_column, pss_column, strict=False):
        if rss is None:
            continue
        total = float(pss if pss is not None else rss)
        if best is None or total > best[0]:
            best = (total, float(rss))
    if best is None:
        return None
    total, rss = best
    return f"{human_bytes(rss)} RSS counted per process; {human_bytes(total)} PSS"
