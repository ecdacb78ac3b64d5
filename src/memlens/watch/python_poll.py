"""What a page shows of a Python process beyond its samples: the allocation sites that
grow and the garbage collector's pauses, asked of its agent only while a page is open.

Stats ride on every sample (memlens.watch.agent_links); these requests cost the target more (a
tracemalloc snapshot can take seconds), so they run on a thread of their own, far less
often (`top_every`, `pauses_every`), one agent at a time, and not at all while nobody
watches. Each answer becomes one message for the page (docs/protocol.md, "python").
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from memlens.errors import AgentBusy, AgentMisbehaved, MemlensError
from memlens.watch.agent_links import AgentLinks

log = logging.getLogger(__name__)

TOP_EVERY = 10.0  # s between two looks at the top allocation sites of one agent
PAUSES_EVERY = 5.0  # s between two collections of gc pause times
TOP_LIMIT = 15

Publish = Callable[[dict[str, Any]], None]


class PythonPoller:
    def __init__(
        self,
        agents: AgentLinks,
        publish: Publish,
        watching: Callable[[], bool],
        *,
        top_every: float = TOP_EVERY,
        pauses_every: float = PAUSES_EVERY,
        limit: int = TOP_LIMIT,
    ) -> None:
        self.agents = agents
        self.publish = publish
        self.watching = watching
        self.top_every = top_every
        self.pauses_every = pauses_every
        self.limit = limit
        self._next: dict[tuple[str, str], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.requests = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="memlens-python", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self.poll_once(time.monotonic())
            except Exception:  # the page's extras must never end the watch
                log.exception("asking the Python agents failed")

    def poll_once(self, now: float) -> int:
        """One pass: every request that is due, for every linked agent; returns how
        many were made. Public for tests."""
        if not self.watching():
            return 0
        made = 0
        for key, probe in self.agents.probes().items():
            if probe.tracing and self._due(key, "top", now):
                # With more than one frame traced, each site comes with its traceback
                # (and a line reached by two call paths is two sites).
                by = "traceback" if probe.frames > 1 else "lineno"
                ask = functools.partial(probe.top, self.limit, by)
                made += self._ask(key, "top", ask, now)
            if self._due(key, "gc", now):
                made += self._ask(key, "gc", probe.gc_pauses, now)
        return made

    def _due(self, key: str, what: str, now: float) -> bool:
        return now >= self._next.get((key, what), float("-inf"))

    def _ask(self, key: str, what: str, request: Callable[[], dict[str, Any]], now: float) -> int:
        every = self.top_every if what == "top" else self.pauses_every
        try:
            answer = request()
        except AgentBusy as e:  # the agent rests after a costly request: come back later
            self._next[(key, what)] = now + max(e.retry_after_s, 1.0)
            return 0
        except AgentMisbehaved as e:  # what it answered is not to be shown: no more asking
            self.agents.misbehaved(key, e)
            return 0
        except MemlensError as e:
            log.info("the agent of %s did not answer %s: %s", key, what, e)
            self._next[(key, what)] = now + every
            return 0
        self._next[(key, what)] = now + every
        self.requests += 1
        self.publish({"type": "python", "key": key, "t": time.time(), what: answer})
        return 1
