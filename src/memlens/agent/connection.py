"""What a viewer's connection runs: frames in, answers out, until either side is done.

The listener (`server`) loads this module, and through it the sessions, stats, tracing,
object counts, gc pauses and cost gate, when the first viewer speaks, on the agent's own
thread: an agent that nobody talks to keeps none of it in the host, whose garbage
collector would walk it for the rest of the process's life.

Tracing and gc pauses are process-wide, like tracemalloc and `gc.callbacks` themselves,
so their state lives here once per process and outlives any one agent that `stop()` and
`start()` make.

Like the listener, this loads C modules and small modules of the agent only: what answers
`stats` and `gc.pauses` costs the host no `json`, `re`, `enum`, `socket`, `threading` or
`tracemalloc.py`; `top` loads `tracemalloc`, and `objects` loads `collections`, when
first asked for.
"""

from __future__ import annotations

import _socket
import _thread
import time

from memlens.agent._constants import FRAME_TIMEOUT_S, HOUSEKEEP_S
from memlens.agent._log import log_once
from memlens.agent.gcpauses import GcPauses
from memlens.agent.protocol import (
    E_BAD_REQUEST,
    E_BUSY,
    E_INTERNAL,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    ConnectionClosed,
    ProtocolError,
    encode,
    error,
    read_frame,
    request_id,
)
from memlens.agent.session import AgentState, Session
from memlens.agent.tracing import Tracing

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from _socket import socket
    from collections.abc import Callable
    from typing import Any

TRACING = Tracing()
GC_PAUSES = GcPauses()


class Handler:
    """One agent's request handling: the state that all its connections share."""

    def __init__(self, identity: dict[str, Any], token: str | None, started: float) -> None:
        self.state = AgentState(identity, token, TRACING, GC_PAUSES, started=started)

    def serve(
        self,
        conn: socket,
        transport: str,
        stopping: Callable[[], bool],
        hello_deadline: float,
        promote: Callable[[], bool],
    ) -> None:
        """Answers `conn` until the viewer is done, `stopping()` or a broken frame; errors
        of the socket (a deadline passed) are the caller's to catch.

        The hello must have arrived whole by `hello_deadline`, every later frame within
        FRAME_TIMEOUT_S of its first byte. A good hello makes the connection a viewer
        through `promote()`, which refuses it (busy) when the agent serves enough."""
        session = Session(self.state, transport)
        try:
            while not stopping() and not session.closing:
                if not session.greeted:
                    deadline = hello_deadline
                elif wait_readable(conn, HOUSEKEEP_S):
                    deadline = time.monotonic() + FRAME_TIMEOUT_S
                else:
                    GC_PAUSES.expire()
                    continue
                try:
                    message = read_frame(conn, MAX_REQUEST_BYTES, deadline)
                except ConnectionClosed:
                    break
                except ProtocolError as exc:
                    log_once("malformed", f"memlens agent: closed a connection that sent {exc}")
                    _send_quietly(conn, encode(error(None, E_BAD_REQUEST, str(exc))))
                    break
                greeted = session.greeted
                answer = _answer(session, message)
                if session.greeted and not greeted and not promote():
                    busy = error(request_id(message), E_BUSY, "serving all the viewers it may", 1.0)
                    _send_quietly(conn, encode(busy))
                    break
                conn.settimeout(FRAME_TIMEOUT_S)  # sendall's timeout covers the whole answer
                conn.sendall(answer)
                if session.stop_agent:
                    _stop_agent()
        finally:
            try:
                session.close()
            except Exception as exc:  # not to hide why the loop ended, if it failed
                log_once("session-close", f"memlens agent: closing failed: {exc!r}", exc=exc)


def _stop_agent() -> None:
    """agent.stop, after its answer went out: what `memlens.agent.stop()` does, from this
    viewer's thread (stop() hangs up on this connection too, and this loop then ends)."""
    from memlens.agent import lifecycle

    lifecycle.stop()


def after_stop() -> None:
    """Once no agent runs: switches off tracing the agent switched on, drops gc hooks."""
    with TRACING.lock:
        TRACING.stop_if_ours()
    GC_PAUSES.clear()


def after_fork_in_child() -> None:
    """The child has no viewers, and its copies of the locks may be held by nobody."""
    TRACING.lock = _thread.allocate_lock()
    GC_PAUSES.reset_after_fork()


def _answer(session: Session, message: dict[str, object]) -> bytes:
    try:
        response = session.handle(message)
    except Exception as exc:
        op = str(message.get("op"))[:32]
        log_once(f"op:{op}", f"memlens agent: {op} failed: {exc!r}", exc=exc)
        response = error(request_id(message), E_INTERNAL, f"{op} failed: {type(exc).__name__}")
    try:
        return encode(response, MAX_RESPONSE_BYTES)
    except (ProtocolError, ValueError, TypeError) as exc:
        return encode(error(request_id(message), E_INTERNAL, f"no answer could be sent: {exc}"))


def _send_quietly(conn: socket, frame: bytes) -> None:
    """A last word to a peer that may be gone already."""
    try:
        conn.sendall(frame)
    except OSError:
        return


def wait_readable(conn: socket, timeout: float) -> bool:
    """Waits for the next frame (or the end) without reading it; False on a quiet timeout.

    A peek on the socket itself, not select(): the host may hold more than FD_SETSIZE
    descriptors, and a selector would cost one more of them per viewer."""
    conn.settimeout(timeout)
    try:
        conn.recv(1, _socket.MSG_PEEK)
    except (TimeoutError, BlockingIOError):
        return False
    return True
