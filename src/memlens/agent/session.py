"""One viewer's connection: the hello, then requests answered one at a time.

Everything a viewer can ask is in OPS. None of it runs code the viewer sends, reads a
file the viewer names, or changes what the program does beyond switching tracemalloc.
"""

from __future__ import annotations

import sys
import time

from memlens.agent import stats, tracing
from memlens.agent._constants import PROTOCOL_VERSION
from memlens.agent.budget import CostGate
from memlens.agent.protocol import (
    E_BAD_REQUEST,
    E_REFUSED,
    E_UNAUTHORIZED,
    E_UNKNOWN_OP,
    E_UNSUPPORTED_PROTOCOL,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    Message,
    RequestError,
    choice_arg,
    error,
    int_arg,
    ok,
    request_id,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from memlens.agent.gcpauses import GcPauses

OPS = (
    "stats",
    "tracemalloc.start",
    "tracemalloc.stop",
    "top",
    "objects",
    "marks",
    "gc.pauses",
    "heap.start",
    "heap.stop",
    "heap.status",
    "heap.mark",
    "heap.profile",
    "agent.stop",
    "bye",
)
HEAP_KINDS = ("inuse", "allocated", "growth")
BY = ("lineno", "traceback", "filename")
ORDER = ("growth", "size")

_ids = iter(range(1, 1 << 63))  # itertools.count(1), without loading itertools


class AgentState:
    """What every connection of one agent shares."""

    __slots__ = ("gate", "gc_pauses", "identity", "started", "token", "tracing")

    def __init__(
        self,
        identity: dict[str, Any],
        token: str | None,
        tracing: tracing.Tracing,
        gc_pauses: GcPauses,
        *,
        gate: CostGate | None = None,
        started: float | None = None,
    ) -> None:
        self.identity = identity
        self.token = token
        self.tracing = tracing
        self.gc_pauses = gc_pauses
        self.gate = CostGate() if gate is None else gate
        self.started = time.time() if started is None else started


class Session:
    """Answers one connection's frames; `closing` says when to hang up."""

    def __init__(self, state: AgentState, transport: str) -> None:
        self.state = state
        self.transport = transport
        self.id = next(_ids)
        self.greeted = False
        self.closing = False
        self.stop_agent = False  # set by agent.stop: the agent stops once this answer is sent
        self.baselines = tracing.Baselines()
        self._ops: dict[str, Callable[[Message], dict[str, Any]]] = {
            "stats": self._stats,
            "tracemalloc.start": self._trace_start,
            "tracemalloc.stop": self._trace_stop,
            "top": self._top,
            "objects": self._objects,
            "marks": self._marks,
            "gc.pauses": self._gc_pauses,
            "heap.start": self._heap_start,
            "heap.stop": self._heap_stop,
            "heap.status": self._heap_status,
            "heap.mark": self._heap_mark,
            "heap.profile": self._heap_profile,
            "agent.stop": self._agent_stop,
            "bye": self._bye,
        }

    def handle(self, message: Message) -> Message:
        rid = request_id(message)
        if not self.greeted:
            return self._hello(rid, message)
        op = message.get("op")
        handler = self._ops.get(op) if isinstance(op, str) else None
        if handler is None:
            return error(rid, E_UNKNOWN_OP, f"unknown op {str(op)[:64]!r}")
        try:
            return ok(rid, handler(message))
        except RequestError as exc:
            return error(rid, exc.code, exc.text, exc.retry_after_s)

    def close(self) -> None:
        self.state.gc_pauses.drop(self.id)

    def _hello(self, rid: int | None, message: Message) -> Message:
        self.closing = True  # unless everything below is in order
        if message.get("op") != "hello":
            return error(rid, E_BAD_REQUEST, "the first frame must be a hello")
        version = message.get("protocol")
        if version != PROTOCOL_VERSION or isinstance(version, bool):
            return error(
                rid,
                E_UNSUPPORTED_PROTOCOL,
                f"this agent speaks protocol {PROTOCOL_VERSION}, not {str(version)[:16]}",
            )
        if not _token_ok(self.state.token, message.get("token")):
            return error(rid, E_UNAUTHORIZED, "a valid token is required")
        self.greeted = True
        self.closing = False
        return ok(
            rid,
            {
                "agent": "memlens",
                "protocol": PROTOCOL_VERSION,
                **self.state.identity,
                "started": self.state.started,
                "transport": self.transport,
                "ops": list(OPS),
                "limits": {
                    "max_request_bytes": MAX_REQUEST_BYTES,
                    "max_response_bytes": MAX_RESPONSE_BYTES,
                    "max_frames": tracing.MAX_FRAMES,
                    "max_limit": tracing.MAX_LIMIT,
                },
            },
        )

    def _stats(self, message: Message) -> dict[str, Any]:
        result = stats.runtime_stats(self.state.started)
        result["gc"]["pauses_collecting"] = self.state.gc_pauses.collecting
        heap = sys.modules.get("memlens.agent.heap")  # never loaded just to say "off"
        result["heap"] = heap.PROFILER.status() if heap is not None else _heap_off()
        marks = sys.modules.get("memlens.agent.marks")  # loaded by the first mark
        result["marks"] = {"last": marks.last() if marks is not None else 0}
        return result

    def _marks(self, message: Message) -> dict[str, Any]:
        """The program's marks newer than `after` (memlens.mark): read, never run."""
        after = int_arg(message, "after", 0, 0, 1 << 62)
        marks = sys.modules.get("memlens.agent.marks")
        if marks is None:
            return {"last": 0, "marks": []}
        result: dict[str, Any] = marks.since(after)
        return result

    def _trace_start(self, message: Message) -> dict[str, Any]:
        frames = int_arg(message, "frames", 1, 1, tracing.MAX_FRAMES)
        return self.state.tracing.start(frames)

    def _trace_stop(self, message: Message) -> dict[str, Any]:
        return self.state.tracing.stop()

    def _top(self, message: Message) -> dict[str, Any]:
        by = choice_arg(message, "by", "lineno", BY)
        order = choice_arg(message, "order", "growth", ORDER)
        limit = int_arg(message, "limit", 10, 1, tracing.MAX_LIMIT)
        tracing.require_tracing()  # a cheap refusal, even while costly work rests
        with self.state.gate.run("top") as cost:
            result = tracing.top(self.state.tracing, self.baselines, by, limit, order)
        return {**result, "elapsed_s": cost.elapsed_s, "over_budget": cost.over_budget}

    def _objects(self, message: Message) -> dict[str, Any]:
        limit = int_arg(message, "limit", 20, 1, tracing.MAX_LIMIT)
        from memlens.agent.objects import count_objects  # loads collections: on demand only

        with self.state.gate.run("objects") as cost:
            result = count_objects(limit)
        return {**result, "elapsed_s": cost.elapsed_s, "over_budget": cost.over_budget}

    def _gc_pauses(self, message: Message) -> dict[str, Any]:
        return self.state.gc_pauses.ask(self.id)

    def _heap_start(self, message: Message) -> dict[str, Any]:
        from memlens.agent import heap

        interval = int_arg(
            message, "interval_bytes", heap.DEFAULT_INTERVAL, heap.MIN_INTERVAL, heap.MAX_INTERVAL
        )
        frames = int_arg(message, "frames", heap.MAX_FRAMES, 1, heap.MAX_FRAMES)
        return heap.PROFILER.start(interval, frames)

    def _heap_stop(self, message: Message) -> dict[str, Any]:
        heap = sys.modules.get("memlens.agent.heap")
        return heap.PROFILER.stop() if heap is not None else _heap_off()

    def _heap_status(self, message: Message) -> dict[str, Any]:
        heap = sys.modules.get("memlens.agent.heap")
        return heap.PROFILER.status() if heap is not None else _heap_off()

    def _heap_mark(self, message: Message) -> dict[str, Any]:
        from memlens.agent import heap

        return heap.PROFILER.mark(message.get("name"))  # type: ignore[arg-type]

    def _heap_profile(self, message: Message) -> dict[str, Any]:
        from memlens.agent import heap

        kind = choice_arg(message, "kind", "inuse", HEAP_KINDS)
        limit = int_arg(message, "limit", heap.DEFAULT_LIMIT, 1, heap.MAX_LIMIT)
        since = message.get("since")
        if since is not None and not isinstance(since, str):
            raise RequestError(E_BAD_REQUEST, "since must be a mark's name")
        if kind == "growth" and since is None:
            raise RequestError(E_BAD_REQUEST, "a growth profile needs since: a mark's name")
        if heap.PROFILER.status()["sampler"] != "tracemalloc":
            # The sampler's profile groups a few thousand samples at most: not costly.
            started = time.perf_counter()
            result = heap.PROFILER.profile(kind, since, limit)
            return {**result, "elapsed_s": time.perf_counter() - started, "over_budget": False}
        with self.state.gate.run("heap.profile") as cost:  # tracemalloc's snapshot is
            result = heap.PROFILER.profile(kind, since, limit)
        return {**result, "elapsed_s": cost.elapsed_s, "over_budget": cost.over_budget}

    def _agent_stop(self, message: Message) -> dict[str, Any]:
        """Stops the heap profiler now, and the agent once the answer is sent (`memlens
        detach`). Only on the Unix socket, whose peers are this process's user or root: a
        token holder on the network may look, not end the agent. Nothing else is done: the
        program goes on, and tracemalloc is switched off only if the agent switched it on."""
        if self.transport != "unix":
            raise RequestError(E_REFUSED, "agent.stop is answered on the Unix socket only")
        heap = sys.modules.get("memlens.agent.heap")
        heap_error = None
        if heap is not None:
            try:
                heap.PROFILER.stop()
            except RequestError as exc:
                heap_error = exc.text[:300]
        self.stop_agent = True
        self.closing = True
        return {"stopping": True, "heap_error": heap_error}

    def _bye(self, message: Message) -> dict[str, Any]:
        self.closing = True
        return {}


def _heap_off() -> dict[str, Any]:
    return {
        "running": False,
        "sampler": None,
        "interval_bytes": 0,
        "max_frames": 0,
        "since": None,
        "marks": [],
        "fallback_reason": None,
        "live_samples": 0,
        "overhead_bytes": 0,
    }


def _token_ok(expected: str | None, presented: object) -> bool:
    if expected is None:
        return True
    if not isinstance(presented, str):
        return False
    import hmac

    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
