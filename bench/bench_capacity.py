"""How many processes one core can sample at 1 Hz for 5% of its time.

For each N, starts N real `sleep` children whose command line carries an argument unique
to this run, and builds a real `Sampler` with `--name`-style discovery matching exactly
them. After the discovery round, it runs rounds paced as the sampler's own loop paces
them (one every `--interval` seconds, so the every-2-s rescan for new processes happens
as often as it does in the server) and measures this process's CPU time (`time.process_time()`) for
each round's `sample_once()` and `encode_tick()`; `LiveView.apply()` (history, encoding,
publishing to no clients: the server's own share of a tick) is timed on its own. The
psutil backend runs on the same children as a peer, and the fast path runs a second time
(`linux-moving`) with its reuse of unchanged statm readings defeated before each round, as
if every process's memory had moved: `sleep` processes are idle, and busy ones are not.

    python -m bench.bench_capacity [--sizes 500,1000,2000] [--rounds 16] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench._util import (
    Sleepers,
    exit_on_sigterm,
    md_table,
    median,
    raise_nofile,
    render_section,
    verdict,
    write_section,
)
from memlens.probes._linux import LinuxProcessProbe
from memlens.watch.live import LiveView
from memlens.watch.messages import encode_tick
from memlens.watch.pss_budget import PSS_EVERY
from memlens.watch.sampler import Sampler, SamplerConfig

CPU_SHARE = 0.05  # 5% of one core
TARGET_PROCESSES = 2000
FDS_PER_PROCESS = 4  # what the fast path keeps open per watched process
DISCOVERY_TIMEOUT_S = 60.0
LIGHT = SamplerConfig()  # the defaults: when the sampler reads only memory
# The fast path with every process's memory taken to have moved since the last round: its
# reuse of an unchanged statm reading is defeated before each round, outside the timing.
MOVING = "linux-moving"


@dataclass
class Round:
    sample_s: float  # CPU seconds of sample_once()
    encode_s: float  # CPU seconds of encode_tick()
    apply_s: float  # CPU seconds of LiveView.apply() (history + encode + publish)
    wall_s: float  # wall seconds of sample_once() + encode_tick()
    rescanned: bool
    floor_s: float | None = None  # CPU seconds of a bare pread of statm on every kept fd


@dataclass
class Result:
    n: int
    backend: str
    discovery_cpu_s: float
    rounds: list[Round] = field(default_factory=list)
    # smaps_rollup reads for PSS (watch/pss_budget.py): how many, and their wall seconds
    # in all (CPU), from the first round on (the discovery round reads every process once).
    pss_reads: int = 0
    pss_s: float = 0.0

    def rescan_share(self) -> float:
        return sum(r.rescanned for r in self.rounds) / len(self.rounds)

    def _median_s(self, rescanned: bool, *, with_apply: bool) -> float | None:
        values = [
            r.sample_s + (r.apply_s if with_apply else r.encode_s)
            for r in self.rounds
            if r.rescanned == rescanned
        ]
        return median(values) if values else None

    def per_process_us(self, *, with_apply: bool = False) -> float:
        """CPU µs per process per round: the medians of plain and of rescanning rounds,
        weighted by how often each happened (medians, as the machine is noisy)."""
        plain = self._median_s(False, with_apply=with_apply)
        rescan = self._median_s(True, with_apply=with_apply)
        share = self.rescan_share()
        if plain is None or rescan is None:
            per_round = plain if rescan is None else rescan
        else:
            per_round = plain * (1.0 - share) + rescan * share
        assert per_round is not None
        return per_round / self.n * 1e6

    def mean_per_process_us(self) -> float:
        """The plain mean over every paced round, outliers included."""
        total = sum(r.sample_s + r.encode_s for r in self.rounds)
        return total / len(self.rounds) / self.n * 1e6

    def capacity(self, *, with_apply: bool = False) -> float:
        return CPU_SHARE / (self.per_process_us(with_apply=with_apply) / 1e6)

    def floor_ms(self) -> float:
        values = [r.floor_s for r in self.rounds if r.floor_s is not None]
        return median(values) * 1e3 if values else float("nan")

    def median_ms(self, *, rescanned: bool) -> float:
        value = self._median_s(rescanned, with_apply=False)
        return float("nan") if value is None else value * 1e3


def measure(children: Sleepers, backend: str, rounds: int, interval: float) -> Result:
    sampler = Sampler(
        SamplerConfig(
            interval=interval,
            backend="linux" if backend == MOVING else backend,
            name_pattern=re.compile(children.pattern),
        ),
        on_tick=lambda tick: None,
    )
    live = LiveView(interval=interval, history_capacity=3600)
    try:
        # Discovery: the first round opens every match; bounded in rounds and time.
        c0 = time.process_time()
        live.apply(sampler.sample_once())
        discovery = time.process_time() - c0
        deadline = time.monotonic() + DISCOVERY_TIMEOUT_S
        while sampler.alive() < children.n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"found {sampler.alive()} of {children.n} children in time")
            time.sleep(interval)
            live.apply(sampler.sample_once())
        result = Result(children.n, backend, discovery)
        # The fast path's own kept statm descriptors, for the floor at this scale.
        statm_fds = [
            w.probe._statm_fd
            for w in sampler._watched.values()
            if isinstance(w.probe, LinuxProcessProbe)
        ]
        origin = time.monotonic()
        for k in range(1, rounds + 1):
            time.sleep(max(0.0, origin + k * interval - time.monotonic()))
            if backend == MOVING:
                for w in sampler._watched.values():
                    if isinstance(w.probe, LinuxProcessProbe):
                        w.probe._statm_raw = None
            before = sampler._last_rescan  # to tell rounds that rescanned /proc
            w0, c0 = time.perf_counter(), time.process_time()
            tick = sampler.sample_once()
            c1 = time.process_time()
            encode_tick(tick)
            c2, w2 = time.process_time(), time.perf_counter()
            live.apply(tick)
            c3 = time.process_time()
            if len(tick.samples) != children.n:
                raise RuntimeError(f"a round read {len(tick.samples)} of {children.n} children")
            result.rounds.append(
                Round(c1 - c0, c2 - c1, c3 - c2, w2 - w0, sampler._last_rescan != before)
            )
            if statm_fds:
                # The floor at this scale, half an interval later so that neither pass
                # finds the other's data in the caches.
                time.sleep(max(0.0, origin + (k + 0.5) * interval - time.monotonic()))
                c0 = time.process_time()
                for fd in statm_fds:
                    os.pread(fd, 256, 0)  # as LinuxProcessProbe.read() does
                result.rounds[-1].floor_s = time.process_time() - c0
        result.pss_reads, result.pss_s = sampler.pss.reads, sampler.pss.seconds
        return result
    finally:
        sampler.stop()  # closes every probe's descriptors


def report(results: Sequence[Result], rounds: int, interval: float, command: str) -> str:
    rows = []
    for r in results:
        rows.append(
            [
                str(r.n),
                r.backend,
                f"{r.median_ms(rescanned=False):.1f}",
                f"{r.median_ms(rescanned=True):.1f}",
                f"{median([x.wall_s for x in r.rounds]) * 1e3:.1f}",
                f"{r.per_process_us():.1f} ({r.mean_per_process_us():.1f})",
                f"{r.capacity():,.0f}",
                f"{r.capacity(with_apply=True):,.0f}",
                f"{r.floor_ms():.1f}" if r.backend in ("linux", MOVING) else "–",
                f"{r.discovery_cpu_s * 1e3:.0f}",
            ]
        )
    table = md_table(
        [
            "N",
            "backend",
            "CPU ms/round, median (no rescan)",
            "CPU ms/round, median (rescan)",
            "wall ms/round, median",
            "CPU µs/process/round, weighted median (plain mean)",
            "processes per 5% core at 1 Hz",
            "same, with `LiveView.apply`",
            "floor: bare pread of statm on all N, CPU ms median",
            "discovery round CPU ms",
        ],
        rows,
    )
    ratios = []
    for n in sorted({r.n for r in results}):
        by = {r.backend: r for r in results if r.n == n}
        parts = []
        fast = by.get("linux")
        if fast is not None and MOVING in by:
            parts.append(
                f"rounds where every process's memory moved cost "
                f"{by[MOVING].per_process_us() / fast.per_process_us():.2f}× the idle ones"
            )
        if fast is not None:
            plain = fast.median_ms(rescanned=False)
            extra_us = (fast.median_ms(rescanned=True) - plain) / n * 1e3
            parts.append(
                f"a plain fast-path round costs {plain / fast.floor_ms():.1f}× the floor, "
                f"and a rescanning round {extra_us:+.1f} µs per watched process"
            )
            if "psutil" in by:
                ratio = by["psutil"].per_process_us() / fast.per_process_us()
                parts.append(f"psutil costs {ratio:.1f}× the fast path")
        if parts:
            ratios.append(f"N={n}: " + ", ".join(parts))
    figures = (
        f"{table}\n\n"
        f"{rounds} paced rounds per row, one every {interval:g} s after the discovery round. "
        "A round is `sample_once()` + `encode_tick()`, in CPU time of the sampling process. "
        f"With more than {LIGHT.full_read_limit} processes the sampler reads each one's "
        f"memory every round and its other fields (threads, fds, swap, CPU) every "
        f"{LIGHT.slow_every}th round, staggered (`SamplerConfig` defaults), as here. "
        "The figure per process weighs the median of plain rounds and the median of "
        "rounds that also rescan /proc for new matches by how often each happened (the "
        "sampler rescans every 2 s, so about every other round at 1 Hz); the plain mean over "
        "all rounds is in brackets. Processes per 5% "
        "= 0.05 s ÷ that figure. The last capacity column counts `LiveView.apply()` "
        "(history append, encoding, publishing) instead of `encode_tick()` alone."
        + (f"\n\nSame run: {'; '.join(ratios)}." if ratios else "")
    )
    decisive = [r for r in results if r.backend in ("linux", MOVING) and r.n >= TARGET_PROCESSES]
    if decisive:
        lines = [f"at least {TARGET_PROCESSES:,} processes per 5% of one core at 1 Hz (fast path)."]
        for backend, what in (
            ("linux", "idle `sleep` processes, whose statm readings are reused"),
            (MOVING, "every process's memory taken to have moved each round"),
        ):
            rows = [r for r in decisive if r.backend == backend]
            if not rows:
                continue
            best = max(rows, key=lambda r: r.n)
            cap, cap_apply = best.capacity(), best.capacity(with_apply=True)
            lines.append(
                f"- {what}, N={best.n} watched: {cap:,.0f}: "
                f"{verdict(cap >= TARGET_PROCESSES)} (with the history append of "
                f"`LiveView.apply`: {cap_apply:,.0f})."
            )
        target = "\n".join(lines)
    else:
        target = (
            f"at least {TARGET_PROCESSES:,} processes per 5% of one core at 1 Hz: not judged, "
            f"no fast-path run watched {TARGET_PROCESSES:,} processes."
        )
    return render_section(
        "capacity",
        "Sampling capacity: processes per 5% of a core at 1 Hz",
        what=(
            "CPU time of one sampling round over N real `sleep` processes found by "
            "`--name`-style discovery, including the serialisation of the tick that the "
            "server does each round; the first (discovery) round is reported apart and left "
            "out. The psutil backend is measured on the same processes as a peer. `sleep` "
            "processes are idle, so the fast path reuses each one's last reading when its "
            "statm reads the same; `linux-moving` is the fast path again with that reuse "
            "defeated before each round, as if every process's memory had moved."
        ),
        command=command,
        figures=figures,
        target=target,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="500,1000,2000", help="numbers of processes (default 500,1000,2000)"
    )
    parser.add_argument("--rounds", type=int, default=16, help="paced rounds per size (16)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
    parser.add_argument(
        "--backends",
        default=f"linux,{MOVING},psutil",
        help=f"probe backends (default linux,{MOVING},psutil; {MOVING} is the fast path "
        "with the reuse of an unchanged statm reading defeated)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends = [b for b in args.backends.split(",") if b]
    if not sizes or min(sizes) < 1 or max(sizes) > 5000 or args.rounds < 1:
        parser.error("sizes must be 1..5000 and rounds at least 1")
    nofile = raise_nofile()
    needed = max(sizes) * FDS_PER_PROCESS + 256
    if nofile < needed:
        print(f"RLIMIT_NOFILE is {nofile}; {needed} descriptors are needed", file=sys.stderr)
        return 2
    results: list[Result] = []
    for n in sizes:
        t0 = time.monotonic()
        with Sleepers(n) as children:
            started = time.monotonic() - t0
            for backend in backends:
                result = measure(children, backend, args.rounds, args.interval)
                results.append(result)
                print(
                    f"N={n:5d} {backend:6s}: {result.per_process_us():6.1f} µs/process/round "
                    f"-> {result.capacity():7,.0f} per 5% core "
                    f"(rounds: {statistics.fmean(r.sample_s for r in result.rounds) * 1e3:.1f} ms "
                    f"sample, started {n} children in {started:.1f} s)",
                    flush=True,
                )
                if result.pss_reads:
                    each = result.pss_s / result.pss_reads
                    steady = each * args.interval / PSS_EVERY * 1e6
                    print(
                        f"  PSS: {result.pss_reads} smaps_rollup reads, {each * 1e6:.1f} µs "
                        f"of CPU each; one per process every {PSS_EVERY:g} s is {steady:.1f} µs "
                        "per process per round in the steady state",
                        flush=True,
                    )
    command = (
        f"python -m bench.bench_capacity --sizes {args.sizes} --rounds {args.rounds} "
        f"--backends {args.backends}"
    )
    section = report(results, args.rounds, args.interval, command)
    print(section)
    if not args.no_write:
        write_section("capacity", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
