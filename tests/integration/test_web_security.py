"""A real `memlens watch` on 127.0.0.1: the token on loopback, strict Host headers, and
bounded request bodies, through real sockets."""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from helpers import MB, Allocator, MemlensServer, run_memlens

TRACEMALLOC = "api/python/tracemalloc"


@pytest.fixture(scope="module")
def target() -> Iterator[Allocator]:
    child = Allocator()
    try:
        yield child
    finally:
        child.stop()


@pytest.fixture(scope="module")
def server(target: Allocator) -> Iterator[MemlensServer]:
    srv = MemlensServer("watch", str(target.pid), "--port", "0", "--no-record")
    try:
        yield srv
    finally:
        assert srv.stop() == 0


def port_of(server: MemlensServer) -> int:
    port = urlsplit(server.base).port
    assert port is not None
    return port


def hello(url: str, **kwargs: object) -> str:
    with connect(url, **kwargs) as ws:  # type: ignore[arg-type]
        message = ws.recv(timeout=10)
    assert isinstance(message, str)
    kind: str = json.loads(message)["type"]
    return kind


def test_the_printed_url_carries_a_token_on_loopback(server: MemlensServer) -> None:
    assert server.base.startswith("http://127.0.0.1:")
    assert server.token is not None
    assert len(server.token) >= 32


def test_without_the_token_everything_but_healthz_is_refused(server: MemlensServer) -> None:
    assert httpx.get(server.base + "api/targets").status_code == 401
    page = httpx.get(server.base)
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert "URL memlens printed" in page.text
    assert httpx.get(server.base + "metrics").status_code == 401
    post = httpx.post(server.base + TRACEMALLOC, json={"target": "x", "on": True, "frames": 100})
    assert post.status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        hello(server.base.replace("http://", "ws://") + "ws")
    assert refused.value.response.status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert httpx.get(server.base + "api/targets", headers=wrong).status_code == 401
    wrong_cookie = {"Cookie": f"memlens_token_{port_of(server)}=not-the-token-at-all"}
    assert httpx.get(server.base + "api/targets", headers=wrong_cookie).status_code == 401
    assert httpx.get(server.base + "healthz").status_code == 200


def test_the_token_is_accepted_in_the_query_as_bearer_and_as_the_cookie(
    server: MemlensServer,
) -> None:
    token = server.token
    assert token is not None
    ws = server.base.replace("http://", "ws://") + "ws"
    # ?token=
    assert httpx.get(server.base + "api/targets", params={"token": token}).status_code == 200
    assert hello(f"{ws}?token={token}") == "hello"
    # Authorization: Bearer
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(server.base + "api/targets", headers=bearer).status_code == 200
    assert hello(ws, additional_headers=bearer) == "hello"
    # The page opened with ?token= sets the cookie and sends the browser to the bare URL.
    opened = httpx.get(server.base, params={"token": token})
    assert opened.status_code == 303
    assert opened.headers["location"] == "./"
    name = f"memlens_token_{port_of(server)}"
    set_cookie = opened.headers["set-cookie"]
    assert set_cookie.startswith(f"{name}={token};")
    assert "HttpOnly" in set_cookie
    assert "samesite=strict" in set_cookie.lower()
    cookie = {"Cookie": f"{name}={token}"}
    page = httpx.get(server.base, headers=cookie)
    assert page.status_code == 200
    assert "<html" in page.text.lower()
    assert httpx.get(server.base + "api/targets", headers=cookie).status_code == 200
    assert hello(ws, additional_headers=cookie) == "hello"
    # Past the token, the switch answers for itself: this target runs no agent.
    for auth in (bearer, cookie):
        post = httpx.post(
            server.base + TRACEMALLOC,
            json={"target": "nope", "on": True, "frames": 100},
            headers=auth,
        )
        assert post.status_code == 404


