"""Sampling cost per process per tick: the /proc fast path against its floor and psutil.

All measures run in one process on one real `sleep` child, interleaved repeat by repeat
(so noise on this shared machine hits them alike), each repeat a batch of calls timed with
`perf_counter_ns` with the garbage collector off. Reported: the median over repeats of the
time per call, and ratios to the floor (a bare `os.pread` of statm on the probe's own
kept descriptor) and between the backends.

    python -m bench.bench_probe [--repeats 9] [--batch-ms 60] [--scan-seconds 10] [--no-write]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psutil

from bench._util import (
    exit_on_sigterm,
    md_table,
    median,
    render_section,
    sleeper,
    time_batch,
    verdict,
    write_section,
)
from memlens.model import Reading
from memlens.probes import ProcessProbe, open_process
from memlens.probes._linux import PAGE_SIZE, LinuxProcessProbe
from memlens.watch.sampler import SamplerConfig

TARGET_RATIO = 2.0
STATM_READ = 256  # what LinuxProcessProbe.read() asks pread for
SLOW_EVERY = SamplerConfig().slow_every
FULL_READ_LIMIT = SamplerConfig().full_read_limit


@dataclass
class Measure:
    key: str
    label: str
    fn: Callable[[], object]
    batch: int = 0
    per_call_us: list[float] = field(default_factory=list)

    @property
    def median_us(self) -> float:
        return median(self.per_call_us)


def _calibrate(fn: Callable[[], object], batch_s: float) -> int:
    """How many calls make a batch of about `batch_s` seconds."""
    for _ in range(200):  # warm up: caches, the probe's first CPU reading
        fn()
    per_call = time_batch(fn, 2000)
    return max(1000, min(2_000_000, int(batch_s / max(per_call, 1e-9))))


def _parse_statm(raw: bytes) -> tuple[int, int, int]:
    """The parse in `LinuxProcessProbe.read()`, step for step: keep the two alike."""
    size, resident, shared, _ = raw.split(None, 3)
    return int(resident) * PAGE_SIZE, int(size) * PAGE_SIZE, int(shared) * PAGE_SIZE


def _read_changed(probe: LinuxProcessProbe) -> Reading:
    """A memory-only reading that cannot reuse the last one, as when the process's memory
    moved since: the wrapper call and the attribute store are counted in, which
    overstates this path by a few tens of nanoseconds."""
    probe._statm_raw = None
    return probe.read(False)


def unchanged_share(seconds: int) -> tuple[float, int]:
    """The share of this machine's processes whose statm reads the same from one second
    to the next, over `seconds` pairs of scans of /proc; and the median process count."""

    def scan() -> dict[str, bytes]:
        found = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open(f"/proc/{name}/statm", "rb") as f:
                        found[name] = f.read()
                except OSError:
                    pass  # ended, or not ours to read
        return found

    same = total = 0
    counts = []
    before = scan()
    for _ in range(seconds):
        time.sleep(1.0)
        after = scan()
        common = before.keys() & after.keys()
        same += sum(before[k] == after[k] for k in common)
        total += len(common)
        counts.append(len(common))
        before = after
    return (same / total if total else 0.0), int(median(counts)) if counts else 0


def build_measures(
    fast: LinuxProcessProbe, portable: ProcessProbe, proc: psutil.Process
) -> list[Measure]:
    # The probe's own kept statm descriptor, read the way the probe reads it: the floor is
    # the very call the fast path makes on every tick, and nothing else.
    statm_fd = fast._statm_fd
    return [
        Measure(
            "floor",
            f"(a) floor: `os.pread(statm_fd, {STATM_READ}, 0)` on the kept fd",
            functools.partial(os.pread, statm_fd, STATM_READ, 0),
        ),
        Measure(
            "memory",
            "(b) memory only, statm unchanged since the last reading (an idle process): "
            "`LinuxProcessProbe.read(full=False)`",
            functools.partial(fast.read, False),
        ),
        Measure(
            "changed",
            "(b′) memory only, statm changed (a busy process): the same call after "
            "forgetting the last statm read, so it parses and builds a new reading",
            functools.partial(_read_changed, fast),
        ),
        # The steps of (b) after its pread, each measured apart on a warm cache, to show
        # where (b)'s time above the floor goes.
        Measure(
            "parse",
            "(b) part: parsing statm already read: `split`, 3× `int()` × page size",
            functools.partial(_parse_statm, os.pread(statm_fd, STATM_READ, 0)),
        ),
        Measure(
            "record",
            "(b) part: building the `Reading`: `tuple.__new__(Reading, …)` of "
            f"{len(Reading._fields)} values",
            functools.partial(tuple.__new__, Reading, tuple(fast.read(False))),
        ),
        Measure(
            "slow",
            "(c) part: `_read_slow()`: stat, status, fd count, CPU",
            fast._read_slow,
        ),
        Measure("fds", "(c) part of that: `_fd_count()` (fstatat of fd/)", fast._fd_count),
        Measure("fast", "(c) full reading: `LinuxProcessProbe.read()`", fast.read),
        Measure("psutil", "(d) psutil backend: `PsutilProcessProbe.read()`", portable.read),
        Measure(
            "psutil_memory",
            "(d) psutil backend, memory only: `read(full=False)`",
            functools.partial(portable.read, False),
        ),
        Measure("meminfo", "(e) psutil `Process.memory_info()` alone", proc.memory_info),
        Measure("null", "call overhead: an empty lambda", lambda: None),
    ]


def run(repeats: int, batch_s: float) -> list[Measure]:
    with sleeper(lifetime_s=600) as pid:
        fast = open_process(pid, backend="linux")
        portable = open_process(pid, backend="psutil")
        assert isinstance(fast, LinuxProcessProbe)
        try:
            measures = build_measures(fast, portable, psutil.Process(pid))
            for m in measures:
                m.batch = _calibrate(m.fn, batch_s)
            for r in range(repeats):
                # Rotate the order so no measure always runs first or last in a repeat.
                shift = r % len(measures)
                for m in measures[shift:] + measures[:shift]:
                    m.per_call_us.append(time_batch(m.fn, m.batch) * 1e6)
        finally:
            fast.close()
            portable.close()
    return measures


def report(
    measures: Sequence[Measure], repeats: int, command: str, share: tuple[float, int, int]
) -> tuple[str, str]:
    by = {m.key: m for m in measures}
    floor = by["floor"].median_us
    rows = [
        [
            m.label,
            f"{m.median_us:.2f}",
            f"{min(m.per_call_us):.2f}–{max(m.per_call_us):.2f}",
            f"{m.median_us / floor:.1f}×",
        ]
        for m in measures
    ]
    table = md_table(["measure (one process, one call)", "median µs", "range µs", "× floor"], rows)
    unchanged_us, changed_us = by["memory"].median_us, by["changed"].median_us
    same, procs, scan_s = share
    # A memory-only reading as the sampler pays it over this machine's processes.
    expected_us = same * unchanged_us + (1.0 - same) * changed_us
    unchanged_ratio, changed_ratio = unchanged_us / floor, changed_us / floor
    expected_ratio = expected_us / floor
    fast_ratio = by["fast"].median_us / floor
    # What the sampler spends per process per round above FULL_READ_LIMIT processes: one
    # full reading every SLOW_EVERY rounds, memory only in the others.
    mixed = (by["fast"].median_us + (SLOW_EVERY - 1) * expected_us) / SLOW_EVERY
    psutil_vs_fast = by["psutil"].median_us / by["fast"].median_us
    psutil_vs_memory = by["psutil_memory"].median_us / changed_us
    meminfo_vs_floor = by["meminfo"].median_us / floor
    above = changed_us - floor
    parse, record = by["parse"].median_us, by["record"].median_us
    rest = above - parse - record
    figures = (
        f"{table}\n\n"
        f"Medians over {repeats} interleaved repeats. Fast path vs psutil, same run: a full "
        f"reading through psutil takes **{psutil_vs_fast:.1f}×** as long as the fast path's, "
        f"memory only {psutil_vs_memory:.1f}× the fast path's changed-statm reading; "
        f"psutil's `memory_info()` alone (an open, read and close of statm each call) takes "
        f"{meminfo_vs_floor:.1f}× the floor.\n\n"
        f"How often statm is unchanged: scanning every process on this machine once a "
        f"second for {scan_s} s ({procs} processes, median), **{same:.1%}** read the same "
        f"statm as a second before. A memory-only reading over this machine's processes "
        f"therefore costs {expected_us:.2f} µs on average ({expected_ratio:.1f}× the floor). "
        f"Above {FULL_READ_LIMIT} watched processes the sampler reads each one in full "
        f"every {SLOW_EVERY}th round and memory only in the others: on average "
        f"{mixed:.2f} µs per process per round, {mixed / floor:.1f}× the floor. These are "
        "hot-cache figures (one process read in a tight loop); over many processes at 1 Hz "
        "every read misses the caches, see the capacity section."
    )
    # The share of unchanged processes at which the average reading is TARGET_RATIO× the
    # floor: above it the sampler's memory readings are within the target on average.
    if changed_ratio <= TARGET_RATIO:
        breakeven = "It holds whatever the share of unchanged processes."
    elif unchanged_ratio >= TARGET_RATIO:
        breakeven = "It cannot hold for any share of unchanged processes."
    else:
        need = (changed_ratio - TARGET_RATIO) / (changed_ratio - unchanged_ratio)
        breakeven = (
            f"It holds on any machine where at least {need:.0%} of the watched processes' "
            "memory did not move since the previous tick."
        )
    target = (
        f'"within {TARGET_RATIO:g}x of a bare os.pread of statm on a kept descriptor".\n'
        f"- Memory reading of a process whose memory did not move since the last tick (b): "
        f"{unchanged_ratio:.1f}× the floor: {verdict(unchanged_ratio <= TARGET_RATIO)}.\n"
        f"- Memory reading of a process whose memory moved (b′): {changed_ratio:.1f}× the "
        f"floor: {verdict(changed_ratio <= TARGET_RATIO)}. Of its {above:.2f} µs above the "
        f"floor, parsing statm takes {parse:.2f} µs and building the `Reading` "
        f"{record:.2f} µs when measured apart (the part rows); the other {rest:.2f} µs is "
        "the method call and those same steps running slower right after a read of /proc "
        "than in a loop of their own.\n"
        f"- Per process per tick over this machine's processes ({same:.1%} unchanged): "
        f"{expected_ratio:.1f}× the floor: {verdict(expected_ratio <= TARGET_RATIO)}. "
        f"{breakeven}\n"
        f"- Full reading (c), `read()`, which also reads stat, status and the fd count and "
        f"computes CPU: {fast_ratio:.1f}× the floor: {verdict(fast_ratio <= TARGET_RATIO)}. "
        f"Its slower part alone costs {by['slow'].median_us / floor:.1f}× the floor, so a "
        f"reading of every field cannot come within {TARGET_RATIO:g}×; the memory reading "
        "is the one the target can apply to."
    )
    section = render_section(
        "probe",
        "Probe cost per process per tick",
        what=(
            "Time for one reading of one process, on a real `sleep` child: the floor (one "
            "`os.pread` of `/proc/PID/statm` on the probe's kept descriptor), the fast path's "
            "memory-only reading when statm is unchanged (the last reading is reused) and "
            "when it changed, its full reading and the slower part of that, the psutil "
            "backend, and psutil's `memory_info()` for reference; and how often a process's "
            "statm is unchanged from one second to the next on this machine. Each figure "
            "includes Python's call overhead (last row)."
        ),
        command=command,
        figures=figures,
        target=target,
    )
    summary = (
        f"floor {floor:.2f} µs | memory read unchanged {unchanged_us:.2f} µs "
        f"({unchanged_ratio:.1f}×), changed {changed_us:.2f} µs ({changed_ratio:.1f}×), "
        f"this machine's mix {expected_ratio:.1f}× ({same:.1%} unchanged) | full read "
        f"{by['fast'].median_us:.2f} µs ({fast_ratio:.1f}×) | psutil read "
        f"{by['psutil'].median_us:.2f} µs ({psutil_vs_fast:.1f}× fast)"
    )
    return section, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="batches per measure (default 9)")
    parser.add_argument(
        "--batch-ms", type=float, default=60.0, help="length of one batch (default 60 ms)"
    )
    parser.add_argument(
        "--scan-seconds",
        type=int,
        default=10,
        help="seconds of once-a-second scans of /proc for the unchanged share (default 10)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    if not sys.platform.startswith("linux"):
        print("bench_probe measures the Linux /proc fast path; this is not Linux", file=sys.stderr)
        return 2
    measures = run(max(1, args.repeats), args.batch_ms / 1000.0)
    same, procs = unchanged_share(max(1, args.scan_seconds))
    command = (
        f"python -m bench.bench_probe --repeats {args.repeats} --batch-ms {args.batch_ms:g} "
        f"--scan-seconds {args.scan_seconds}"
    )
    section, summary = report(measures, args.repeats, command, (same, procs, args.scan_seconds))
    print(section)
    print(summary)
    if not args.no_write:
        write_section("probe", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
