"""`memlens top` driven by Textual's pilot: the real sampler, live view, alert engine and
agents against real child processes (the value shown follows the child, each key does
what the help line says), and screen snapshots at two sizes from fixed synthetic ticks
fed through the same `LiveView.apply` path, so they are the same on every run."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from helpers import MB, Allocator, agent_tracing, python_child
from memlens.agent import list_agents
from memlens.cli import build_parser, ls
from memlens.cli._alerts import settings_from_args
from memlens.cli._targets import open_agent_targets
from memlens.cli.top import feed_for
from memlens.config import Settings
from memlens.model import Reading, Target, Tick
from memlens.tui import Feed, TopApp
from memlens.tui.widgets import MARK_GLYPH, MARK_TICK, Tab, tabs_text
from memlens.watch.alerts import AlertEngine
from memlens.watch.live import LiveView

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("MEMLENS_UPDATE_SNAPSHOTS") == "1"
PATIENCE = 30.0  # s: how long a test waits for what must happen (never a pass threshold)

AGENT_CHILD = r"""
import time
import memlens.agent
memlens.agent.start()
HELD = []

def grow():
    HELD.append(bytearray(50_000))  # the line that grows

print("ready", flush=True)
while True:
    grow()
    time.sleep(0.02)
"""
GROW_LINE = AGENT_CHILD.splitlines().index(
    "    HELD.append(bytearray(50_000))  # the line that grows"
)
GROW_LINE += 1


# -- driving the app ----------------------------------------------------------------------


def screen_text(app: TopApp) -> str:
    """The characters on the app's screen now, one line per row, without styles: what a
    monochrome terminal shows."""
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


def shown_rss(app: TopApp) -> float | None:
    """The current RSS on screen, in MB."""
    found = re.search(r"^█ RSS\s+([\d.]+) MB", screen_text(app), re.MULTILINE)
    return float(found.group(1)) if found else None


def live_feed(*argv: str) -> Feed:
    """The feed `memlens top ARGV` builds."""
    args = build_parser().parse_args(["top", *argv])
    probes, pattern = open_agent_targets(args, "watch")
    return feed_for(args, settings_from_args(args), probes, pattern, [])


@pytest.fixture
def agent_child() -> Iterator[subprocess.Popen[str]]:
    with python_child(AGENT_CHILD) as proc:
        yield proc


tracing = agent_tracing


# -- a real child ---------------------------------------------------------------------------


def test_the_value_shown_follows_the_child(allocator: Allocator) -> None:
    app = TopApp(live_feed(str(allocator.pid), "--interval", "0.1"))

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "a first RSS", lambda: shown_rss(app) is not None)
        before = shown_rss(app)
        assert before is not None
        assert abs(before * MB - allocator.vmrss()) < 4 * MB
        assert f"(PID {allocator.pid}) running · every 0.1 s · window 10 min · LIVE" in (
            screen_text(app)
        )
        allocator.alloc(32)
        await until(pilot, "the 32 MB", lambda: (shown_rss(app) or 0) >= before + 30)
        text = screen_text(app)
        assert "█" in text  # the chart draws it
        assert "q quit  p pause  w window  t trace  o objects  +/- interval  s save" in text

    drive(app, scenario, (100, 30))


def test_where_the_memory_lives_is_shown_once_the_map_is_read(allocator: Allocator) -> None:
    allocator.alloc(32)
    app = TopApp(live_feed(str(allocator.pid), "--interval", "0.1", "--maps-interval", "0.2"))

    def where() -> str | None:
        return next((ln for ln in screen_text(app).splitlines() if "where  " in ln), None)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the memory map", lambda: where() is not None)
        line = where()
        assert line is not None
        # Largest first: the 32 MB bytearray is anonymous memory.
        assert line.split("where  ", 1)[1].startswith("anon ")

    drive(app, scenario, (120, 40))


def test_pause_freezes_the_screen_and_sampling_goes_on(allocator: Allocator) -> None:
    feed = live_feed(str(allocator.pid), "--interval", "0.1")
    app = TopApp(feed)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "a first RSS", lambda: shown_rss(app) is not None)
        await pilot.press("p")
        assert "· PAUSED" in screen_text(app)
        frozen = shown_rss(app)
        assert frozen is not None
        seq = feed.live.seq
        allocator.alloc(32)
        key = next(iter(feed.live.targets))

        def sampled_the_growth() -> bool:
            rss = feed.live.history.series(key, limit=1)["rss"]
            return feed.live.seq > seq + 3 and float(rss[-1] or 0) >= (frozen + 30) * MB

        await until(pilot, "the sampler to see the 32 MB", sampled_the_growth)
        await pilot.pause(0.6)  # more than two redraw periods
        assert shown_rss(app) == frozen
        await pilot.press("p")
        assert "· LIVE" in screen_text(app)
        await until(pilot, "the screen to catch up", lambda: (shown_rss(app) or 0) >= frozen + 30)

    drive(app, scenario, (80, 24))


def test_w_cycles_the_window(allocator: Allocator) -> None:
    app = TopApp(live_feed(str(allocator.pid), "--interval", "0.1"))

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "a first RSS", lambda: shown_rss(app) is not None)
        assert "window 10 min" in screen_text(app)
        assert "└-10 min ─" in screen_text(app)
        for window in ("1 h", "1 min", "10 min"):
            await pilot.press("w")
            await pilot.pause()
            assert f"· window {window} ·" in screen_text(app)
            assert f"└-{window} ─" in screen_text(app)

    drive(app, scenario, (80, 24))


def test_plus_and_minus_change_the_samplers_interval(allocator: Allocator) -> None:
    """From a 60 s interval: were the new one to wait for the old round's end, the ticks
    below would not come for minutes."""
    feed = live_feed(str(allocator.pid), "--interval", "60")
    app = TopApp(feed)
    assert feed.sampler is not None
    sampler = feed.sampler

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the first round", lambda: sampler.ticks >= 1)
        assert "every 60 s" in screen_text(app)
        await pilot.press("minus")
        assert sampler.config.interval == 30.0
        for _ in range(7):
            await pilot.press("minus")
        assert sampler.config.interval == 0.1
        await pilot.press("minus")  # the end of the ladder
        assert sampler.config.interval == 0.1
        await until(pilot, "rounds at the new interval", lambda: sampler.ticks >= 6)
        await pilot.press("plus")
        assert sampler.config.interval == 0.2
        await pilot.pause()
        text = screen_text(app)
        assert "every 0.2 s" in text
        assert "sampling every 0.2 s" in text

    drive(app, scenario, (80, 24))


def test_t_switches_tracemalloc_in_the_agent_and_the_top_sites_appear(
    agent_child: subprocess.Popen[str],
) -> None:
    app = TopApp(live_feed(str(agent_child.pid), "--interval", "0.2"))

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the agent", lambda: "tracemalloc OFF" in screen_text(app))
        assert "▒ heap  not traced: t switches tracemalloc on" in screen_text(app)
        await pilot.press("t")
        await until(pilot, "tracing", lambda: "tracemalloc ON (1 frame)" in screen_text(app))
        assert tracing(agent_child.pid)
        await until(pilot, "the top sites", lambda: f"<string>:{GROW_LINE}" in screen_text(app))
        await until(pilot, "the heap figures", lambda: "\n▒ heap  " in screen_text(app))
        assert re.search(r"^▒ heap\s+[\d.]+ [KM]B\s+min", screen_text(app), re.MULTILINE)
        await pilot.press("t")
        await until(pilot, "no tracing", lambda: "tracemalloc OFF" in screen_text(app))
        assert not tracing(agent_child.pid)
        await pilot.press("t")
        await until(pilot, "tracing again", lambda: "tracemalloc ON" in screen_text(app))

    drive(app, scenario, (100, 30))
    assert not tracing(agent_child.pid)  # switched on here, so off again at the end


MARKER = r"""
import sys
import memlens, memlens.agent

