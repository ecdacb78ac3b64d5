"""What a page shows of a Python process beyond its samples: the allocation sites that
grow and the garbage collector's pauses, asked of its agent only while a page is open;
and, for a process that runs the heap profiler, its in-use profile.

Stats ride on every sample (memlens.watch.agent_links); these requests cost the target more (a
tracemalloc snapshot can take seconds), so they run on a thread of their own, far less
often (`top_every`, `pauses_every`), one agent at a time, and not at all while nobody
watches. Each answer becomes one message for the page (docs/protocol.md, "python").

The heap profile is asked for two reasons. While a watch judges leaks (`heap` is the
session's `HeapHistory`), one compact profile every `heap_every` seconds is kept, watched
or not, so that a leak alert can name the stacks that grew (docs/leak-detection.md).
While `memlens top` shows a process's Python pane (`heap_view(key)`), its top stacks are
published every `top_every` seconds, with their growth since the pane first showed it.
One answer serves both when both are due.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from memlens.errors import AgentBusy, AgentMisbehaved, BadHeapProfile, MemlensError
from memlens.probes.python import PythonProbe
from memlens.watch.agent_links import AgentLinks
from memlens.watch.heap_history import HeapHistory
from memlens.watch.heap_points import STACKS_KEPT, VIEW_STACKS, HeapPoint, compact, top_stacks

log = logging.getLogger(__name__)

TOP_EVERY = 10.0  # s between two looks at the top allocation sites of one agent
PAUSES_EVERY = 5.0  # s between two collections of gc pause times
TOP_LIMIT = 15
HEAP_EVERY = 30.0  # s between two in-use profiles kept for the leak alerts
OBJECTS_EVERY = 30.0  # s between two counts of objects by type (a walk over every object)
OBJECTS_ASKED = 100  # types the agent names, most numerous first (its most)
OBJECTS_SHOWN = 10  # types shown, fastest-growing first

Publish = Callable[[dict[str, Any]], None]
Wanted = Callable[[str], bool]
ObjectsBase = tuple[float, dict[str, int], int]  # when, {type: count}, all objects
MarkSink = Callable[[str, dict[str, Any]], None]  # (target key, {"seq", "time", "text"})


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
        heap: HeapHistory | None = None,
        heap_every: float = HEAP_EVERY,
        heap_view: Wanted | None = None,
        on_mark: MarkSink | None = None,
    ) -> None:
        self.agents = agents
        self.publish = publish
        self.watching = watching
        self.top_every = top_every
        self.pauses_every = pauses_every
        self.limit = limit
        self.heap = heap
        self.heap_every = heap_every
        self.heap_view = heap_view
        self.on_mark = on_mark
        self._marks_seen: dict[str, int] = {}  # key → the number of the newest mark read
        self._next: dict[tuple[str, str], float] = {}
        self._view_base: dict[str, HeapPoint] = {}  # the first profile each pane showed
        self.objects_every = OBJECTS_EVERY
        # per target, the first count of objects by type shown
        self._objects_base: dict[str, ObjectsBase] = {}
        self._resting: dict[tuple[str, str], float] = {}  # until when an agent said it rests
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
        watching = self.watching()
        made = 0
        for key, probe in self.agents.probes().items():
            if self.on_mark is not None and probe.marks_last != self._marks_seen.get(key, 0):
                made += self._marks(key, probe, now)
            if watching and probe.tracing and self._due(key, "top", now):
                # With more than one frame traced, each site comes with its traceback
                # (and a line reached by two call paths is two sites).
                by = "traceback" if probe.frames > 1 else "lineno"
                ask = functools.partial(probe.top, self.limit, by)
                made += self._ask(key, "top", ask, now)
            if watching and self._due(key, "gc", now):
                made += self._ask(key, "gc", probe.gc_pauses, now)
            if key not in self.agents:  # dropped by an answer above: ask it no more
                continue
            if self._shown(key, watching) and self._due(key, "objects", now):
                made += self._objects(key, probe, now)
            if (probe.heap_status or {}).get("running"):
                made += self._heap(key, probe, now)
        return made

    def count_objects_now(self, key: str) -> float:
        """Ask for the target's object counts at the next pass (a face's button) rather
        than when next due, unless its agent said it rests: then when the rest ends. The
        seconds until then, about."""
        now = time.monotonic()
        when = max(now, self._resting.get((key, "objects"), now))
        self._next[(key, "objects")] = when
        return when - now

    def _shown(self, key: str, watching: bool) -> bool:
        """Whether a face shows this target's Python details now: `memlens top`'s pane
        shows one target (heap_view), a page every target that has an agent."""
        if self.heap_view is not None:
            return self.heap_view(key)
        return watching

    def _objects(self, key: str, probe: PythonProbe, now: float) -> int:
        """The object types whose counts grew most since the first count shown: costly
        for the target (a walk over every object), so asked at most every
        `objects_every` seconds, and later when the agent says it rests."""
        ask = functools.partial(probe.objects, OBJECTS_ASKED)
        answer = self._request(key, "objects", ask, now)
        if answer is None:
            return 0
        self._next[(key, "objects")] = now + self.objects_every
        self.requests += 1
        received = time.time()
        counts = {str(t["type"]): int(t["count"]) for t in answer.get("types", [])}
        base = self._objects_base.get(key)
        if base is None:
            total = int(answer.get("total", 0))
            base = self._objects_base[key] = (received, counts, total)
        self.publish(
            {"type": "python", "key": key, "t": received, "objects": growing(base, counts, answer)}
        )
        return 1

    def _marks(self, key: str, probe: PythonProbe, now: float) -> int:
        """The program's new marks (memlens.mark), recorded and shown whether anyone
        looks or not: a mark is part of the recording. Cheap for the agent: a copy of a
        short ring; each stats answer says whether there is anything new."""
        seen = self._marks_seen.get(key, 0)
        if probe.marks_last < seen:  # the program restarted its numbering (a fork's child)
            seen = 0
        answer = self._request(key, "marks", functools.partial(probe.marks, seen), now)
        if answer is None:
            return 0
        self.requests += 1
        self._marks_seen[key] = int(answer.get("last", seen))
        assert self.on_mark is not None
        for mark in answer.get("marks", []):
            self.on_mark(key, mark)
        return 1

    def _heap(self, key: str, probe: PythonProbe, now: float) -> int:
        """The in-use profile, when the history or the pane wants one."""
        keep = self.heap is not None and self._due(key, "heap", now)
        view = self.heap_view is not None and self.heap_view(key) and self._due(key, "view", now)
        if not (keep or view):
            return 0
        request = functools.partial(probe.heap, "profile", kind="inuse", limit=STACKS_KEPT)
        what = "heap" if keep else "view"
        answer = self._request(key, what, request, now)
        if keep and view:  # asked once for both: both wait as long
            self._next[(key, "view")] = self._next.get((key, "heap"), now)
        if answer is None:
            return 0
        received = time.time()
        if keep:
            self._next[(key, "heap")] = now + self.heap_every
        try:
            point = compact(answer, received)
        except BadHeapProfile as e:  # checked by the client, but not as a whole profile
            log.info("the heap profile of %s cannot be used: %s", key, e)
            return 0
        if keep:
            assert self.heap is not None
            self.heap.add_point(key, point)
        if view:
            self._next[(key, "view")] = now + self.top_every
            base = self._view_base.get(key)
            if base is None or base.start != point.start:  # first shown, or restarted
                base = self._view_base[key] = point
            stacks = top_stacks(base, point, limit=VIEW_STACKS)
            self.publish({"type": "python", "key": key, "t": received, "heap": stacks})
        self.requests += 1
        return 1

    def _due(self, key: str, what: str, now: float) -> bool:
        return now >= self._next.get((key, what), float("-inf"))

    def _ask(self, key: str, what: str, request: Callable[[], dict[str, Any]], now: float) -> int:
        answer = self._request(key, what, request, now)
        if answer is None:
            return 0
        self._next[(key, what)] = now + self._every(what)
        self.requests += 1
        self.publish({"type": "python", "key": key, "t": time.time(), what: answer})
        return 1

    def _request(
        self, key: str, what: str, request: Callable[[], dict[str, Any]], now: float
    ) -> dict[str, Any] | None:
        """The agent's answer; None when it gave none (and when to ask again is set)."""
        try:
            return request()
        except AgentBusy as e:  # the agent rests after a costly request: come back later
            self._next[(key, what)] = self._resting[(key, what)] = now + max(e.retry_after_s, 1.0)
        except AgentMisbehaved as e:  # what it answered is not to be shown: no more asking
            self.agents.misbehaved(key, e)
        except MemlensError as e:
            log.info("the agent of %s did not answer %s: %s", key, what, e)
            self._next[(key, what)] = now + self._every(what)
        return None

    def _every(self, what: str) -> float:
        every = {
            "top": self.top_every,
            "view": self.top_every,
            "heap": self.heap_every,
            "objects": self.objects_every,
        }
        return every.get(what, self.pauses_every)


