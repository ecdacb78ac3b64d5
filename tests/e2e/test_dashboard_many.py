"""Real Chromium opens the dashboard of a real `memlens watch --name` of many processes:
300 `sleep`s under one name, and a parent whose children are of two kinds (sleepers and
one that grows by a known amount). The header stays one line, the chart is in the first
viewport and nothing covers it, the page is a few screens tall, and the targets' table
finds a PID, sorts by growth and opens a target's details."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import ALLOCATOR_SOURCE, BROWSER_DETECTOR, MB, MemlensServer
from memlens.model import Reading, Target, Tick
from memlens.store import Store

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

VIEWPORT = {"width": 1280, "height": 900}
MANY = 300
GROW_MB = 64

# The parent: starts N sleepers (their name is `sleep`, their command line carries the
# token) and, if asked, one grower (helpers.ALLOCATOR_SOURCE); prints their PIDs, then
# relays each line it reads to the grower and its answer back. Its own command line does
# not hold the token: it is not watched. When its stdin closes it ends its children.
PARENT = r"""
import os, subprocess, sys
token, count, grow = os.environ["MLT_TOKEN"], int(sys.argv[1]), sys.argv[2] == "1"
kids = [subprocess.Popen([token + "-sleeper", "600"], executable="/bin/sleep")
        for _ in range(count)]
