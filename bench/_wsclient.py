"""WebSocket clients for measuring fan-out, spread over several processes.

A thousand clients in one process take each message in turn: the last socket's message
is seen only after the client's own work on the 999 before it, and that work, not the
server, then decides the measured latency. So the connections are spread over several
processes (`ClientProcesses`), each reporting what it saw in a recording window, and
there are two kinds of client:

- "light": raw non-blocking sockets and `epoll`. It does the least a reader can: it
  finds frame boundaries in the bytes as they arrive (server frames are never masked),
  reads `seq` and `t` from the start of each tick and answers pings. Every message is
  stamped with the moment `epoll_wait` reported its socket readable: its bytes had
  arrived by then, whereas a stamp taken when a single-threaded reader reaches that
  socket adds the reader's work on every socket before it in the same batch. When it
  offers permessage-deflate, as browsers do, it checks that the server declines it.
- "websockets": the `websockets` library's asyncio client, as an application would
  use it; each message is stamped when `async for` hands it over.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import re
import select
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

# No '^': with a start position, re's match() anchors there anyway, and '^' never would.
TICK_HEAD = re.compile(rb'\{"type":"tick","seq":(\d+),"t":([0-9.e+-]+)')
# What a browser offers; the server must decline it (its frames would be compressed).
OFFER_DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
CONNECT_TIMEOUT_S = 30.0


@dataclass
class Window:
    """What one client process saw while recording: (received, seq, t) per tick."""

    ticks: list[tuple[float, int, float]] = field(default_factory=list)
    gaps: int = 0  # ticks a connection missed (a jump in seq)
    repeats: int = 0  # a seq seen again or out of order on one connection
    errors: list[str] = field(default_factory=list)


class _Conn:
    __slots__ = ("buf", "last_seq", "sock")

    def __init__(self, sock: socket.socket, leftover: bytes) -> None:
        self.sock = sock
        self.buf = leftover
        self.last_seq: int | None = None


def _split(url: str) -> tuple[str, int, str]:
    rest = url.removeprefix("ws://")
    netloc, _, path = rest.partition("/")
    host, _, port = netloc.rpartition(":")
    return host, int(port), "/" + path


def _handshake(host: str, port: int, path: str, offer: str | None) -> _Conn:
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{OFFER_DEFLATE if offer else ''}\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the upgrade")
        head += chunk
    response, _, leftover = head.partition(b"\r\n\r\n")
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(response[:60].decode("latin-1"))
    if b"sec-websocket-extensions" in response.lower():
        raise ConnectionError("the server accepted an extension: frames would be compressed")
    sock.setblocking(False)
    return _Conn(sock, leftover)


def _pong(payload: bytes) -> bytes:
    """A client's frames are masked (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x8A, 0x80 | len(payload)]) + mask + masked


def _light_worker(url: str, count: int, pipe: Connection, offer: str | None) -> None:
    """One process of light clients: connect, report ready, then read until told to stop.

    Commands on `pipe`: ("record", start, stop) a wall-clock window; ("quit",) ends it,
    answered with the `Window` of what was recorded.
    """
    host, port, path = _split(url)
    try:
        conns = [_handshake(host, port, path, offer) for _ in range(count)]
    except Exception as e:
        pipe.send(("error", repr(e)))
        return
    pipe.send(("ready", "none"))
    epoll = select.epoll()
    by_fd = {c.sock.fileno(): c for c in conns}
    for fd in by_fd:
        epoll.register(fd, select.EPOLLIN)
    control = pipe.fileno()
    epoll.register(control, select.EPOLLIN)
    window = Window()
    start = stop = float("inf")
    for conn in conns:  # frames that came in with the 101 response: hello, backfill
        conn.buf = _frames(conn, conn.buf, time.time(), False, window)
    running = True
    while running:
        events = epoll.poll(1.0)
        now = time.time()  # the bytes of every socket in `events` had arrived by now
        recording = start <= now <= stop
        for fd, _ in events:
            if fd == control:
                command = pipe.recv()
                if command[0] == "record":
                    start, stop = command[1], command[2]
                else:
                    running = False
                continue
            conn = by_fd.get(fd)
            if conn is None:
                continue
            try:
                data = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                data = b""
                window.errors.append(repr(e))
            if not data:
                epoll.unregister(fd)
                del by_fd[fd]
                conn.sock.close()
                if recording:
                    window.errors.append("the server closed a connection")
                continue
            conn.buf = _frames(conn, conn.buf + data if conn.buf else data, now, recording, window)
    for conn in by_fd.values():
        conn.sock.close()
    pipe.send(window)


def _frames(conn: _Conn, buf: bytes, now: float, recording: bool, window: Window) -> bytes:
    """Reads the whole frames at the start of `buf`; returns what is left of it."""
    at, size = 0, len(buf)
    while size - at >= 2:
        opcode = buf[at] & 0x0F
        length = buf[at + 1] & 0x7F
        head = 2
        if length == 126:
            if size - at < 4:
                break
            length = int.from_bytes(buf[at + 2 : at + 4], "big")
            head = 4
        elif length == 127:
            if size - at < 10:
                break
            length = int.from_bytes(buf[at + 2 : at + 10], "big")
            head = 10
        begin = at + head
        if size - begin < length:
            break
        if opcode == 0x1:
            m = TICK_HEAD.match(buf, begin, min(begin + 80, begin + length))
            if m:
                seq = int(m.group(1))
                last = conn.last_seq
                if recording:
                    window.ticks.append((now, seq, float(m.group(2))))
                    if last is not None and seq > last + 1:
                        window.gaps += seq - last - 1
                    elif last is not None and seq <= last:
                        window.repeats += 1
                conn.last_seq = seq
        elif opcode == 0x9:  # ping: answer with a masked pong
            with contextlib.suppress(OSError):
                conn.sock.send(_pong(buf[begin : begin + length]))
        elif opcode == 0x8:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_WR)
        at = begin + length
    return buf[at:]