memlens.agent.start()
print("ready", flush=True)
for line in sys.stdin:
    print(memlens.mark(line.rstrip("\n").replace("\\e", "\x1b")), flush=True)
"""


@pytest.fixture
def marker() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", MARKER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def test_a_programs_mark_is_on_tops_chart_and_in_its_details(
    marker: subprocess.Popen[str],
) -> None:
    app = TopApp(live_feed(str(marker.pid), "--interval", "0.2"))
    assert marker.stdin is not None
    assert marker.stdout is not None

    def axis() -> str:
        return next(line for line in screen_text(app).splitlines() if "└" in line)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the agent", lambda: "tracemalloc OFF" in screen_text(app))
        assert "marks  " not in screen_text(app)
        assert MARK_TICK not in axis()
        marker.stdin.write("batch 2 \\e[2J starts\n")
        marker.stdin.flush()
        assert marker.stdout.readline().strip() == "1"
        await until(pilot, "the mark", lambda: "marks  " in screen_text(app))
        [line] = [row for row in screen_text(app).splitlines() if "marks  " in row]
        assert line.endswith("batch 2 \\x1b[2J starts")  # the escape made visible
        assert "\x1b" not in screen_text(app)
        await until(pilot, "the tick on the axis", lambda: MARK_TICK in axis())
        assert MARK_GLYPH in screen_text(app)

    drive(app, scenario, (100, 30))


OBJECTS_CHILD = r"""
import time
import memlens.agent
memlens.agent.start()

