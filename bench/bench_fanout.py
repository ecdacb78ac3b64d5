"""WebSocket fan-out: tick latency and server CPU with many clients on one server.

Starts a real `memlens watch PID --port 0 --interval I` on a `sleep` child, connects C
clients spread over several client processes (bench/_wsclient.py: `websockets` library
clients, or light raw-socket ones), lets them settle, then records for a window: per
`tick` received, latency = receive wall time − the tick's `t` (the server's
`time.time()` when the round's sampling began, same machine clock, so the sampling
itself is included); the server's CPU time over the window (psutil) and the client
processes' own.

    python -m bench.bench_fanout [--cases 1.0:1000,0.1:100] [--seconds 25] [--no-write]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing as mp
import select
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from bench._util import (
    WatchServer,
    cpu_seconds,
    exit_on_sigterm,
    md_table,
    median,
    percentile,
    raise_nofile,
    render_section,
    sleeper,
    verdict,
    write_section,
)
from bench._wsclient import ClientProcesses, Window

TARGET_P99_MS = 50.0
TARGET_CLIENTS = 1000
TARGET_INTERVAL = 1.0
DEFAULT_PROCESSES = 4


@dataclass
class Collector:
    """What every client process reported for the window, put together."""

    latencies_ms: list[float] = field(default_factory=list)
    gaps: int = 0  # ticks a client missed (a jump in seq)
    repeats: int = 0  # a tick a client got twice, or out of order
    # seq -> [tick's t, first receive, last receive] over all clients
    spread: dict[int, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, window: Window) -> None:
        self.gaps += window.gaps
        self.repeats += window.repeats
        self.errors.extend(window.errors)
        for received, seq, t in window.ticks:
            self.latencies_ms.append((received - t) * 1e3)
            span = self.spread.get(seq)
            if span is None:
                self.spread[seq] = [t, received, received]
            else:
                span[1] = min(span[1], received)
                span[2] = max(span[2], received)


@dataclass
class CaseResult:
    interval: float
    clients: int
    offered: str  # what the clients offered: "deflate" or "none"
    compression: str  # what the server accepted
    window_s: float
    latencies_ms: list[float]
    first_ms: list[float]  # per tick: latency of the first client to receive it
    last_ms: list[float]  # per tick: latency of the last one
    gaps: int
    repeats: int
    processes: int  # client processes
    server_cpu_s: float
    client_cpu_s: float
    health: dict[str, object]
    errors: list[str]

    @property
    def messages(self) -> int:
        return len(self.latencies_ms)

    @property
    def expected(self) -> int:
        return round(self.clients * self.window_s / self.interval)

    @property
    def server_cpu_pct(self) -> float:
        return self.server_cpu_s / self.window_s * 100.0

    @property
    def client_cpu_pct(self) -> float:
        return self.client_cpu_s / self.window_s * 100.0

    @property
    def us_per_message(self) -> float:
        return self.server_cpu_s / max(1, self.messages) * 1e6

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def run_case(
    interval: float,
    clients: int,
    *,
    window_s: float,
    settle_s: float,
    offer: str,
    processes: int,
    record: bool = True,
) -> CaseResult:
    """One server, `clients` clients of the kind `offer` names: "light" (light clients
    offering deflate, as browsers do), "deflate" or "none" (`websockets` clients)."""
    collector = Collector()
    kind = "light" if offer == "light" else "websockets"
    with (
        sleeper(lifetime_s=900) as pid,
        WatchServer(str(pid), "--interval", f"{interval:g}", record=record) as server,
        ClientProcesses(
            kind, server.ws_url, clients, processes, None if offer == "none" else "deflate"
        ) as pool,
    ):
        time.sleep(settle_s)
        lead = 0.2  # for the command to reach every client process before the window
        start = time.time() + lead
        pool.record(start, start + window_s)
        time.sleep(lead)
        pids = pool.pids
        server0, wall0 = cpu_seconds(server.pid), time.monotonic()
        client0 = sum(cpu_seconds(p) for p in pids)
        time.sleep(window_s)
        wall = time.monotonic() - wall0
        server_cpu = cpu_seconds(server.pid) - server0
        client_cpu = sum(cpu_seconds(p) for p in pids) - client0
        health: dict[str, object] = json.loads(server.healthz())
        for window in pool.collect():
            collector.add(window)
        negotiated = pool.negotiated + (" (light clients)" if kind == "light" else "")
    return CaseResult(
        interval=interval,
        clients=clients,
        offered=offer,
        compression=negotiated,
        window_s=wall,
        latencies_ms=collector.latencies_ms,
        first_ms=[(first - t) * 1e3 for t, first, _ in collector.spread.values()],
        last_ms=[(last - t) * 1e3 for t, _, last in collector.spread.values()],
        gaps=collector.gaps,
        repeats=collector.repeats,
        processes=pool.processes,
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
        health=health,
        errors=collector.errors,
    )


def _floor_reader(port: int, count: int, pipe: Connection) -> None:
    """The peers of `send_floor`: read whatever comes, until told to stop."""
    socks = {}
    epoll = select.epoll()
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        socks[sock.fileno()] = sock
        epoll.register(sock.fileno(), select.EPOLLIN)
    epoll.register(pipe.fileno(), select.EPOLLIN)
    pipe.send("ready")
    while True:
        for fd, _ in epoll.poll():
            if fd == pipe.fileno():
                for sock in socks.values():
                    sock.close()
                return
            with contextlib.suppress(BlockingIOError):
                socks[fd].recv(65536)


def send_floor(count: int, size: int = 220, rounds: int = 10) -> tuple[float, float]:
    """What one `send` of a tick-sized message costs here, in µs (wall, CPU): to each of
    `count` non-blocking loopback TCP sockets whose peers wait in `epoll` in another
    process, as a server's clients do. The floor of a fan-out's cost per message, taken
    in the same run because this machine's speed varies with its neighbours."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=count + 16)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_floor_reader, args=(listener.getsockname()[1], count, child), daemon=True
    )
    proc.start()
    conns: list[socket.socket] = []
    try:
        for _ in range(count):
            conn, _ = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.setblocking(False)
            conns.append(conn)
        if not parent.poll(30) or parent.recv() != "ready":
            raise RuntimeError("the peers of the send floor did not start")
        message = b"x" * size
        walls, cpus = [], []
        for _ in range(rounds):
            time.sleep(0.2)  # the peers back asleep in epoll_wait, as between ticks
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for conn in conns:
                conn.send(message)
            walls.append((time.perf_counter() - wall0) / count * 1e6)
            cpus.append((time.process_time() - cpu0) / count * 1e6)
        return median(walls), median(cpus)
    finally:
        with contextlib.suppress(OSError):
            parent.send("quit")
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
            proc.join()
        for conn in conns:
            conn.close()
        listener.close()
        parent.close()


