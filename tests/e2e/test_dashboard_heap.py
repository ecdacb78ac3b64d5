"""Real Chromium shows the heap profile of a real `memlens watch` of a real Python child
running the agent: the switch starts the heap profiler, the flame graph draws the child's
functions, search highlights them and says their share, a click zooms, a mark turns it
into the growth since then (the function that keeps allocating, not the one that filled
a cache once); profiles are asked for only while the graph is on screen. The table of
growing sites opens the stacks behind a site: its tracemalloc traceback and the heap
profile's stacks that end at its line.

The tests read the profiler's sampler from the page and do not care which one runs: with
tracemalloc behind it, frames have no function names and the graph labels them by
file:line, so the child's sites are found by their lines."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MemlensServer, python_child

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

CHILD = r"""
import sys, time
import memlens.agent
memlens.agent.start()
HELD = []

def profiler_running():
    profiler = getattr(sys.modules.get("memlens.agent.heap"), "PROFILER", None)
    return profiler is not None and profiler.status()["running"]

def fill_cache():
    for _ in range(400):
        HELD.append(bytearray(20_000))  # fill_cache allocates

def grow_forever():
    HELD.append(bytearray(30_000))  # grow_forever allocates

def worker_loop():
    while True:
        grow_forever()
        time.sleep(0.01)

print("ready", flush=True)
while not profiler_running():
    time.sleep(0.05)
fill_cache()
worker_loop()
"""


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


FILL_LINE = line_of(CHILD, "# fill_cache allocates")
GROW_LINE = line_of(CHILD, "# grow_forever allocates")
LOOP_LINE = line_of(CHILD, "        grow_forever()")
HP = '[data-role="hp"]'
FLAME = "#python-flame"


class Dashboard:
    def __init__(self, browser: Any, server: MemlensServer) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors = PageErrors(self.page)
        self.outside = OutsideRequests(self.page, server.base)
        self.page.goto(server.url)
        self.page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        self.page.wait_for_selector("#python-panel[data-key]", state="visible", timeout=20_000)

    def sampler(self) -> str:
        value: str = self.page.get_attribute(HP, "data-sampler") or ""
        return value

    def label(self, function: str, line: int) -> str:
        """What the graph calls a frame: its function, or "<string>:LINE" when the
        profiler is tracemalloc, which names no function."""
        return function if self.sampler() == "sampling" else f"<string>:{line}"

    def frames(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.evaluate("() => memlens.heap.flame().frames()")
        return found

    def wait_for_frame(self, name: str, timeout: float = 30_000) -> None:
        self.page.wait_for_function(
            "name => memlens.heap.flame().frames().some(f => f.name === name && f.w > 1)",
            arg=name,
            timeout=timeout,
        )

    def click_frame(self, name: str) -> None:
        spot = self.page.evaluate("name => memlens.heap.flame().locate(name)", name)
        assert spot is not None, name
        self.page.locator(f"{FLAME} canvas.fg-canvas").click(
            position={"x": spot["x"], "y": spot["y"]}
        )

    def flame(self, name: str) -> str | None:
        value: str | None = self.page.eval_on_selector(FLAME, f"el => el.dataset.{name} ?? null")
        return value

    def asked(self) -> int:
        count: int = self.page.evaluate("() => memlens.heap.asked()")
        return count

    def close(self) -> None:
        # An agent that rests after a costly request (tracemalloc's snapshots) answers
        # 503 with a time to come back; the page waits that long, and Chromium logs the
        # status. Anything else is an error.
        resting = "the server responded with a status of 503"
        assert [e for e in self.errors if resting not in e] == []
        assert self.outside.seen == []
        self.page.close()


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    with python_child(CHILD) as proc:
        yield proc


@pytest.fixture
def server(child: subprocess.Popen[str]) -> Iterator[MemlensServer]:
    srv = MemlensServer("watch", str(child.pid), "--port", "0", "--interval", "0.5", "--no-record")
    try:
        yield srv
    finally:
        assert srv.stop() == 0


def test_the_flame_graph_of_a_live_process_searches_zooms_and_shows_growth(
    browser: Any, server: MemlensServer, artifacts_dir: Path
) -> None:
    dash = Dashboard(browser, server)
    p = dash.page
    p.locator(HP).scroll_into_view_if_needed()
    toggle = p.locator('[data-role="hp-toggle"]')
    p.wait_for_selector('[data-role="hp-toggle"]:not([disabled])', timeout=20_000)
    assert p.get_attribute(HP, "data-running") == "false"
    assert p.is_visible('[data-role="hp-note"]')
    assert not p.is_visible(FLAME)
    assert toggle.text_content() == "Start the heap profiler"

    toggle.click()
    p.wait_for_selector(f'{HP}[data-running="true"]', timeout=15_000)
    assert dash.sampler() in ("sampling", "tracemalloc")
    assert toggle.text_content() == "Stop the heap profiler"
    assert p.is_visible(FLAME)
    grow = dash.label("grow_forever", GROW_LINE)
    fill = dash.label("fill_cache", FILL_LINE)
    dash.wait_for_frame(grow)
    dash.wait_for_frame(fill)
    assert dash.flame("fgKind") == "inuse"
    assert "bytes in use now" in (p.text_content(f"{FLAME} .fg-note") or "")
    drawn = {f["name"]: f for f in dash.frames()}
    assert drawn[fill]["label"] == fill  # wide enough for its name
    p.screenshot(path=str(artifacts_dir / "dashboard-heap.png"))

    # search: by the allocating line, which every sampler names
    p.fill(f"{FLAME} .fg-search", f"<string>:{GROW_LINE}")
    share = float(dash.flame("fgMatchShare") or 0)
    assert 0 < share < 100
    assert "% of all" in (p.text_content(f"{FLAME} .fg-match") or "")
    assert grow in {f["name"] for f in dash.frames() if f["match"]}
    p.fill(f"{FLAME} .fg-search", "")

    # a click zooms into the loop that calls grow_forever; the breadcrumb goes back
    loop = dash.label("worker_loop", LOOP_LINE)
    dash.click_frame(loop)
    assert dash.flame("fgZoom") == loop
    assert fill not in {f["name"] for f in dash.frames()}
    assert p.locator(f"{FLAME} .fg-crumb").all_text_contents()[0] == "all"
    p.locator(f"{FLAME} .fg-crumb").first.click()
    assert dash.flame("fgZoom") == ""

    # a mark: the graph turns into the growth since it, where only grow_forever grows
    p.click('[data-role="hp-mark"]')
    p.wait_for_selector(f'{HP}[data-view="growth"]', timeout=15_000)
    assert p.input_value('[data-role="hp-view"]').startswith("page ")
    p.wait_for_function(
        f"() => document.querySelector('{FLAME}').dataset.fgKind === 'growth'", timeout=30_000
    )
    dash.wait_for_frame(grow)
    names = {f["name"] for f in dash.frames()}
    assert fill not in names
    assert "growth of the bytes in use since mark" in (p.text_content(f"{FLAME} .fg-note") or "")
    p.screenshot(path=str(artifacts_dir / "dashboard-heap-growth.png"))

    # back to what is in use
    p.select_option('[data-role="hp-view"]', "")
    p.wait_for_function(
        f"() => document.querySelector('{FLAME}').dataset.fgKind === 'inuse'", timeout=30_000
    )

    # nobody looks at the graph: no profile is asked for; back on screen, it is again
    p.evaluate("() => window.scrollTo(0, 0)")
    p.wait_for_timeout(500)
    before = dash.asked()
    p.wait_for_timeout(7_000)  # longer than the 5 s between two profiles
    assert dash.asked() == before
    p.locator(HP).scroll_into_view_if_needed()
    p.wait_for_function("n => memlens.heap.asked() > n", arg=before, timeout=15_000)

    toggle.click()
    p.wait_for_selector(f'{HP}[data-running="false"]', timeout=15_000)
    assert not p.is_visible(FLAME)
    assert p.is_visible('[data-role="hp-note"]')
    dash.close()


LEAK_CHILD = r"""
import time
import memlens.agent
memlens.agent.start()
HELD = []