@pytest.mark.parametrize(
    "host", ["[::1].evil.example:{port}", "[::1]x", "127.0.0.1:{port}@evil.example"]
)
def test_loose_host_headers_are_refused(server: MemlensServer, host: str) -> None:
    headers = {**server.auth, "Host": host.format(port=port_of(server))}
    assert httpx.get(server.base + "api/targets", headers=headers).status_code == 400
    ok = {**server.auth, "Host": f"localhost:{port_of(server)}"}
    assert httpx.get(server.base + "api/targets", headers=ok).status_code == 200


def vmrss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def send_until_answered(port: int, head: bytes, pieces: Iterable[bytes]) -> bytes:
    """Send `head`, then `pieces` until the server answers or hangs up; its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        try:
            for piece in pieces:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered before reading it all
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def request_head(server: MemlensServer, framing: str) -> bytes:
    port = port_of(server)
    return (
        f"POST /{TRACEMALLOC} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {server.token}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


PIECE = b" " * 65536
TOTAL = 200 * MB


def test_a_body_over_the_cap_is_refused_unread(server: MemlensServer) -> None:
    pid = server.proc.pid
    before = vmrss(pid)
    honest = send_until_answered(
        port_of(server),
        request_head(server, f"Content-Length: {TOTAL}"),
        (PIECE for _ in range(TOTAL // len(PIECE))),
    )
    assert honest.startswith(b"HTTP/1.1 413 "), honest[:200]
    chunk = b"%x\r\n" % len(PIECE) + PIECE + b"\r\n"
    chunked = send_until_answered(
        port_of(server),
        request_head(server, "Transfer-Encoding: chunked"),
        (chunk for _ in range(TOTAL // len(PIECE))),
    )
    assert chunked.startswith(b"HTTP/1.1 413 "), chunked[:200]
    assert vmrss(pid) - before < 50 * MB
    assert server.get("healthz").status_code == 200  # and it still serves


def test_deep_nesting_is_a_clean_400_or_413(server: MemlensServer) -> None:
    url = server.base + TRACEMALLOC
    headers = {**server.auth, "Content-Type": "application/json"}
    deep = httpx.post(url, content=b"[" * 10_000, headers=headers)
    assert deep.status_code == 400
    assert "error" in deep.json()
    objects = httpx.post(url, content=b'{"a":' * 2_000 + b"1" + b"}" * 2_000, headers=headers)
    assert objects.status_code == 400
    huge = httpx.post(url, content=b"[" * 100_000, headers=headers)
    assert huge.status_code == 413
    assert server.get("healthz").status_code == 200


def test_no_token_is_bad_usage_beyond_loopback(target: Allocator) -> None:
    done = run_memlens("watch", str(target.pid), "--host", "0.0.0.0", "--port", "0", "--no-token")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--no-token" in lines[0]
    assert "Traceback" not in done.stderr


def test_no_token_on_loopback_warns_and_needs_none(target: Allocator) -> None:
    srv = MemlensServer("watch", str(target.pid), "--port", "0", "--no-record", "--no-token")
    try:
        assert srv.token is None
        assert httpx.get(srv.base + "api/targets").status_code == 200
    finally:
        assert srv.stop() == 0
    assert "warning: --no-token" in srv.stderr


def test_the_token_can_come_from_the_environment(
    target: Allocator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMLENS_TOKEN", "from-the-environment")
    srv = MemlensServer("watch", str(target.pid), "--port", "0", "--no-record")
    try:
        assert srv.token == "from-the-environment"
        assert srv.get("api/targets").status_code == 200
    finally:
        assert srv.stop() == 0


def drain(ws: ClientConnection) -> None:
    for _ in range(1000):
        ws.recv(timeout=10)


def test_client_messages_are_ignored_and_bounded(server: MemlensServer) -> None:
    with connect(server.ws_url) as ws:
        ws.recv(timeout=10)  # hello
        for junk in ("ping", "[" * 3000, '{"type": "hello"', b"\xff\x00binary"):
            ws.send(junk)
        # Still served: what a client says is never parsed.
        assert json.loads(ws.recv(timeout=10))["type"] in ("backfill", "tick", "python")
        ws.send("x" * 5000)
        with pytest.raises(ConnectionClosed) as closed:
            drain(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
    assert server.get("healthz").status_code == 200
