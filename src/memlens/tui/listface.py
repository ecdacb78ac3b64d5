"""The list half of `memlens top`: past a few targets the app opens on a list of them
in groups (memlens.tui.listing), sorted by a column (`c` cycles it, `r` reverses it),
searched with `/` (name, PID or command: the list keeps what matches and the cursor
jumps to it), groups folded with ← and →, and `enter` opens a target in the
single-target view, from which `esc` comes back.

A base of `memlens.tui.app.TopApp`, which owns the data, the layout and the other keys.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.events import Key
from textual.widgets import Input, Static

from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.analysis.leakmodel import LeakFinding
from memlens.tui.feed import Feed
from memlens.tui.listing import LIST_FROM, Listing, first_match, leak_line, list_header_text
from memlens.tui.listview import TargetList, focus_text
from memlens.tui.rows import figures_of
from memlens.tui.view import WINDOWS, latest_rss

# The actions whose keys still act while the search box is open; every other key types
# into it (a letter typed right after `/`, before the box has the focus, included).
WHILE_SEARCHING = frozenset({"escape", "open", "move", "page", "interrupt"})


class ListFace(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "cycle(1)", "next target", priority=True),
        Binding("shift+tab", "cycle(-1)", "previous target", priority=True),
        Binding("right", "target(1)", "next target", priority=True),
        Binding("left", "target(-1)", "previous target", priority=True),
        Binding("enter", "open", "open", show=False),
        Binding("escape", "escape", "back", show=False),
        Binding("l", "toggle_list", "list", show=False),
        Binding("slash", "search", "search", show=False),
        Binding("c", "sort", "sort", show=False),
        Binding("r", "reverse", "reverse", show=False),
        Binding("up,k", "move(-1)", "up", show=False),
        Binding("down,j", "move(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "move(-1000000000)", "first", show=False),
        Binding("end", "move(1000000000)", "last", show=False),
    ]

    def __init__(self, *, group_by: str = DEFAULT_GROUP_BY) -> None:
        super().__init__()
        self.feed: Feed | None = None
        self.selected: str | None = None
        self.paused = False
        self.window = WINDOWS[1]
        self.group_by = group_by
        self.listing = Listing()
        self.list_chosen: bool | None = None  # None: the list from LIST_FROM targets on
        self.searching = False
        self._verdicts: dict[str, LeakFinding] = {}

    # What the app draws and says (memlens.tui.app.TopApp).

    def redraw(self) -> None:
        raise NotImplementedError

    def say(self, line: str) -> None:
        raise NotImplementedError

    def action_target(self, step: int) -> None:
        raise NotImplementedError

    @property
    def list_offered(self) -> bool:
        """Whether there are enough targets for the list to be the way in."""
        return self.feed is not None and len(self.feed.live.targets) >= LIST_FROM

    @property
    def showing_list(self) -> bool:
        if self.list_chosen is not None:
            return self.list_chosen
        return self.list_offered

    def _rss_now(self, feed: Feed, key: str, end: float) -> float | None:
        """A tab's RSS: the newest reading while live (the board has it without reading
        the history), as of `end` while paused."""
        if self.paused:
            return latest_rss(feed.live, key, end)
        reading = feed.board.readings.get(key)
        return None if reading is None else float(reading.rss)

    def _draw_leaks(self, feed: Feed) -> None:
        line = leak_line(feed.board.group_leaks)
        self.screen.set_class(bool(line), "-leaks")
        self.query_one("#leaks", Static).update(line)

    def _draw_list(self, feed: Feed, end: float, *, at: str | None = None) -> None:
        """The list from the figures as they are now (as they were, while paused); the
        cursor stays on its row, or goes to `at`."""
        listing = self.listing
        if not self.paused or not listing.figures:
            listing.figures = figures_of(
                feed.live.targets,
                feed.board,
                self._verdicts,
                window=self.window,
                group_by=self.group_by,
            )
        self.query_one("#header", Static).update(
            list_header_text(
                listing.figures, interval=feed.interval, window=self.window, paused=self.paused
            )
        )
        table = self.query_one(TargetList)
        rows = listing.rows()
        current = table.current
        table.show(
            rows,
            sort=listing.column,
            reverse=listing.reverse,
            at=at or (current.key if current is not None else None),
        )
        self.query_one("#focus", Static).update(
            focus_text(table.current, listing.matched(), len(listing.figures), listing.query)
        )

    def _relist(self, *, at: str | None = None) -> None:
        if self.feed is not None and self.feed.last_time is not None and self.showing_list:
            self._draw_list(self.feed, self.feed.last_time, at=at)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While the search box is open, its keys are the box's."""
        return not self.searching or action in WHILE_SEARCHING

    def action_open(self) -> None:
        """On a group: fold or unfold it; on a target: its own view."""
        if self.searching:  # typed before the box had the focus: the box's enter
            self._end_search(keep=True)
            return
        if not self.showing_list:
            return
        row = self.query_one(TargetList).current
        if row is None:
            return
        if row.is_group:
            self.listing.fold(row.group, not row.expanded, row.expanded)
            self._relist()
            return
        self.selected = row.key
        self.list_chosen = False
        self.redraw()

    def action_escape(self) -> None:
        """Close the search (clearing it), or go back to the list."""
        if self.searching or (self.showing_list and self.listing.query):
            self._end_search(keep=False)
        elif not self.showing_list and self.list_offered:
            self.list_chosen = True
            self.redraw()

    def action_toggle_list(self) -> None:
        if self.showing_list:
            self.action_open()
        else:
            self.list_chosen = True
            self.redraw()

    def action_search(self) -> None:
        if self.feed is None:
            return
        if not self.showing_list:
            self.list_chosen = True
            self.redraw()
        self.searching = True
        self.screen.set_class(True, "-searching")
        box = self.query_one("#search", Input)
        box.value = self.listing.query
        box.focus()

    def on_key(self, event: Key) -> None:
        """Keys typed right after `/`, before the box has taken the focus, go into it:
        "/4242" typed fast (or pasted) searches for 4242."""
        box = self.query_one("#search", Input)
        if self.searching and not box.has_focus and event.is_printable and event.character:
            box.insert_text_at_cursor(event.character)
            event.stop()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.listing.query = event.value
        self._relist(at=first_match(self.listing.rows(), event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """`enter` keeps the search and closes the box; a second `enter` typed before
        the box let go of the keys opens the row, as it would once it had."""
        if self.searching:
            self._end_search(keep=True)
        else:
            self.action_open()

    def _end_search(self, *, keep: bool) -> None:
        self.searching = False
        self.screen.set_class(False, "-searching")
        self.set_focus(None)
        if not keep:
            self.listing.query = ""
        self._relist()

    def action_sort(self) -> None:
        column = self.listing.next_sort()
        self.say(f"sorted by {column}")
        self._relist()

    def action_reverse(self) -> None:
        self.listing.flip()
        self._relist()

    def action_move(self, step: int) -> None:
        if self.showing_list:
            self.query_one(TargetList).move(step)
            self._relist()

    def action_page(self, step: int) -> None:
        if self.showing_list:
            table = self.query_one(TargetList)
            table.move(step * table.page)
            self._relist()

    def action_cycle(self, step: int) -> None:
        """`tab`: the next target; in the list, the next line."""
        if self.showing_list:
            self.action_move(step)
        else:
            self.action_target(step)

    def _fold(self, step: int) -> None:
        """In the list, → unfolds the group at the cursor and ← folds it (from one of
        its members too, the cursor going up to the group)."""
        row = self.query_one(TargetList).current
        if row is None:
            return
        group = row.group if row.is_group else (row.target.group if row.target else "")
        if not group or f"group:{group}" not in {r.key for r in self.listing.rows()}:
            return
        now = row.expanded if row.is_group else True
        self.listing.fold(group, step > 0, now)
        self._relist(at=f"group:{group}" if step < 0 else row.key)
