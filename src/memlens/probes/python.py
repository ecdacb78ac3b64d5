"""A process's Python agent, as the viewer's side reads it.

Two connections, because the two kinds of request must not wait for each other: the
sampler asks for stats every tick (microseconds of the agent's time), while top
allocation sites or gc pauses are asked for far less often and a tracemalloc snapshot
can take seconds. The agent counts a top site's growth per connection, so the costly
connection's "growth since the previous call" is the viewer's own.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from memlens.agent.client import AgentClient
from memlens.agent.registry import AgentEntry, find_agent
from memlens.errors import MemlensError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 1.0
STATS_TIMEOUT_S = 1.0
COSTLY_TIMEOUT_S = 30.0

# The agent's fields of a sample, in memlens.model.PYTHON_FIELDS order.
PythonFields = tuple[int | None, int | None, int | None, int | None, int | None]
NO_FIELDS: PythonFields = (None, None, None, None, None)


HEAP_OPS = ("start", "stop", "status", "mark", "profile")


class PythonProbe:
    """Stats, tracing and allocation sites of one agent; safe to use from two threads
    (stats from one, the rest from another)."""

    def __init__(self, address: str, token: str | None = None) -> None:
        self.address = address
        self.token = token
        self._stats = AgentClient.connect(address, token=token, timeout=STATS_TIMEOUT_S)
        self.agent: dict[str, Any] = dict(self._stats.agent)
        self._costly: AgentClient | None = None
        self._lock = threading.Lock()  # the costly connection, one request at a time
        self.tracing = False
        self.frames = 0
        self.heap_status: dict[str, Any] | None = None  # the latest stats' or heap op's
        self.marks_last = 0  # the number of the program's newest mark, from the latest stats

    @classmethod
    def find(
        cls, pid: int, start_ticks: int | None = None, token: str | None = None
    ) -> PythonProbe | None:
        """The agent of process `pid` (the same process: same start ticks when both are
        known), connected; None when it has none or it does not answer."""
        entry = find_agent(pid)
        if entry is None or not _same_process(entry, start_ticks):
            return None
        try:
            return cls(entry.address, token)
        except MemlensError as e:
            log.info("process %d has an agent at %s that does not answer: %s", pid, entry, e)
            return None

    def info(self) -> dict[str, Any]:
        """What a page shows about the agent: where, which Python, tracing or not."""
        return {
            "address": self.address,
            "pid": self.agent.get("pid"),
            "python": self.agent.get("python"),
            "tracing": self.tracing,
            "frames": self.frames,
            "heap": heap_summary(self.heap_status),
        }

    # -- every tick ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self._stats.stats()

    def fields(self) -> PythonFields:
        """(py_heap, py_heap_peak, py_blocks, gc_collections, gc_uncollectable)."""
        return fields_of(self.stats(), self)

    # -- on request ---------------------------------------------------------------------

    def tracemalloc(self, on: bool, frames: int = 1) -> dict[str, Any]:
        """Switch tracing; the agent's answer is the state remembered, not what was asked."""
        if on:
            state = self._call(lambda c: c.tracemalloc_start(frames))
        else:
            state = self._call(lambda c: c.tracemalloc_stop())
        self.tracing = bool(state.get("tracing"))
        self.frames = int(state.get("frames") or 0)
        return state

    def top(self, limit: int = 15, by: str = "lineno") -> dict[str, Any]:
        return self._call(lambda c: c.top(by=by, limit=limit, order="growth"))

    def gc_pauses(self) -> dict[str, Any]:
        return self._call(lambda c: c.gc_pauses())

    def marks(self, after: int) -> dict[str, Any]:
        """The program's marks numbered above `after` (cheap: a copy of a short ring)."""
        return self._call(lambda c: c.marks(after))

    def objects(self, limit: int = 20) -> dict[str, Any]:
        return self._call(lambda c: c.objects(limit=limit))

    def heap(self, op: str, **args: Any) -> dict[str, Any]:
        """A heap profiler op (`start`, `stop`, `status`, `mark`, `profile`), validated."""
        if op not in HEAP_OPS:
            raise ValueError(f"no heap op {op!r}")
        if op == "profile":
            return self._call(lambda c: c.heap_profile(**args))
        result = self._call(lambda c: c.request(f"heap.{op}", **args))
        if op != "mark":
            self.heap_status = result
        return result

    def _call(self, request: Any) -> dict[str, Any]:
        with self._lock:
            if self._costly is None:
                self._costly = AgentClient.connect(
                    self.address, token=self.token, timeout=COSTLY_TIMEOUT_S
                )
            result: dict[str, Any] = request(self._costly)
            return result

    def close(self) -> None:
        self._stats.close()
        with self._lock:
            if self._costly is not None:
                self._costly.close()
                self._costly = None


def fields_of(stats: dict[str, Any], probe: PythonProbe | None = None) -> PythonFields:
    """The sample's Python fields from one `stats` answer (docs/protocol.md); remembers on
    `probe` whether tracemalloc runs."""
    traced = stats.get("tracemalloc") or {}
    tracing = bool(traced.get("tracing"))
    if probe is not None:
        probe.tracing = tracing
        probe.frames = int(traced.get("frames") or 0)
        if "heap" in stats:
            probe.heap_status = stats["heap"]
        probe.marks_last = int((stats.get("marks") or {}).get("last") or 0)
    generations = (stats.get("gc") or {}).get("generations") or []
    collections = sum(int(g.get("collections", 0)) for g in generations)
    uncollectable = sum(int(g.get("uncollectable", 0)) for g in generations)
    blocks = stats.get("allocated_blocks")
    return (
        int(traced.get("current_bytes", 0)) if tracing else None,
        int(traced.get("peak_bytes", 0)) if tracing else None,
        None if blocks is None else int(blocks),
        collections if generations else None,
        uncollectable if generations else None,
    )


def heap_summary(status: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a page shows of the heap profiler's status: the fields that change when it is
    switched or marked, not its running counts (a target update follows each change)."""
    if status is None:
        return None
    keep = (
        "running",
        "sampler",
        "interval_bytes",
        "max_frames",
        "since",
        "marks",
        "fallback_reason",
    )
    return {name: status.get(name) for name in keep}


def _same_process(entry: AgentEntry, start_ticks: int | None) -> bool:
    if entry.start_ticks is None or start_ticks is None:
        return True
    return entry.start_ticks == start_ticks
