"""WebSocket fan-out: tick latency and server CPU with many clients on one server.

Starts a real `memlens watch PID --port 0 --interval I` on a `sleep` child, connects C
clients with the `websockets` library from one asyncio process (in batches), lets them
settle, then records for a window: per `tick` received, latency = receive wall time −
the tick's `t` (the server's `time.time()` when the round's sampling began, same machine
clock, so the sampling itself is included); the server's CPU time over the window
(psutil) and the client process's own.

    python -m bench.bench_fanout [--cases 1.0:1000,0.1:100] [--seconds 25] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect

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
from bench._wsclient import LightClient, connect_light

TARGET_P99_MS = 50.0
TARGET_CLIENTS = 1000
TARGET_INTERVAL = 1.0
CONNECT_TIMEOUT_S = 30.0
TICK_PREFIX = '{"type":"tick"'


@dataclass
class Collector:
    """What every client reports into; the window is open while `recording` is true."""

    recording: bool = False
    latencies_ms: list[float] = field(default_factory=list)
    gaps: int = 0  # ticks a client missed (a jump in seq)
    # seq -> [tick's t, first receive, last receive] over all clients
    spread: dict[int, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def on_tick(self, received: float, seq: int, t: float) -> None:
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


async def _client(
    url: str,
    compression: str | None,
    collector: Collector,
    opened: asyncio.Future[ClientConnection],
) -> None:
    try:
        async with connect(
            url,
            compression=compression,
            proxy=None,  # straight to 127.0.0.1, whatever the environment says
            ping_interval=None,  # the server pings; the client only answers
            open_timeout=CONNECT_TIMEOUT_S,
            close_timeout=2,
            max_size=2**24,
        ) as ws:
            opened.set_result(ws)
            last_seq: int | None = None
            async for raw in ws:
                received = time.time()
                if not isinstance(raw, str) or not raw.startswith(TICK_PREFIX):
                    continue
                message = json.loads(raw)
                seq = message["seq"]
                if collector.recording:
                    collector.on_tick(received, seq, message["t"])
                    if last_seq is not None and seq > last_seq + 1:
                        collector.gaps += seq - last_seq - 1
                last_seq = seq
    except Exception as e:
        if not opened.done():
            opened.set_exception(e)
        else:
            collector.errors.append(repr(e))


async def _measure(
    server: WatchServer, collector: Collector, settle_s: float, window_s: float
) -> tuple[float, float, float, dict[str, object]]:
    """Once every client is connected: settle, then record for the window; returns wall
    seconds, server and client CPU seconds over it, and the server's /healthz after."""
    await asyncio.sleep(settle_s)
    server0, client0, wall0 = cpu_seconds(server.pid), time.process_time(), time.monotonic()
    collector.recording = True
    await asyncio.sleep(window_s)
    collector.recording = False
    wall = time.monotonic() - wall0
    server_cpu = cpu_seconds(server.pid) - server0
    client_cpu = time.process_time() - client0
    health: dict[str, object] = json.loads(await asyncio.to_thread(server.healthz))
    return wall, server_cpu, client_cpu, health


async def _drive(
    server: WatchServer,
    *,
    clients: int,
    batch: int,
    compression: str | None,
    settle_s: float,
    window_s: float,
    collector: Collector,
) -> tuple[float, float, float, dict[str, object], str]:
    if compression == "light":
        return await _drive_light(
            server,
            clients=clients,
            batch=batch,
            settle_s=settle_s,
            window_s=window_s,
            collector=collector,
        )
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []
    sockets: list[ClientConnection] = []
    try:
        for start in range(0, clients, batch):
            futures: list[asyncio.Future[ClientConnection]] = []
            for _ in range(min(batch, clients - start)):
                opened: asyncio.Future[ClientConnection] = loop.create_future()
                futures.append(opened)
                tasks.append(
                    asyncio.create_task(_client(server.ws_url, compression, collector, opened))
                )
            sockets.extend(await asyncio.wait_for(asyncio.gather(*futures), CONNECT_TIMEOUT_S + 5))
        negotiated = ", ".join(str(e.name) for e in sockets[0].protocol.extensions) or "none"
        return (*await _measure(server, collector, settle_s, window_s), negotiated)
    finally:
        await asyncio.wait_for(
            asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True), 30
        )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _drive_light(
    server: WatchServer,
    *,
    clients: int,
    batch: int,
    settle_s: float,
    window_s: float,
    collector: Collector,
) -> tuple[float, float, float, dict[str, object], str]:
    """The same measurement with `_wsclient.LightClient`s, which do almost no work per
    message, so the latency is the server's rather than the clients'."""
    host, port = server.ws_url.removeprefix("ws://").split("/", 1)[0].rsplit(":", 1)
    last_seq: dict[int, int] = {}
    conns: list[LightClient] = []

    def on_tick_for(index: int) -> Callable[[float, int, float], None]:
        def on_tick(received: float, seq: int, t: float) -> None:
            if collector.recording:
                collector.on_tick(received, seq, t)
                previous = last_seq.get(index)
                if previous is not None and seq > previous + 1:
                    collector.gaps += seq - previous - 1
            last_seq[index] = seq

        return on_tick

    try:
        for start in range(0, clients, batch):
            conns.extend(
                await asyncio.wait_for(
                    asyncio.gather(
                        *(
                            connect_light(host, int(port), "/ws", on_tick_for(start + i))
                            for i in range(min(batch, clients - start))
                        )
                    ),
                    CONNECT_TIMEOUT_S + 5,
                )
            )
        return (*await _measure(server, collector, settle_s, window_s), "none (light clients)")
    finally:
        for conn in conns:
            conn.transport.close()


