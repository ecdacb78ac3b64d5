"""`memlens top`'s Python pane with the heap profiler's top stacks, driven by Textual's
pilot: fixed stacks fed through the live view as the poller publishes them (the frames'
text stays text, the callers are shortened to fit), and a real child that runs the
agent and the heap profiler, whose leaking function shows on screen."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from helpers import MB, profiled_child
from memlens.cli import build_parser
from memlens.cli._alerts import settings_from_args
from memlens.cli._targets import open_agent_targets
from memlens.cli.top import feed_for
from memlens.config import Settings
from memlens.model import Reading, Target, Tick
from memlens.tui import Feed, TopApp
from memlens.watch.heap_points import compact, top_stacks
from memlens.watch.live import LiveView

T0 = 1_700_000_000.0
PATIENCE = 30.0  # s: how long a test waits for what must happen (never a pass threshold)
APP = Target(
    key="4242-1000",
    kind="process",
    pid=4242,
    start_time=T0 - 60,
    name="shop",
    cmdline="python shop.py",
    python={"address": "unix:/tmp/x.sock", "pid": 4242, "python": "3.12.1", "tracing": False},
)
EVIL = "evil\x1b[2J\u202ename"


def frame(function: str, line: int, file: str = "/srv/shop/app.py") -> dict[str, Any]:
    return {"function": function, "file": file, "line": line}


def profile(cache_mb: float, t: float) -> dict[str, Any]:
    main = frame("<module>", 3)
    cache = frame("remember", 12, "/srv/shop/cache.py")
    stacks = [
        ([main, frame("handle_request", 40), cache], cache_mb),
        ([main, frame(EVIL, 9)], 2.0),
        ([main, frame("load_config", 20)], 4.0),
        ([], 1.0),
    ]
    return {
        "format": "memlens.heap",
        "version": 1,
        "kind": "inuse",
        "sampler": "sampling",
        "interval_bytes": 524288,
        "max_frames": 128,
        "pid": 4242,
        "time": t,
        "start": T0 - 50,
        "since": T0 - 50,
        "since_mark": None,
        "inuse_bytes": sum(mb for _, mb in stacks) * MB,
        "inuse_count": 10.0,
        "alloc_bytes": 0.0,
        "alloc_count": 0.0,
        "samples": 10,
        "stacks": [
            {
                "frames": f,
                "inuse_bytes": mb * MB,
                "inuse_count": 1.0,
                "alloc_bytes": 0.0,
                "alloc_count": 0.0,
            }
            for f, mb in sorted(stacks, key=lambda s: -s[1])
        ],
        "truncated": 0,
    }


def synthetic_feed() -> Feed:
    live = LiveView(interval=1.0, history_capacity=600)
    feed = Feed(live, settings=Settings())
    for i in range(60):
        reading = Reading(200 * MB + i * MB, 400 * MB, 8 * MB, 0, 3, 9, 1.0, py_blocks=1000)
        feed.apply(Tick(i + 1, T0 + i, {APP.key: reading}, (APP,) if i == 0 else ()))
    base = compact(profile(10.0, T0), T0)
    now = compact(profile(40.0, T0 + 50), T0 + 50)
    message = {"type": "python", "key": APP.key, "t": T0 + 50, "heap": top_stacks(base, now)}
    feed.post_python(message)
    return feed


def screen_text(app: TopApp) -> str:
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)


def drive(
    app: TopApp, scenario: Callable[[Pilot[None]], Awaitable[None]], size: tuple[int, int]
) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(pilot)

    try:
        asyncio.run(main())
    finally:
        if app.feed is not None:
            app.feed.stop()


async def until(pilot: Pilot[None], what: str, check: Callable[[], object]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        if time.monotonic() > deadline:
            text = screen_text(pilot.app) if isinstance(pilot.app, TopApp) else ""
            raise AssertionError(f"waited {PATIENCE:.0f} s for {what}; the screen:\n{text}")
        await pilot.pause(0.05)


def test_the_pane_lists_the_top_stacks_with_their_growth_and_callers() -> None:
    app = TopApp(synthetic_feed())
    seen: dict[str, str] = {}

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the stacks", lambda: "in use, +" in screen_text(app))
        seen["text"] = screen_text(app)

    drive(app, scenario, (200, 40))  # the pane beside the chart: about 90 columns
    text = seen["text"]
    assert re.search(r"heap 47\.0 MB in use, \+30\.0 MB since \d\d:\d\d:\d\d \(sampling\)", text)
    assert re.search(
        r"40\.0 MB\s+\+30\.0 MB\s+remember \(shop/cache\.py:12\) < handle_request < <module>", text
    )
    assert re.search(r"4\.0 MB\s+\+0 B\s+load_config \(shop/app\.py:20\)", text)
    assert "[no Python frame]" in text
    assert "evil\\x1b[2J\\u202ename (shop/app.py:9)" in text  # shown, not acted on
    assert "\x1b" not in text
    assert "top sites" not in text  # the stacks stand in their place


def test_a_narrow_pane_keeps_three_stacks_and_cuts_the_callers_to_fit() -> None:
    app = TopApp(synthetic_feed())
    seen: dict[str, str] = {}

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the stacks", lambda: "in use, +" in screen_text(app))
        seen["text"] = screen_text(app)

    drive(app, scenario, (80, 24))
    lines = seen["text"].splitlines()
    assert all(len(line) <= 80 for line in lines)
    rows = [line for line in lines if re.match(r"\s+[\d.]+ [KM]?B\s+[+-]", line)]
    assert len(rows) == 3
    assert "remember (shop/cache.py:12) < handle_request" in rows[0]


def test_the_pane_asks_only_for_the_target_shown_and_not_while_paused() -> None:
    feed = synthetic_feed()
    app = TopApp(feed)
    asked: list[str | None] = []

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the stacks", lambda: "in use, +" in screen_text(app))
        asked.append(feed.showing)
        await pilot.press("p")
        asked.append(feed.showing)
        await pilot.press("p")
        await until(pilot, "the screen again", lambda: feed.showing is not None)
        asked.append(feed.showing)

    drive(app, scenario, (120, 40))
    assert asked == [APP.key, None, APP.key]


LEAKER = """
import time
held = []

def fill_cache():
    held.append("x" * 100_000)

print("ready", flush=True)
while True:
    fill_cache()
    time.sleep(0.02)
"""
FILL_LINE = LEAKER.splitlines().index('    held.append("x" * 100_000)') + 1


def test_a_real_child_with_the_heap_profiler_shows_its_growing_function() -> None:
    with profiled_child(LEAKER) as child:
        args = build_parser().parse_args(["top", str(child.pid), "--interval", "0.2"])
        probes, pattern = open_agent_targets(args, "watch")
        feed = feed_for(args, settings_from_args(args), probes, pattern, [])
        app = TopApp(feed)
        where = f"fill_cache (<string>:{FILL_LINE}) < <module>"
        seen: dict[str, str] = {}

        async def scenario(pilot: Pilot[None]) -> None:
            await until(pilot, "the stacks", lambda: where in screen_text(app))
            # the growth since the pane first showed it, as a later answer says
            await until(
                pilot,
                "growth",
                lambda: re.search(r"\+[\d.]+ MB\s+fill_cache", screen_text(app)) is not None,
            )
            seen["text"] = screen_text(app)

        drive(app, scenario, (160, 40))  # the pane beside the chart: about 70 columns
    assert " 0 B " not in seen["text"]  # what was allocated and freed is not listed
    assert re.search(r"heap [\d.]+ [KM]B in use, \+[\d.]+ [KM]?B since", seen["text"])
