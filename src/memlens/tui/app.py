"""`memlens top`'s Textual app: the live chart, figures, verdict and Python details of
the selected target, every target side by side in a row above, and the keys; past a
few targets, first a list of them in groups (memlens.tui.listing), sortable and
searchable, from which `enter` opens one.

The app owns no data: a `Feed` applies ticks to its `LiveView` on this app's loop and
says when something changed; the screen is redrawn from the live view at most every
`REDRAW_EVERY` seconds, and not at all while paused (the sampling goes on, so nothing
is missed when the screen resumes).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.events import Resize
from textual.widgets import Input, Static

from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.errors import MemlensError
from memlens.outside.visible import visible
from memlens.store import Recording
from memlens.tui.feed import Feed
from memlens.tui.listface import ListFace
from memlens.tui.listing import DETAIL_HELP, LIST_HELP
from memlens.tui.listview import TargetList
from memlens.tui.picker import AgentPicker, Agents
from memlens.tui.save import recording_of, write_report
from memlens.tui.view import (
    WINDOWS,
    interval_text,
    next_interval,
    next_window,
    short_label,
    state_text,
    target_view,
    window_text,
)
from memlens.tui.widgets import (
    HELP,
    Chart,
    Tab,
    details_text,
    figures_text,
    header_text,
    tabs_text,
    verdict_text,
)

REDRAW_EVERY = 0.25  # s: at most this often, whatever the interval
WIDE = 110  # columns from which the details sit beside the chart, not under it
Pick = Callable[[int], Feed]


class TopApp(ListFace):
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = None  # the search box takes keys only once `/` opens it
    TITLE = "memlens top"
    CSS = """
    Screen { layout: vertical; }
    #header { height: 1; text-style: bold; }
    #tabs { height: 1; }
    #figures { height: auto; }
    #verdict { height: auto; max-height: 2; }
    #body { height: 1fr; layout: vertical; }
    #chart { height: 1fr; min-height: 5; }
    #details { height: auto; max-height: 9; text-wrap: nowrap; text-overflow: ellipsis; }
    #status { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    #help { height: 1; text-style: reverse; text-wrap: nowrap; }
    Screen.-wide #body { layout: horizontal; }
    Screen.-wide #chart { width: 1fr; height: 1fr; }
    Screen.-wide #details { width: 46%; height: 1fr; max-height: 100%; padding-left: 2; }
    #list, #leaks, #focus, #searchbar { display: none; }
    #leaks { height: auto; max-height: 1; text-style: bold; text-wrap: nowrap; }
    #leaks { text-overflow: ellipsis; }
    #focus { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    #searchbar { height: 1; }
    #slash { width: 2; }
    #search { height: 1; width: 1fr; border: none; padding: 0; }
    Screen.-list #tabs, Screen.-list #figures, Screen.-list #verdict { display: none; }
    Screen.-list #body { display: none; }
    Screen.-list #list, Screen.-list #focus { display: block; }
    Screen.-leaks #leaks { display: block; }
    Screen.-searching #searchbar { display: block; }
    Screen.-searching #status { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "interrupt", "quit", show=False, priority=True),
        Binding("p", "pause", "pause"),
        Binding("w", "window", "window"),
        Binding("t", "tracemalloc", "tracemalloc"),
        Binding("o", "objects", "count objects"),
        Binding("plus,equals_sign", "interval(1)", "longer interval"),
        Binding("minus", "interval(-1)", "shorter interval"),
        Binding("s", "save", "save report"),
    ]  # and the list's (memlens.tui.listface)

    def __init__(
        self,
        feed: Feed | None = None,
        *,
        pick: Pick | None = None,
        agents: Agents | None = None,
        none_found: str = "",
        report_dir: Path | None = None,
        window: float = WINDOWS[1],
        handle_signals: bool = False,
        group_by: str = DEFAULT_GROUP_BY,
    ) -> None:
        super().__init__(group_by=group_by)
        self.feed = feed
        self.pick = pick
        self.agents = agents
        self.none_found = none_found
        self.report_dir = report_dir
        self.window = window
        self.handle_signals = handle_signals
        self.paused_at: float | None = None
        self.status = ""
        self._dirty = True
        self._signals: list[int] = []
        self._posting_loop: asyncio.AbstractEventLoop | None = None

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="header", markup=False)
        yield Static("", id="tabs", markup=False)
        yield Static("", id="figures", markup=False)
        yield Static("", id="verdict", markup=False)
        with Horizontal(id="body"):
            yield Chart(id="chart")
            yield Static("", id="details", markup=False)
        yield Static("", id="leaks", markup=False)
        yield TargetList(id="list")
        yield Static("", id="focus", markup=False)
        yield Static("", id="status", markup=False)
        with Horizontal(id="searchbar"):
            yield Static("/ ", id="slash")
            yield Input(placeholder="name, PID or command · enter keeps · esc clears", id="search")
        yield Static(HELP, id="help", markup=False)

    def on_mount(self) -> None:
        self._posting_loop = asyncio.get_running_loop()
        if self.handle_signals:
            self._catch_signals()
        self.set_interval(REDRAW_EVERY, self._redraw_if_dirty)
        if self.feed is not None:
            self.attach(self.feed)
        elif self.agents is not None:
            self.push_screen(AgentPicker(self.agents, self.none_found), self._picked)
        self.redraw()

    def on_resize(self, event: Resize) -> None:
        self.screen.set_class(event.size.width >= WIDE, "-wide")
        self._dirty = True  # the details hold more sites when wide

    def _catch_signals(self) -> None:
        """SIGTERM, SIGHUP (the SSH session went away) and a SIGINT sent from outside end
        the app like `q`, so the terminal is always given back in order (Ctrl-C typed
        here is a key, bound to quit)."""
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, self.exit)
                self._signals.append(number)

    def on_unmount(self) -> None:
        self._posting_loop = None
        loop = asyncio.get_running_loop()
        for number in self._signals:
            loop.remove_signal_handler(number)

    # -- data -----------------------------------------------------------------------------

    def attach(self, feed: Feed) -> None:
        """Show `feed` from now on and start it on this app's loop."""
        self.feed = feed
        feed.changed = self._changed
        feed.start(asyncio.get_running_loop())
        self._changed()

    def _picked(self, pid: int | None) -> None:
        if pid is None or self.pick is None:
            return
        try:
            feed = self.pick(pid)
        except MemlensError as e:
            picker = AgentPicker(self.agents or (lambda: []), self.none_found)
            self.push_screen(picker, self._picked)
            self.call_after_refresh(picker.note, f"cannot watch PID {pid}: {e}")
            return
        self.attach(feed)

    def _changed(self) -> None:
        self._dirty = True

    def _redraw_if_dirty(self) -> None:
        if self._dirty and not self.paused:
            # The timer can fire while the screen is being built or taken down, when its
            # widgets are not there: the next tick draws what this one could not.
            with contextlib.suppress(NoMatches):
                self.redraw()

    def post_log(self, line: str) -> None:
        """Show a line in the status line; from any thread, the app's own included."""
        loop = self._posting_loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self.say, line)

    def say(self, line: str) -> None:
        self.status = line
        with contextlib.suppress(NoMatches):  # the screen is being taken down
            self.query_one("#status", Static).update(visible(line))

    # -- drawing --------------------------------------------------------------------------

    def redraw(self) -> None:
        """Everything on screen from the live view as it is now (or as it was when
        paused)."""
        self._dirty = False
        feed = self.feed
        end = self.paused_at if self.paused else (feed.last_time if feed else None)
        if feed is None or end is None:
            note = "no target yet" if feed is None else "waiting for the first sample…"
            self.query_one("#header", Static).update(
                header_text(
                    None,
                    interval=feed.interval if feed else 0.0,
                    window=self.window,
                    paused=self.paused,
                    note=note,
                )
            )
            return
        live = feed.live
        keys = list(live.targets)
        if self.selected not in live.targets:
            self.selected = keys[0] if keys else None
        self._verdicts.update(feed.verdicts())
        listed = self.showing_list
        self.screen.set_class(listed, "-list")
        self.query_one("#help", Static).update(
            LIST_HELP if listed else DETAIL_HELP if self.list_offered else HELP
        )
        self._draw_leaks(feed)
        if listed:
            feed.showing = None
            self._draw_list(feed, end)
            return
        feed.showing = None if self.paused else self.selected
        tabs = [
            Tab(
                short=short_label(target),
                rss=self._rss_now(feed, key, end),
                state=state_text(target),
                selected=key == self.selected,
            )
            for key, target in live.targets.items()
        ]
        self.query_one("#tabs", Static).update(tabs_text(tabs, self.size.width))
        view = None
        if self.selected is not None:
            view = target_view(
                live,
                self.selected,
                window=self.window,
                end=end,
                finding=self._verdicts.get(self.selected),
            )
        header = header_text(view, interval=feed.interval, window=self.window, paused=self.paused)
        self.query_one("#header", Static).update(header)
        self.query_one(Chart).show(view, paused=self.paused)
        if view is None:
            return
        self.query_one("#figures", Static).update(figures_text(view))
        self.query_one("#verdict", Static).update(
            verdict_text(
                view,
                detecting=feed.detecting,
                min_duration=feed.settings.detector.min_duration,
            )
        )
        wide = self.size.width >= WIDE
        details = self.query_one("#details", Static)
        # Its width as laid out; before the first layout, about 46% of a wide screen.
        width = details.content_size.width or (
            int(self.size.width * 0.46) - 2 if wide else self.size.width
        )
        details.update(details_text(view, top_limit=12 if wide else 3, width=width))
        if not details.content_size.width:
            self._dirty = True  # once laid out, drawn again to its real width

    # -- keys -----------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        self.paused_at = self.feed.last_time if self.paused and self.feed else None
        if self.feed is not None and self.paused:
            self.feed.showing = None  # a frozen pane asks the agents nothing
        self.redraw()

    def action_window(self) -> None:
        self.window = next_window(self.window)
        self.say(f"window {window_text(self.window)}")
        self.redraw()

    def action_interval(self, step: int) -> None:
        if self.feed is None:
            return
        interval = next_interval(self.feed.interval, step)
        self.feed.set_interval(interval)
        self.say(f"sampling every {interval_text(interval)}")
        self.redraw()

    def action_target(self, step: int) -> None:
        if self.feed is None or not self.feed.live.targets:
            return
        if self.showing_list:
            self._fold(step)
            return
        keys = list(self.feed.live.targets)
        at = keys.index(self.selected) if self.selected in keys else 0
        self.selected = keys[(at + step) % len(keys)]
        self.redraw()

    def action_tracemalloc(self) -> None:
        if self.feed is None or self.selected is None or self._in_list("t"):
            return
        probe = self.feed.agent(self.selected)
        if probe is None:
            self.say("no Python agent in this process: nothing to trace")
            return
        self.run_worker(self._switch(self.selected, not probe.tracing), exit_on_error=False)

    def action_objects(self) -> None:
        """Count the selected process's objects by type now (else every 30 s)."""
        if self.feed is None or self.selected is None or self._in_list("o"):
            return
        if self.feed.agent(self.selected) is None:
            self.say("no Python agent in this process: no objects to count")
            return
        wait = self.feed.count_objects(self.selected)
        if wait is None:
            self.say("objects are not counted here")
        elif wait > 0.5:
            self.say(f"the agent rests: counting objects in {wait:.0f} s")
        else:
            self.say("counting objects…")

    def _in_list(self, key: str) -> bool:
        """Whether the list is shown, where a process's own keys do nothing (they would
        act on a process out of sight); it says so."""
        if self.showing_list:
            self.say(f"{key} acts on one process: enter opens the one at the cursor")
        return self.showing_list

    async def _switch(self, key: str, on: bool) -> None:
        assert self.feed is not None
        self.say(f"switching tracemalloc {'on' if on else 'off'}…")
        try:
            state = await self.feed.tracemalloc(key, on)
        except MemlensError as e:
            self.say(f"tracemalloc: {e}")
            return
        if state is None:
            self.say("the agent went away")
            return
        self.say(f"tracemalloc {'ON' if state.get('tracing') else 'OFF'}")
        self.redraw()

    def action_save(self) -> None:
        if self.feed is None:
            return
        end = self.paused_at if self.paused else self.feed.last_time
        if end is None:
            self.say("nothing to save yet")
            return
        labels = [short_label(t) for t in self.feed.live.targets.values()]
        names = ", ".join(labels[:3])  # a title, not a list of 300
        if len(labels) > 3:
            names += f" and {len(labels) - 3} more"
        recording = recording_of(
            self.feed.live, start=end - self.window, end=end, name=f"memlens top: {names}"
        )
        self.run_worker(self._save(recording), exit_on_error=False)

    async def _save(self, recording: Recording) -> None:
        assert self.feed is not None
        directory = self.report_dir or Path.cwd()
        try:
            path = await asyncio.to_thread(
                write_report,
                recording,
                self.feed.settings,
                directory,
            )
        except MemlensError as e:
            self.say(f"no report: {e}")
            return
        shown = path.name if path.parent == Path.cwd() else str(path)
        self.say(f"report saved to {shown}")

    async def action_quit(self) -> None:
        self.exit()

    async def action_interrupt(self) -> None:
        """Ctrl-C: quit, also from the search box (where `q` is a letter)."""
        self.exit()