async def _websockets_clients(
    url: str, count: int, pipe: Connection, compression: str | None
) -> Window:
    from websockets.asyncio.client import ClientConnection, connect

    loop = asyncio.get_running_loop()
    window = Window()
    span = [float("inf"), float("inf")]
    quit_now = asyncio.Event()

    def on_command() -> None:
        command = pipe.recv()
        if command[0] == "record":
            span[:] = command[1:3]
        else:
            quit_now.set()

    async def read(ws: ClientConnection) -> None:
        last: int | None = None
        try:
            async for raw in ws:
                received = time.time()
                if not isinstance(raw, str) or not raw.startswith('{"type":"tick"'):
                    continue
                message = json.loads(raw)
                seq = message["seq"]
                if span[0] <= received <= span[1]:
                    window.ticks.append((received, seq, message["t"]))
                    if last is not None and seq > last + 1:
                        window.gaps += seq - last - 1
                    elif last is not None and seq <= last:
                        window.repeats += 1
                last = seq
        except Exception as e:
            if not quit_now.is_set():
                window.errors.append(repr(e))

    async def open_one() -> ClientConnection:
        return await connect(
            url,
            compression=compression,
            proxy=None,  # straight to 127.0.0.1, whatever the environment says
            ping_interval=None,  # the server pings; the client only answers
            open_timeout=CONNECT_TIMEOUT_S,
            close_timeout=2,
            max_size=2**24,
        )

    sockets: list[ClientConnection] = []
    try:
        for start in range(0, count, 50):
            sockets += await asyncio.gather(*(open_one() for _ in range(min(50, count - start))))
    except Exception as e:
        pipe.send(("error", repr(e)))
        return window
    extensions = ", ".join(str(e.name) for e in sockets[0].protocol.extensions) or "none"
    pipe.send(("ready", extensions))
    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    loop.add_reader(pipe.fileno(), on_command)
    await quit_now.wait()
    loop.remove_reader(pipe.fileno())
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return window


def _websockets_worker(url: str, count: int, pipe: Connection, offer: str | None) -> None:
    """One process of `websockets` clients; the same commands as `_light_worker`."""
    window = asyncio.run(_websockets_clients(url, count, pipe, offer))
    pipe.send(window)


class ClientProcesses:
    """`count` WebSocket connections to `url`, spread evenly over `processes` processes.

    `kind` is "light" or "websockets"; `offer` the extension they offer: "deflate" (as
    browsers do) or None. Use as a context
    manager: it returns once every connection is open, and ends the processes on exit.
    `record(start, stop)` opens a wall-clock window; `collect()` (after it) returns each
    process's `Window`. `negotiated` is the extension the server accepted ("none").
    """

    def __init__(
        self, kind: str, url: str, count: int, processes: int = 4, offer: str | None = None
    ) -> None:
        target = {"light": _light_worker, "websockets": _websockets_worker}[kind]
        processes = max(1, min(processes, count))
        shares = [count // processes + (i < count % processes) for i in range(processes)]
        ctx = mp.get_context("spawn")  # no fork of a parent that runs threads
        self._pipes: list[Connection] = []
        self._procs: list[Any] = []
        for share in shares:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=target, args=(url, share, child, offer), daemon=True)
            self._pipes.append(parent)
            self._procs.append(proc)
        self.count = count
        self.negotiated = "none"

    @property
    def processes(self) -> int:
        return len(self._procs)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def __enter__(self) -> ClientProcesses:
        for proc in self._procs:
            proc.start()
        try:
            for pipe in self._pipes:
                if not pipe.poll(CONNECT_TIMEOUT_S * 4):
                    raise TimeoutError("the clients did not connect in time")
                try:
                    answer = pipe.recv()
                except EOFError:
                    answer = ("error", "its process ended")
                if answer[0] != "ready":
                    raise ConnectionError(f"a client process could not connect: {answer[1]}")
                if isinstance(answer[1], str):
                    self.negotiated = answer[1]
        except BaseException:
            self.close()
            raise
        return self

    def record(self, start: float, stop: float) -> None:
        for pipe in self._pipes:
            pipe.send(("record", start, stop))

    def collect(self, timeout: float = 60.0) -> Sequence[Window]:
        for pipe in self._pipes:
            pipe.send(("quit",))
        windows = []
        for pipe in self._pipes:
            if not pipe.poll(timeout):
                raise TimeoutError("a client process did not answer")
            windows.append(pipe.recv())
        return windows

    def close(self) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(("quit",))
        for proc in self._procs:
            if proc.pid is not None:
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
        for pipe in self._pipes:
            pipe.close()

    def __exit__(self, *exc: object) -> None:
        self.close()
