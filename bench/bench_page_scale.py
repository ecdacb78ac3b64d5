"""The live page in real Chromium with 1,000 targets: frames per second and its memory.

A server process (this script with `--serve`) runs memlens's real web app and live view
on 127.0.0.1 and feeds them synthetic ticks of `--targets` processes (bench/_synthetic.py)
through the real hub and WebSocket, at a pace this script sets on its stdin. Real
Chromium (Playwright, /usr/bin/chromium) opens the page, and the script measures:

1. at 1 Hz from an empty history: frames per second (counted by requestAnimationFrame)
   and the page's JS heap (CDP `Performance.getMetrics` JSHeapUsedSize, after a forced
   garbage collection);
2. an hour of ticks, accelerated (`--fast` ticks a second of wall time, each a second of
   data time apart): the heap every so often, to see whether it levels off;
3. at 1 Hz again with the hour in the page: frames per second and the heap;
4. a new tab, whose backfill holds the hour: the time until it reads "connected", its
   heap, and its frames per second at 1 Hz.

    python -m bench.bench_page_scale [--targets 1000] [--hour 3600] [--fast 20]

The page's store holds about eight million values (store.js rowCap: 4,000 rows at 1,000
targets with RSS and PSS) and trims past 5,000 rows: `--hour 6000` runs past that, so
the heap is seen to level off rather than only to climb.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench._util import ROOT, exit_on_sigterm, md_table, render_section, write_section

MB = 1024 * 1024
CHROMIUM = "/usr/bin/chromium"

# Frame times, kept by the page from its first frame (a ring of the last 4,000).
FRAME_COUNTER = """
window.__frames = { gaps: [], last: 0 };
(function frame(ts) {
  var f = window.__frames;
  if (f.last) { f.gaps.push(ts - f.last); if (f.gaps.length > 4000) f.gaps.shift(); }
  f.last = ts;
  requestAnimationFrame(frame);
})(0);
"""


# -- the server ---------------------------------------------------------------------------


async def _serve(targets: int) -> None:
    import uvicorn

    from bench._synthetic import Synthetic
    from memlens.watch.live import LiveView
    from memlens.web.app import create_app
    from memlens.web.security import SecurityPolicy
    from memlens.web.server import bind_socket, url_for, uvicorn_config

    live = LiveView(interval=1.0, history_capacity=3600, system=False)
    start = time.time()
    synthetic = Synthetic(targets, start)
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn_config(create_app(live, SecurityPolicy())))
    pace = {"rate": 0.0, "seq": 0}
    loop = asyncio.get_running_loop()

    def commands() -> None:
        for line in sys.stdin:
            word, _, value = line.strip().partition(" ")
            if word == "rate":
                pace["rate"] = float(value)
            elif word == "seq":
                print(f"seq {pace['seq']}", flush=True)
            elif word == "stop":
                break
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    async def feed() -> None:
        while True:
            rate = pace["rate"]
            if rate <= 0:
                await asyncio.sleep(0.05)
                continue
            began = time.perf_counter()
            seq = pace["seq"]
            live.apply(synthetic.tick(seq, start + seq, first=seq == 0))
            pace["seq"] = seq + 1
            await asyncio.sleep(max(0.0, 1.0 / rate - (time.perf_counter() - began)))

    threading.Thread(target=commands, daemon=True).start()
    feeder = asyncio.create_task(feed())
    loop.call_soon(lambda: print(url_for(sock), flush=True))
    try:
        await server.serve(sockets=[sock])
    finally:
        feeder.cancel()


# -- the browser --------------------------------------------------------------------------


class Server:
    def __init__(self, targets: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_page_scale", "--serve", "--targets", str(targets)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"the server printed {self.url!r}")

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def seq(self) -> int:
        self.say("seq")
        assert self.proc.stdout is not None
        return int(self.proc.stdout.readline().split()[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.say("stop")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# Ticks the server may be ahead of the tab during the accelerated hour: the hub keeps 64
# messages for a tab that reads slowly and drops the oldest past that (the page then
# fills the gap over HTTP, target by target), which a real 1 Hz hour never does.
LAG = 10


def ticks_seen(page: Any) -> int:
    return int(page.evaluate("() => Number(document.body.dataset.ticks || 0)"))


def catch_up(page: Any, seq: int, server: Server, limit_s: float = 300.0) -> None:
    """Wait until the tab has had tick `seq`, or the server dropped some for it (the tab
    then fills the gap over HTTP: waiting for those ticks would be waiting forever)."""
    lost = dropped(server.url)
    end = time.monotonic() + limit_s
    while ticks_seen(page) < seq and dropped(server.url) == lost:
        if time.monotonic() > end:
            raise TimeoutError(f"the tab did not catch up with tick {seq}")
        time.sleep(0.25)


def dropped(url: str) -> int:
    """Messages the server's hub dropped for slow tabs (/healthz)."""
    base = url.partition("?")[0]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(base + "healthz", timeout=10) as answer:
        return int(json.loads(answer.read()).get("dropped_messages", 0))


