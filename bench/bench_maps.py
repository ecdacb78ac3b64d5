"""The cost of reading where a process's memory lives (docs/maps.md), and what the live
maps poller takes of a core at its default pace.

Three measures, on real children:

- against resident size: one child holding N MiB of touched anonymous memory (4 KiB
  pages: transparent huge pages are not asked for), from 10 MiB to 4 GiB. Timed per
  repeat, interleaved: the kernel's own `smaps_rollup` (the floor: one page-table walk,
  no text per mapping) and memlens's reading (`MapsProbe.read`: smaps, parsed and
  classified), wall time and this thread's CPU time (which holds the kernel's walk);
- against the number of mappings: a child with M small mappings (alternately readable
  and writable, so the kernel cannot merge them);
- the poller: ten children of 1 GiB resident each, read by a real `MapsPoller` with its
  default settings (every 10 s, 1% of a core): the CPU time of one pass over the ten,
  the interval the poller adapts to, and the share of a core that makes. The ten map one
  shared 1 GiB memfd and touch all of it, so each has 1 GiB resident (and its own page
  tables to walk) while the machine holds 1 GiB, not 10.

    python -m bench.bench_maps [--sizes 10,100,1000,4000] [--mappings 100,1000,10000]
                               [--targets 10] [--repeats 7] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bench._util import exit_on_sigterm, md_table, median, render_section, write_section
from memlens.model import Target
from memlens.probes.maps import MapsProbe
from memlens.watch.maps_poll import BUDGET, MAPS_EVERY, MapsPoller, MapsSettings

MIB = 1 << 20

ANON = """
import mmap, sys
m = mmap.mmap(-1, int(sys.argv[1]) << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for i in range(0, len(m), 4096):
    m[i] = 1
print("ready", flush=True)
sys.stdin.read()
"""

MANY = """
import mmap, sys
keep = []
for i in range(int(sys.argv[1])):
    prot = mmap.PROT_READ if i % 2 else mmap.PROT_READ | mmap.PROT_WRITE
    keep.append(mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE, prot=prot))
print("ready", flush=True)
sys.stdin.read()
"""

SHARED = """
import mmap, os, sys
fd = int(sys.argv[1])
m = mmap.mmap(fd, int(sys.argv[2]) << 20, flags=mmap.MAP_SHARED)
for i in range(0, len(m), 4096):
    m[i] = 1
