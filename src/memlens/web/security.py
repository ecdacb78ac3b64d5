"""Who may talk to the server: Host checks, Origin checks and the token, as ASGI middleware.

Loopback-bound servers accept only loopback Host headers, which defeats DNS rebinding
(a hostile page whose name resolves to 127.0.0.1 sends its own name as Host). A
WebSocket upgrade carrying a foreign Origin is refused, which defeats cross-site
WebSocket hijacking: browsers let any page open a WebSocket to 127.0.0.1. A dashboard
needs its token even on loopback, as Jupyter does: any local user can reach 127.0.0.1,
and the dashboard shows every target's command line and switches tracing on inside
them. The token is compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_COOKIE = "memlens_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
OPEN_PATHS = frozenset({"/healthz"})  # liveness checks carry no credentials
MAX_HOST = 300

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


def parse_host(header: str) -> str | None:
    """The name in a Host header, lower-cased, IPv6 without brackets; None unless it is
    exactly `name`, `name:port`, `[ipv6]` or `[ipv6]:port` (port 1-65535).

    Strict because a loose split let `[::1].evil.example` or `127.0.0.1:1@evil.example`
    pass as loopback names."""
    if not header or len(header) > MAX_HOST:
        return None
    if header.startswith("["):
        close = header.find("]")
        if close < 0:
            return None
        name, rest = header[1:close], header[close + 1 :]
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
        if "%" in name:  # a zone: no browser sends one in Host
            return None
    else:
        name, colon, port = header.partition(":")
        rest = colon + port
        labels = name.split(".")
        if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
            return None
    if rest:
        port = rest[1:]
        if rest[0] != ":" or not _PORT.match(port) or not 1 <= int(port) <= 65535:
            return None
    return name.lower()


@dataclass(frozen=True)
class SecurityPolicy:
    """What the server requires of each request."""

    token: str | None = None
    loopback_only: bool = True  # bound to loopback: Host must be a loopback name
    extra_hosts: frozenset[str] = field(default_factory=frozenset)

    def host_allowed(self, host_header: str) -> bool:
        host = parse_host(host_header)
        if host is None:
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


def cookie_name(scope: Scope) -> str:
    """One cookie per port: browsers share cookies across the ports of one host, and two
    dashboards on 127.0.0.1 must not overwrite each other's token."""
    server = scope.get("server")
    return f"{TOKEN_COOKIE}_{server[1]}" if server and server[1] else TOKEN_COOKIE


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
    except CookieError:  # a malformed cookie header is simply no token
        return None
    morsel = cookie.get(cookie_name(scope))
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
        problem = self._problem(scope, _headers(scope))
        if problem is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            # Refused before accepting, the upgrade is answered with this HTTP status.
            await receive()
            await refuse(send, *problem, prefix="websocket.")
        else:
            await refuse(send, *problem, page=scope.get("path") == "/")

    def _problem(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if not self.policy.host_allowed(host):
            return (400, "unexpected Host header")
        if scope.get("path") not in OPEN_PATHS and not self.policy.token_ok(
            presented_token(scope, headers)
        ):
            return (401, "a valid token is required: open the URL memlens printed (?token=…)")
        origin = headers.get("origin")
        if scope["type"] == "websocket":
            if origin is not None and not origin_matches_host(origin, host):
                return (403, "cross-origin WebSocket refused")
        elif scope.get("method", "GET") not in ("GET", "HEAD"):
            # A request that changes something (switching tracemalloc on) must come from
            # this server's own page: same origin, and JSON, which a cross-site form
            # cannot send without a preflight this server never answers.
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if origin is not None and not origin_matches_host(origin, host):
                return (403, "cross-origin request refused")
            if kind != "application/json":
                return (415, "send JSON (content-type: application/json)")
        return None


_PAGE = (
    "<!doctype html><meta charset=utf-8><title>memlens: token needed</title>"
    "<p>This memlens dashboard needs its token. Open the URL memlens printed when it "
    "started (it ends in <code>?token=…</code>).</p>\n"
)


async def refuse(
    send: Send, status: int, text: str, *, prefix: str = "", page: bool = False, close: bool = False
) -> None:
    """Answer with `status` before the app sees the request. `close` ends the connection
    too, so that a body nobody will read is not read at all."""
    if page and status == 401:
        body, kind = _PAGE.encode(), b"text/html; charset=utf-8"
    else:
        body, kind = (text + "\n").encode(), b"text/plain; charset=utf-8"
    start: Message = {
        "type": f"{prefix}http.response.start",
        "status": status,
        "headers": [
            (b"content-type", kind),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            *([(b"connection", b"close")] if close else []),
        ],
    }
    await send(start)
    await send({"type": f"{prefix}http.response.body", "body": body})
