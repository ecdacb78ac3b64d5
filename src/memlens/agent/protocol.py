"""The agent's wire format: length-prefixed JSON frames, small enough to read in full.

Each frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON, which
must be one object. A length is checked before anything is read or allocated, so a hostile
peer cannot make either side buffer more than the limit; requests are small (1 MiB),
answers may be larger (a `top` with tracebacks) but are capped too. Everything here is
standard library only: the agent is loaded into processes that have nothing else.

The JSON is written and read by the C half of `json` (`_json`) with the settings that
`json.dumps(message, separators=(",", ":"), allow_nan=False)` and `json.loads` give it,
NaN and Infinity refused, so the bytes on the wire are the same; `json` itself would
leave `re` and `enum` in the agent's host. Where `_json` is missing, `json` it is. (From
Python 3.12 the scanner imports json's decoder to report an error: a malformed frame
loads it, a well-formed one never does.)
"""

from __future__ import annotations

import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from _socket import socket
    from typing import Any

MAX_REQUEST_BYTES = 1024 * 1024
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
HEADER_BYTES = 4
_WHITESPACE = " \t\n\r"  # JSON's

# Error codes carried in `{"ok": false, "code": ...}`, so clients need not parse messages.
E_BAD_REQUEST = "bad_request"
E_UNKNOWN_OP = "unknown_op"
E_UNAUTHORIZED = "unauthorized"
E_UNSUPPORTED_PROTOCOL = "unsupported_protocol"
E_BUSY = "busy"
E_OVER_BUDGET = "over_budget"
E_NOT_TRACING = "not_tracing"
E_NOT_PROFILING = "not_profiling"
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
    body = _dumps(message).encode("utf-8")
    if len(body) > limit:
        raise ProtocolError(f"frame of {len(body)} bytes is over the {limit}-byte limit")
    return len(body).to_bytes(HEADER_BYTES, "big") + body


def decode(body: bytes) -> Message:
    """The JSON object in a frame's body; anything else is a ProtocolError."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("not a JSON frame: not UTF-8") from None
    try:
        value = _loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers malformed JSON and integers too long to convert.
        raise ProtocolError(f"not a JSON frame: {exc}"[:200]) from None
    if not isinstance(value, dict):
        raise ProtocolError("a frame must hold a JSON object")
    return value


def read_frame(sock: socket, limit: int, deadline: float | None = None) -> Message:
    """Reads exactly one frame by `deadline` (`time.monotonic()`; TimeoutError after it).

    The time left bounds each recv, so the deadline holds for the whole frame: a peer that
    sends a byte just before each recv would time out cannot stretch one frame for ever.
    Without a deadline the socket's own timeout bounds each recv."""
    header = _recv_exact(sock, HEADER_BYTES, deadline, at_boundary=True)
    length = int.from_bytes(header, "big")
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes is over the {limit}-byte limit")
    return decode(_recv_exact(sock, length, deadline, at_boundary=False))


def write_frame(sock: socket, message: Message, limit: int) -> None:
    sock.sendall(encode(message, limit))


def _recv_exact(sock: socket, size: int, deadline: float | None, *, at_boundary: bool) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the frame did not arrive in time")
            sock.settimeout(left)
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


# The JSON codec: `_json`'s encoder and scanner, or `json` where there are none.


def _not_json(value: object) -> object:
    """What json.dumps does with a value it cannot write."""
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _ScanContext:
    """What `_json.make_scanner` reads from a `json.JSONDecoder`: json.loads's settings,
    with NaN, Infinity and -Infinity refused."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None  # read from Python 3.15 on
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_no_constant)


def _dumps_c(message: Message) -> str:
    # A fresh encoder each time: its `markers` (the circular-reference check) must not be
    # shared by two threads encoding at once.
    encoder = make_encoder(
        {}, _not_json, encode_basestring_ascii, None, ":", ",", False, False, False
    )
    return "".join(encoder(message, 0))


def _loads_c(text: str) -> Any:
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scanner(text, start)
    except StopIteration:
        raise ValueError("no JSON value") from None
    except SystemError:
        # The scanner's error reporting fetches json.decoder's JSONDecodeError and fails
        # without setting one where json is not loaded (Python 3.11).
        raise ValueError("malformed JSON") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError("extra data after the JSON value")
    return value


def _dumps_json(message: Message) -> str:
    import json

    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def _loads_json(text: str) -> Any:
    import json

    return json.loads(text, parse_constant=_no_constant)


try:
    from _json import encode_basestring_ascii, make_encoder, make_scanner
except ImportError:  # an interpreter without json's C half
    _dumps, _loads = _dumps_json, _loads_json
else:
    _scanner = make_scanner(_ScanContext())  # type: ignore[arg-type]
    _dumps, _loads = _dumps_c, _loads_c