class Order:
    pass

HELD = []
print("ready", flush=True)
while True:
    HELD.extend(Order() for _ in range(200))
    time.sleep(0.05)
"""


def test_the_object_types_that_grow_fastest_are_in_the_python_pane() -> None:
    with python_child(OBJECTS_CHILD) as child:
        feed = live_feed(str(child.pid), "--interval", "0.2")
        app = TopApp(feed)

        def objects_line() -> str:
            found = [r for r in screen_text(app).splitlines() if "objects  " in r]
            return found[0][found[0].index("objects  ") :] if found else ""

        async def scenario(pilot: Pilot[None]) -> None:
            await until(pilot, "the agent", lambda: "tracemalloc OFF" in screen_text(app))
            await until(pilot, "the first count", lambda: "most numerous" in objects_line())
            await pilot.press("o")  # counts again now, rather than in 30 s
            await until(pilot, "the growth", lambda: "since " in objects_line())
            assert re.search(r"objects  since [\d:]+: \+[\d,]+ __main__\.Order", objects_line())

        drive(app, scenario, (110, 30))


def test_top_started_with_tracemalloc_says_on_and_t_switches_it_off(
    agent_child: subprocess.Popen[str],
) -> None:
    app = TopApp(live_feed(str(agent_child.pid), "--interval", "0.2", "--tracemalloc", "5"))

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the heap figures", lambda: "\n▒ heap  " in screen_text(app))
        await until(pilot, "tracing", lambda: "tracemalloc ON (5 frames)" in screen_text(app))
        assert "tracemalloc OFF" not in screen_text(app)
        assert tracing(agent_child.pid)
        await pilot.press("t")
        await until(pilot, "no tracing", lambda: "tracemalloc OFF" in screen_text(app))
        assert not tracing(agent_child.pid)

    drive(app, scenario, (100, 30))
    assert not tracing(agent_child.pid)


def test_s_saves_a_report_of_the_screen(
    allocator: Allocator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = TopApp(live_feed(str(allocator.pid), "--interval", "0.1"))

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "a first RSS", lambda: shown_rss(app) is not None)
        await pilot.press("s")
        await until(pilot, "the report", lambda: "report saved to" in screen_text(app))

    drive(app, scenario, (80, 24))
    (report,) = tmp_path.glob("memlens-top-*.md")
    text = report.read_text()
    assert text.startswith("# memlens report: memlens top: ")
    assert f"({allocator.pid})" in text  # its row in the figures
    assert app.status == f"report saved to {report.name}"


def test_tab_switches_targets_and_a_dead_one_shows_exited(allocator: Allocator) -> None:
    other = Allocator()
    try:
        app = TopApp(live_feed(str(allocator.pid), str(other.pid), "--interval", "0.1"))

        async def scenario(pilot: Pilot[None]) -> None:
            await until(pilot, "a first RSS", lambda: shown_rss(app) is not None)
            assert f"(PID {allocator.pid}) running" in screen_text(app)
            assert re.search(rf"^\[1 \S+ {allocator.pid} [\d.]+ MB\]", screen_text(app), re.M)
            await pilot.press("tab")
            assert f"(PID {other.pid}) running" in screen_text(app)
            other.command("exit 3")
            await until(pilot, "the exit", lambda: f"(PID {other.pid}) EXITED" in screen_text(app))
            assert re.search(rf"{other.pid} [\d.]+ MB EXITED", screen_text(app))
            await pilot.press("right")
            assert f"(PID {allocator.pid}) running" in screen_text(app)
            allocator.alloc(8)  # the app goes on with the live one
            await until(pilot, "more ticks", lambda: (shown_rss(app) or 0) > 0)
            await pilot.press("left")
            assert f"(PID {other.pid}) EXITED" in screen_text(app)

        drive(app, scenario, (100, 30))
    finally:
        other.stop()


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
def test_q_and_ctrl_c_quit(allocator: Allocator, key: str) -> None:
    app = TopApp(live_feed(str(allocator.pid), "--interval", "0.1"))
    ended: list[bool] = []

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "a first RSS", lambda: shown_rss(app) is not None)
        await pilot.press(key)
        await until(pilot, "the end", lambda: not app.is_running)
        ended.append(True)

    drive(app, scenario, (80, 24))
    assert ended
    assert app.return_code == 0


def test_with_no_target_the_agents_are_listed_and_the_one_chosen_is_watched(
    agent_child: subprocess.Popen[str],
) -> None:
    def pick(pid: int) -> Feed:
        return live_feed(str(pid), "--interval", "0.2")

    app = TopApp(pick=pick, agents=lambda: ls.describe(list_agents()), none_found=ls.NONE_FOUND)

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the list", lambda: f"PID {agent_child.pid:>7}" in screen_text(app))
        await pilot.press("enter")
        await until(
            pilot, "the watch", lambda: f"(PID {agent_child.pid}) running" in screen_text(app)
        )
        await until(pilot, "a first RSS", lambda: shown_rss(app) is not None)

    drive(app, scenario, (100, 30))


def test_with_no_agent_the_list_says_how_to_start_one() -> None:
    app = TopApp(
        pick=lambda pid: pytest.fail("nothing to pick"), agents=lambda: [], none_found=ls.NONE_FOUND
    )

    async def scenario(pilot: Pilot[None]) -> None:
        await until(pilot, "the hint", lambda: "memlens run --agent" in screen_text(app))
        await pilot.press("q")

    drive(app, scenario, (100, 30))


# -- snapshots ------------------------------------------------------------------------------

T0 = 1_700_000_000.0
SHOP = Target(
    key="4242-1000",
    kind="process",
    pid=4242,
    start_time=T0 - 60,
    name="shop_app.py",
    cmdline="python shop_app.py",
    python={
        "address": "unix:/run/user/1000/memlens/4242.sock",
        "pid": 4242,
        "python": "3.11.7",
        "tracing": True,
        "frames": 1,
    },
)
WORKER = Target(
    key="4243-1001",
    kind="process",
    pid=4243,
    start_time=T0 - 60,
    name="worker",
    cmdline="worker --queue jobs",
)
MINUTES = 20


def synthetic_feed() -> Feed:
    """Twenty minutes of a Python process leaking 2 MB/min under a GC sawtooth, with its
    traced heap, and a worker that exits with code 1 after fifteen; the alert engine
    judges every tick as it would live."""
    settings = Settings()
    alerts = AlertEngine(settings, limit_of=lambda _t: None, system_memory=lambda: 0.0)
    live = LiveView(interval=1.0, history_capacity=7200, recent=7200)  # as `top` keeps it
    feed = Feed(live, alerts=alerts, settings=settings)
    for i in range(MINUTES * 60):
        t = T0 + i
        rss = 180 * MB + i * (2 * MB / 60) + (i % 30) * 256 * 1024
        heap = 40 * MB + i * (1.5 * MB / 60)
        samples = {
            SHOP.key: Reading(
                int(rss),
                int(2 * rss),
                8 * MB,
                0,
                4,
                12,
                1.5,
                py_heap=int(heap),
                py_heap_peak=int(heap + MB),
                py_blocks=120_000 + i * 10,
                gc_collections=300 + i,
                gc_uncollectable=0,
            )
        }
        exits: tuple[Target, ...] = ()
        if i < 15 * 60:
            samples[WORKER.key] = Reading(
                int(95 * MB + (i % 7) * MB), 300 * MB, 4 * MB, 0, 2, 8, 0.5
            )
        elif i == 15 * 60:
            gone = Target(
                **{
                    **WORKER.to_dict(),
                    "state": "exited",
                    "exit_time": t,
                    "exit_code": 1,
                    "exit_reason": "exited",
                }
            )
            exits = (gone,)
        new = (SHOP, WORKER) if i == 0 else ()
        tick = Tick(i + 1, t, samples, new, exits)
        feed.apply(tick)
        for alert in alerts.process(tick):
            feed.post_alert(alert)
    feed.post_python(
        {
            "type": "python",
            "key": SHOP.key,
            "t": T0 + MINUTES * 60 - 5,
            "top": {
                "by": "lineno",
                "total_bytes": 42 * MB,
                "sites": [
                    {
                        "file": "/srv/shop/cache.py",
                        "line": 42,
                        "size_bytes": 31 * MB,
                        "count": 612,
                        "size_diff_bytes": 1 * MB,
                        "count_diff": 20,
                    },
                    {
                        "file": "/srv/shop/orders.py",
                        "line": 118,
                        "size_bytes": 6 * MB,
                        "count": 90,
                        "size_diff_bytes": 256 * 1024,
                        "count_diff": 3,
                    },
                    {
                        "file": "/usr/lib/python3.11/json/decoder.py",
                        "line": 353,
                        "size_bytes": 2 * MB,
                        "count": 4000,
                        "size_diff_bytes": -64 * 1024,
                        "count_diff": -40,
                    },
                ],
            },
        }
    )
    feed.post_python(
        {
            "type": "python",
            "key": SHOP.key,
            "t": T0 + MINUTES * 60 - 2,
            "gc": {"collecting": True, "count": 3, "total_s": 0.0042, "max_s": 0.0031},
        }
    )
    return feed


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot(size: tuple[int, int]) -> None:
    feed = synthetic_feed()
    app = TopApp(feed)
    shots: list[str] = []

    async def scenario(pilot: Pilot[None]) -> None:
        app.redraw()
        await pilot.pause()
        shots.append(screen_text(app))
        await pilot.press("w")  # the last hour: the whole run, the worker's exit included
        await pilot.press("tab")
        await pilot.pause()
        shots.append(screen_text(app))

    drive(app, scenario, size)
    name = f"top-{size[0]}x{size[1]}.txt"
    text = "\n\n--- w, tab ---\n\n".join(shots) + "\n"
    path = SNAPSHOTS / name
    if UPDATE or not path.exists():
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"{path} was missing and is written now: check it and run again")
    assert text == path.read_text(), f"the screen differs from {path}"
    for line in text.splitlines():
        assert len(line) <= size[0]


def test_resizing_redraws_within_the_terminal() -> None:
    app = TopApp(synthetic_feed())

    async def scenario(pilot: Pilot[None]) -> None:
        for width, height in [(80, 24), (200, 60), (100, 30), (80, 24)]:
            await pilot.resize_terminal(width, height)
            await pilot.pause()
            app.redraw()
            await pilot.pause()
            text = screen_text(app)
            lines = text.splitlines()
            assert len(lines) == height
            assert all(len(line) <= width for line in lines)
            assert lines[-1].startswith("q quit  p pause")
            assert "█ RSS   227.2 MB" in text
            assert "verdict  LEAK" in text
            assert "└-10 min ─" in text
            beside = re.search(r"│.*threads 4 · fds 12", text) is not None
            assert beside == (width >= 110)  # the details beside the chart when wide

    drive(app, scenario, (120, 40))


def test_without_colour_the_screen_says_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every state is in the text (the snapshots hold no colour at all)."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = TopApp(synthetic_feed())
    assert app.no_color
    shots: list[str] = []

    async def scenario(pilot: Pilot[None]) -> None:
        app.redraw()
        await pilot.pause()
        shots.append(screen_text(app))

    drive(app, scenario, (80, 24))
    expected = (SNAPSHOTS / "top-80x24.txt").read_text().split("\n\n--- w, tab ---\n\n")[0]
    assert shots[0] == expected


def test_the_row_of_targets_keeps_the_selected_one_in_view() -> None:
    tabs = [Tab(f"worker-{i} {9000 + i}", 100 * MB, "running", i == 8) for i in range(10)]
    text = tabs_text(tabs, 80).plain
    assert text.startswith("… ")
    assert "[9 worker-8 9008 100.0 MB]" in text
    assert tabs_text(tabs[:2], 80).plain == " 1 worker-0 9000 100.0 MB   2 worker-1 9001 100.0 MB "
