"""Real Chromium zooms into a recording of 20 processes of one group: finer points are
fetched only for the members the chart draws as lines, and the group's sum stays the sum
of all 20 where those finer points lie."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MB, MemlensServer

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

MEMBERS = 20
SECONDS = 12_000  # past the backfill's 2,000 buckets: the overview is buckets


def base_of(i: int) -> int:
    return (100 + 10 * i) * MB


def rss_at(i: int, s: int) -> int:
    """Member i's RSS at second s: its base and a sawtooth of up to 2 MB."""
    return base_of(i) + (s % 300) * 7 * 1024


def group_day(path: Path) -> list[str]:
    """A recording of MEMBERS processes named `worker`, 1 Hz; returns their keys."""
    from memlens.model import Reading, Target, Tick
    from memlens.store import Store

    start = time.time() - SECONDS - 60
    targets = [
        Target(
            key=f"{5000 + i}-1000",
            kind="process",
            pid=5000 + i,
            start_time=start,
            name="worker",
            cmdline=f"worker --id {i}",
        )
        for i in range(MEMBERS)
    ]
    store = Store.open(path)
    try:
        rid = store.begin_recording(
            name="workers", command="worker", interval=1.0, host="test", started=start
        )
        for s in range(SECONDS):
            readings = {}
            for i, target in enumerate(targets):
                rss = rss_at(i, s)
                readings[target.key] = Reading(rss, 2 * rss, 4 * MB, 0, 4, 12, 1.0)
            new = tuple(targets) if s == 0 else ()
            store.add_tick(rid, Tick(s + 1, start + s, readings, new))
        store.end_recording(rid, ended=start + SECONDS)
        store.flush(60)
    finally:
        store.close()
    return [t.key for t in targets]


class RangeTargets(OutsideRequests):
    """Outside requests, and the targets the page's `/api/range` calls ask for."""

    def __init__(self, page: Any, base: str) -> None:
        self.targets: list[str] = []
        super().__init__(page, base)

    def inside(self, path: str, url: str) -> None:
        if path.endswith("/api/range"):
            self.targets.extend(parse_qs(urlsplit(url).query).get("target", []))


def drag_zoom(page: Any, t0: float, t1: float) -> None:
    box = page.locator("#chart .u-over").bounding_box()
    assert box is not None
    x0, x1 = page.evaluate(
        "([a, b]) => [memlens.chart().valToPos(a, 'x'), memlens.chart().valToPos(b, 'x')]",
        [t0, t1],
    )
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + x0, y)
    page.mouse.down()
    for f in (0.25, 0.5, 0.75, 1.0):
        page.mouse.move(box["x"] + x0 + (x1 - x0) * f, y)
    page.mouse.up()


def test_zooming_a_group_fetches_only_its_drawn_members(
    browser: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    keys = group_day(tmp_path / "workers.db")
    top = set(keys[-5:])  # the largest five are drawn as lines (by RSS, five by default)
    server = MemlensServer("serve", str(tmp_path / "workers.db"), "--port", "0")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = PageErrors(page)
    ranges = RangeTargets(page, server.base)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=30_000)
        page.wait_for_selector('#chart[data-grouped="true"]', timeout=10_000)
        page.wait_for_function("() => memlens.grouping.specs.length > 0", timeout=10_000)
        drawn = page.evaluate("() => memlens.grouping.specs.filter(s => s.key).map(s => s.key)")
        assert set(drawn) == top
        assert ranges.targets == []

        # Ten minutes in the middle: raw samples are fetched, for the five drawn members only.
        first = page.evaluate("() => memlens.store.times[0]")
        at = first + SECONDS / 2
        drag_zoom(page, at, at + 600)
        page.wait_for_function(
            "() => Number(document.body.dataset.detailRequests) >= 5", timeout=20_000
        )
        page.wait_for_function(
            "() => !memlens.detail.inflight && !memlens.detail.timer", timeout=15_000
        )
        page.wait_for_timeout(500)
        assert sorted(ranges.targets) == sorted(top)
        assert page.evaluate("() => memlens.detail.parts.size") == 5

        # The sum over the view: every point the sum of all twenty members (RSS: these
        # readings have no PSS), never the sum of the five with finer points.
        sums = page.evaluate(
            """() => {
                const u = memlens.chart();
                const i = memlens.grouping.specs.findIndex(s => s.kind === 'sum');
                const lo = u.scales.x.min, hi = u.scales.x.max, ys = [];
                u.data[0].forEach((t, j) => {
                    if (t >= lo && t <= hi && u.data[i + 1][j] != null) {
                        ys.push(u.data[i + 1][j]);
                    }
                });
                return ys;
            }"""
        )
        assert len(sums) > 500  # the finer rows carry the sum too
        whole = [sum(rss_at(i, s) for i in range(MEMBERS)) for s in range(SECONDS)]
        low, high = min(whole), max(whole)
        assert all(low <= v <= high for v in sums), (min(sums), max(sums), low, high)
        page.screenshot(path=str(artifacts_dir / "group-detail.png"))
        assert server.proc.poll() is None
    finally:
        page.close()
        server.stop()
    assert ranges.seen == []
    assert errors == []
