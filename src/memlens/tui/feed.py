"""The live data of `memlens top`: the dashboard's session (`memlens.watch.session`),
delivered onto the terminal app's event loop.

Textual runs asyncio, so the session hands each tick, alert and agent answer to the
loop with `call_soon_threadsafe`, and the live view changes on the loop's thread only.
The session stops after the app has given the terminal back, so a slow agent never
keeps a frozen screen up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from memlens.analysis.leakmodel import LeakFinding
from memlens.config import Settings
from memlens.errors import MemlensError
from memlens.model import Alert, Tick
from memlens.probes.python import PythonProbe
from memlens.tui.board import Board
from memlens.tui.view import WINDOWS
from memlens.watch.alerts import AlertEngine
from memlens.watch.live import LiveView
from memlens.watch.sampler import Sampler
from memlens.watch.session import Session

log = logging.getLogger(__name__)


class Feed:
    """Ticks, alerts and agents' answers applied to `live` on the app's loop; `changed`
    is called there after each, for the app to redraw. With a `session` (whose live view
    is `live`) they come from its sampler; without one, whoever holds the feed applies
    them (a replay, a test)."""

    def __init__(
        self,
        live: LiveView,
        session: Session | None = None,
        alerts: AlertEngine | None = None,
        *,
        settings: Settings | None = None,
    ) -> None:
        if session is not None and session.live is not live:
            raise ValueError("the feed shows its session's live view")
        self.live = live
        self.session = session
        self.alerts = alerts if alerts is not None or session is None else session.alerts
        self.settings = settings or (
            self.alerts.settings if self.alerts is not None else Settings()
        )
        self.changed: Callable[[], None] = lambda: None
        # Every target's newest reading and growth, and the groups' leak alerts, for the
        # list (memlens.tui.board): fed beside the live view, on the same loop.
        self.board = Board(WINDOWS)
        # The target whose Python pane is on screen (None: none, or paused): its heap
        # profiler's top stacks are asked for, and no other's.
        self.showing: str | None = None
        self._traced_here: set[str] = set()  # tracemalloc switched on from this screen
        self._started = False
        self._stopped = False

    @property
    def sampler(self) -> Sampler | None:
        return None if self.session is None else self.session.sampler

    @property
    def last_time(self) -> float | None:
        return self.live.last_time

    # -- on the loop --------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the session; from here on, its ticks reach `live` through `loop`."""
        if self._started:
            return
        self._started = True
        if self.session is None:
            return
        self.session.add_consumer(lambda tick: self._to_loop(loop, self.board.observe, tick))
        if self.alerts is not None:
            self.alerts.sinks.append(
                lambda alert: self._to_loop(loop, self.board.alert, alert.message())
            )
        # The app sets `changed` after building the feed: read it at each update.
        self.session.deliver(
            loop,
            watching=lambda: True,
            changed=self._redraw,
            heap_view=lambda key: key == self.showing,
        )
        self.session.start()

    @staticmethod
    def _to_loop(loop: asyncio.AbstractEventLoop, what: Callable[[Any], None], arg: Any) -> None:
        """`what(arg)` on the loop's thread, from the sampler's (before the live view gets
        the same tick: the session posts that after its consumers have run)."""
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody looks
            loop.call_soon_threadsafe(what, arg)

    def _redraw(self) -> None:
        self.changed()

    def apply(self, tick: Tick) -> None:
        self.board.observe(tick)
        self.live.apply(tick)
        self.changed()

    def post_alert(self, alert: Alert) -> None:
        self.board.alert(alert.message())
        self.live.post_alert(alert)
        self.changed()

    def post_python(self, message: dict[str, Any]) -> None:
        self.live.post_python(message)
        self.changed()

    # -- what the app asks --------------------------------------------------------------

    def verdicts(self) -> dict[str, LeakFinding]:
        return {} if self.alerts is None else self.alerts.verdicts()

    @property
    def detecting(self) -> bool:
        return self.alerts is not None

    @property
    def interval(self) -> float:
        return self.sampler.config.interval if self.sampler is not None else self.live.interval

    def set_interval(self, interval: float) -> None:
        if self.sampler is not None:
            self.sampler.set_interval(interval)
        self.live.interval = interval

    def count_objects(self, key: str) -> float | None:
        """Count the target's objects by type now, or once its agent's rest ends."""
        return None if self.session is None else self.session.count_objects_now(key)

    def agent(self, key: str) -> PythonProbe | None:
        return None if self.sampler is None else self.sampler.agents.probe(key)

    async def tracemalloc(self, key: str, on: bool) -> dict[str, Any] | None:
        """Switch tracing on or off in the target's agent (None: it has none), as the
        dashboard's switch does; what this screen switched on it switches off at the end."""
        probe = self.agent(key)
        if probe is None:
            return None
        frames = self.sampler.config.tracemalloc_frames if self.sampler is not None else 0
        state = await asyncio.to_thread(probe.tracemalloc, on, frames or 1)
        if on and state.get("started_by_agent"):
            self._traced_here.add(key)
        elif not on:
            self._traced_here.discard(key)
        known = self.live.targets.get(key)
        if known is not None:
            known.python = probe.info()
        self.changed()
        return state

    # -- the end ------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the session, once; callable from any thread after the app has ended.
        What this screen switched tracing on for is switched off first."""
        if self._stopped:
            return
        self._stopped = True
        if self.session is None:
            return
        for key in list(self._traced_here):
            probe = self.session.sampler.agents.probe(key)
            if probe is not None:
                with contextlib.suppress(MemlensError):
                    probe.tracemalloc(False)
        self.session.stop()


class _ToApp(logging.Handler):
    def __init__(self, post: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self.post = post

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.post(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def logs_to(post: Callable[[str], None]) -> Iterator[None]:
    """While the app owns the terminal, log records and uncaught exceptions of threads
    go to `post` (the app's status line) instead of stderr, where they would scribble
    over the screen; stderr gets them back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:]
    hook = threading.excepthook
    root.handlers = [_ToApp(post)]

    def to_app(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "a thread"
        post(f"error in {name}: {args.exc_type.__name__}: {args.exc_value}")

    threading.excepthook = to_app
    try:
        yield
    finally:
        root.handlers = saved
        threading.excepthook = hook
