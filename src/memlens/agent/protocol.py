"""The agent's wire format: length-prefixed JSON frames, small enough to read in full.

Each frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON, which
must be one object. A length is checked before anything is read or allocated, so a hostile
peer cannot make either side buffer more than the limit; requests are small (1 MiB),
answers may be larger (a `top` with tracebacks) but are capped too. Everything here is
standard library only: the agent is loaded into processes that have nothing else.
"""

from __future__ import annotations

import json
import socket
import struct

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

PROTOCOL_VERSION = 1
MAX_REQUEST_BYTES = 1024 * 1024
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
HEADER = struct.Struct(">I")

# Error codes carried in `{"ok": false, "code": ...}`, so clients need not parse messages.
E_BAD_REQUEST = "bad_request"
E_UNKNOWN_OP = "unknown_op"
E_UNAUTHORIZED = "unauthorized"
E_UNSUPPORTED_PROTOCOL = "unsupported_protocol"
E_BUSY = "busy"
E_OVER_BUDGET = "over_budget"
E_NOT_TRACING = "not_tracing"
E_REFUSED = "refused"
E_INTERNAL = "internal"

if TYPE_CHECKING:
    Message = dict[str, Any]
else:
    Message = dict


class ProtocolError(Exception):
    """The peer broke the framing or sent something that is not a JSON object.

    The connection cannot be trusted to be in step any more, so the only answer is to
    close it."""


class ConnectionClosed(ProtocolError):
    """The peer closed the connection (cleanly, between frames, or in the middle of one)."""


def encode(message: Message, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """One frame holding `message`; refuses to build one the peer would reject."""
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(body) > limit:
        raise ProtocolError(f"frame of {len(body)} bytes is over the {limit}-byte limit")
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> Message:
    """The JSON object in a frame's body; anything else is a ProtocolError."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers malformed JSON and integers too long to convert.
        raise ProtocolError(f"not a JSON frame: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise ProtocolError("a frame must hold a JSON object")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_frame(sock: socket.socket, limit: int) -> Message:
    """Reads exactly one frame; the socket's own timeout bounds how long a slow peer takes."""
    header = _recv_exact(sock, HEADER.size, at_boundary=True)
    (length,) = HEADER.unpack(header)
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes is over the {limit}-byte limit")
    return decode(_recv_exact(sock, length, at_boundary=False))


def write_frame(sock: socket.socket, message: Message, limit: int) -> None:
    sock.sendall(encode(message, limit))


def _recv_exact(sock: socket.socket, size: int, *, at_boundary: bool) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1024 * 1024))
        if not chunk:
            if at_boundary and remaining == size:
                raise ConnectionClosed("the peer closed the connection")
            raise ConnectionClosed("the peer closed the connection in the middle of a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def request_id(message: Message) -> int | None:
    """The request's id when it is a plain integer that fits 64 bits, else None."""
    value = message.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
        return value
    return None


def ok(rid: int | None, result: Message) -> Message:
    return {"id": rid, "ok": True, "result": result}


def error(rid: int | None, code: str, text: str, retry_after_s: float | None = None) -> Message:
    message: Message = {"id": rid, "ok": False, "code": code, "error": text}
    if retry_after_s is not None:
        message["retry_after_s"] = round(retry_after_s, 3)
    return message


class RequestError(Exception):
    """A request the agent answers with an error and then carries on serving."""

    def __init__(self, code: str, text: str, retry_after_s: float | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.retry_after_s = retry_after_s


def int_arg(message: Message, name: str, default: int, low: int, high: int) -> int:
    """An integer argument within [low, high]; a RequestError names what was wrong."""
    value = message.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError(E_BAD_REQUEST, f"{name} must be an integer from {low} to {high}")
    return value


def choice_arg(message: Message, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = message.get(name, default)
    if value not in choices:
        raise RequestError(E_BAD_REQUEST, f"{name} must be one of: {', '.join(choices)}")
    return str(value)
