"""The viewer's side of the agent protocol: connect, say hello, ask, and close.

Unlike the rest of this package it runs in memlens, not in the target, so it may turn
failures into memlens errors: an agent that cannot be reached is AgentUnavailable (exit 3),
a busy one AgentBusy (a kind of AgentUnavailable that says when to ask again), a refused
token AgentRefused (exit 2), an answered error AgentRequestFailed (exit 2). Every answer
is checked (`answers`) before it is returned: one of the wrong shape is AgentMisbehaved (a
kind of AgentUnavailable), and the connection is dropped. An answer must arrive whole
within the timeout, however slowly its bytes come. One client is one connection and is
not meant to be shared between threads.
"""

from __future__ import annotations

import itertools
import socket
import time
from types import TracebackType
from typing import Any

from memlens.agent import answers
from memlens.agent._constants import PROTOCOL_VERSION
from memlens.agent.addresses import TcpAddress, parse_address
from memlens.agent.protocol import (
    E_BUSY,
    E_UNAUTHORIZED,
    E_UNSUPPORTED_PROTOCOL,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    ConnectionClosed,
    Message,
    ProtocolError,
    encode,
    read_frame,
)
from memlens.errors import (
    AgentBusy,
    AgentMisbehaved,
    AgentRefused,
    AgentRequestFailed,
    AgentUnavailable,
)

DEFAULT_TIMEOUT_S = 5.0
# A snapshot of millions of blocks takes seconds; the agent, not the clock, bounds it.
COSTLY_TIMEOUT_S = 120.0
_REFUSALS = (E_UNAUTHORIZED, E_UNSUPPORTED_PROTOCOL)


class AgentClient:
    """One connection to one agent; `agent` is what it said about itself in its hello."""

    def __init__(self, sock: socket.socket, address: str, timeout: float) -> None:
        self._sock: socket.socket | None = sock
        self.address = address
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.agent: dict[str, Any] = {}

    @classmethod
    def connect(
        cls, address: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S
    ) -> AgentClient:
        """Connects to a socket path, `unix:PATH` or `HOST:PORT`, and says hello."""
        target = parse_address(address)
        try:
            if isinstance(target, TcpAddress):
                sock = socket.create_connection((target.host, target.port), timeout=timeout)
            else:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                try:
                    sock.connect(target)
                except BaseException:
                    sock.close()
                    raise
        except OSError as exc:
            raise AgentUnavailable(f"no agent answers at {address}: {_reason(exc)}") from None
        client = cls(sock, address, timeout)
        try:
            hello: Message = {"op": "hello", "protocol": PROTOCOL_VERSION, "token": token or None}
            client.agent = client._call(hello, timeout)
        except BaseException:
            client._drop()
            raise
        return client

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        """Any op by name; the typed methods below are the usual way in."""
        return self._call({"op": op, **args}, self.timeout)

    def stats(self) -> dict[str, Any]:
        return self.request("stats")

    def tracemalloc_start(self, frames: int = 1) -> dict[str, Any]:
        return self.request("tracemalloc.start", frames=frames)

    def tracemalloc_stop(self) -> dict[str, Any]:
        return self.request("tracemalloc.stop")

    def top(self, by: str = "lineno", limit: int = 10, order: str = "growth") -> dict[str, Any]:
        message = {"op": "top", "by": by, "limit": limit, "order": order}
        return self._call(message, max(self.timeout, COSTLY_TIMEOUT_S))

    def marks(self, after: int = 0) -> dict[str, Any]:
        """The program's marks numbered above `after` (memlens.mark), oldest first."""
        return self.request("marks", after=after)

    def objects(self, limit: int = 20) -> dict[str, Any]:
        return self._call({"op": "objects", "limit": limit}, max(self.timeout, COSTLY_TIMEOUT_S))

    def gc_pauses(self) -> dict[str, Any]:
        return self.request("gc.pauses")

    def heap_start(self, interval_bytes: int = 512 * 1024, frames: int = 128) -> dict[str, Any]:
        return self.request("heap.start", interval_bytes=interval_bytes, frames=frames)

    def heap_stop(self) -> dict[str, Any]:
        return self.request("heap.stop")

    def heap_status(self) -> dict[str, Any]:
        return self.request("heap.status")

    def heap_mark(self, name: str) -> dict[str, Any]:
        return self.request("heap.mark", name=name)

    def heap_profile(
        self, kind: str = "inuse", since: str | None = None, limit: int = 2000
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"op": "heap.profile", "kind": kind, "limit": limit}
        if since is not None:
            message["since"] = since
        return self._call(message, max(self.timeout, COSTLY_TIMEOUT_S))

    def stop_agent(self) -> dict[str, Any]:
        """Stops the heap profiler and then the agent (`memlens detach`): the process goes
        on, its socket and registry entry are removed, and this connection ends."""
        try:
            return self.request("agent.stop")
        finally:
            self._drop()

    def close(self) -> None:
        """Says bye (best effort) and closes; safe to call twice."""
        if self._sock is None:
            return
        try:
            self._sock.settimeout(1.0)
            self._sock.sendall(encode({"id": next(self._ids), "op": "bye"}, MAX_REQUEST_BYTES))
        except OSError:
            pass
        self._drop()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, message: Message, timeout: float) -> dict[str, Any]:
        sock = self._sock
        if sock is None:
            raise AgentUnavailable(f"the connection to {self.address} is closed")
        rid = next(self._ids)
        op = str(message.get("op"))
        try:
            frame = encode({**message, "id": rid}, MAX_REQUEST_BYTES)
        except (ProtocolError, ValueError, TypeError) as exc:
            raise AgentRequestFailed(f"cannot send {op}: {exc}") from None
        try:
            sock.settimeout(timeout)
            sock.sendall(frame)
            answer = read_frame(sock, MAX_RESPONSE_BYTES, time.monotonic() + timeout)
        except (OSError, ConnectionClosed) as exc:
            self._drop()  # a half-read answer leaves the connection out of step
            raise AgentUnavailable(f"the agent at {self.address}: {_reason(exc)}") from None
        except ProtocolError as exc:  # too long, not JSON, not an object
            self._drop()
            raise AgentMisbehaved(f"the agent at {self.address} answered {op}: {exc}") from None
        if answer.get("id") != rid:
            self._drop()
            raise AgentUnavailable(f"the agent at {self.address} answered out of turn")
        try:
            if answer.get("ok") is True:
                return answers.checked(op, answer.get("result"), self.address)
            if answer.get("ok") is not False:
                raise AgentMisbehaved(f"the agent at {self.address} answered {op} with no ok")
            code = answer.get("code")
            text = answers.error_text(answer.get("error"))
            if code in _REFUSALS:
                self._drop()
                raise AgentRefused(f"the agent at {self.address} refused: {text}")
            if code == E_BUSY:
                retry_s = answers.retry_after(answer.get("retry_after_s"), self.address)
                raise AgentBusy(f"the agent at {self.address} is {text}", retry_s)
        except AgentMisbehaved:
            self._drop()  # nothing more it says is to be trusted
            raise
        shown = answers.error_text(code)[:64] if isinstance(code, str) else ""
        raise AgentRequestFailed(f"{op}: {text}", shown)

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
