"""The in-process agent's cost to its host, and the cost of each request against heap size.

Host slowdown: one allocation-heavy, CPU-bound pure-Python workload (records built into
a sliding window of live objects, short strings joined and dropped) runs in a real child
process under each variant. Each child times its own work (`perf_counter` around the
workload; start-up, imports and the agent's start are left out) and prints it. Two groups:

- the agent alone, `--rounds` of work: no agent; the agent started, nobody connected;
  the agent's modules imported but not started (to tell the import from the running
  agent); the agent with a viewer in this process calling `stats()` every second;
- tracing, a quarter of that work (`--trace-rounds`), since tracing is many times slower:
  no agent; bare `tracemalloc.start()`; tracemalloc switched on through the agent;
  `memray run` as it comes and with `--trace-python-allocators`; optionally tracing with
  `--deep-frames` frames through the agent.

Every variant of both groups runs once per round, one child each, in an order that
rotates from round to round, so noise hits all of them alike; ratios are taken round by
round against the no-agent run of the same group and round.

Request cost: a child starts the agent, tracing is switched on through it (1 frame), then
the child allocates and holds N small objects (a slotted instance holding an int and a
str: three traced blocks, one object the collector tracks). From this process each
request type is timed, round trip, over one connection: the cheap ones first (after one
uncounted round), then each costly one (`objects`, `top` by line, `top` by traceback) up
to `--request-repeats` times or until `--costly-budget-s` is spent on it. The agent's rest
after a costly request (four times its duration) is waited out beforehand and not
counted; where it would last longer than FRESH_AFTER_S, the next request type gets a
fresh child holding the same objects instead.

All agents use a private runtime directory (a fresh temporary one, mode 0700). The
children load memlens from bytecode compiled beforehand into a cache in that directory,
as an installed package is loaded.

    python -m bench.bench_agent [--repeats 9] [--rounds 700000] [--trace-rounds 175000]
        [--deep-frames 0] [--sizes 10000,100000,1000000] [--request-repeats 5]
        [--costly-budget-s 40] [--no-write]
"""

from __future__ import annotations

import argparse
import math
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import memlens
from bench._util import (
    ROOT,
    exit_on_sigterm,
    machine,
    md_table,
    median,
    percentile,
    render_section,
    verdict,
    write_section,
)
from memlens.agent import find_agent
from memlens.agent.budget import BUDGET_S, REST_FACTOR
from memlens.agent.client import COSTLY_TIMEOUT_S, AgentClient
from memlens.errors import AgentBusy, AgentUnavailable

MB = 1024 * 1024
TARGET_IDLE = 1.01
TARGET_SCRAPE = 1.02
SCRAPE_EVERY_S = 1.0
FRESH_AFTER_S = 15.0  # a longer rest is not waited out: the next request gets a new child
CHILD_TIMEOUT_S = 300.0

# The child: one program for every variant, run with `-c` (also under `memray run -c`).
# argv: MODE AMOUNT FRAMES. It says "ready" once set up (with the number of objects the
# collector tracks) and waits for a line on stdin. Then it either works AMOUNT rounds and
# says how long that took (wall and CPU seconds), or allocates and holds AMOUNT objects
# ("heap"). Then it waits for stdin to close.
CHILD = """\
import gc, sys, time
mode, amount, frames = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

class Item:
    __slots__ = ("key", "name", "record")

    def __init__(self, key, name, record=None):
        self.key = key
        self.name = name
        self.record = record

def work(rounds):
    window = []
    for i in range(rounds):
        record = {"id": i, "name": f"item-{i}", "tags": [i, i + 1, i + 2], "pair": (i, str(-i))}
        window.append(Item(i, record["name"].upper(), record))
        if len(window) >= 2000:
            del window[:1000]
        "-".join([str(j) for j in range(i % 8)])
    return len(window)

if mode.startswith("svc-"):
    # What a service has imported before any agent: the standard modules a web app or
    # worker loads anyway, so only what the agent adds to them is measured.
    import contextlib, dataclasses, hashlib, json, logging, pathlib, re, secrets
    import selectors, socket, threading, tracemalloc, typing, urllib.parse
    mode = mode[4:]
if mode in ("agent", "import", "heap"):
    import memlens.agent
    if mode != "import":
        memlens.agent.start()
if mode == "tracemalloc":
    import tracemalloc
    tracemalloc.start(frames)
print("ready", len(gc.get_objects()), flush=True)
sys.stdin.readline()
if mode == "heap":
    held = [Item(i, str(i)) for i in range(amount)]
    print("held", len(held), flush=True)
else:
    start, cpu = time.perf_counter(), time.process_time()
    work(amount)
    print("done", time.perf_counter() - start, time.process_time() - cpu, flush=True)
sys.stdin.read()
"""


