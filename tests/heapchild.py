"""A child process for the heap profiler's tests: allocates known amounts at named sites.

Run as `python heapchild.py SCENARIO JSON-ARGS`; prints one JSON line: the profiles and
figures the scenario asked for. Each site is its own function, so the profile's frames
name it. Objects are bytearrays of a known size, kept alive in a list (or freed).
"""

from __future__ import annotations

import json
import os
import sys
import threading

from memlens.agent import heap

KEEP: list[object] = []


def _alloc(total: int, size: int, keep: bool) -> None:
    """total // size blocks of `size` bytes, held in a list of their own made here (so the
    list's 8 bytes per block belong to this site too), or dropped at once."""
    count = max(1, total // size)
    held: list[object] = [None] * count if keep else []
    for i in range(count):
        block = bytearray(size)
        if keep:
            held[i] = block
    if keep:
        KEEP.append(held)


def site_a(total: int, size: int, keep: bool = True) -> None:
    _alloc(total, size, keep)


def site_b(total: int, size: int, keep: bool = True) -> None:
    _alloc(total, size, keep)


def site_c(total: int, size: int, keep: bool = True) -> None:
    _alloc(total, size, keep)


def site_d(total: int, size: int, keep: bool = True) -> None:
    _alloc(total, size, keep)


def site_e(total: int, size: int, keep: bool = True) -> None:
    _alloc(total, size, keep)


def site_f(total: int, size: int, keep: bool = True) -> None:
    _alloc(total, size, keep)


def churn(total: int, size: int, keep: bool = False) -> None:
    _alloc(total, size, keep)


SITES = {f.__name__: f for f in (site_a, site_b, site_c, site_d, site_e, site_f, churn)}


def by_function(profile: dict[str, object], field: str = "inuse_bytes") -> dict[str, float]:
    """Bytes per site function: the deepest frame that is one of SITES."""
    sums: dict[str, float] = {}
    for stack in profile["stacks"]:  # type: ignore[attr-defined]
        names = [f["function"] for f in stack["frames"]]
        site = next((n for n in reversed(names) if n in SITES), None)
        if site is not None:
            sums[site] = sums.get(site, 0.0) + stack[field]
    return sums


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run(plan: list[list[object]]) -> None:
    for name, total, size, *rest in plan:
        SITES[str(name)](int(total), int(size), bool(rest[0]) if rest else True)  # type: ignore[arg-type]


def main() -> None:
    scenario, args = sys.argv[1], json.loads(sys.argv[2])
    interval = int(args.get("interval", 512 * 1024))
    seed = int(args.get("seed", 0))
    out: dict[str, object] = {}
    if scenario == "sites":
        out["start"] = heap.PROFILER.start(interval, seed=seed)
        run(args["plan"])
        out["inuse"] = by_function(heap.PROFILER.profile("inuse", None, 20000))
        out["alloc"] = by_function(heap.PROFILER.profile("inuse", None, 20000), "alloc_bytes")
        heap.PROFILER.stop()
    elif scenario == "threads":
        heap.PROFILER.start(interval, seed=seed)
        threads = [threading.Thread(target=run, args=([step],)) for step in args["plan"]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["inuse"] = by_function(heap.PROFILER.profile("inuse", None, 20000))
        heap.PROFILER.stop()
    elif scenario == "fork":
        heap.PROFILER.start(interval, seed=seed)
        run(args["parent"])
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            child = {"before": by_function(heap.PROFILER.profile("inuse", None, 20000))}
            run(args["child"])
            child["after"] = by_function(heap.PROFILER.profile("inuse", None, 20000))
            os.write(write, json.dumps(child).encode())
            os._exit(0)
        os.close(write)
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        os.waitpid(pid, 0)
        out["child"] = json.loads(b"".join(chunks))
        out["parent"] = by_function(heap.PROFILER.profile("inuse", None, 20000))
        heap.PROFILER.stop()
    elif scenario == "cycles":
        rss_after: list[int] = []
        for _ in range(int(args["cycles"])):
            heap.PROFILER.start(interval, seed=seed)
            run(args["plan"])
            heap.PROFILER.profile("inuse", None, 20000)
            heap.PROFILER.stop()
            KEEP.clear()
            rss_after.append(rss())
        out["rss"] = rss_after
    elif scenario == "stress":
        out.update(stress(interval, seed))
    elif scenario == "growth":
        heap.PROFILER.start(interval, seed=seed)
        run(args["before"])
        heap.PROFILER.mark("m")
        run(args["after"])
        out["growth"] = by_function(heap.PROFILER.profile("growth", "m", 20000))
        out["alloc_since"] = by_function(
            heap.PROFILER.profile("allocated", "m", 20000), "alloc_bytes"
        )
        heap.PROFILER.stop()
    print(json.dumps(out), flush=True)


def stress(interval: int, seed: int) -> dict[str, object]:
    """Everything that allocates inside the interpreter's machinery, sampled often."""
    import gc

    heap.PROFILER.start(interval, seed=seed)

    def deep(n: int) -> int:
        if n == 0:
            KEEP.append(bytearray(1 << 16))
            return 0
        return deep(n - 1) + 1

    def gen(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield [i] * 10

    errors = 0
    for i in range(3000):
        try:
            raise ValueError("x" * (i % 200))
        except ValueError:
            errors += 1
        sum(len(chunk) for chunk in gen(20))
        if i % 500 == 0:
            gc.collect()
    deep(300)

    def worker() -> None:
        for j in range(2000):
            {str(k): (k, j) for k in range(20)}

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    profile = heap.PROFILER.profile("inuse", None, 20000)
    heap.PROFILER.stop()
    truncated = [
        s
        for s in profile["stacks"]
        if s["frames"] and s["frames"][0]["function"] == "[more frames]"
    ]
    return {
        "errors": errors,
        "samples": profile["samples"],
        "truncated_stacks": len(truncated),
        "max_depth": max(len(s["frames"]) for s in profile["stacks"]),
    }


if __name__ == "__main__":
    main()