def leak():
    HELD.append(bytearray(20_000))  # the line that leaks

def serve():
    while True:
        leak()
        time.sleep(0.02)

print("ready", flush=True)
serve()
"""
LEAK_LINE = line_of(LEAK_CHILD, "# the line that leaks")
SERVE_LINE = line_of(LEAK_CHILD, "        leak()")


def test_a_growing_site_opens_its_traceback_and_the_heap_stacks_that_end_there(
    browser: Any, monkeypatch: pytest.MonkeyPatch, artifacts_dir: Path
) -> None:
    # The heap profiler on tracemalloc: then tracemalloc runs for both, the table of
    # growing sites included, each site with its traceback.
    monkeypatch.setenv("MEMLENS_HEAP_FALLBACK", "1")
    with python_child(LEAK_CHILD) as child:
        server = MemlensServer(
            "watch", str(child.pid), "--port", "0", "--interval", "0.5", "--no-record"
        )
        try:
            dash = Dashboard(browser, server)
            p = dash.page
            p.locator(HP).scroll_into_view_if_needed()
            p.wait_for_selector('[data-role="hp-toggle"]:not([disabled])', timeout=20_000)
            p.click('[data-role="hp-toggle"]')
            p.wait_for_selector(f'{HP}[data-sampler="tracemalloc"]', timeout=15_000)
            dash.wait_for_frame(f"<string>:{LEAK_LINE}")
            row = (
                f'#python-top tbody tr[data-file="<string>"][data-line="{LEAK_LINE}"]'
                '[data-stacks="traceback heap"]'
            )
            p.locator("#python-top").scroll_into_view_if_needed()
            p.wait_for_selector(row, timeout=40_000)
            detail = p.locator(f"{row} + tr.py-tb-row")
            assert not detail.is_visible()
            p.locator(f"{row} .py-tb-toggle").click()
            assert detail.is_visible()
            text = detail.text_content() or ""
            assert "traceback, oldest call first" in text
            assert f"<string>:{SERVE_LINE}" in text  # the caller, in the traceback
            assert "stack ends at this line" in text or "stacks end at this line" in text
            p.screenshot(path=str(artifacts_dir / "dashboard-heap-sites.png"), full_page=True)
            # the next look at the sites redraws the table: the row stays open
            version = p.evaluate("() => memlens.state.targets.values().next().value.py.topVersion")
            p.wait_for_function(
                "v => memlens.state.targets.values().next().value.py.topVersion > v",
                arg=version,
                timeout=30_000,
            )
            assert p.locator(f"{row} + tr.py-tb-row").is_visible()
            dash.close()
        finally:
            assert server.stop() == 0