# -- children ---------------------------------------------------------------------------


@contextmanager
def private_runtime() -> Iterator[str]:
    """A fresh runtime directory (0700) for the agents' sockets and entries, also used by
    this process's discovery; the previous `XDG_RUNTIME_DIR` comes back afterwards."""
    path = tempfile.mkdtemp(prefix="memlens-bench-agent-")
    before = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = path
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = before
        shutil.rmtree(path, ignore_errors=True)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("MEMLENS_AGENT", "MEMLENS_AGENT_ADDRESS", "MEMLENS_AGENT_TOKEN"):
        env.pop(name, None)
    env["PYTHONHASHSEED"] = "0"  # the same dict and str hashing in every child
    # memlens loads from bytecode, as an installed package does (pip compiles it when it
    # installs): compiling from source leaves hundreds of objects of the compiler's
    # behind, which would be charged to the agent. A private cache, since the checkout
    # may forbid writing bytecode (PYTHONDONTWRITEBYTECODE) and is not this bench's to
    # write into.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(os.environ["XDG_RUNTIME_DIR"], "pycache")
    return env


def compile_memlens() -> None:
    """Fills the children's bytecode cache for every memlens module before any runs."""
    package = os.path.dirname(memlens.__file__)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", package],
        env=child_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )


class Child:
    """One child running CHILD; lines from its stdout arrive through a queue."""

    def __init__(self, prefix: Sequence[str], mode: str, amount: int, frames: int = 1) -> None:
        self._stderr = tempfile.TemporaryFile("w+b")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*prefix, "-c", CHILD, mode, str(amount), str(frames)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=ROOT,
            env=child_env(),
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, name="child-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, word: str, timeout: float = CHILD_TIMEOUT_S) -> list[str]:
        """Waits for the line that starts with `word`; returns its other words."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None or not line.startswith(word):
            raise RuntimeError(f"child said {line!r}, not {word!r}: {self.stderr_tail()}")
        return line.split()[1:]

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stderr_tail(self, limit: int = 1500) -> str:
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")[-limit:]

    def stop(self) -> None:
        if self.proc.stdin is not None:
            with suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()

    def __enter__(self) -> Child:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def agent_address(pid: int, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        entry = find_agent(pid)
        if entry is not None:
            return entry.address
        if time.monotonic() > deadline:
            raise RuntimeError(f"no agent registered for PID {pid}")
        time.sleep(0.01)


# -- host slowdown ----------------------------------------------------------------------


class Scraper:
    """A viewer in this process asking one agent for `stats()` every SCRAPE_EVERY_S."""

    def __init__(self, address: str) -> None:
        self.client = AgentClient.connect(address)
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scraper", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                self.client.stats()
            except Exception as exc:
                self.errors.append(str(exc))
                return
            self.latencies_ms.append((time.perf_counter() - start) * 1000.0)
            next_at += SCRAPE_EVERY_S
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.client.close()


@dataclass
class Variant:
    key: str
    label: str
    group: str  # "agent" | "service" | "tracing": the rounds of work and the reference
    mode: str
    memray: tuple[str, ...] | None = None  # run under `memray run` with these options
    frames: int = 1
    viewer: str = ""  # "" | "scrape" | "trace"
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    tracked: list[int] = field(default_factory=list)
    scrape_ms: list[float] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return median(self.seconds)

    def prefix(self, scratch: str) -> list[str]:
        if self.memray is None:
            return [sys.executable]
        # --no-compress: memray compresses its file after the program ends, outside the
        # timed work; skipping that only shortens the benchmark.
        out = os.path.join(scratch, "memray.bin")
        run = [sys.executable, "-m", "memray", "run", "-q", "-f", "--no-compress"]
        return [*run, *self.memray, "-o", out]


def memray_status() -> str:
    """'' when `memray run` works here, else why not."""
    scratch = tempfile.mkdtemp(prefix="memlens-bench-memray-")
    command = [sys.executable, "-m", "memray", "run", "-q", "-f", "--no-compress", "-o"]
    try:
        done = subprocess.run(
            [*command, os.path.join(scratch, "probe.bin"), "-c", "pass"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    return ""


def variants(with_memray: bool, deep_frames: int) -> list[Variant]:
    out = [
        Variant("a", "(a) no agent", "agent", "plain"),
        Variant("b", "(b) agent started, nobody connected", "agent", "agent"),
        Variant("b2", "(b′) `import memlens.agent` only, not started", "agent", "import"),
        Variant(
            "c", "(c) agent, a viewer asking `stats()` every 1 s", "agent", "agent", viewer="scrape"
        ),
        Variant("s", "(s) no agent, a service's imports", "service", "svc-plain"),
        Variant("sb", "(sb) agent started, nobody connected, a service", "service", "svc-agent"),
        Variant(
            "sc",
            "(sc) agent, `stats()` every 1 s, a service",
            "service",
            "svc-agent",
            viewer="scrape",
        ),
        Variant("t", "(t) no agent", "tracing", "plain"),
        Variant("d", "(d) bare `tracemalloc.start()`, 1 frame", "tracing", "tracemalloc"),
        Variant(
            "e", "(e) agent, tracemalloc on through it, 1 frame", "tracing", "agent", viewer="trace"
        ),
    ]
    if with_memray:
        out += [
            Variant("f", "(f) `memray run`", "tracing", "plain", memray=()),
            Variant(
                "g",
                "(g) `memray run --trace-python-allocators`",
                "tracing",
                "plain",
                memray=("--trace-python-allocators",),
            ),
        ]
    if deep_frames > 1:
        out.append(
            Variant(
                "h",
                f"(h) agent, tracemalloc on through it, {deep_frames} frames",
                "tracing",
                "agent",
                frames=deep_frames,
                viewer="trace",
            )
        )
    return out


def run_one(v: Variant, rounds: int) -> None:
    scratch = tempfile.mkdtemp(prefix="memlens-bench-run-")
    try:
        with Child(v.prefix(scratch), v.mode, rounds, v.frames) as child:
            (tracked,) = child.expect("ready")
            v.tracked.append(int(tracked))
            scraper: Scraper | None = None
            if v.viewer:
                address = agent_address(child.proc.pid)
                if v.viewer == "trace":
                    with AgentClient.connect(address) as client:
                        client.tracemalloc_start(frames=v.frames)
                else:
                    scraper = Scraper(address)
            try:
                child.send("go")
                seconds, cpu_seconds = child.expect("done")
            finally:
                if scraper is not None:
                    scraper.stop()
            if scraper is not None:
                if scraper.errors:
                    raise RuntimeError(f"the viewer failed: {scraper.errors[0]}")
                v.scrape_ms.extend(scraper.latencies_ms)
            v.seconds.append(float(seconds))
            v.cpu_seconds.append(float(cpu_seconds))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_slowdown(vs: Sequence[Variant], repeats: int, rounds: dict[str, int]) -> None:
    for r in range(repeats):
        shift = r % len(vs)
        for v in [*vs[shift:], *vs[:shift]]:
            run_one(v, rounds[v.group])
        line = " ".join(f"{v.key}={v.seconds[-1]:.3f}" for v in vs)
        print(f"round {r + 1}/{repeats}: {line}", flush=True)


BASE = {"agent": "a", "service": "s", "tracing": "t"}


def ratios(v: Variant, base: Variant, cpu: bool = False) -> list[float]:
    """Round by round: `v`'s work time over `base`'s (wall, or the child's CPU time)."""
    if cpu:
        return [x / y for x, y in zip(v.cpu_seconds, base.cpu_seconds, strict=True)]
    return [x / y for x, y in zip(v.seconds, base.seconds, strict=True)]


def spread(rs: Sequence[float]) -> str:
    return f"{percentile(rs, 25):.3f}–{percentile(rs, 75):.3f}×"


# -- request cost against heap size -----------------------------------------------------

CHEAP = (("stats", "`stats`"), ("gc.pauses", "`gc.pauses`"))
COSTLY = (
    ("objects", "`objects` (20 types)"),
    ("top.lineno", "`top` by lineno (10 sites)"),
    ("top.traceback", "`top` by traceback (10 sites)"),
)


@dataclass
class HeapRun:
    n: int
    start_ms: float = 0.0
    ms: dict[str, list[float]] = field(default_factory=dict)
    agent_ms: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    waited_s: float = 0.0
    children: int = 0
    rss_held: int = 0
    rss_peak: int = 0
    traced: int = 0
    overhead: int = 0
    over_budget: int = 0


class HeapChild:
    """A child holding `n` objects allocated under tracing switched on through its agent,
    and one connection to that agent. Knows when the agent's rest ends."""

    def __init__(self, n: int, run: HeapRun) -> None:
        self.child = Child([sys.executable], "heap", n)
        try:
            self.child.expect("ready")
            self.client = AgentClient.connect(agent_address(self.child.proc.pid))
            start = time.perf_counter()
            self.client.tracemalloc_start(frames=1)
            elapsed_ms = (time.perf_counter() - start) * 1000.0
            self.child.send("alloc")
            self.child.expect("held")
        except BaseException:
            self.child.stop()
            raise
        self.rest_until = 0.0
        run.children += 1
        if run.children == 1:
            run.start_ms = elapsed_ms
            stats = self.client.stats()
            run.rss_held = int(stats["rss_bytes"] or 0)
            run.traced = int(stats["tracemalloc"]["current_bytes"])
            run.overhead = int(stats["tracemalloc"]["overhead_bytes"])

    def calls(self) -> dict[str, Callable[[], dict[str, Any]]]:
        c = self.client
        return {
            "stats": c.stats,
            "gc.pauses": c.gc_pauses,
            "objects": lambda: c.objects(limit=20),
            "top.lineno": lambda: c.top(by="lineno", limit=10),
            "top.traceback": lambda: c.top(by="traceback", limit=10),
        }

    def call(self, key: str, run: HeapRun) -> tuple[float, dict[str, Any]]:
        """One timed request; for a costly one the rest before it, and any busy answer,
        is waited out untimed."""
        costly = key in dict(COSTLY)
        fn = self.calls()[key]
        while True:
            if costly:
                pause = self.rest_until - time.monotonic()
                if pause > 0:
                    run.waited_s += pause
                    time.sleep(pause)
            start = time.perf_counter()
            try:
                result = fn()
            except AgentBusy as busy:
                run.waited_s += busy.retry_after_s
                time.sleep(busy.retry_after_s + 0.01)
                continue
            elapsed = time.perf_counter() - start
            if costly:
                agent_s = float(result.get("elapsed_s", elapsed))
                self.rest_until = time.monotonic() + REST_FACTOR * agent_s + 0.02
            return elapsed, result

    def close(self, run: HeapRun) -> None:
        with suppress(Exception):
            peak = self.client.stats()["max_rss_bytes"]
            run.rss_peak = max(run.rss_peak, int(peak or 0))
        self.client.close()
        self.child.stop()


def run_heap(n: int, repeats: int, budget_s: float) -> HeapRun:
    out = HeapRun(n)
    current = HeapChild(n, out)
    try:
        for r in range(repeats + 1):  # round 0 is not counted
            for key, _label in CHEAP:
                elapsed, _ = current.call(key, out)
                if r:
                    out.ms.setdefault(key, []).append(elapsed * 1000.0)
        for key, _label in COSTLY:
            if current.rest_until - time.monotonic() > FRESH_AFTER_S:
                current.close(out)
                current = HeapChild(n, out)
            spent = 0.0
            while len(out.ms.get(key, ())) < repeats:
                began = time.monotonic()
                try:
                    elapsed, result = current.call(key, out)
                except AgentUnavailable as exc:  # past the client's patience, most likely
                    out.failed[key] = str(exc)
                    current.rest_until = math.inf
                    break
                out.ms.setdefault(key, []).append(elapsed * 1000.0)
                out.agent_ms.setdefault(key, []).append(float(result["elapsed_s"]) * 1000.0)
                out.over_budget += bool(result.get("over_budget"))
                spent += time.monotonic() - began
                # Another one only if it, and the rest before it, fit in the budget.
                if spent + (REST_FACTOR + 1.0) * elapsed > budget_s:
                    break
    finally:
        current.close(out)
    return out


# -- the report -------------------------------------------------------------------------


def _ms(value: float) -> str:
    if value < 10:
        return f"{value:.2f}"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def median_interval(rs: Sequence[float], resamples: int = 2000) -> tuple[float, float]:
    """A 95% bootstrap interval of the median of `rs` (seeded: the same every run), to
    show how precisely this many rounds pin the median down on this machine."""
    pick = random.Random(0).choices
    meds = sorted(median(pick(rs, k=len(rs))) for _ in range(resamples))
    return meds[int(0.025 * resamples)], meds[int(0.975 * resamples) - 1]


def judge(name: str, v: Variant, base: Variant, target: float) -> str:
    rs = ratios(v, base)
    mid = median(rs)
    lo, hi = median_interval(rs)
    q1, q3 = percentile(rs, 25), percentile(rs, 75)
    if q1 <= 1.0 <= q3:
        what = "no measurable difference: the middle half of the rounds' ratios spans 1.0"
    else:
        what = (
            f"{(mid - 1.0) * 100.0:+.1f}%, a measurable difference: the middle half of the "
            f"rounds' ratios ({q1:.3f}–{q3:.3f}×) does not span 1.0"
        )
    cpu = ratios(v, base, cpu=True)
    return (
        f"- {name}: median {mid:.3f}× the no-agent run's time (95% interval of the median "
        f"over {len(rs)} rounds: {lo:.3f}–{hi:.3f}×), {what} (CPU time: "
        f"{median(cpu):.3f}×, middle half {spread(cpu)}); target ≤ {target:.2f}×: "
        f"{verdict(mid <= target)}."
    )


def slowdown_table(vs: Sequence[Variant], base: Variant) -> str:
    rows = []
    for v in vs:
        rs = ratios(v, base)
        cpu = ratios(v, base, cpu=True)
        rows.append(
            [
                v.label,
                f"{v.median_s:.3f}",
                f"{median(rs):.3f}×",
                spread(rs),
                f"{min(rs):.3f}–{max(rs):.3f}×",
                f"{median(cpu):.3f}× ({spread(cpu)})",
            ]
        )
    headers = [
        "variant",
        "median s",
        "ratio, median",
        "ratio, middle half",
        "ratio, range",
        "CPU-time ratio, median (middle half)",
    ]
    return md_table(headers, rows)


def heap_table(heaps: Sequence[HeapRun]) -> str:
    def cell(h: HeapRun, key: str, agent: bool = False) -> str:
        values = (h.agent_ms if agent else h.ms).get(key)
        if not values:
            return f"> {COSTLY_TIMEOUT_S:.0f} s, no answer" if key in h.failed else "–"
        text = _ms(median(values))
        return text if agent or len(values) > 1 else f"{text} (once)"

    rows = [
        ["`tracemalloc.start`, 1 frame (once, before the objects)"]
        + [_ms(h.start_ms) for h in heaps]
    ]
    rows += [[label, *[cell(h, key) for h in heaps]] for key, label in CHEAP]
    for key, label in COSTLY:
        rows.append([label, *[cell(h, key) for h in heaps]])
        rows.append([f"{label}: agent's own time", *[cell(h, key, True) for h in heaps]])
    rows += [
        ["child's RSS holding the objects, MB", *[f"{h.rss_held / MB:.0f}" for h in heaps]],
        ["traced heap, MB", *[f"{h.traced / MB:.0f}" for h in heaps]],
        ["tracemalloc's own memory, MB", *[f"{h.overhead / MB:.0f}" for h in heaps]],
        ["child's peak RSS after the requests, MB", *[f"{h.rss_peak / MB:.0f}" for h in heaps]],
        [
            f"costly answers over budget (> {BUDGET_S:g} s) / asked",
            *[
                f"{h.over_budget} / {sum(len(h.agent_ms.get(k, ())) for k, _ in COSTLY)}"
                for h in heaps
            ],
        ],
    ]
    headers = ["request (median ms, round trip)", *[f"N = {h.n:,}" for h in heaps]]
    return md_table(headers, rows)


def import_finding(a: Variant, b: Variant, b2: Variant) -> str:
    """Whether (b)'s cost is its import or its running, as far as this run can tell."""
    rs = ratios(b, b2)
    q1, q3 = percentile(rs, 25), percentile(rs, 75)
    text = (
        f"The children start their work with {median(a.tracked):,.0f} objects tracked by "
        f"the garbage collector without the agent, {median(b2.tracked):,.0f} with its "
        f"modules imported and {median(b.tracked):,.0f} with it started: objects every full "
        "collection walks again, on top of this workload's small heap. The started agent (b) "
        f"against its modules merely imported (b′), round by round: {median(rs):.3f}× "
        f"(middle half {q1:.3f}–{q3:.3f}×)"
    )
    if q1 > 1.0:
        return f"{text}: the running agent costs something above its import."
    return (
        f"{text}: no cost of the running agent above its import shows, so what (b) costs "
        "above (a) comes with the import."
    )


def report(
    vs: Sequence[Variant],
    heaps: Sequence[HeapRun],
    settings: argparse.Namespace,
    memray_note: str,
    command: str,
) -> tuple[str, str]:
    by = {v.key: v for v in vs}
    agent_group = [v for v in vs if v.group == "agent"]
    service_group = [v for v in vs if v.group == "service"]
    trace_group = [v for v in vs if v.group == "tracing"]
    scrape = by["c"].scrape_ms
    nproc = machine()["nproc"]
    peers = [f"bare tracemalloc (d) {median(ratios(by['d'], by['t'])):.2f}×"]
    if "f" in by:
        peers.append(f"`memray run` (f) {median(ratios(by['f'], by['t'])):.2f}×")
        peers.append(
            f"`memray run --trace-python-allocators` (g) {median(ratios(by['g'], by['t'])):.2f}×"
        )
    e_vs_d = ratios(by["e"], by["d"])
    tracing_text = (
        f"Tracing through the agent (e) makes the workload {median(ratios(by['e'], by['t'])):.2f}× "
        f"slower than no agent, beside {', '.join(peers)}, all from the same rounds. Round by "
        f"round, (e) takes {median(e_vs_d):.3f}× the time of (d) (middle half "
        f"{spread(e_vs_d)}): what the agent adds "
        "to tracemalloc's own cost. tracemalloc records every block Python's allocator hands "
        "out, with its traceback; `memray run` by default records only the calls that reach "
        "the system allocator (pymalloc's arenas, large blocks) and, with "
        "`--trace-python-allocators`, every block too, the like-for-like comparison."
    )
    if memray_note:
        tracing_text += f" `memray run` was not measured: {memray_note}."
    import_text = import_finding(by["a"], by["b"], by["b2"])
    c_vs_b = ratios(by["c"], by["b"])
    scrape_text = (
        f"The viewer's scraping itself, (c) against (b) round by round: {median(c_vs_b):.3f}× "
        f"(middle half {spread(c_vs_b)})."
    )
    repeats = settings.repeats
    request_repeats = max((len(h.ms.get("stats", ())) for h in heaps), default=0)
    waits = ", ".join(f"{h.waited_s:.0f} s at N = {h.n:,}" for h in heaps)
    fresh = ", ".join(f"{h.children} at N = {h.n:,}" for h in heaps)
    figures = (
        "### Host slowdown\n\n"
        f"The agent alone, {settings.rounds:,} rounds of work; ratios to (a):\n\n"
        f"{slowdown_table(agent_group, by['a'])}\n\n"
        "The same in a host that has already imported the standard modules a service "
        "loads anyway (logging, json, dataclasses, pathlib, typing, socket, selectors, "
        "hashlib, secrets, urllib.parse, re, threading, tracemalloc), as web apps and "
        f"workers have; ratios to (s):\n\n{slowdown_table(service_group, by['s'])}\n\n"
        f"Tracing, {settings.trace_rounds:,} rounds of work; ratios to (t):\n\n"
        f"{slowdown_table(trace_group, by['t'])}\n\n"
        f"Work time of one child (the workload alone), medians over {repeats} rounds; each "
        "ratio is taken within a round, against that round's no-agent run of the same "
        "group, then summarised (median, middle half, range). "
        f"{import_text} {scrape_text} In (c) the viewer made {len(scrape)} `stats()` calls in "
        f"all, median round trip {_ms(median(scrape)) if scrape else 'n/a'} ms. This machine "
        f"has {nproc} CPU(s) and is shared with other work, so one run can be off by a few "
        "percent either way: read the spread before the median.\n\n"
        f"{tracing_text}\n\n"
        "### Request cost against heap size\n\n"
        f"{heap_table(heaps)}\n\n"
        f"Cheap requests: medians over {request_repeats} rounds after an uncounted one, "
        "taken before any costly request. Costly ones: up to "
        f"{settings.request_repeats} each, fewer where the next one and the rest before it "
        f'would pass {settings.costly_budget_s:g} s ("once" marks a single one); the first '
        "`top` compares with the start of tracing, later ones with the previous look, "
        "which costs the same. Round trip through the client over the Unix socket; the "
        "agent's own time is the `elapsed_s` it reports. Each object held is a slotted "
        "instance with an int and a str: three traced blocks, one object the collector "
        "tracks. Left out: the waits for the agent's rest after costly requests "
        f"({waits}). Children used (a fresh one where a rest would pass "
        f"{FRESH_AFTER_S:g} s): {fresh}."
    )
    if any(h.failed for h in heaps):
        failed = "; ".join(f"N = {h.n:,} {k}: {e}" for h in heaps for k, e in h.failed.items())
        figures += f" Unanswered: {failed}."
    target = (
        '"host slowdown with the agent started and nobody watching: no measurable '
        'difference, under 1%; with a viewer scraping stats every second: under 2%".\n'
        + judge("(b) agent started, nobody connected", by["b"], by["a"], TARGET_IDLE)
        + "\n"
        + judge("(c) a viewer asking `stats()` every second", by["c"], by["a"], TARGET_SCRAPE)
        + "\n"
        + judge("(sb) the same as (b) in a service's host", by["sb"], by["s"], TARGET_IDLE)
        + "\n"
        + judge("(sc) the same as (c) in a service's host", by["sc"], by["s"], TARGET_SCRAPE)
        + "\n- Tracing and the request costs have no target; they are reported above."
    )
    section = render_section(
        "agent",
        "The Python agent: host slowdown and request cost",
        what=(
            "What the in-process agent costs the program it runs in, on an allocation-heavy, "
            "CPU-bound pure-Python workload in a real child process (records built into a "
            "sliding window of live objects, short strings joined and dropped), against no "
            "agent, bare tracemalloc and `memray run`; and what each request costs as the "
            "heap grows, with the child's memory. The method is described in "
            "`bench/bench_agent.py`."
        ),
        command=command,
        figures=figures,
        target=target,
    )
    summary = (
        " | ".join(f"{v.key} {median(ratios(v, by[BASE[v.group]])):.3f}×" for v in vs)
        + " || "
        + " | ".join(
            f"N={h.n}: " + ", ".join(f"{k} {median(x):.1f} ms" for k, x in h.ms.items())
            for h in heaps
        )
    )
    return section, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="rounds of variants (default 9)")
    parser.add_argument(
        "--rounds", type=int, default=700_000, help="work per run, agent alone (default 700000)"
    )
    parser.add_argument(
        "--trace-rounds", type=int, help="work per run, tracing (default a quarter of --rounds)"
    )
    parser.add_argument(
        "--deep-frames",
        type=int,
        default=0,
        help="also trace with this many frames through the agent (default: not run)",
    )
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="objects held for the request costs (default 10000,100000,1000000)",
    )
    parser.add_argument(
        "--request-repeats", type=int, default=5, help="timed requests of each type (default 5)"
    )
    parser.add_argument(
        "--costly-budget-s",
        type=float,
        default=40.0,
        help="seconds, rests included, spent on each costly request type per size (default 40)",
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.repeats = max(1, args.repeats)
    args.request_repeats = max(1, args.request_repeats)
    if args.trace_rounds is None:
        args.trace_rounds = max(1, args.rounds // 4)
    exit_on_sigterm()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    memray_note = memray_status()
    with private_runtime():
        compile_memlens()
        vs = variants(not memray_note, args.deep_frames)
        run_slowdown(
            vs,
            args.repeats,
            {"agent": args.rounds, "service": args.rounds, "tracing": args.trace_rounds},
        )
        heaps = []
        for n in sizes:
            heaps.append(run_heap(n, args.request_repeats, args.costly_budget_s))
            done = ", ".join(f"{k} {median(v):.2f} ms" for k, v in heaps[-1].ms.items())
            print(f"N={n}: {done}", flush=True)
    command = (
        f"python -m bench.bench_agent --repeats {args.repeats} --rounds {args.rounds} "
        f"--trace-rounds {args.trace_rounds} --sizes {','.join(map(str, sizes))} "
        f"--request-repeats {args.request_repeats} --costly-budget-s {args.costly_budget_s:g}"
        + (f" --deep-frames {args.deep_frames}" if args.deep_frames > 1 else "")
    )
    section, summary = report(vs, heaps, args, memray_note, command)
    print(section)
    print(summary)
    if not args.no_write:
        write_section("agent", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
