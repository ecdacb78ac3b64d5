"""Fan-out of serialised messages to every subscriber, never letting one slow the rest.

Each subscriber has a small bounded queue. Publishing never awaits: when a queue is
full its oldest message is dropped and counted, so a client that stops reading costs a
fixed amount of memory and no delay to the others. A message is serialised once by the
publisher and the same `str` object goes to every queue.

A subscriber with a `FrameSink` (a WebSocket whose transport the server can write to
directly) is fed during `publish` itself, with one frame built once for everyone: no
task wakes up per client and per message, which is what fan-out to a thousand clients
costs most. Others are fed by their own task through `get()`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

DEFAULT_QUEUE_SIZE = 64


class FrameSink(Protocol):
    def ready(self) -> bool:
        """Open, with room in its send buffer."""
        ...

    def write(self, frame: bytes) -> None: ...


class Subscription:
    __slots__ = ("_held", "_hub", "_queue", "_ready", "_sink", "dropped", "maxsize")

    def __init__(self, hub: Hub, maxsize: int, sink: FrameSink | None = None) -> None:
        self._hub = hub
        self._queue: deque[tuple[str, bytes | None]] = deque()
        self._ready = asyncio.Event()
        self._sink = sink
        self._held = sink is not None  # until release(): the first messages go another way
        self.maxsize = maxsize
        self.dropped = 0

    def put(self, message: str, frame: bytes | None = None) -> None:
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.dropped += 1
            self._hub.dropped += 1
        self._queue.append((message, frame))
        if self._sink is None:
            self._ready.set()
        elif not self._held:
            self._drain()

    def release(self) -> None:
        """Start writing to the sink (after what had to be sent first is sent)."""
        self._held = False
        self._drain()

    def _drain(self) -> None:
        sink, queue = self._sink, self._queue
        assert sink is not None
        while queue and sink.ready():
            frame = queue.popleft()[1]
            assert frame is not None
            sink.write(frame)

    def pending(self) -> int:
        return len(self._queue)

    async def get(self) -> str:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()[0]

    def close(self) -> None:
        self._hub.unsubscribe(self)


class Hub:
    """Subscribers and publishing; lives on the event loop's thread only."""

    def __init__(
        self,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        frame_encoder: Callable[[str], bytes] | None = None,
    ) -> None:
        self.queue_size = queue_size
        self.frame_encoder = frame_encoder
        self._subscribers: set[Subscription] = set()
        self._with_sink = 0
        self.published = 0
        self.dropped = 0

    def subscribe(self, maxsize: int | None = None, sink: FrameSink | None = None) -> Subscription:
        if sink is not None:
            if self.frame_encoder is None:
                raise ValueError("a hub without a frame encoder cannot feed sinks")
            self._with_sink += 1
        sub = Subscription(self, maxsize or self.queue_size, sink)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.discard(sub)
            if sub._sink is not None:
                self._with_sink -= 1

    def __len__(self) -> int:
        return len(self._subscribers)

    @property
    def direct(self) -> int:
        """Subscribers fed straight to their transport."""
        return self._with_sink

    def publish(self, message: str) -> None:
        self.published += 1
        frame = None
        if self._with_sink and self.frame_encoder is not None:
            frame = self.frame_encoder(message)
        for sub in self._subscribers:
            sub.put(message, frame)
