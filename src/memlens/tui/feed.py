"""The live data of `memlens top`: the same sampler, live view, alert engine and Python
poller that feed the dashboard, wired onto the terminal app's event loop.

Textual runs asyncio, so the wiring is the web server's (`memlens.web.server.serve`):
the sampler's thread hands each tick to the loop with `call_soon_threadsafe`, and the
live view changes on the loop's thread only. Stopping goes poller, sampler (which
hangs up on the agents), alert engine, then whatever was registered to run last (the
recorder), and happens after the app has given the terminal back, so a slow agent never
keeps a frozen screen up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from memlens.analysis.leakmodel import LeakFinding
from memlens.config import Settings
from memlens.errors import MemlensError
from memlens.model import Alert, Tick
from memlens.probes.python import PythonProbe
from memlens.watch.alerts import AlertEngine
from memlens.watch.live import LiveView
from memlens.watch.python_poll import PythonPoller
from memlens.watch.sampler import Sampler

log = logging.getLogger(__name__)


class Feed:
    """Ticks, alerts and agents' answers applied to `live` on the app's loop; `changed`
    is called there after each, for the app to redraw."""

    def __init__(
        self,
        live: LiveView,
        sampler: Sampler | None = None,
        alerts: AlertEngine | None = None,
        *,
        settings: Settings | None = None,
        consumers: Sequence[Callable[[Tick], None]] = (),
        on_stop: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.live = live
        self.sampler = sampler
        self.alerts = alerts
        self.settings = settings or (alerts.settings if alerts is not None else Settings())
        self.consumers = list(consumers)
        self.on_stop = list(on_stop)
        self.changed: Callable[[], None] = lambda: None
        self.last_time: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: PythonPoller | None = None
        self._traced_here: set[str] = set()  # tracemalloc switched on from this screen
        self._started = False
        self._stopped = False

    # -- on the loop --------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the threads; from here on, ticks reach `live` through `loop`."""
        if self._started:
            return
        self._started = True
        self._loop = loop
        if self.sampler is None:
            return
        consumers = list(self.consumers)
        if self.alerts is not None:
            consumers.append(self.alerts.on_tick)
            self.alerts.sinks.append(lambda alert: self._call(self.post_alert, alert))
            self.alerts.start()

        def hand_over(tick: Tick) -> None:
            for consume in consumers:
                consume(tick)
            self._call(self.apply, tick)

        self.sampler.on_tick = hand_over
        self._poller = PythonPoller(
            self.sampler.agents, lambda m: self._call(self.post_python, m), watching=lambda: True
        )
        self.sampler.start()
        self._poller.start()

    def apply(self, tick: Tick) -> None:
        self.live.apply(tick)
        self.last_time = tick.time
        self.changed()

    def post_alert(self, alert: Alert) -> None:
        self.live.post_alert(alert)
        self.changed()

    def post_python(self, message: dict[str, Any]) -> None:
        self.live.post_python(message)
        self.changed()

    def _call(self, what: Callable[[Any], None], arg: Any) -> None:
        """From another thread: run `what(arg)` on the loop, if it still runs."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody to tell
            loop.call_soon_threadsafe(_guarded, what, arg)

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
        """Stop every thread, once; callable from any thread after the app has ended."""
        if self._stopped:
            return
        self._stopped = True
        self._loop = None
        if self._poller is not None:
            self._poller.stop()
        if self.sampler is not None:
            for key in list(self._traced_here):
                probe = self.sampler.agents.probe(key)
                if probe is not None:
                    with contextlib.suppress(MemlensError):
                        probe.tracemalloc(False)
            self.sampler.stop()
        if self.alerts is not None:
            self.alerts.stop()
        for finish in self.on_stop:
            finish()


def _guarded(what: Callable[[Any], None], arg: Any) -> None:
    """A failure in one update is logged, never raised into the app's loop."""
    try:
        what(arg)
    except Exception:
        log.exception("the screen could not take an update")


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
