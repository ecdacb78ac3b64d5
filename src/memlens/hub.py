"""Fan-out of serialised messages to every subscriber, never letting one slow the rest.

Each subscriber has a small bounded queue. Publishing never awaits: when a queue is
full its oldest message is dropped and counted, so a client that stops reading costs a
fixed amount of memory and no delay to the others. A message is serialised once by the
publisher and the same `str` object goes to every queue.
"""

from __future__ import annotations

import asyncio
from collections import deque

DEFAULT_QUEUE_SIZE = 64


class Subscription:
    __slots__ = ("_hub", "_queue", "_ready", "dropped", "maxsize")

    def __init__(self, hub: Hub, maxsize: int) -> None:
        self._hub = hub
        self._queue: deque[str] = deque()
        self._ready = asyncio.Event()
        self.maxsize = maxsize
        self.dropped = 0

    def put(self, message: str) -> None:
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.dropped += 1
            self._hub.dropped += 1
        self._queue.append(message)
        self._ready.set()

    def pending(self) -> int:
        return len(self._queue)

    async def get(self) -> str:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def close(self) -> None:
        self._hub.unsubscribe(self)


class Hub:
    """Subscribers and publishing; lives on the event loop's thread only."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self.published = 0
        self.dropped = 0

    def subscribe(self, maxsize: int | None = None) -> Subscription:
        sub = Subscription(self, maxsize or self.queue_size)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def __len__(self) -> int:
        return len(self._subscribers)

    def publish(self, message: str) -> None:
        self.published += 1
        for sub in self._subscribers:
            sub.put(message)
