"""The list of `memlens top`: one line per target or group, a header of columns, a
cursor, and only the lines that fit drawn (300 or 3,000 targets cost the same).

Columns give way when the terminal is narrow, the least needed first (a group's mean,
descriptors, threads, PID, leak, growth), so the name and the memory always show, and a
wide terminal adds the command line; the line under the list (`focus_text`) says the
rest of the row the cursor is on. Every state reads without colour: the cursor's line
starts with '>', the sorted column's title carries ▼ or ▲, a group's fold is ▾ or ▸.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from memlens.analysis.groups import MEASURE_TEXT
from memlens.analysis.leaktext import rate_text, verdict_word
from memlens.tui.rows import ASCENDING, Row
from memlens.units import human_bytes

NAME_MIN = 20  # the name column never gets narrower than this while others can go
SUM_MARK = "Σ"  # before a group's memory: a sum, of PSS (MEASURE_TEXT says which)
CURSOR = "> "


@dataclass(frozen=True, slots=True)
class Column:
    id: str
    title: str
    width: int
    right: bool = True


COLUMNS: tuple[Column, ...] = (
    Column("pid", "PID", 7),
    Column("rss", "RSS", 10),
    Column("mean", "mean", 9),
    Column("growth", "growth", 12),
    Column("leak", "leak", 7, right=False),
    Column("threads", "thr", 5),
    Column("fds", "fds", 6),
)
# Which go first when the terminal is narrow.
DROP_ORDER: tuple[str, ...] = ("mean", "fds", "threads", "pid", "leak", "growth")
COMMAND_FROM = 28  # the command line gets a column once the name has this much room


def layout(width: int) -> tuple[list[Column], int, int]:
    """The columns that fit `width`, the name's width and the command's (0: none)."""
    columns = list(COLUMNS)
    dropped: set[str] = set()

    def name_width() -> int:
        return width - len(CURSOR) - sum(c.width + 1 for c in columns)

    for column_id in DROP_ORDER:
        if name_width() >= NAME_MIN:
            break
        dropped.add(column_id)
        columns = [c for c in columns if c.id not in dropped]
    room = name_width()
    if room >= 2 * COMMAND_FROM:
        return columns, COMMAND_FROM, room - COMMAND_FROM - 1
    return columns, max(1, room), 0


def _fit(text: str, width: int, right: bool = False) -> str:
    if len(text) > width:
        text = text[: max(0, width - 1)] + "…"
    return text.rjust(width) if right else text.ljust(width)


def _growth(rate: float | None) -> str:
    if rate is None:
        return "–"
    return ("+" if rate >= 0 else "") + rate_text(rate)


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def cells(row: Row) -> dict[str, str]:
    """The text of each column of a row."""
    t = row.target
    if t is not None:
        indent = "  " * row.depth
        return {
            "name": indent + t.name,
            "command": t.command,
            "pid": str(t.pid),
            "rss": human_bytes(t.rss),
            "mean": "",
            "growth": _growth(t.growth),
            "leak": t.leak,
            "threads": _count(t.threads),
            "fds": _count(t.fds),
        }
    total = row.total
    fold = "▾" if row.expanded else "▸"
    count = len(row.members)
    size = f"{row.shown}/{count}" if row.shown != count else f"×{count}"
    return {
        "name": f"{fold} {row.group} {size}",
        "command": "",
        "pid": "",
        "rss": SUM_MARK + human_bytes(total.total) if total and total.count else "–",
        "mean": human_bytes(total.mean) if total and total.count else "–",
        "growth": _growth(row.growth),
        "leak": f"{row.leaking} LEAK" if row.leaking else "",
        "threads": _count(row.threads),
        "fds": _count(row.fds),
    }


def header_line(width: int, sort: str, reverse: bool) -> str:
    columns, name_width, command_width = layout(width)
    descending = (sort not in ASCENDING) != reverse
    arrow = "▼" if descending else "▲"

    def title(column_id: str, text: str) -> str:
        return text + arrow if column_id == sort else text

    line = " " * len(CURSOR) + _fit(title("name", "name"), name_width)
    if command_width:
        line += " " + _fit("command", command_width)
    for c in columns:
        line += " " + _fit(title(c.id, c.title), c.width, c.right)
    return line


def row_line(row: Row, width: int, *, cursor: bool) -> str:
    columns, name_width, command_width = layout(width)
    text = cells(row)
    line = (CURSOR if cursor else " " * len(CURSOR)) + _fit(text["name"], name_width)
    if command_width:
        line += " " + _fit(text["command"], command_width)
    for c in columns:
        line += " " + _fit(text[c.id], c.width, c.right)
    return line


def focus_text(row: Row | None, shown: int, total: int, query: str) -> str:
    """The line under the list: what the cursor's row is, in full, and what the search
    keeps."""
    found = f"{shown} of {total} match “{query}” · " if query else ""
    if row is None:
        return found + ("nothing matches: esc clears the search" if query else "no targets yet")
    t = row.target
    if t is not None:
        verdict = verdict_word(t.verdict) if t.verdict else "not judged yet"
        judged = f" · leak verdict {verdict}" if t.running else ""
        return f"{found}{t.name} (PID {t.pid}) {t.state}{judged} · {t.command or '–'}"
    sum_ = row.total
    if sum_ is None or not sum_.count:
        return f"{found}{row.group}: {len(row.members)} processes, none running"
    running = f"{sum_.count} running" if sum_.count != len(row.members) else ""
    parts = [
        f"{row.group}: {len(row.members)} processes" + (f" ({running})" if running else ""),
        f"{SUM_MARK} {human_bytes(sum_.total)}",
        f"mean {human_bytes(sum_.mean)}",
        f"{SUM_MARK} is {MEASURE_TEXT[sum_.measure]}",
    ]
    if sum_.measure != "rss":
        parts.append(f"RSS added up {human_bytes(sum_.rss)}")
    if sum_.uss is not None:
        parts.append(f"USS {human_bytes(sum_.uss)}")
    return found + " · ".join(parts)


class TargetList(Widget):
    """The rows given last, from the cursor's page; the app moves the cursor."""

    DEFAULT_CSS = "TargetList { height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Row] = []
        self.cursor = 0
        self.top = 0
        self.sort = "rss"
        self.reverse = False

    @property
    def current(self) -> Row | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def page(self) -> int:
        return max(1, self.size.height - 1)

    def show(self, rows: Sequence[Row], *, sort: str, reverse: bool, at: str | None) -> None:
        """New rows; the cursor stays on the row with key `at` when it is still listed,
        else on the same line number."""
        self.rows = list(rows)
        self.sort, self.reverse = sort, reverse
        keys = [r.key for r in self.rows]
        if at in keys:
            self.cursor = keys.index(at)
        self.cursor = max(0, min(self.cursor, len(self.rows) - 1))
        self._follow()
        self.refresh()

    def move(self, step: int) -> None:
        self.cursor = max(0, min(self.cursor + step, len(self.rows) - 1))
        self._follow()
        self.refresh()

    def _follow(self) -> None:
        """Scroll so the cursor's row is on screen."""
        page = self.page
        if self.cursor < self.top:
            self.top = self.cursor
        elif self.cursor >= self.top + page:
            self.top = self.cursor - page + 1
        self.top = max(0, min(self.top, max(0, len(self.rows) - page)))

    def render(self) -> RenderResult:
        width = self.size.width
        text = Text(no_wrap=True, overflow="crop")
        text.append(header_line(width, self.sort, self.reverse), style="bold underline")
        self._follow()
        for i in range(self.top, min(len(self.rows), self.top + self.page)):
            row = self.rows[i]
            style = "reverse" if i == self.cursor else ("bold" if row.is_group else None)
            leak = row.leaking if row.is_group else row.target and row.target.verdict == "leak"
            text.append("\n")
            start = len(text)
            text.append(row_line(row, width, cursor=i == self.cursor), style=style)
            if leak and i != self.cursor:
                text.stylize("red", start, len(text))
        return text
