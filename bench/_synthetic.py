"""Synthetic targets and ticks for the scale benchmarks: many processes, no processes.

Each target reads as a process without a Python agent does (RSS, VMS, shared, swap,
threads, fds, CPU, USS, PSS); a third of them are flat, the rest grow by 4 or 8 KB a
second, all with a little noise. Only `memlens.model` is used (the server benchmark runs
it against an older memlens too).
"""

from __future__ import annotations

import random

from memlens.model import Reading, Target, Tick

MB = 1024 * 1024


class Synthetic:
    """`count` targets; `tick(seq, t)` is their sampling round number `seq` at time t."""

    def __init__(self, count: int, start: float, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.targets = [
            Target(
                key=f"{pid}-{int(start)}",
                kind="process",
                pid=pid,
                start_time=start - 60,
                name="worker",
                cmdline=f"worker --id {pid}",
            )
            for pid in range(10_000, 10_000 + count)
        ]
        self.base = [self.rng.randrange(20, 200) * MB for _ in self.targets]
        self.growth = [4096 * self.rng.randrange(0, 3) for _ in self.targets]  # bytes/s

    def tick(self, seq: int, t: float, *, first: bool = False) -> Tick:
        rng = self.rng
        samples = {}
        for i, target in enumerate(self.targets):
            rss = self.base[i] + self.growth[i] * seq + 4096 * rng.randrange(0, 64)
            samples[target.key] = Reading(
                rss=rss,
                vms=rss * 3,
                shared=rss // 4,
                swap=0,
                threads=8,
                fds=24 + seq % 5,
                cpu=float(seq % 7),
                uss=rss // 2,
                pss=rss * 3 // 4,
            )
        return Tick(seq, t, samples, tuple(self.targets) if first else ())