def heap(cdp: Any) -> int:
    """The page's used JS heap after a full collection, in bytes."""
    cdp.send("HeapProfiler.collectGarbage")
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return int(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize"))


# Where the page's main thread spends its time (CDP Performance.getMetrics, in seconds).
SPLIT = ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration", "TaskDuration")


def _durations(cdp: Any) -> dict[str, float]:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return {m["name"]: float(m["value"]) for m in metrics if m["name"] in SPLIT}


def frames(page: Any, cdp: Any, seconds: float) -> dict[str, float]:
    """Frames per second over the next `seconds`, the longest frame (ms), and the share
    of that time the main thread spent in script, style, layout and all tasks."""
    page.evaluate("window.__frames.gaps = []")
    before = _durations(cdp)
    began = time.perf_counter()
    time.sleep(seconds)
    gaps: list[float] = page.evaluate("window.__frames.gaps.slice()")
    after = _durations(cdp)
    wall = time.perf_counter() - began
    split = {name: (after[name] - before[name]) / wall for name in SPLIT}
    if not gaps:
        return {"fps": 0.0, "longest_ms": seconds * 1000, "frames": 0, **split}
    return {
        "fps": len(gaps) / (sum(gaps) / 1000.0),
        "longest_ms": max(gaps),
        "frames": len(gaps),
        **split,
    }


def profiled(page: Any, cdp: Any, seconds: float) -> dict[str, Any]:
    """`frames`, with a CPU profile of the page meanwhile: the functions that took the
    most of the main thread's time themselves (idle and unattributed time left out)."""
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 500})
    cdp.send("Profiler.start")
    result: dict[str, Any] = dict(frames(page, cdp, seconds))
    profile = cdp.send("Profiler.stop")["profile"]
    nodes = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    counts = Counter(profile["samples"])
    total = sum(counts.values()) or 1
    spent: Counter[str] = Counter()
    for node, count in counts.items():
        frame = nodes[node]
        if frame["functionName"] in ("(idle)", "(program)", "(root)"):
            continue
        where = frame["url"].rsplit("/", 1)[-1]
        line = f":{frame['lineNumber'] + 1}" if where else ""
        spent[f"{frame['functionName'] or '(anonymous)'} {where}{line}".strip()] += count
    result["top"] = [(name, count / total) for name, count in spent.most_common(6)]
    return result


def open_tab(browser: Any, url: str) -> tuple[Any, Any, float]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(FRAME_COUNTER)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    began = time.perf_counter()
    page.goto(url)
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=300_000)
    return page, cdp, time.perf_counter() - began


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {"heap_during": []}
    server = Server(args.targets)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            page, cdp, _ = open_tab(browser, server.url)
            out["empty"] = {"heap": heap(cdp), **frames(page, cdp, 3)}
            server.say("rate 1")
            page.wait_for_function("() => Number(document.body.dataset.ticks) >= 3", timeout=60_000)
            out["start"] = {"heap": heap(cdp), **frames(page, cdp, args.window)}
            server.say(f"rate {args.fast:g}")
            began = last = time.perf_counter()
            out["pauses"] = 0
            while (seq := server.seq()) < args.hour:
                if seq - ticks_seen(page) > LAG:  # let the tab catch up (see LAG)
                    out["pauses"] += 1
                    server.say("rate 0")
                    time.sleep(0.2)
                    catch_up(page, server.seq(), server)
                    server.say(f"rate {args.fast:g}")
                if time.perf_counter() - last >= args.every:
                    last = time.perf_counter()
                    out["heap_during"].append((seq, heap(cdp), last - began))
                time.sleep(0.25)
            out["fast_fps"] = frames(page, cdp, 3)
            server.say("rate 1")
            catch_up(page, server.seq(), server)
            time.sleep(3)
            out["hour_s"] = time.perf_counter() - began
            out["end"] = {"heap": heap(cdp), **profiled(page, cdp, args.window)}
            out["end"]["seq"] = server.seq()
            page.close()
            tab, tab_cdp, took = open_tab(browser, server.url)
            out["new_tab"] = {"connected_s": took, "heap": heap(tab_cdp)}
            out["new_tab"].update(frames(tab, tab_cdp, args.window))
            browser.close()
        out["dropped"] = dropped(server.url)
    finally:
        server.stop()
    return out