print("ready", flush=True)
sys.stdin.read()
"""


@contextmanager
def children(
    source: str, args_list: Sequence[Sequence[str]], pass_fds: Sequence[int] = ()
) -> Iterator[list[int]]:
    procs = []
    try:
        for args in args_list:
            proc = subprocess.Popen(
                [sys.executable, "-c", source, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                pass_fds=pass_fds,
            )
            procs.append(proc)
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a child did not start")
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def _rollup(probe: MapsProbe) -> float:
    began = time.perf_counter()
    probe.rollup()
    return time.perf_counter() - began


def _reading(probe: MapsProbe) -> tuple[float, float, int]:
    cpu = time.thread_time()
    began = time.perf_counter()
    reading = probe.read()
    return time.perf_counter() - began, time.thread_time() - cpu, len(reading.mappings)


def measure(pid: int, repeats: int) -> dict[str, float]:
    """Medians over `repeats`, the rollup and the reading interleaved."""
    probe = MapsProbe(pid)
    try:
        rss = probe.rollup().rss
        _reading(probe)  # warm: the first read pays for opening and caches
        rollups, walls, cpus, mappings = [], [], [], 0
        for _ in range(repeats):
            rollups.append(_rollup(probe))
            wall, cpu, mappings = _reading(probe)
            walls.append(wall)
            cpus.append(cpu)
    finally:
        probe.close()
    return {
        "rss": rss,
        "mappings": mappings,
        "rollup_ms": median(rollups) * 1e3,
        "wall_ms": median(walls) * 1e3,
        "cpu_ms": median(cpus) * 1e3,
    }


def by_size(sizes: Sequence[int], repeats: int) -> list[dict[str, float]]:
    out = []
    for mib in sizes:
        with children(ANON, [[str(mib)]]) as (pid,):
            out.append(measure(pid, repeats))
        print(f"  {mib} MiB: {out[-1]}", file=sys.stderr)
    return out


def by_mappings(counts: Sequence[int], repeats: int) -> list[dict[str, float]]:
    out = []
    for count in counts:
        with children(MANY, [[str(count)]]) as (pid,):
            out.append(measure(pid, repeats))
        print(f"  {count} mappings: {out[-1]}", file=sys.stderr)
    return out


def poller(targets: int, mib: int, passes: int) -> dict[str, float]:
    """A real poller over `targets` children of `mib` MiB resident each."""
    fd = os.memfd_create("bench-maps")
    try:
        os.ftruncate(fd, mib * MIB)
        args = [[str(fd), str(mib)] for _ in range(targets)]
        with children(SHARED, args, pass_fds=[fd]) as pids:
            found = []
            for pid in pids:
                probe = MapsProbe(pid)
                found.append(Target(probe.key, "process", pid, 0.0, "bench", "bench"))
                probe.close()
            poll = MapsPoller(lambda: found, [], MapsSettings(targets=targets))
            try:
                poll.poll_once()  # warm: opens each target's directory
                cpus, walls, intervals = [], [], []
                for _ in range(passes):
                    cpu, began = poll.cpu_seconds, time.perf_counter()
                    assert poll.poll_once() == targets
                    walls.append(time.perf_counter() - began)
                    cpus.append(poll.cpu_seconds - cpu)
                    intervals.append(poll.interval)
            finally:
                poll.stop()
    finally:
        os.close(fd)
    cpu_pass = median(cpus)
    interval = median(intervals)
    return {
        "cpu_ms": cpu_pass * 1e3,
        "wall_ms": median(walls) * 1e3,
        "interval": interval,
        "share": cpu_pass / interval,
        "share_fixed": cpu_pass / MAPS_EVERY,
    }


def _mib(value: float) -> str:
    return f"{value / MIB:,.0f} MiB"


def report(
    sizes: list[dict[str, float]],
    counts: list[dict[str, float]],
    poll: dict[str, float],
    targets: int,
    command: str,
) -> str:
    size_rows = [
        [
            _mib(m["rss"]),
            f"{m['rollup_ms']:.2f}",
            f"{m['wall_ms']:.2f}",
            f"{m['cpu_ms']:.2f}",
            f"{m['wall_ms'] / max(m['rss'] / MIB, 1):.3f}",
        ]
        for m in sizes
    ]
    count_rows = [
        [
            f"{m['mappings']:,.0f}",
            _mib(m["rss"]),
            f"{m['rollup_ms']:.2f}",
            f"{m['wall_ms']:.2f}",
            f"{m['cpu_ms']:.2f}",
            f"{m['wall_ms'] * 1e3 / max(m['mappings'], 1):.1f}",
        ]
        for m in counts
    ]
    figures = "\n\n".join(
        [
            "Against resident size (one anonymous mapping of touched 4 KiB pages), medians:",
            md_table(
                [
                    "RSS",
                    "smaps_rollup (ms)",
                    "memlens reading, wall (ms)",
                    "its CPU (ms)",
                    "ms per MiB",
                ],
                size_rows,
            ),
            "Against the number of mappings (small RSS), medians:",
            md_table(
                [
                    "mappings",
                    "RSS",
                    "smaps_rollup (ms)",
                    "memlens reading, wall (ms)",
                    "its CPU (ms)",
                    "µs per mapping",
                ],
                count_rows,
            ),
            f"The poller over {targets} targets of 1 GiB resident each, default settings "
            f"(every {MAPS_EVERY:g} s, a budget of {BUDGET:.0%} of a core):",
            md_table(
                ["CPU per pass", "wall per pass", "interval it keeps", "share of a core"],
                [
                    [
                        f"{poll['cpu_ms']:.0f} ms",
                        f"{poll['wall_ms']:.0f} ms",
                        f"{poll['interval']:.1f} s",
                        f"{poll['share']:.2%} (at a fixed 10 s: {poll['share_fixed']:.2%})",
                    ]
                ],
            ),
        ]
    )
    met = poll["share"] <= BUDGET * 1.0001
    return render_section(
        "maps",
        "Memory maps: the cost of one reading, and the live poller's share of a core",
        what=(
            "What `memlens maps` and the live maps poller (watch/maps_poll.py) cost: one "
            "reading of /proc/PID/smaps, parsed and summed by category, against the "
            "process's resident size and its number of mappings, beside the kernel's "
            "`smaps_rollup` (one walk of the same page tables, without the per-mapping "
            "text), and what the poller takes of a core for ten 1 GiB processes at its "
            "default pace. CPU is the reading thread's (`time.thread_time`), which holds the "
            "kernel's page-table walk."
        ),
        command=command,
        figures=figures,
        target=(
            f"under {BUDGET:.0%} of a core for ten 1 GiB targets at the default pace: "
            f"{verdict_text(met)} (the poller stretches its interval to the budget by "
            "design, so this holds whenever a pass takes under the interval)."
        ),
        notes=(
            "The ten 1 GiB targets map one shared 1 GiB memfd and touch all of it: each has "
            "1 GiB resident and its own page tables, as ten separate processes would, while "
            "the machine holds 1 GiB. The kernel walks every present page of a target for "
            "each reading, so the cost grows with RSS; the text smaps writes and memlens "
            "parses grows with the number of mappings."
        ),
    )


def verdict_text(met: bool) -> str:
    return "**met**" if met else "**not met**"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,4000", help="MiB resident, comma-separated")
    parser.add_argument("--mappings", default="100,1000,10000", help="mapping counts")
    parser.add_argument("--targets", type=int, default=10, help="targets of the poller")
    parser.add_argument("--repeats", type=int, default=7, help="readings per measure")
    parser.add_argument("--passes", type=int, default=5, help="poller passes")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    sizes = by_size([int(x) for x in args.sizes.split(",")], args.repeats)
    counts = by_mappings([int(x) for x in args.mappings.split(",")], args.repeats)
    poll = poller(args.targets, 1024, args.passes)
    print(f"  poller: {poll}", file=sys.stderr)
    command = "python -m bench.bench_maps " + " ".join(
        ["--sizes", args.sizes, "--mappings", args.mappings, "--targets", str(args.targets)]
    )
    section = report(sizes, counts, poll, args.targets, command)
    if args.no_write:
        print(section)
    else:
        write_section("maps", section)
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
