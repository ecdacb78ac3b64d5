"""A real `memlens watch` process, real WebSocket clients and HTTP requests on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from helpers import MB, Allocator, MemlensServer
from memlens.store import StoreReader


@pytest.fixture
def server(allocator: Allocator) -> Iterator[MemlensServer]:
    srv = MemlensServer("watch", str(allocator.pid), "--port", "0", "--interval", "0.1")
    try:
        yield srv
    finally:
        assert srv.stop() == 0


def receive(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    message = ws.recv(timeout=timeout)
    assert isinstance(message, str)
    parsed: dict[str, Any] = json.loads(message)
    return parsed


def next_tick(ws: ClientConnection) -> str | bytes:
    """The next tick as sent, past the other messages between ticks (memory maps)."""
    for _ in range(100):
        raw = ws.recv(timeout=10)
        if json.loads(raw)["type"] == "tick":
            return raw
    raise AssertionError("no tick")


def until(ws: ClientConnection, kind: str, limit: int = 600) -> dict[str, Any]:
    for _ in range(limit):
        message = receive(ws)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def test_two_clients_get_hello_backfill_and_the_same_ticks(
    server: MemlensServer, allocator: Allocator
) -> None:
    time.sleep(0.5)  # let some history build up
    with connect(server.ws_url) as a, connect(server.ws_url) as b:
        hellos = [receive(a), receive(b)]
        for hello in hellos:
            assert hello["type"] == "hello"
            assert hello["protocol"] == 1
            assert hello["interval"] == 0.1
            assert hello["units"]["memory"] == "bytes"
            assert hello["fields"][0] == "rss"
            assert [t["pid"] for t in hello["targets"]] == [allocator.pid]
        key = hellos[0]["targets"][0]["key"]
        fills = [receive(a), receive(b)]
        for fill in fills:
            assert fill["type"] == "backfill"
            assert len(fill["series"][key]["t"]) >= 2
            assert len(fill["series"][key]["rss"]) == len(fill["series"][key]["t"])
        # From here on both see the same ticks: same seq, same bytes.
        ticks_a = [next_tick(a) for _ in range(8)]
        first_seq = json.loads(ticks_a[0])["seq"]
        assert first_seq == fills[0]["seq"] + 1
        for _ in range(50):
            raw = next_tick(b)
            if json.loads(raw)["seq"] >= first_seq:
                break
        ticks_b = [raw] + [next_tick(b) for _ in range(7)]
        assert ticks_a == ticks_b
        health = server.get("healthz").json()
        assert health["clients"] == 2
        assert health["clients_direct"] == 2  # the one-frame-for-all fast path is in use
        seqs = [json.loads(m)["seq"] for m in ticks_a]
        assert seqs == list(range(first_seq, first_seq + 8))
        # The values follow the child: it grows by 40 MB and the stream shows it.
        before = json.loads(ticks_a[-1])["samples"][key][0]
        allocator.alloc(40)
        for _ in range(100):
            tick = until(a, "tick")
            if tick["samples"][key][0] - before >= 38 * MB:
                break
        else:
            raise AssertionError("the growth never showed")


def test_a_client_that_never_reads_does_not_delay_the_others(server: MemlensServer) -> None:
    host, port = server.base.removeprefix("http://").rstrip("/").split(":")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stalled.connect((host, int(port)))
    stalled.sendall(
        (
            f"GET /ws?token={server.token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    try:
        with connect(server.ws_url) as healthy:
            until(healthy, "backfill")
            seqs = [until(healthy, "tick")["seq"] for _ in range(40)]
            assert seqs == list(range(seqs[0], seqs[0] + 40))  # nothing lost, nothing stuck
            health = server.get("healthz").json()
            assert health["clients"] == 2
    finally:
        stalled.close()


def test_foreign_origin_and_host_are_refused(server: MemlensServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(server.ws_url, origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(server.ws_url, additional_headers={"Host": "evil.example"})
    # The page's own origin is fine.
    origin = server.base.rstrip("/")
    with connect(server.ws_url, origin=origin) as ws:  # type: ignore[arg-type]
        assert receive(ws)["type"] == "hello"
    rebinding = server.get("api/targets", headers={"Host": "evil.example:80"})
    assert rebinding.status_code == 400
    page = server.get("")
    assert page.status_code == 200
    assert "access-control-allow-origin" not in page.headers
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_history_api(server: MemlensServer, allocator: Allocator) -> None:
    time.sleep(0.6)
    targets = server.get("api/targets").json()
    key = targets["targets"][0]["key"]
    assert targets["targets"][0]["pid"] == allocator.pid
    series = server.get("api/samples", params={"target": key}).json()["series"]
    assert len(series["t"]) >= 3
    assert series["t"] == sorted(series["t"])
    middle = series["t"][len(series["t"]) // 2]
    later = server.get("api/samples", params={"target": key, "since": middle})
    assert all(t > middle for t in later.json()["series"]["t"])
    limited = server.get("api/samples", params={"target": key, "limit": 2}).json()
    assert len(limited["series"]["t"]) == 2
    assert server.get("api/samples", params={"target": "nope"}).status_code == 404
    bad = server.get("api/samples", params={"target": key, "since": "yesterday"})
    assert bad.status_code == 400
    assert server.get("api/samples").status_code == 400
    health = server.get("healthz").json()
    assert health["status"] == "ok"
    assert health["targets"] == 1
    assert health["ticks"] >= 3


def test_a_target_that_dies_is_an_event_and_the_server_keeps_running(
    server: MemlensServer, allocator: Allocator
) -> None:
    with connect(server.ws_url) as ws:
        key = receive(ws)["targets"][0]["key"]
        until(ws, "tick")
        allocator.stop()
        gone = until(ws, "exit")
        assert gone["key"] == key
        assert gone["reason"] == "exited"
        assert gone["exit_code"] is None  # not a child memlens started
        assert until(ws, "tick")["samples"] == {}
    assert server.proc.poll() is None
    targets = server.get("api/targets").json()["targets"]
    assert targets[0]["state"] == "exited"
    # The history stays available, and a new client hears about the exit in its hello.
    assert server.get("api/samples", params={"target": key}).json()["series"]["t"]
    with connect(server.ws_url) as late:
        assert receive(late)["targets"][0]["state"] == "exited"


def test_a_wider_bind_needs_the_token(allocator: Allocator) -> None:
    srv = MemlensServer("watch", str(allocator.pid), "--host", "0.0.0.0", "--port", "0")
    try:
        assert "?token=" in srv.url
        token = srv.url.split("?token=", 1)[1]
        port = srv.base.rstrip("/").rsplit(":", 1)[1]
        base = f"http://127.0.0.1:{port}/"
        assert httpx.get(base + "api/targets").status_code == 401
        wrong = httpx.get(base + "api/targets", params={"token": "wrong-token"})
        assert wrong.status_code == 401
        ok = httpx.get(base + "api/targets", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert httpx.get(base + "healthz").status_code == 200  # liveness checks stay open
        page = httpx.get(base, params={"token": token})
        assert page.status_code == 303
        assert "memlens_token" in page.headers["set-cookie"]
        assert "HttpOnly" in page.headers["set-cookie"]
        with pytest.raises(InvalidStatus):
            connect(f"ws://127.0.0.1:{port}/ws")
        with connect(f"ws://127.0.0.1:{port}/ws?token={token}") as ws:
            assert receive(ws)["type"] == "hello"
    finally:
        srv.stop()
    assert "reachable from other machines" in srv.stderr


def test_demo_workload_exit_code_reaches_the_page() -> None:
    srv = MemlensServer("demo", "--port", "0", "--interval", "0.2", "--duration", "2")
    try:
        with connect(srv.ws_url) as ws:
            hello = receive(ws)
            assert hello["targets"][0]["name"].startswith("python")
            # the workload runs the Python agent, traced: its heap rides on the samples
            heap = hello["fields"].index("py_heap")
            key = hello["targets"][0]["key"]
            traced = until(ws, "tick")
            while traced["samples"][key][heap] is None:
                traced = until(ws, "tick")
            assert traced["samples"][key][heap] > 0
            gone = until(ws, "exit", limit=200)
            assert gone["exit_code"] == 0
            assert gone["reason"] == "exited"
    finally:
        assert srv.stop() == 0


def test_a_watch_is_recorded_into_the_store(allocator: Allocator, private_store: Path) -> None:
    srv = MemlensServer("watch", str(allocator.pid), "--port", "0", "--interval", "0.1")
    try:
        assert any(f"recording to {private_store}" in line for line in srv.lines)
        with connect(srv.ws_url) as ws:
            key = receive(ws)["targets"][0]["key"]
            for _ in range(5):
                until(ws, "tick")
    finally:
        assert srv.stop() == 0
    reader = StoreReader.open(private_store)
    try:
        info = reader.recording("last")
        assert info.ended is not None
        assert info.interval == 0.1
        assert [t.key for t in reader.targets(info.id)] == [key]
        assert len(reader.series(info.id, key)["rss"]) >= 5
    finally:
        reader.close()


def test_no_record_leaves_the_store_alone(allocator: Allocator, private_store: Path) -> None:
    srv = MemlensServer("watch", str(allocator.pid), "--port", "0", "--no-record")
    try:
        assert not any("recording to" in line for line in srv.lines)
    finally:
        srv.stop()
    assert not private_store.exists()
