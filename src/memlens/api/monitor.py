"""A background thread that calls one function on a schedule, and the one exit hook
that ends every Profiler's work.

The schedule is the sampler's (`start + k * interval` on the monotonic clock), so a slow
round does not push the later ones back. The thread is a daemon, so a program that
never stops it still exits; the exit hook then stops it and writes what is queued, and
holds its objects weakly, so it keeps none of them alive.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

from memlens.watch.sampler import check_interval, next_slot

log = logging.getLogger(__name__)


class Repeater:
    """`work()` every `interval` seconds on a thread of its own; one thread at most."""

    def __init__(self, work: Callable[[], object], name: str) -> None:
        self._work = work
        self._name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.interval: float | None = None

    @property
    def thread(self) -> threading.Thread | None:
        thread = self._thread
        return thread if thread is not None and thread.is_alive() else None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self, interval: float) -> bool:
        """Start the thread; False (and nothing changes) when it runs already."""
        check_interval(interval)
        with self._lock:
            if self.running:
                return False
            # A new event per thread: a previous thread that has not ended yet (a long
            # round outlasting stop()'s timeout) still sees its own event set.
            self._stop = stop = threading.Event()
            self.interval = float(interval)
            self._thread = threading.Thread(
                target=self._run, args=(self.interval, stop), name=self._name, daemon=True
            )
            self._thread.start()
            return True

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, letting a round in progress finish; safe when none runs."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self, interval: float, stop: threading.Event) -> None:
        origin = time.monotonic()
        slot = 0
        while not stop.is_set():
            try:
                self._work()
            except Exception:  # one failed round must not end the thread
                log.exception("%s: a round failed", self._name)
            now = time.monotonic()
            slot, _ = next_slot(origin, slot, now, interval)
            if stop.wait(origin + slot * interval - now):
                return


class EndsAtExit(Protocol):
    def _at_exit(self) -> None: ...


_LIVE: weakref.WeakSet[EndsAtExit] = weakref.WeakSet()
_registered = False
_registering = threading.Lock()


def end_at_exit(obj: EndsAtExit) -> None:
    """Call `obj._at_exit()` when the interpreter exits, if `obj` still lives then."""
    global _registered
    with _registering:
        _LIVE.add(obj)
        if not _registered:
            atexit.register(_end_all)
            _registered = True


def _end_all() -> None:
    for obj in list(_LIVE):
        try:
            obj._at_exit()
        except Exception:
            log.warning("could not finish %r at exit", obj, exc_info=True)
