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
