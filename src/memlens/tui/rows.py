"""The rows of `memlens top`'s list: every target's figures, grouped, sorted, filtered.

Pure: the app takes a snapshot of the figures (`figures_of`) at each redraw (and keeps
it while paused), then `list_rows` lays the groups and their members out in the order
the sort asks, keeping only what the search matches. Groups are those of
`memlens.analysis.groups` (the label the sampler gave a target, else the one it would
give under the watch's --group-by), and a group's memory is their honest sum (PSS where
known), never RSS added up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from memlens.analysis.groups import GroupSum, group_label, groups_of, honest_sum
from memlens.analysis.leakmodel import LeakFinding
from memlens.model import Target
from memlens.outside.visible import visible
from memlens.tui.board import Board
from memlens.tui.view import state_text

# The columns one can sort by, in the order `c` cycles through them.
SORTS: tuple[str, ...] = ("rss", "growth", "leak", "name", "pid", "threads", "fds")
# Sorted largest first unless named here (names and PIDs read best A→Z, low→high).
ASCENDING = frozenset({"name", "pid"})
DEFAULT_SORT = "rss"
# The leak column's word for each verdict, and its rank when sorting by it.
LEAK_WORDS = {"leak": "LEAK", "step": "step", "plateau": "plateau", "flat": "flat"}
LEAK_RANK = {"leak": 4, "step": 3, "plateau": 2, "flat": 1}
UNJUDGED = "…"  # not judged yet: too few samples


@dataclass(frozen=True, slots=True)
class Figures:
    """One target as the list shows it; text from the process made visible already."""

    key: str
    kind: str
    name: str
    pid: int
    command: str
    group: str  # "" for a sum series: a group of its own
    running: bool
    state: str
    rss: int | None
    pss: int | None
    uss: int | None
    growth: float | None  # bytes/s over the chart's window
    verdict: str | None  # the leak detector's latest verdict (LeakFinding.verdict)
    threads: int | None
    fds: int | None

    @property
    def leak(self) -> str:
        if not self.running:
            return self.state.split(" ")[0]  # "EXITED", "UNREADABLE"
        return LEAK_WORDS.get(self.verdict or "", UNJUDGED)


@dataclass(frozen=True, slots=True)
class Row:
    """A line of the list: a target (`depth` 1 under its group), or a group."""

    key: str  # the target's key, or "group:" + the label
    depth: int
    target: Figures | None = None
    group: str = ""
    members: tuple[Figures, ...] = ()
    total: GroupSum | None = None
    growth: float | None = None
    leaking: int = 0
    threads: int | None = None
    fds: int | None = None
    expanded: bool = False
    shown: int = 0  # members under it that the search keeps

    @property
    def is_group(self) -> bool:
        return self.target is None


def figures_of(
    targets: Mapping[str, Target],
    board: Board,
    verdicts: Mapping[str, LeakFinding],
    *,
    window: float,
    group_by: str,
) -> dict[str, Figures]:
    out = {}
    for key, target in targets.items():
        reading = board.readings.get(key)
        finding = verdicts.get(key)
        group = target.group
        if not group and target.kind == "process":  # a sampler that does not label them
            group = group_label(group_by, target.name, target.cmdline, target.ppid)
        out[key] = Figures(
            key=key,
            kind=target.kind,
            name=visible(target.name),
            pid=target.pid,
            command=visible(target.cmdline),
            group=visible(group),
            running=target.state == "running",
            state=state_text(target),
            rss=None if reading is None else reading.rss,
            pss=None if reading is None else reading.pss,
            uss=None if reading is None else reading.uss,
            growth=board.growth(key, window) if target.state == "running" else None,
            verdict=None if finding is None else finding.verdict.value,
            threads=None if reading is None else reading.threads,
            fds=None if reading is None else reading.fds,
        )
    return out


def matches(figures: Figures, query: str) -> bool:
    """Whether the search `query` finds this target: part of its name, command line or
    group, or the start of its PID."""
    q = query.strip().lower()
    if not q:
        return True
    return (
        str(figures.pid).startswith(q)
        or q in figures.name.lower()
        or q in figures.command.lower()
        or q in figures.group.lower()
    )


def group_row(label: str, members: Sequence[Figures], shown: int, expanded: bool) -> Row:
    """A group's line: the honest sum of its running members' memory, their growth added
    up, how many leak, and their threads and descriptors."""
    running = [m for m in members if m.running and m.rss is not None]
    total = honest_sum([(m.rss or 0, m.pss, m.uss) for m in running])
    rates = [m.growth for m in running if m.growth is not None]
    return Row(
        key=f"group:{label}",
        depth=0,
        group=label,
        members=tuple(members),
        total=total,
        growth=sum(rates) if rates else None,
        leaking=sum(1 for m in running if m.verdict == "leak"),
        threads=_sum(m.threads for m in running),
        fds=_sum(m.fds for m in running),
        expanded=expanded,
        shown=shown,
    )


def _sum(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def sort_value(row: Row, column: str) -> tuple[bool, float | str]:
    """What a row sorts by in `column`: (unknown, value); unknown ones go last."""
    t = row.target
    if column == "name":
        return False, (row.group if t is None else t.name).lower()
    if column == "pid":
        pids = [m.pid for m in row.members] if t is None else [t.pid]
        return not pids, float(min(pids)) if pids else 0.0
    if column == "leak":
        if t is None:
            return False, 4.0 + row.leaking / 1e4 if row.leaking else 0.0
        return False, float(LEAK_RANK.get(t.verdict or "", 0) if t.running else -1)
    value: float | int | None
    if column == "rss":
        value = (row.total.total if row.total and row.total.count else None) if t is None else t.rss
    elif column == "growth":
        value = row.growth if t is None else t.growth
    elif column == "threads":
        value = row.threads if t is None else t.threads
    else:
        value = row.fds if t is None else t.fds
    return value is None, float(value or 0)


def _running(row: Row) -> bool:
    if row.target is not None:
        return row.target.running
    return any(m.running for m in row.members)


def _sorted(rows: list[Row], column: str, reverse: bool) -> list[Row]:
    """Largest first (A→Z for names and PIDs), flipped by `reverse`; unknown values
    last either way, and what has ended after what runs; ties by name then key, so the
    order holds still between ticks."""
    descending = (column not in ASCENDING) != reverse
    by_name = sorted(rows, key=lambda r: (sort_value(r, "name")[1], r.key))
    out: list[Row] = []
    for running in (True, False):
        rows_ = [r for r in by_name if _running(r) == running]
        known = [r for r in rows_ if not sort_value(r, column)[0]]
        known.sort(key=lambda r: sort_value(r, column)[1], reverse=descending)
        out += known + [r for r in rows_ if sort_value(r, column)[0]]
    return out


def list_rows(
    figures: Mapping[str, Figures],
    *,
    column: str = DEFAULT_SORT,
    reverse: bool = False,
    query: str = "",
    toggled: frozenset[str] | set[str] = frozenset(),
) -> list[Row]:
    """The list's lines: groups of two or more members (with their members under them
    when expanded) and lone targets, sorted by `column`. Groups start expanded when
    there is only one, folded otherwise; a group's label in `toggled` flips that. With a
    `query`, only matching targets are kept and their groups show them, whatever their
    fold."""
    grouped = groups_of(figures.values(), lambda f: f.group or f"\0{f.key}")
    default_open = sum(1 for members in grouped.values() if len(members) > 1) <= 1
    top: list[Row] = []
    kept: dict[str, list[Figures]] = {}
    for label, members in grouped.items():
        found = [m for m in members if matches(m, query)]
        if not found:
            continue
        if len(members) == 1:
            (only,) = members
            top.append(Row(key=only.key, depth=0, target=only))
            continue
        expanded = bool(query.strip()) or (default_open != (label in toggled))
        top.append(group_row(label, members, len(found), expanded))
        kept[label] = found
    out: list[Row] = []
    for row in _sorted(top, column, reverse):
        out.append(row)
        if row.is_group and row.expanded:
            under = [Row(key=m.key, depth=1, target=m) for m in kept[row.group]]
            out.extend(_sorted(under, column, reverse))
    return out
