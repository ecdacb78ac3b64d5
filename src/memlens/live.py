"""The event loop's view of a watch: targets, recent history and the hub.

The sampler thread hands each `Tick` to `LiveView.apply` through the loop
(`call_soon_threadsafe`), so history, target states and publishing change only on the
loop's thread. A client that subscribes and then reads the history without awaiting in
between therefore sees every tick exactly once: in the backfill or in its queue.
"""

from __future__ import annotations

import time

from memlens.history import History
from memlens.hub import Hub
from memlens.messages import backfill, dumps, encode_tick, hello
from memlens.model import Target, Tick


class LiveView:
    def __init__(self, *, interval: float, history_capacity: int, hub: Hub | None = None) -> None:
        self.interval = interval
        self.hub = hub or Hub()
        self.history = History(history_capacity)
        self.targets: dict[str, Target] = {}
        self.seq = 0
        self.started = time.time()

    def apply(self, tick: Tick) -> None:
        for target in tick.new_targets:
            self.targets[target.key] = target
        for key, reading in tick.samples.items():
            self.history.add(key, tick.time, reading)
        for target in tick.exits:
            self.targets[target.key] = target
        self.seq = tick.seq
        for message in encode_tick(tick):
            self.hub.publish(message)

    def hello_message(self) -> str:
        return dumps(
            hello(
                self.targets.values(),
                interval=self.interval,
                history_capacity=self.history.capacity,
            )
        )

    def backfill_message(self) -> str:
        return dumps(backfill(self.seq, self.history.all_series()))