def growing(base: ObjectsBase, counts: dict[str, int], answer: dict[str, Any]) -> dict[str, Any]:
    """The types whose counts grew most since `base` (the first count shown), as the
    "objects" part of a python message (docs/protocol.md). The agent names only the most
    numerous types: one that was not among them before is `new` (its growth unknown,
    shown after those that grew). The first count has nothing to grow from: it shows
    the most numerous types, `first` set."""
    since, before, before_total = base
    total = int(answer.get("total", 0))
    first = counts is before
    grew: list[dict[str, Any]] = []
    new: list[dict[str, Any]] = []
    for name, count in counts.items():
        was = before.get(name)
        if was is None:
            new.append({"type": name, "count": count, "growth": None, "new": True})
        elif first or count > was:
            grew.append({"type": name, "count": count, "growth": count - was, "new": False})
    grew.sort(key=lambda t: (-t["growth"], -t["count"], t["type"]))
    new.sort(key=lambda t: (-t["count"], t["type"]))
    if first:
        grew.sort(key=lambda t: (-t["count"], t["type"]))
    return {
        "since": since,
        "first": first,
        "total": total,
        "total_growth": total - before_total,
        "types": (grew + new)[:OBJECTS_SHOWN],
        "elapsed_s": float(answer.get("elapsed_s", 0.0)),
    }