def report(
    results: Sequence[CaseResult],
    command: str,
    *,
    recording: bool,
    floor: tuple[int, float, float] | None = None,
) -> str:
    processes = max((r.processes for r in results), default=DEFAULT_PROCESSES)
    rows = [
        [
            f"{r.interval:g} s ({1 / r.interval:g} Hz)",
            str(r.clients),
            r.compression,
            f"{r.messages:,} / {r.expected:,}",
            f"{r.p(50):.1f}",
            f"{r.p(99):.1f}",
            f"{max(r.latencies_ms, default=float('nan')):.1f}",
            f"{_median_or_nan(r.first_ms):.1f} / {_median_or_nan(r.last_ms):.1f}",
            f"{r.server_cpu_pct:.1f}",
            f"{r.us_per_message:.0f}",
            f"{r.client_cpu_pct:.1f}",
            f"{r.gaps} / {r.repeats} / {r.health.get('dropped_messages', '?')} / "
            f"{r.health.get('missed_ticks', '?')}",
        ]
        for r in results
    ]
    table = md_table(
        [
            "interval",
            "clients",
            "compression",
            "ticks received / expected",
            "p50 ms",
            "p99 ms",
            "max ms",
            "per tick, first / last client, median ms",
            "server CPU % of a core",
            "server CPU µs per message",
            "client CPU %",
            "seq gaps / repeats / server drops / missed ticks",
        ],
        rows,
    )
    window = median([r.window_s for r in results])
    figures = (
        f"{table}\n\n"
        f"Window about {window:.0f} s per case, after every client connected and a settling "
        "pause. The server "
        + (
            "records into a store in a temporary directory, as `watch` does by default."
            if recording
            else "runs with `--no-record`."
        )
        + " Latency is per tick per client: receive wall time − the tick's `t`, which the "
        "server stamps when the round's sampling starts, so it includes the sampling, the "
        "hand-over to the event loop, serialisation and the sends. Per tick, the first "
        "client to get it shows the path's floor and the last one the whole fan-out. The "
        f"clients are spread over {processes} processes (bench/_wsclient.py), so that one "
        "process working through a thousand messages in turn does not push back the receive "
        "times of the last ones (in one process, the `websockets` clients' own work was "
        "most of the latency measured). They still run on the same machine and share "
        "its cores with the server, so their work (client CPU %, all client processes "
        "together) delays deliveries too, and the latencies are an upper bound on what the "
        "server alone adds. Server CPU is its whole process (event loop, sampler, store "
        "and alert threads) over the window ÷ the window; µs per message is that CPU ÷ "
        'tick messages delivered. "compression" is the WebSocket extension the server '
        "accepted when the clients offered permessage-deflate, as browsers and `websockets` "
        "do by default (memlens accepts none: one frame is built per tick and written to "
        'every client). Rows marked "light clients" use raw sockets and `epoll` instead of '
        "the `websockets` library: they find frame boundaries and read `seq` and `t` from "
        "each tick's first bytes, and stamp a message with the time `epoll_wait` reported "
        "its socket readable (its bytes had arrived by then), not when the reader got round "
        "to it, so the latency is mostly the server's; they offer permessage-deflate too. "
        "The `websockets` clients stamp a message when `async for` hands it over. A repeat "
        "is a tick a client got twice or out of order: every client must get every tick "
        "once, in order."
    )
    peers = []
    for r in results:
        other = next(
            (
                o
                for o in results
                if (o.interval, o.clients) == (r.interval, r.clients) and o.offered == "none"
            ),
            None,
        )
        if r.offered == "deflate" and other is not None:
            peers.append(
                f"{r.clients:,} clients at {1 / r.interval:g} Hz: with permessage-deflate the "
                f"server spends {r.us_per_message / other.us_per_message:.1f}× the CPU per "
                f"message, and p99 is {r.p(99):.0f} ms against {other.p(99):.0f} ms"
            )
    if peers:
        figures += "\n\nSame run, deflate vs no compression: " + "; ".join(peers) + "."
    if floor is not None:
        count, wall_us, cpu_us = floor
        least = min((r.us_per_message for r in results if r.messages), default=float("nan"))
        figures += (
            f"\n\nSame run, the floor: one tick-sized `send` to each of {count:,} "
            "non-blocking loopback TCP sockets, whose peers wait in `epoll` in another "
            f"process, takes {wall_us:.1f} µs of wall time and {cpu_us:.1f} µs of CPU per "
            "send. "
            f"The server's CPU per message above is {least / cpu_us:.1f}× that CPU at the "
            "least; the rest is its Python per client and per tick, the keep-alive pings "
            "and its other threads."
        )
    decisive = [r for r in results if r.clients >= TARGET_CLIENTS and r.interval == TARGET_INTERVAL]
    if decisive:
        # The server's delivery decides, so the light clients do: on this 2-core machine
        # the `websockets` clients share the server's cores and spend several times its
        # CPU per message, so their latency is mostly their own (a browser runs on another
        # machine). The other rows are reported beside it.
        r = min(decisive, key=lambda x: x.offered != "light")
        ok = r.p(99) < TARGET_P99_MS and r.messages > 0
        target = (
            f"p99 latency under {TARGET_P99_MS:g} ms for {TARGET_CLIENTS:,} clients at 1 Hz, "
            "judged on the light clients, whose own work adds least to what the server "
            f"delivers. Measured p99 {r.p(99):.1f} ms with {r.clients:,} clients: "
            f"{verdict(ok)}."
        )
        labels = {
            "none": "`websockets` clients offering no compression",
            "deflate": "`websockets` clients offering deflate, as browsers do",
            "light": "light clients",
        }
        for o in decisive:
            if o is not r:
                target += (
                    f" With {labels.get(o.offered, o.offered)}: p99 {o.p(99):.1f} ms: "
                    f"{verdict(o.p(99) < TARGET_P99_MS and o.messages > 0)}."
                )
    else:
        target = (
            f"p99 latency under {TARGET_P99_MS:g} ms for {TARGET_CLIENTS:,} clients at 1 Hz: "
            "not judged, that case was not run."
        )
    errors = [e for r in results for e in r.errors]
    notes = f"Client errors during the runs: {len(errors)} ({errors[:3]})." if errors else ""
    return render_section(
        "fanout",
        "WebSocket fan-out: latency and server CPU",
        what=(
            "A real `memlens watch` server on one `sleep` process, streaming to many "
            "WebSocket clients on 127.0.0.1: latency of each tick to each client, and the "
            "server's CPU while it fans out."
        ),
        command=command,
        figures=figures,
        target=target,
        notes=notes,
    )