def row_cap(targets: int) -> tuple[int, int]:
    """store.js rowCap for `targets` with RSS and PSS each, and the row count at which
    the store first trims back to it (TRIM_SLACK, at most a quarter of the cap)."""
    cap = max(600, 8_000_000 // (2 * targets))
    return cap, cap + min(2000, cap // 4)


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    def row(label: str, part: dict[str, Any]) -> list[str]:
        return [
            label,
            f"{part['fps']:.1f}",
            f"{part['longest_ms']:.0f}",
            f"{part['heap'] / MB:.1f}",
            *(f"{100 * part[name]:.0f}%" for name in SPLIT),
        ]

    table = md_table(
        [
            "moment",
            "frames/s",
            "longest frame ms",
            "JS heap MB (after GC)",
            "script",
            "style",
            "layout",
            "all tasks",
        ],
        [
            row("page open, no data yet", result["empty"]),
            row("1 Hz, the first ticks", result["start"]),
            row(f"1 Hz, after {result['end']['seq']:,} ticks", result["end"]),
            row(
                f"a new tab after them (connected in {result['new_tab']['connected_s']:.1f} s)",
                result["new_tab"],
            ),
        ],
    )
    during = " → ".join(f"{heap / MB:.0f}" for _, heap, _ in result["heap_during"])
    cap, trim_at = row_cap(args.targets)
    # the heap once the page's store is trimmed (store.js rowCap): it must not rise
    kept = [h for seq, h, _ in result["heap_during"] if seq >= trim_at]
    fps = [result["start"]["fps"], result["end"]["fps"], result["new_tab"]["fps"]]
    met_fps = min(fps) >= 30
    bounded = (
        f"from tick {trim_at:,} on, where the page's store first trims back to its {cap:,} "
        f"rows, it stayed between {min(kept) / MB:.1f} and {max(kept) / MB:.1f} MB"
        if kept
        else f"the run ended before tick {trim_at:,}, where the page's store first trims"
    )
    figures = (
        f"{table}\n\n{args.targets:,} synthetic targets through memlens's real web app, hub "
        "and WebSocket (a server process of this script; every field a process without an "
        "agent has, 15 values a target a tick), into real Chromium (headless, 1280×900, "
        f"no GPU). Frames per second from requestAnimationFrame over {args.window:g} s "
        "at 1 Hz; the JS heap from CDP Performance.getMetrics after "
        "HeapProfiler.collectGarbage; script, style, layout and all tasks: the share of "
        "those seconds the page's main thread spent on each (CDP's ScriptDuration, "
        "RecalcStyleDuration, LayoutDuration, TaskDuration; painting is in all tasks "
        "only). The hour was accelerated: "
        f"{args.hour:,} ticks one data-second apart, sent at up to {args.fast:g} a second, "
        f"held back whenever the tab fell {LAG} ticks behind ({result['pauses']} times), so "
        "that the server never dropped a message for it as it does for a tab that cannot "
        f"keep up ({result['dropped']} dropped in the whole run). It took "
        f"{result['hour_s']:.0f} s of wall time; frames/s meanwhile "
        f"{result['fast_fps']['fps']:.1f}. The 1 Hz figures after it were taken once the "
        f"tab had every tick. JS heap (MB) along the hour: {during}; "
        f"{bounded}. The page's own functions that "
        "took the most of its time at 1 Hz after the hour (CPU profile, self time, share "
        "of all samples): "
        + "; ".join(f"`{name}` {100 * share:.1f}%" for name, share in result["end"]["top"])
        + "."
    )
    target = (
        f"at least 30 frames/s with 1,000 targets at 1 Hz: {'met' if met_fps else 'not met'} "
        f"(lowest {min(fps):.1f}); memory bounded over an hour: the page keeps its own "
        "history in store.js, trimmed to a number of rows that falls as targets rise "
        f"(about eight million values: {cap:,} rows of {args.targets:,} targets' RSS and "
        f"PSS, trimmed in batches once past {trim_at:,}), so its heap climbs with the rows "
        "until then and levels off: "
        + (
            f"{'met' if max(kept) <= 1.5 * min(kept) else 'not met'}: {bounded}."
            if kept
            else f"not shown (the run ended before tick {trim_at:,})."
        )
    )
    return render_section(
        "page_scale",
        "The live page with 1,000 targets",
        what=(
            "Frame rate and JS heap of the live page in real Chromium while a server feeds "
            "it 1,000 targets ticking at 1 Hz, over many ticks (an hour's by default)."
        ),
        command=(
            f"python -m bench.bench_page_scale --targets {args.targets} --hour {args.hour} "
            f"--fast {args.fast:g} --window {args.window:g}"
        ),
        figures=figures,
        target=target,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--hour", type=int, default=3600, help="ticks in the 'hour' (3600)")
    parser.add_argument("--fast", type=float, default=20.0, help="ticks a second meanwhile")
    parser.add_argument("--window", type=float, default=10.0, help="seconds a frame rate spans")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between heap reads")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    if not 1 <= args.targets <= 100_000 or not args.fast > 0:
        parser.error("targets must be 1..100000 and --fast above 0")
    if args.serve:
        asyncio.run(_serve(args.targets))
        return 0
    exit_on_sigterm()
    result = measure(args)
    print(json.dumps(result), file=sys.stderr)
    section = report(result, args)
    print(section)
    if not args.no_write:
        write_section("page_scale", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
