"""Fan-out of serialised messages to every subscriber, never letting one slow the rest.

Each subscriber has a small bounded queue. Publishing never awaits: when a queue is
full its oldest message is dropped and counted, so a client that stops reading costs a
fixed amount of memory and no delay to the others. A message is serialised once by the
publisher and the same `str` object goes to every queue.

A subscriber with a `FrameSink` (a WebSocket whose transport the server can write to
directly) is fed during `publish` itself, with one frame built once for everyone: no
task wakes up per client and per message, which is what fan-out to a thousand clients
costs most. Others are fed by their own task through `get()`.

With a thousand sinks, the Python work `publish` does per sink on top of the `send`
system call is a large part of the server's CPU and of the time the last client waits,
so a sink that is keeping up takes a short path: one `offer` of the frame, with no queue
entry made (nor allocated) and none taken out. Its queue is used
only while the sink is behind (or held, before `release`), and then strictly in order:
a message never overtakes one queued before it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

DEFAULT_QUEUE_SIZE = 64


class FrameSink(Protocol):
    def offer(self, frame: bytes) -> bool:
        """Write the whole frame now and return True, or write nothing and return False
        (closed, or too much already buffered for this client)."""
        ...


def _refuse(frame: bytes) -> bool:
    return False


class Subscription:
    __slots__ = ("_held", "_hub", "_offer", "_queue", "_ready", "_sink", "dropped", "maxsize")

    def __init__(self, hub: Hub, maxsize: int, sink: FrameSink | None = None) -> None:
        self._hub = hub
        self._queue: deque[tuple[str, bytes | None]] = deque()
        self._ready = asyncio.Event()
        self._sink = sink
        # Bound once: publish calls it for every sink and every message.
        self._offer: Callable[[bytes], bool] = sink.offer if sink is not None else _refuse
        self._held = sink is not None  # until release(): the first messages go another way
        self.maxsize = maxsize
        self.dropped = 0

    def put(self, message: str, frame: bytes | None = None) -> None:
        """Queue a message (dropping the oldest when full), then feed the sink or task."""
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
        if self._held:
            self._held = False
            self._hub._released(self)
            self._drain()

    def _drain(self) -> None:
        offer, queue = self._offer, self._queue
        while queue:
            frame = queue[0][1]
            assert frame is not None
            if not offer(frame):
                return
            queue.popleft()

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
        # Released sinks, fed by `offer` in publish; everyone else (task-fed subscribers
        # and sinks still held) goes through `put`. Dicts: ordered, O(1) removal.
        self._direct: dict[Subscription, None] = {}
        self._queued: dict[Subscription, None] = {}
        self._with_sink = 0
        self.published = 0
        self.dropped = 0

    def subscribe(self, maxsize: int | None = None, sink: FrameSink | None = None) -> Subscription:
        if sink is not None:
            if self.frame_encoder is None:
                raise ValueError("a hub without a frame encoder cannot feed sinks")
            self._with_sink += 1
        sub = Subscription(self, maxsize or self.queue_size, sink)
        self._queued[sub] = None
        return sub

    def _released(self, sub: Subscription) -> None:
        if sub in self._queued:  # not if it was closed meanwhile
            del self._queued[sub]
            self._direct[sub] = None

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._queued:
            del self._queued[sub]
        elif sub in self._direct:
            del self._direct[sub]
        else:
            return
        if sub._sink is not None:
            self._with_sink -= 1

    def __len__(self) -> int:
        return len(self._direct) + len(self._queued)

    @property
    def direct(self) -> int:
        """Subscribers fed straight to their transport."""
        return self._with_sink

    def publish(self, message: str) -> None:
        self.published += 1
        frame = None
        if self._with_sink and self.frame_encoder is not None:
            frame = self.frame_encoder(message)
        if frame is not None:
            # A snapshot: a sink that unsubscribes from inside `offer` cannot upset this.
            for sub in tuple(self._direct):
                if sub._queue or not sub._offer(frame):
                    sub.put(message, frame)
        for sub in tuple(self._queued):
            sub.put(message, frame)
