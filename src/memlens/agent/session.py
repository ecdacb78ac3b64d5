"""One viewer's connection: the hello, then requests answered one at a time.

Everything a viewer can ask is in OPS. None of it runs code the viewer sends, reads a
file the viewer names, or changes what the program does beyond switching tracemalloc.
"""

from __future__ import annotations

import time

from memlens.agent import stats, tracing
from memlens.agent._constants import PROTOCOL_VERSION
from memlens.agent.budget import CostGate
from memlens.agent.protocol import (
    E_BAD_REQUEST,
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

OPS = ("stats", "tracemalloc.start", "tracemalloc.stop", "top", "objects", "gc.pauses", "bye")
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
        self.baselines = tracing.Baselines()
        self._ops: dict[str, Callable[[Message], dict[str, Any]]] = {
            "stats": self._stats,
            "tracemalloc.start": self._trace_start,
            "tracemalloc.stop": self._trace_stop,
            "top": self._top,
            "objects": self._objects,
            "gc.pauses": self._gc_pauses,
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

    def _bye(self, message: Message) -> dict[str, Any]:
        self.closing = True
        return {}


def _token_ok(expected: str | None, presented: object) -> bool:
    if expected is None:
        return True
    if not isinstance(presented, str):
        return False
    import hmac

    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
