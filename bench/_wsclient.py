"""A minimal WebSocket client for measuring fan-out: one asyncio Protocol per connection.

The `websockets` client parses every frame into a message object and hands it to a
task; with a thousand connections in one process that client work, not the server,
decides when a message is seen. This one does the least a reader can: it finds frame
boundaries in the bytes as they arrive (server frames are never masked) and reads `seq`
and `t` from the start of each tick, so the measured latency is mostly the server's.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import Callable

# No '^': with a start position, re's match() anchors there anyway, and '^' never would.
TICK_HEAD = re.compile(rb'\{"type":"tick","seq":(\d+),"t":([0-9.e+-]+)')
OnTick = Callable[[float, int, float], None]


class LightClient(asyncio.Protocol):
    def __init__(self, host: str, path: str, on_tick: OnTick) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.on_tick = on_tick
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.messages = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed before the upgrade"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buffer
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(ConnectionError(bytes(buf[:40]).decode()))
                return
            del buf[: end + 4]
            self.upgraded.set_result(None)
        at = 0
        size = len(buf)
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
            if size - at < head + length:
                break
            start = at + head
            if opcode == 0x1:
                self.messages += 1
                m = TICK_HEAD.match(buf, start, min(start + 80, start + length))
                if m:
                    self.on_tick(now, int(m.group(1)), float(m.group(2)))
            elif opcode == 0x9:  # ping: answer with a masked pong
                payload = bytes(buf[start : start + length])
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif opcode == 0x8:
                self.transport.close()
            at = start + length
        del buf[:at]


async def connect_light(host: str, port: int, path: str, on_tick: OnTick) -> LightClient:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(
        lambda: LightClient(f"{host}:{port}", path, on_tick), host, port
    )
    await protocol.upgraded
    return protocol
