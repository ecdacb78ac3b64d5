"""Bounds on what clients send, enforced before anything is parsed.

Without them a 300 MB POST was read whole into memory before it could be refused, and
100,000 nested `[` made the JSON parser overflow the stack (a 500). The size is checked
on Content-Length first and then counted as the body streams in, so a body without a
length (chunked) is never buffered past the cap either.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memlens.formats.limits import too_deep
from memlens.web.security import refuse

MAX_BODY = 16 * 1024  # bytes: the largest body any endpoint takes is ~60
MAX_DEPTH = 32  # nesting of JSON arrays and objects


class BodyTooLarge(Exception):
    """A request body ran past MAX_BODY while it was being read."""


def json_depth_ok(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether no array or object in `text` nests deeper than `limit`: the one check an
    imported file also passes, with the web's own, lower limit."""
    return not too_deep(text, limit)


def parse_json(body: bytes, limit: int = MAX_DEPTH) -> Any:
    """The JSON in `body`; ValueError if it is not UTF-8 JSON or nests deeper than `limit`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    if too_deep(body, limit):  # valid UTF-8: no byte of a multi-byte character is a bracket
        raise ValueError(f"the JSON nests deeper than {limit} levels")
    return json.loads(text)


class BodyLimitMiddleware:
    """413 for a body over MAX_BODY, 400 for a Content-Length that is not a number."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None:
            await refuse(send, 400, "Content-Length must be a number of bytes", close=True)
            return
        if declared > self.max_body:
            await refuse(send, 413, f"the body is larger than {self.max_body} bytes", close=True)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await refuse(send, 413, f"the body is larger than {self.max_body} bytes", close=True)


def _content_length(scope: Scope) -> int | None:
    """The declared length, -1 when none is declared, None when it is not a number."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() and len(value) <= 18 else None
    return -1
