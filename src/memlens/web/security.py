"""Who may talk to the server: Host checks, Origin checks and the token, as ASGI middleware.

Loopback-bound servers accept only loopback Host headers, which defeats DNS rebinding
(a hostile page whose name resolves to 127.0.0.1 sends its own name as Host). A
WebSocket upgrade carrying a foreign Origin is refused, which defeats cross-site
WebSocket hijacking: browsers let any page open a WebSocket to 127.0.0.1. Servers bound
wider must have a token; it is compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "memlens_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class SecurityPolicy:
    """What the server requires of each request."""

    token: str | None = None
    loopback_only: bool = True  # bound to loopback: Host must be a loopback name
    extra_hosts: frozenset[str] = field(default_factory=frozenset)

    def host_allowed(self, host_header: str) -> bool:
        host = _host_name(host_header)
        if not host:
            return False
        if is_loopback(host) or host in self.extra_hosts:
            return True
        # Bound wider, the token (which a rebinding page cannot know) guards instead.
        return not self.loopback_only

    def token_ok(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        if not presented:
            return False
        return hmac.compare_digest(presented.encode(), self.token.encode())


def _host_name(host_header: str) -> str:
    """'example.org:8765' → 'example.org', '[::1]:8765' → '::1'."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else ""
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def presented_token(scope: Scope, headers: dict[str, str]) -> str | None:
    raw_query: bytes = scope.get("query_string", b"")
    query = parse_qs(raw_query.decode("latin-1"))
    if "token" in query:
        return query["token"][0]
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header is simply no token
        return None
    morsel = cookie.get(TOKEN_COOKIE)
    return str(morsel.value) if morsel else None


def origin_matches_host(origin: str, host_header: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, policy: SecurityPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        problem: tuple[int, str] | None = None
        if not self.policy.host_allowed(host):
            problem = (400, "unexpected Host header")
        elif not self.policy.token_ok(presented_token(scope, headers)):
            problem = (401, "a valid token is required (?token=…)")
        elif scope["type"] == "websocket":
            origin = headers.get("origin")
            if origin is not None and not origin_matches_host(origin, host):
                problem = (403, "cross-origin WebSocket refused")
        elif scope.get("method", "GET") not in ("GET", "HEAD"):
            # A request that changes something (switching tracemalloc on) must come from
            # this server's own page: same origin, and JSON, which a cross-site form
            # cannot send without a preflight this server never answers.
            origin = headers.get("origin")
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if origin is not None and not origin_matches_host(origin, host):
                problem = (403, "cross-origin request refused")
            elif kind != "application/json":
                problem = (415, "send JSON (content-type: application/json)")
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            # Closing before accepting makes the server answer the upgrade with HTTP 403.
            await receive()
            await send({"type": "websocket.close", "code": 1008, "reason": problem[1]})
        else:
            await _plain(send, *problem)


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})
