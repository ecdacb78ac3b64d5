"""The `memlens demo` workload: a GC-like sawtooth with a slow leak underneath.

Every second it fills a batch buffer that grows for a few seconds and is then dropped
(the sawtooth a garbage-collected service shows), while a small fraction of each step is
kept forever in a list (the leak). With `--agent` it runs the Python agent, and the leak,
Python objects, shows in the traced heap while the sawtooth, native mappings, does not.
Pages are touched so they count in RSS. Batch buffers
are anonymous mappings so that dropping them really returns the memory to the OS:
large freed bytearrays may stay in the allocator's heap and blur the sawtooth.
"""

from __future__ import annotations

import argparse
import mmap
import time

MB = 1024 * 1024


def _touched(size: int) -> bytearray:
    buf = bytearray(size)
    for i in range(0, size, 4096):
        buf[i] = 1
    return buf


def _mapped(size: int) -> mmap.mmap:
    buf = mmap.mmap(-1, size)
    for i in range(0, size, mmap.PAGESIZE):
        buf[i] = 1
    return buf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memlens.cli.demo_workload")
    parser.add_argument("--leak-rate", type=float, default=2.0, help="MB per minute kept")
    parser.add_argument("--sawtooth", type=float, default=8.0, help="MB per batch step")
    parser.add_argument("--period", type=int, default=6, help="steps per sawtooth cycle")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = forever")
    parser.add_argument("--agent", action="store_true", help="run the Python agent")
    args = parser.parse_args(argv)
    if args.agent:
        import memlens.agent

        memlens.agent.start(name="memlens demo workload")
    leaked: list[bytearray] = []
    batch: list[mmap.mmap] = []
    start = time.monotonic()
    leak_per_step = int(args.leak_rate * MB / 60)
    step = 0
    while args.duration <= 0 or time.monotonic() - start < args.duration:
        step += 1
        if leak_per_step:
            leaked.append(_touched(leak_per_step))
        if step % args.period == 0:
            for buf in batch:  # the "collection": the batch goes back to the OS
                buf.close()
            batch.clear()
        else:
            batch.append(_mapped(int(args.sawtooth * MB)))
        time.sleep(1.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