def _median_or_nan(values: Sequence[float]) -> float:
    return median(values) if values else float("nan")


def _parse_cases(text: str) -> list[tuple[float, int]]:
    cases = []
    for item in text.split(","):
        interval, _, clients = item.partition(":")
        cases.append((float(interval), int(clients)))
    return cases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default="1.0:1000,0.1:100",
        help="INTERVAL:CLIENTS pairs (default 1.0:1000,0.1:100)",
    )
    parser.add_argument("--seconds", type=float, default=25.0, help="recording window (25 s)")
    parser.add_argument("--settle", type=float, default=3.0, help="pause before recording (3 s)")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help=f"processes the clients are spread over ({DEFAULT_PROCESSES})",
    )
    parser.add_argument(
        "--compression",
        choices=["deflate", "none", "both", "light", "all"],
        default="all",
        help="the clients: `websockets` clients offering deflate (as browsers do) or none, "
        "`light` (bench/_wsclient.py, nearly no work per message, offering deflate), "
        "both websockets "
        "kinds, or all three (default)",
    )
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="run memlens with --no-record (by default it records, into a temporary store)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    cases = _parse_cases(args.cases)
    if any(c < 1 or c > 5000 or i < 0.05 for i, c in cases) or not 1 <= args.seconds <= 300:
        parser.error("clients must be 1..5000, intervals at least 0.05 s, seconds 1..300")
    nofile = raise_nofile()
    if nofile < max(c for _, c in cases) + 256:
        print(f"RLIMIT_NOFILE is {nofile}: too low for this many clients", file=sys.stderr)
        return 2
    results = []
    offers = {
        "both": ["deflate", "none"],
        "all": ["deflate", "light"],
    }.get(args.compression, [args.compression])
    for (interval, clients), offer in itertools.product(cases, offers):
        result = run_case(
            interval,
            clients,
            window_s=args.seconds,
            settle_s=args.settle,
            offer=offer,
            processes=max(1, args.client_processes),
            record=not args.no_record,
        )
        results.append(result)
        print(
            f"{clients:5d} clients @ {interval:g} s: p50 {result.p(50):.1f} ms, "
            f"p99 {result.p(99):.1f} ms, server {result.server_cpu_pct:.1f}% "
            f"({result.us_per_message:.0f} µs/message), client {result.client_cpu_pct:.1f}%, "
            f"{result.messages}/{result.expected} ticks, compression {result.compression}",
            flush=True,
        )
    command = (
        f"python -m bench.bench_fanout --cases {args.cases} --seconds {args.seconds:g} "
        f"--compression {args.compression}"
        + (" --no-record" if args.no_record else "")
        + (
            f" --client-processes {args.client_processes}"
            if args.client_processes != DEFAULT_PROCESSES
            else ""
        )
    )
    most = max(c for _, c in cases)
    wall_us, cpu_us = send_floor(most)
    print(f"send floor: {wall_us:.1f} µs wall, {cpu_us:.1f} µs CPU per send", flush=True)
    section = report(results, command, recording=not args.no_record, floor=(most, wall_us, cpu_us))
    print(section)
    if not args.no_write:
        write_section("fanout", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
