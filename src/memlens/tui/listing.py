"""The state of `memlens top`'s list: its sort, its search, which groups are folded, and
the figures it shows (a snapshot, held still while the screen is paused); with the
lines around the list that come from it (the header, the groups' leak line, the keys).

The app owns one and asks it for rows; keys change it. Past `LIST_FROM` targets the app
starts on the list: a row of tabs (`tab` through 300 targets) finds nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from memlens.outside.visible import visible
from memlens.tui.board import GroupLeak
from memlens.tui.rows import DEFAULT_SORT, SORTS, Figures, Row, list_rows, matches
from memlens.tui.view import interval_text, window_text

LIST_FROM = 5  # targets from which `top` opens on the list rather than one target
LIST_HELP = "q quit  enter open  ←→ fold  / search  c sort  r reverse  p pause  w window"
DETAIL_HELP = "q quit  p pause  w window  t trace  o objects  +/- interval  s save  esc list"


@dataclass
class Listing:
    column: str = DEFAULT_SORT
    reverse: bool = False
    query: str = ""
    toggled: set[str] = field(default_factory=set)
    figures: dict[str, Figures] = field(default_factory=dict)

    def rows(self) -> list[Row]:
        return list_rows(
            self.figures,
            column=self.column,
            reverse=self.reverse,
            query=self.query,
            toggled=self.toggled,
        )

    def next_sort(self) -> str:
        """Sort by the next column, in its natural direction; its name."""
        self.column = SORTS[(SORTS.index(self.column) + 1) % len(SORTS)]
        self.reverse = False
        return self.column

    def flip(self) -> None:
        self.reverse = not self.reverse

    def fold(self, group: str, expanded: bool, now: bool) -> None:
        """Show the group's members (`expanded`) or fold them, given how it is `now`."""
        if expanded != now:
            self.toggled ^= {group}

    def matched(self) -> int:
        return sum(1 for f in self.figures.values() if matches(f, self.query))


def first_match(rows: list[Row], query: str) -> str | None:
    """The key of the row a search jumps to: the target with that very PID, else the
    first target (then group) that matches."""
    q = query.strip()
    if not q:
        return None
    targets = [r for r in rows if r.target is not None]
    if q.isdigit():
        for row in targets:
            if row.target is not None and row.target.pid == int(q):
                return row.key
    return targets[0].key if targets else (rows[0].key if rows else None)


def list_header_text(
    figures: Mapping[str, Figures], *, interval: float, window: float, paused: bool
) -> str:
    """'memlens top · 300 targets · 3 groups, 1 process · every 1 s · window 1 min · LIVE'
    (or '290/300 running' once some have ended), short enough for 80 columns. Only groups
    of two or more count as groups, as the list shows them; a process alone in its group
    is a row of its own and is counted apart (not at all when nothing is grouped, where
    it would only repeat the target count)."""
    sizes = Counter(f.group or f"\0{f.key}" for f in figures.values())
    groups = sum(1 for size in sizes.values() if size > 1)
    alone = len(sizes) - groups
    running = sum(1 for f in figures.values() if f.running)
    n = len(figures)
    what = f"{n} target{'' if n == 1 else 's'}" if running == n else f"{running}/{n} running"
    if groups:
        what += f" · {groups} group{'' if groups == 1 else 's'}"
        if alone:
            what += f", {alone} process{'' if alone == 1 else 'es'}"
    mode = "PAUSED" if paused else "LIVE"
    return (
        f"memlens top · {what} · every {interval_text(interval)} · "
        f"window {window_text(window)} · {mode}"
    )


def leak_line(leaks: Mapping[str, GroupLeak]) -> str:
    """One line for the groups that leak, the one with most leaking members first:
    'LEAK 64 of 64 processes of gunicorn leak, about 3.0 MB/min each (+1 more group)'."""
    if not leaks:
        return ""
    worst = sorted(leaks.values(), key=lambda g: (-g.count, g.group))
    line = f"LEAK {visible(worst[0].text)}"
    if len(worst) > 1:
        more = len(worst) - 1
        line += f" (+{more} more group{'' if more == 1 else 's'})"
    return line
