from __future__ import annotations

import asyncio

from memlens.watch.hub import Hub


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
        self.offers = 0

    def offer(self, frame: bytes) -> bool:
        self.offers += 1
        if self.room <= 0:
            return False
        self.room -= 1
        self.frames.append(frame)
        return True


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


def test_a_sink_that_falls_behind_gets_its_backlog_first_in_order() -> None:
    async def scenario() -> None:
        hub = Hub(queue_size=8, frame_encoder=lambda text: text.encode())
        steady, flaky = ListSink(), ListSink(room=1)
        hub.subscribe(sink=steady).release()
        sub = hub.subscribe(sink=flaky)
        sub.release()
        for name in "abc":  # "a" fits; "b" and "c" wait in the queue
            hub.publish(name)
        assert flaky.frames == [b"a"]
        assert sub.pending() == 2
        flaky.room = 2  # room for the backlog only: the new message must wait behind it
        hub.publish("d")
        assert flaky.frames == [b"a", b"b", b"c"]
        assert sub.pending() == 1
        flaky.room = 10
        hub.publish("e")
        assert flaky.frames == [b"a", b"b", b"c", b"d", b"e"]
        assert steady.frames == flaky.frames
        assert sub.pending() == 0
        assert hub.dropped == 0

    asyncio.run(scenario())


def test_every_sink_gets_every_message_once_in_order_while_busy_at_random() -> None:
    import random

    async def scenario() -> None:
        rng = random.Random(7)
        hub = Hub(queue_size=1000, frame_encoder=lambda text: text.encode())
        sinks = [ListSink(room=0) for _ in range(20)]
        for sink in sinks:
            hub.subscribe(sink=sink).release()
        task_fed = hub.subscribe()
        for i in range(300):
            for sink in sinks:
                sink.room = rng.choice([0, 0, 1, 3])
            hub.publish(str(i))
        for sink in sinks:
            sink.room = 1000
        hub.publish("300")
        expected = [str(i).encode() for i in range(301)]
        for sink in sinks:
            assert sink.frames == expected
        assert [await task_fed.get() for _ in range(task_fed.pending())] == [
            e.decode() for e in expected
        ]
        assert hub.dropped == 0

    asyncio.run(scenario())


def test_a_sink_keeping_up_is_offered_each_frame_once() -> None:
    async def scenario() -> None:
        hub = Hub(frame_encoder=lambda text: text.encode())
        sink = ListSink()
        hub.subscribe(sink=sink).release()
        for name in "abcd":
            hub.publish(name)
        assert sink.offers == 4
        assert sink.frames == [b"a", b"b", b"c", b"d"]

    asyncio.run(scenario())


def test_closed_subscriptions_are_not_fed_even_if_released_late() -> None:
    async def scenario() -> None:
        hub = Hub(frame_encoder=lambda text: text.encode())
        sink = ListSink()
        sub = hub.subscribe(sink=sink)
        sub.close()
        sub.release()  # the sender task may get here after the stream closed it
        hub.publish("x")
        assert sink.frames == []
        assert len(hub) == 0
        assert hub.direct == 0
        sub.close()  # twice is harmless
        assert hub.direct == 0

    asyncio.run(scenario())


def test_a_sink_that_unsubscribes_while_offered_does_not_upset_publishing() -> None:
    async def scenario() -> None:
        hub = Hub(frame_encoder=lambda text: text.encode())
        others = [ListSink() for _ in range(3)]
        for sink in others:
            hub.subscribe(sink=sink).release()

        class Leaving(ListSink):
            def offer(self, frame: bytes) -> bool:
                sub.close()
                return False

        sub = hub.subscribe(sink=Leaving())
        sub.release()
        hub.publish("x")
        hub.publish("y")
        for sink in others:
            assert sink.frames == [b"x", b"y"]
        assert len(hub) == 3

    asyncio.run(scenario())
