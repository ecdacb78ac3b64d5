"""memlens's own memory over time while it watches one process and serves a few clients.

Starts a real `memlens watch PID --port 0` on a `sleep` child; a few WebSocket clients
stay connected and each reconnects every `--reconnect` seconds (staggered), so hello and
backfill messages are built again and again as the history grows. The server's RSS is
read with psutil every `--every` seconds for `--minutes` minutes.

    python -m bench.bench_self_rss [--minutes 10] [--clients 4] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psutil
from websockets.asyncio.client import connect

from bench._util import (
    WatchServer,
    exit_on_sigterm,
    md_table,
    render_section,
    sleeper,
    slope_per_minute,
    write_section,
)
from memlens.model import SAMPLE_FIELDS

KB = 1024
MB = 1024 * 1024
# The history keeps t and every sample field as 8-byte doubles (memlens.history).
HISTORY_BYTES_PER_SAMPLE = 8 * (len(SAMPLE_FIELDS) + 1)


@dataclass
class Run:
    points: list[tuple[float, int]] = field(default_factory=list)  # (seconds, RSS bytes)
    connections: int = 0
    messages: int = 0
    errors: list[str] = field(default_factory=list)
    health: dict[str, object] = field(default_factory=dict)


async def _client(url: str, offset_s: float, every_s: float, end: float, run: Run) -> None:
    """Connect, read until this client's next reconnect, close; repeat until `end`."""
    await asyncio.sleep(min(offset_s, max(0.0, end - time.monotonic())))
    while time.monotonic() < end:
        leave = min(end, time.monotonic() + every_s)
        try:
            async with connect(url, proxy=None, open_timeout=10, close_timeout=2) as ws:
                run.connections += 1
                while (left := leave - time.monotonic()) > 0:
                    try:
                        await asyncio.wait_for(ws.recv(), timeout=left)
                    except asyncio.TimeoutError:
                        break
                    run.messages += 1
        except Exception as e:
            run.errors.append(repr(e))
            await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))


async def _watch_rss(pid: int, every_s: float, end: float, run: Run) -> None:
    proc = psutil.Process(pid)
    start = time.monotonic()
    while True:
        now = time.monotonic()
        run.points.append((now - start, proc.memory_info().rss))
        if now + every_s > end:
            return
        await asyncio.sleep(every_s - (time.monotonic() - now))


async def _drive(server: WatchServer, args: argparse.Namespace, run: Run) -> None:
    end = time.monotonic() + args.minutes * 60.0
    stagger = min(args.reconnect, args.minutes * 60.0) / max(1, args.clients)
    clients = [
        _client(server.ws_url, i * stagger, args.reconnect, end, run) for i in range(args.clients)
    ]
    await asyncio.gather(_watch_rss(server.pid, args.every, end, run), *clients)
    run.health = json.loads(await asyncio.to_thread(server.healthz))


def report(run: Run, args: argparse.Namespace, command: str) -> str:
    rss = [value for _, value in run.points]
    half = [(t, v) for t, v in run.points if t >= run.points[-1][0] / 2]
    slope_all = slope_per_minute([(t, v / KB) for t, v in run.points])
    slope_late = slope_per_minute([(t, v / KB) for t, v in half])
    history_kb_min = HISTORY_BYTES_PER_SAMPLE * 60.0 / args.interval / KB
    table = md_table(
        ["start MB", "end MB", "max MB", "slope KB/min (whole run)", "slope KB/min (2nd half)"],
        [
            [
                f"{rss[0] / MB:.1f}",
                f"{rss[-1] / MB:.1f}",
                f"{max(rss) / MB:.1f}",
                f"{slope_all:+.1f}",
                f"{slope_late:+.1f}",
            ]
        ],
    )
    by_minute = []
    for minute in range(int(run.points[-1][0] // 60) + 1):
        t, value = min(run.points, key=lambda p: abs(p[0] - minute * 60))
        by_minute.append(f"{t / 60:.0f} min {value / MB:.2f}")
    figures = (
        f"{table}\n\n"
        f"RSS in MB, minute by minute: {', '.join(by_minute)}, end {rss[-1] / MB:.2f}.\n\n"
        f"{len(run.points)} readings of the server's RSS (psutil), one every {args.every:g} s "
        f"over {run.points[-1][0] / 60:.1f} min, sampling at {args.interval:g} s with "
        f"{'--history ' + args.history if args.history else 'the default history (1 h)'}; "
        f"{args.clients} clients, each reconnecting every "
        f"{args.reconnect:g} s: {run.connections} connections and {run.messages:,} messages "
        f"in all, {len(run.errors)} client errors. Slopes are least-squares fits. The "
        f"history of one watched process grows by design by "
        f"{HISTORY_BYTES_PER_SAMPLE} bytes a sample, {history_kb_min:.1f} KB/min at this "
        "interval, until it holds `--history` (1 h by default); `array` over-allocation "
        "makes that growth come in steps. Server /healthz at the end: "
        f"`{json.dumps(run.health)}`."
    )
    target = (
        "no figure is set by the issue. The history's design (memlens/history.py) promises "
        '"small and flat": growth beyond the history\'s own '
        f"{history_kb_min:.1f} KB/min would point at a leak; the second-half slope, "
        f"{slope_late:+.1f} KB/min, is the figure to compare."
    )
    return render_section(
        "self_rss",
        "memlens's own memory while watching",
        what=(
            "Resident memory of a real `memlens watch` server over a run, while it samples one "
            "process and serves WebSocket clients that come and go."
        ),
        command=command,
        figures=figures,
        target=target,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run (10)")
    parser.add_argument("--clients", type=int, default=4, help="WebSocket clients (4)")
    parser.add_argument(
        "--reconnect", type=float, default=45.0, help="seconds between a client's reconnects"
    )
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS reads")
    parser.add_argument("--interval", type=float, default=1.0, help="memlens --interval")
    parser.add_argument(
        "--history", help="memlens --history (default: memlens's own, 1 h), e.g. 1m"
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    if not 0.1 <= args.minutes <= 120 or not 0 <= args.clients <= 100 or args.every < 0.5:
        parser.error("minutes must be 0.1..120, clients 0..100, every at least 0.5 s")
    run = Run()
    history = ["--history", args.history] if args.history else []
    lifetime = int(args.minutes * 60) + 300
    with (
        sleeper(lifetime) as pid,
        WatchServer(str(pid), "--interval", f"{args.interval:g}", *history) as server,
    ):
        budget = args.minutes * 60.0 + 60.0
        asyncio.run(asyncio.wait_for(_drive(server, args, run), budget))
    command = (
        f"python -m bench.bench_self_rss --minutes {args.minutes:g} --clients {args.clients} "
        f"--reconnect {args.reconnect:g}"
        + (f" --interval {args.interval:g}" if args.interval != 1.0 else "")
        + (f" --history {args.history}" if args.history else "")
    )
    section = report(run, args, command)
    print(section)
    if not args.no_write:
        write_section("self_rss", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