grower = None
if grow:
    source = os.environ["MLT_GROWER"]
    grower = subprocess.Popen([sys.executable, "-u", "-c", source, token + "-grower"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert grower.stdout.readline().strip() == "ready"
    kids.append(grower)
print(" ".join(str(k.pid) for k in kids), flush=True)
for line in sys.stdin:
    grower.stdin.write(line)
    grower.stdin.flush()
    print(grower.stdout.readline().strip(), flush=True)
for k in kids:
    k.kill()
    k.wait()
"""


class Family:
    """A real parent process with `count` sleeping children, and maybe a growing one."""

    def __init__(self, count: int, grower: bool) -> None:
        self.token = "mlt" + uuid.uuid4().hex[:12]
        env = {**os.environ, "MLT_TOKEN": self.token, "MLT_GROWER": ALLOCATOR_SOURCE}
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", PARENT, str(count), "1" if grower else "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        self.pids = [int(p) for p in self.proc.stdout.readline().split()]
        assert len(self.pids) == count + (1 if grower else 0)
        self.grower_pid = self.pids[-1] if grower else None

    def grow(self, mb: int) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(f"alloc {mb}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in self.pids:  # whatever the parent left behind, by its own PIDs
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def many() -> Iterator[tuple[Family, MemlensServer]]:
    family = Family(MANY, grower=False)
    try:
        server = MemlensServer("watch", "--name", family.token, "--port", "0", "--no-record")
        try:
            yield family, server
        finally:
            server.stop()
    finally:
        family.stop()


def open_page(browser: Any, server: MemlensServer, total: int) -> Any:
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(server.url)
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=30_000)
    page.wait_for_selector(f'#target-table[data-total="{total}"]', timeout=30_000)
    page.wait_for_function("() => Number(document.body.dataset.ticks) >= 2", timeout=30_000)
    return page


def test_the_chart_stays_in_view_and_uncovered_with_300_targets(
    browser: Any, many: tuple[Family, MemlensServer], artifacts_dir: Path
) -> None:
    _, server = many
    page = open_page(browser, server, MANY)
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    try:
        page.wait_for_function(
            "() => document.querySelectorAll('#table-grid canvas[data-points]').length > 0",
            timeout=15_000,
        )
        page.screenshot(path=str(artifacts_dir / "dashboard-300.png"))
        page.screenshot(path=str(artifacts_dir / "dashboard-300-full.png"), full_page=True)
        layout = page.evaluate(
            """() => {
                const over = document.querySelector('#chart .u-over');
                const r = over.getBoundingClientRect();
                const chart = document.getElementById('chart');
                const on = ([x, y]) => chart.contains(document.elementFromPoint(x, y));
                const points = [[r.left + r.width / 2, r.top + r.height / 2],
                    [r.left + 2, r.top + 2], [r.right - 2, r.top + 2],
                    [r.left + 2, r.bottom - 2], [r.right - 2, r.bottom - 2]];
                return {
                    chart: [r.top, r.bottom, r.left, r.right],
                    header: document.querySelector('.topbar').getBoundingClientRect().height,
                    covered: points.filter(p => !on(p)),
                    height: document.documentElement.scrollHeight,
                    chips: document.querySelectorAll('#target-chips .chip').length,
                    count: document.getElementById('picker-count').textContent,
                    rowsInPage: document.querySelectorAll('#table-grid tr.tt-row').length,
                    cards: document.querySelectorAll('.target-card').length,
                };
            }"""
        )
        top, bottom, left, right = layout["chart"]
        assert layout["header"] <= 60, layout
        assert top >= layout["header"], layout
        assert bottom <= VIEWPORT["height"], layout
        assert left >= 0, layout
        assert right <= VIEWPORT["width"], layout
        assert layout["covered"] == [], layout
        assert layout["height"] <= 3 * VIEWPORT["height"], layout
        assert layout["chips"] == 0  # a count instead of 300 chips
        assert layout["count"] == f"{MANY} targets"
        assert 0 < layout["rowsInPage"] < 60  # virtualised: the rows in view, not 300
        assert layout["cards"] == 0  # a table, not 300 cards

        # Scrolled to the end, the last rows are in the page instead of the first ones.
        page.eval_on_selector("#table-scroll", "el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_function(
            "() => Number([...document.querySelectorAll('#table-grid tr.tt-row')].pop()"
            ".getAttribute('aria-rowindex')) === 301",
            timeout=5_000,
        )
        assert page.locator("#table-grid tr.tt-row").count() < 60
        assert list(errors) == []
        assert outside.seen == []
    finally:
        page.close()


def test_the_search_finds_one_pid_among_300_and_opens_it(
    browser: Any, many: tuple[Family, MemlensServer], artifacts_dir: Path
) -> None:
    family, server = many
    page = open_page(browser, server, MANY)
    errors = PageErrors(page)
    try:
        pid = family.pids[MANY // 2]
        page.fill("#table-search", str(pid))
        page.wait_for_selector('#target-table[data-rows="1"]', timeout=5_000)
        rows = page.eval_on_selector_all(
            "#table-grid tr.tt-row", "els => els.map(e => e.dataset.pid)"
        )
        assert rows == [str(pid)]
        # The keyboard: down from the search into the table, Enter opens the details.
        page.press("#table-search", "ArrowDown")
        page.keyboard.press("Enter")
        card = page.locator(".target-card")
        page.wait_for_selector(f'.target-card[data-key^="{pid}-"]', timeout=5_000)
        assert card.count() == 1
        assert page.locator("#cards").get_attribute("data-mode") == "detail"
        page.screenshot(path=str(artifacts_dir / "dashboard-300-detail.png"), full_page=True)
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.querySelector('.target-card')", timeout=5_000)

        # The header's picker finds it too, and pins it: a chip beside the count.
        header_height = "document.querySelector('.topbar').getBoundingClientRect().height"
        height = page.evaluate(header_height)
        page.click("#picker-button")
        page.fill("#picker-search", str(pid))
        page.wait_for_selector('#picker[data-rows="1"]', timeout=5_000)
        assert page.get_attribute(".picker-item", "data-pid") == str(pid)
        page.press("#picker-search", "Control+Enter")
        chip = f'#target-chips .chip[data-pinned][data-key^="{pid}-"]'
        page.wait_for_selector(chip, timeout=5_000)
        page.keyboard.press("Escape")
        assert page.is_hidden("#picker")
        assert page.evaluate(header_height) == height
        assert list(errors) == []
    finally:
        page.close()


def test_sorting_by_growth_puts_the_growing_child_first(browser: Any) -> None:
    family = Family(20, grower=True)
    server = None
    page = None
    try:
        server = MemlensServer("watch", "--name", family.token, "--port", "0", "--no-record")
        page = open_page(browser, server, 21)
        errors = PageErrors(page)
        page.wait_for_selector(f'#table-grid tr.tt-row[data-pid="{family.grower_pid}"]')
        family.grow(GROW_MB)
        page.click('#table-grid th[data-col="growth"] button')
        assert page.get_attribute('#table-grid th[data-col="growth"]', "aria-sort") == "descending"
        first = "#table-grid tr.tt-row"
        page.wait_for_function(
            "([sel, want]) => Number(document.querySelector(sel).dataset.growth) >= want",
            arg=[first, (GROW_MB - 4) * MB],
            timeout=20_000,
        )
        assert page.get_attribute(first, "data-pid") == str(family.grower_pid)
        growth = int(page.get_attribute(first, "data-growth") or 0)
        assert abs(growth - GROW_MB * MB) < 4 * MB
        second = int(page.get_attribute(f"{first}:nth-of-type(3)", "data-growth") or 0)
        assert second < MB  # the sleepers did not grow
        # Again: the other way round, the grower is last.
        page.click('#table-grid th[data-col="growth"] button')
        assert page.get_attribute('#table-grid th[data-col="growth"]', "aria-sort") == "ascending"
        assert page.get_attribute(first, "data-pid") != str(family.grower_pid)
        assert list(errors) == []
    finally:
        if page is not None:
            page.close()
        if server is not None:
            server.stop()
        family.stop()


def test_the_leak_column_shows_the_detectors_verdict(browser: Any, tmp_path: Path) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text(BROWSER_DETECTOR)
    family = Family(10, grower=True)
    done = threading.Event()

    def leak() -> None:  # 2 MB every 0.2 s, 400 MB at most
        for _ in range(200):
            if done.wait(0.2):
                return
            family.grow(2)

    server = None
    page = None
    thread = threading.Thread(target=leak, daemon=True)
    try:
        server = MemlensServer(
            "watch", "--name", family.token, "--port", "0", "--interval", "0.2",
            "--no-record", "--config", str(config),
        )  # fmt: skip
        page = open_page(browser, server, 11)
        errors = PageErrors(page)
        thread.start()
        row = f'#table-grid tr.tt-row[data-pid="{family.grower_pid}"]'
        page.click('#table-grid th[data-col="leak"] button')
        page.wait_for_selector(f'{row}[data-leak="leak"]', timeout=60_000)
        badge = page.locator(f"{row} .tt-leak")
        assert (badge.text_content() or "").startswith("leak · ")
        assert badge.get_attribute("data-severity") in ("low", "medium", "high", "critical")
        # sorted by the verdict, the leaking process comes first
        page.wait_for_function(
            "pid => document.querySelector('#table-grid tr.tt-row').dataset.pid === pid",
            arg=str(family.grower_pid),
            timeout=5_000,
        )
        assert page.locator('#table-grid tr.tt-row[data-leak="leak"]').count() == 1
        assert list(errors) == []
    finally:
        done.set()
        if thread.is_alive():
            thread.join(timeout=10)
        if page is not None:
            page.close()
        if server is not None:
            server.stop()
        family.stop()


def test_a_served_recording_fills_every_row_and_sorts_by_exact_growth(
    browser: Any, tmp_path: Path
) -> None:
    """A recording opens on all of it: each row's growth is its target's known growth
    over the whole recording, exactly, and sorting by growth orders them by it."""
    path = tmp_path / "many.db"
    count, seconds, step = 12, 120, 8192
    start = time.time() - seconds - 60
    targets = [
        Target(f"{7000 + i}-1", "process", 7000 + i, start, f"worker{i}", f"worker --n {i}")
        for i in range(count)
    ]
    with Store.open(path) as store:
        rid = store.begin_recording(
            name="many", command="workers", interval=1.0, host="test", started=start
        )
        for s in range(seconds):
            readings = {
                t.key: Reading(50 * MB + i * s * step, 0, 0, 0, 1, 3, 1.0)
                for i, t in enumerate(targets)
            }
            new = tuple(targets) if s == 0 else ()
            store.add_tick(rid, Tick(s + 1, start + s, readings, new))
        store.end_recording(rid, ended=start + seconds)
        store.flush(60)
    server = MemlensServer("serve", str(path), "--port", "0")
    page = browser.new_page(viewport=VIEWPORT)
    errors = PageErrors(page)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=30_000)
        page.wait_for_selector(f'#target-table[data-total="{count}"]', timeout=15_000)
        page.click('#table-grid th[data-col="growth"] button')
        page.wait_for_function(
            "n => [...document.querySelectorAll('#table-grid tr.tt-row')]"
            ".filter(r => r.dataset.growth !== undefined).length === n",
            arg=count,
            timeout=10_000,
        )
        rows = page.eval_on_selector_all(
            "#table-grid tr.tt-row", "els => els.map(e => [e.dataset.pid, e.dataset.growth])"
        )
        want = [[str(7000 + i), str(i * (seconds - 1) * step)] for i in reversed(range(count))]
        assert rows == want
        assert list(errors) == []
    finally:
        page.close()
        server.stop()
