"""Writing WebSocket frames straight to a client's transport, for fan-out.

Through ASGI, every message to every client costs a task wake-up and several layers of
calls; at a thousand clients that is most of the server's CPU. Server-to-client frames
are not masked, so one text frame can be built once and written to every transport.

This reaches into uvicorn's `websockets-sansio` protocol (uvicorn 0.30 to 0.54 at least):
the ASGI `send` it hands the app is a bound method of the protocol object, which holds
`transport` and `conn` (a `websockets` protocol). If any of that is not as expected, or
the connection negotiated an extension such as permessage-deflate (frames must then go
through it), `transport_sink` returns None and the caller uses plain ASGI sends.
"""

from __future__ import annotations

import struct
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.protocol import OPEN, Protocol

RAW_SEND_KEY = "memlens.raw_send"
HIGH_WATER = 256 * 1024  # bytes buffered for one client before it counts as slow


def encode_text_frame(text: str) -> bytes:
    """One final, unmasked text frame (RFC 6455 §5.2)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class TransportSink:
    """Writes whole frames to one client's transport, for `Hub`.

    `transport.write` already sends straight to the socket when nothing is buffered
    (asyncio's selector transport; it buffers only what the kernel would not take), and
    a frame is always written whole: uvicorn's own pings and close frames, written
    through the same transport on the same thread, fall between frames, never inside
    one. Once the connection is closing (a close frame sent or received) the protocol
    state is no longer OPEN and nothing more is written.
    """

    __slots__ = ("_conn", "_transport")

    def __init__(self, transport: Any, conn: Protocol) -> None:
        self._transport = transport
        self._conn = conn

    def offer(self, frame: bytes) -> bool:
        t = self._transport
        if (
            self._conn.state is not OPEN
            or t.is_closing()
            or t.get_write_buffer_size() >= HIGH_WATER
        ):
            return False
        t.write(frame)
        return True


def transport_sink(scope: Scope) -> TransportSink | None:
    protocol = getattr(scope.get(RAW_SEND_KEY), "__self__", None)
    transport = getattr(protocol, "transport", None)
    conn = getattr(protocol, "conn", None)
    if transport is None or not isinstance(conn, Protocol):
        return None
    if getattr(conn, "extensions", None):
        return None
    needed = ("write", "is_closing", "get_write_buffer_size")
    if not all(callable(getattr(transport, name, None)) for name in needed):
        return None
    return TransportSink(transport, conn)


class RawSendMiddleware:
    """Keeps the server's own `send` in the scope of WebSocket connections."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[RAW_SEND_KEY] = send
        await self.app(scope, receive, send)