def run_case(
    interval: float,
    clients: int,
    *,
    window_s: float,
    settle_s: float,
    batch: int,
    compression: str | None,
    record: bool = True,
) -> CaseResult:
    collector = Collector()
    with (
        sleeper(lifetime_s=900) as pid,
        WatchServer(str(pid), "--interval", f"{interval:g}", record=record) as server,
    ):
        budget = CONNECT_TIMEOUT_S * (clients // batch + 2) + settle_s + window_s + 60
        wall, server_cpu, client_cpu, health, negotiated = asyncio.run(
            asyncio.wait_for(
                _drive(
                    server,
                    clients=clients,
                    batch=batch,
                    compression=compression,
                    settle_s=settle_s,
                    window_s=window_s,
                    collector=collector,
                ),
                budget,
            )
        )
    return CaseResult(
        interval=interval,
        clients=clients,
        offered=compression or "none",
        compression=negotiated,
        window_s=wall,
        latencies_ms=collector.latencies_ms,
        first_ms=[(first - t) * 1e3 for t, first, _ in collector.spread.values()],
        last_ms=[(last - t) * 1e3 for t, _, last in collector.spread.values()],
        gaps=collector.gaps,
        server_cpu_s=server_cpu,
        client_cpu_s=client_cpu,
        health=health,
        errors=collector.errors,
    )


def report(results: Sequence[CaseResult], command: str, *, recording: bool) -> str:
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
            f"{r.gaps} / {r.health.get('dropped_messages', '?')} / "
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
            "seq gaps / server drops / missed ticks",
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
        "clients run in one asyncio process on the same machine and share its cores with "
        "the server: they take each message in turn, so their own work (client CPU %) "
        "spreads the receive times too, and the latencies are an upper bound on what the "
        "server alone adds. Server CPU is its whole process (event loop and sampler "
        "thread) over the window ÷ the window; µs per message is that CPU ÷ "
        'tick messages delivered. "compression" is the WebSocket extension the server '
        "accepted when the clients offered permessage-deflate, as browsers and `websockets` "
        "do by default (memlens accepts none: one frame is built per tick and written to "
        'every client). Rows marked "light clients" use bench/_wsclient.py instead of the '
        "`websockets` library: a bare asyncio protocol that finds frame boundaries and reads "
        "`seq` and `t` from each tick's first bytes, so the client process adds little of "
        "its own delay and the latency is mostly the server's."
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
    decisive = [r for r in results if r.clients >= TARGET_CLIENTS and r.interval == TARGET_INTERVAL]
    if decisive:
        # What a browser gets (it offers deflate) decides; the other offer is a peer.
        r = min(decisive, key=lambda x: x.offered != "deflate")
        ok = r.p(99) < TARGET_P99_MS and r.messages > 0
        target = (
            f"p99 latency under {TARGET_P99_MS:g} ms for {TARGET_CLIENTS:,} clients at 1 Hz. "
            f"Measured p99 {r.p(99):.1f} ms with {r.clients:,} clients "
            f"(compression: {r.compression}): {verdict(ok)}."
        )
        labels = {"none": "`websockets` clients offering no compression", "light": "light clients"}
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
            "`websockets` clients on 127.0.0.1: latency of each tick to each client, and the "
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
    parser.add_argument("--batch", type=int, default=50, help="clients connecting at once (50)")
    parser.add_argument(
        "--compression",
        choices=["deflate", "none", "both", "light", "all"],
        default="all",
        help="the clients: `websockets` clients offering deflate (as browsers do) or none, "
        "`light` (bench/_wsclient.py, nearly no work per message), both websockets "
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
            batch=max(1, args.batch),
            compression={"none": None, "light": "light"}.get(offer, "deflate"),
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
        f"--compression {args.compression}" + (" --no-record" if args.no_record else "")
    )
    section = report(results, command, recording=not args.no_record)
    print(section)
    if not args.no_write:
        write_section("fanout", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
