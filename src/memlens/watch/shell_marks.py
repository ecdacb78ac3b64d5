"""A running watch's ear for `memlens mark PID TEXT`: a small thread that keeps the
watch's inbox in the mark spool (memlens.watch.mark_spool) up to date with the PIDs it
watches, and takes the marks left there about twice a second.

Each mark goes to `route(pid, t, text)`, which the session makes the same path as a
program's mark: into the recording, onto the live view (the dashboard, `top`). The
thread never touches the sampler's round: it only asks for the targets, as the maps
poller does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from memlens.errors import MemlensError
from memlens.model import Target
from memlens.watch.mark_spool import Inbox, ShellMark

log = logging.getLogger(__name__)

EVERY = 0.5  # s between two looks at the inbox

Route = Callable[[ShellMark], None]


class ShellMarks:
    """Started and stopped by the session; `refused` counts files it deleted unread."""

    def __init__(
        self, targets: Callable[[], Iterable[Target]], route: Route, every: float = EVERY
    ) -> None:
        self._targets = targets
        self._route = route
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.inbox: Inbox | None = None

    @property
    def refused(self) -> int:
        return 0 if self.inbox is None else self.inbox.refused

    def start(self) -> None:
        try:
            self.inbox = Inbox.open()
        except (MemlensError, OSError) as e:
            log.warning("marks from the shell (`memlens mark`) cannot reach this watch: %s", e)
            return
        try:
            self.round()  # the PIDs known now are published before the sampler starts
        except (MemlensError, OSError) as e:
            log.warning("the marks from the shell could not be read: %s", e)
        self._thread = threading.Thread(target=self._run, name="memlens-shell-marks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self.inbox is not None:
            self.inbox.close()

    def _run(self) -> None:
        assert self.inbox is not None
        while not self._stop.wait(self._every):
            try:
                self.round()
            except (MemlensError, OSError) as e:
                log.warning("the marks from the shell could not be read: %s", e)

    def round(self) -> None:
        """Publish the PIDs watched now, and route the marks waiting."""
        assert self.inbox is not None
        self.inbox.watch(
            t.pid for t in self._targets() if t.kind == "process" and t.state == "running"
        )
        for mark in self.inbox.take():
            self._route(mark)
