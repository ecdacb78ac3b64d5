from __future__ import annotations

import asyncio

from memlens.hub import Hub


def test_every_subscriber_gets_the_same_message_object() -> None:
    async def scenario() -> None:
        hub = Hub()
        a, b = hub.subscribe(), hub.subscribe()
        message = '{"type":"tick","seq":1}'
        hub.publish(message)
        got_a, got_b = await a.get(), await b.get()
        assert got_a is message
        assert got_b is message

    asyncio.run(scenario())


def test_a_full_queue_drops_its_oldest_and_counts_it_without_touching_others() -> None:
    async def scenario() -> None:
        hub = Hub(queue_size=3)
        slow, fast = hub.subscribe(), hub.subscribe()
        received: list[str] = []
        for i in range(10):
            hub.publish(str(i))
            received.append(await fast.get())
        assert received == [str(i) for i in range(10)]
        assert fast.dropped == 0
        assert slow.dropped == 7
        assert hub.dropped == 7
        assert [await slow.get() for _ in range(slow.pending())] == ["7", "8", "9"]

    asyncio.run(scenario())


def test_get_waits_for_the_next_message() -> None:
    async def scenario() -> None:
        hub = Hub()
        sub = hub.subscribe()
        waiter = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        assert not waiter.done()
        hub.publish("late")
        assert await asyncio.wait_for(waiter, 5) == "late"

    asyncio.run(scenario())


def test_unsubscribed_clients_receive_nothing() -> None:
    async def scenario() -> None:
        hub = Hub()
        sub = hub.subscribe()
        sub.close()
        hub.publish("x")
        assert sub.pending() == 0
        assert len(hub) == 0

    asyncio.run(scenario())


class ListSink:
    """Collects frames; `room` says how many more it accepts before reporting busy."""

    def __init__(self, room: int = 1000) -> None:
        self.frames: list[bytes] = []
        self.room = room

    def ready(self) -> bool:
        return self.room > 0

    def write(self, frame: bytes) -> None:
        self.room -= 1
        self.frames.append(frame)


def test_sinks_get_one_shared_frame_only_after_release() -> None:
    async def scenario() -> None:
        hub = Hub(frame_encoder=lambda text: text.encode())
        sink = ListSink()
        sub = hub.subscribe(sink=sink)
        hub.publish("a")  # held: the hello and backfill are still being sent
        assert sink.frames == []
        sub.release()
        hub.publish("b")
        assert sink.frames == [b"a", b"b"]
        assert hub.direct == 1
        sub.close()
        assert hub.direct == 0

    asyncio.run(scenario())


def test_a_busy_sink_keeps_only_the_newest_messages() -> None:
    async def scenario() -> None:
        hub = Hub(queue_size=2, frame_encoder=lambda text: text.encode())
        sink = ListSink(room=0)
        sub = hub.subscribe(sink=sink)
        sub.release()
        for name in "abcde":
            hub.publish(name)
        assert sink.frames == []
        assert sub.dropped == 3
        sink.room = 10
        hub.publish("f")
        assert sink.frames == [b"e", b"f"]

    asyncio.run(scenario())


def test_a_hub_without_an_encoder_refuses_sinks() -> None:
    import pytest

    async def scenario() -> None:
        with pytest.raises(ValueError, match="frame encoder"):
            Hub().subscribe(sink=ListSink())

    asyncio.run(scenario())
