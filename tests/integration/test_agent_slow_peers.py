"""Peers that connect to an agent and never finish their hello cannot keep viewers out.

Real children run the agent on its Unix socket and on TCP with a token; the peers are
real sockets that send a hello a byte at a time. Nothing here measures time: the hello
deadline is shortened in the child so that waits are short, and the tests assert what
happens (who is hung up on, who is served), not when.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest

from helpers import python_child
from memlens.agent import find_agent
from memlens.agent.addresses import TcpAddress, parse_address
from memlens.agent.client import AgentClient
from memlens.agent.server import MAX_CONNECTIONS, MAX_PENDING

TOKEN = "token-for-the-slow-peer-tests"

CHILD = r"""
import os, time
import memlens.agent
import memlens.agent.server

memlens.agent.server.HELLO_TIMEOUT_S = float(os.environ["HELLO_TIMEOUT_S"])
memlens.agent.start("127.0.0.1:0", token=os.environ["AGENT_TOKEN"])
print("ready", flush=True)
time.sleep(600)
"""


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], dict[str, str]]]:
    """Starts a child whose agent gives a hello `timeout` seconds; returns its addresses
    by transport."""
    children = contextlib.ExitStack()

    def start(timeout: float) -> dict[str, str]:
        monkeypatch.setenv("AGENT_TOKEN", TOKEN)
        monkeypatch.setenv("HELLO_TIMEOUT_S", str(timeout))
        proc = children.enter_context(python_child(CHILD))
        entry = find_agent(proc.pid)
        assert entry is not None
        assert entry.socket is not None
        assert entry.tcp is not None
        return {"unix": entry.socket, "tcp": entry.tcp}

    with children:
        yield start


def _connect(address: str) -> socket.socket:
    target = parse_address(address)
    if isinstance(target, TcpAddress):
        sock = socket.create_connection((target.host, target.port), timeout=10)
    else:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        deadline = time.monotonic() + 30
        while True:
            try:
                sock.connect(target)
                break
            except BlockingIOError:  # the backlog is full until the agent accepts
                if time.monotonic() > deadline:
                    sock.close()
                    raise
                time.sleep(0.01)
    return sock


def _hello(token: str) -> bytes:
    body = json.dumps({"id": 1, "op": "hello", "protocol": 1, "token": token}).encode()
    return struct.pack(">I", len(body)) + body


def _hung_up(sock: socket.socket) -> bool:
    """Whether the agent closed this connection (without reading or waiting)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.settimeout(timeout)


def _wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_peers_stuck_in_their_hello_cannot_keep_a_viewer_out(
    agent: Callable[[float], dict[str, str]], transport: str
) -> None:
    address = agent(600.0)[transport]  # the peers' hellos do not run out during the test
    slow: list[socket.socket] = []
    try:
        for _ in range(MAX_CONNECTIONS + MAX_PENDING + 4):
            slow.append(_connect(address))
            slow[-1].sendall(_hello("wrong")[:2])  # a hello begun, never finished

        def hung_up() -> int:
            return sum(map(_hung_up, slow))

        # The agent keeps MAX_PENDING of them, the newest, and hangs up on the rest.
        _wait_until(lambda: hung_up() == len(slow) - MAX_PENDING, "the oldest hung up on")
        assert not any(map(_hung_up, slow[-MAX_PENDING:]))

        # A viewer with the token is served all the same, and more than one.
        with AgentClient.connect(address, token=TOKEN) as first:
            assert first.stats()["rss_bytes"] > 0
            with AgentClient.connect(address, token=TOKEN) as second:
                assert second.stats()["rss_bytes"] > 0
            assert first.stats()["rss_bytes"] > 0
        assert hung_up() == len(slow) - MAX_PENDING + 1  # the first made room for itself
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_a_hello_sent_a_byte_at_a_time_is_cut_off_at_its_deadline(
    agent: Callable[[float], dict[str, str]], transport: str
) -> None:
    address = agent(1.0)[transport]
    hello = _hello(TOKEN + "x" * 400)  # long enough to outlast the deadline many times
    sent = 0
    with _connect(address) as sock:
        try:
            while sent < len(hello) and not _hung_up(sock):
                sock.sendall(hello[sent : sent + 1])  # each byte well within the old 10 s
                sent += 1
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert sent < len(hello), "the agent waited for the whole trickled hello"
    with AgentClient.connect(address, token=TOKEN) as viewer:
        assert viewer.stats()["rss_bytes"] > 0
