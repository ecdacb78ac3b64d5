"""Real Chromium at 1280×900 over a real `memlens watch --children` of a parent whose
children exit, with six groups' leak banners and a limit's alert sent through the page's
real socket: the banners take a bounded room, the rest folded behind "and N more alerts",
and the chart stays wholly in the first screen with nothing over it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, PageErrors, chromium_missing
from helpers import MB, MemlensServer
from memlens.analysis.groups import group_leak_text

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

SLEEPERS = 12
GROUPS = 6

# The parent: starts the sleepers, prints their PIDs, and on "end" kills two of them.
PARENT = rf"""
import subprocess, sys
kids = [subprocess.Popen(["sleep", "600"]) for _ in range({SLEEPERS})]
print("ready " + " ".join(str(k.pid) for k in kids), flush=True)
try:
    for line in sys.stdin:
        for k in kids[:2]:
            k.kill()
            k.wait()
        print("ok", flush=True)
finally:
    for k in kids:
        k.kill()
"""


class Parent:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", PARENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().split()
        assert first[0] == "ready", first
        self.kids = [int(p) for p in first[1:]]

    def end_two(self) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("end\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def parent() -> Iterator[Parent]:
    p = Parent()
    try:
        yield p
    finally:
        p.stop()


def keys_by_pid(server: MemlensServer, parent: Parent) -> dict[int, str]:
    deadline = time.monotonic() + 20
    while True:
        targets = server.get("api/targets").json()["targets"]
        found = {t["pid"]: t["key"] for t in targets if t["kind"] == "process"}
        if len(found) == 1 + SLEEPERS or time.monotonic() > deadline:
            assert set(parent.kids) <= set(found)
            return found
        time.sleep(0.2)


def group_leak(i: int, members: list[str], t: float) -> dict[str, Any]:
    rate = (i + 1) * MB / 60
    group = f"pool-{i}-with-a-rather-long-name-that-takes-room"
    return {
        "type": "group_leak",
        "t": t + i,
        "key": None,
        "state": "raised",
        "group": group,
        "count": len(members),
        "of": len(members) + 3,
        "rate_each": rate,
        "members": members,
        "severity": ["medium", "high", "critical"][i % 3],
        "text": group_leak_text(group, len(members), len(members) + 3, rate),
    }


def threshold(t: float) -> dict[str, Any]:
    return {
        "type": "threshold",
        "t": t,
        "key": None,
        "state": "above",
        "metric": "system_memory",
        "text": "system memory 93% is above the limit of 90%",
    }


# The chart's box, and whether the element at its centre and at each corner (2 px in) is
# the chart itself: nothing (a sticky header, a banner) lies over it.
CHART_SEEN = """() => {
    const chart = document.getElementById("chart");
    const r = chart.getBoundingClientRect();
    const points = [[(r.left + r.right) / 2, (r.top + r.bottom) / 2],
        [r.left + 2, r.top + 2], [r.right - 2, r.top + 2],
        [r.left + 2, r.bottom - 2], [r.right - 2, r.bottom - 2]];
    const ours = points.map(([x, y]) => {
        const el = document.elementFromPoint(x, y);
        return !!el && chart.contains(el);
    });
    return { top: r.top, left: r.left, bottom: r.bottom, right: r.right,
        width: r.width, height: r.height, ours: ours,
        vw: window.innerWidth, vh: window.innerHeight };
}"""


def assert_chart_in_first_screen(page: Any) -> dict[str, Any]:
    page.evaluate("window.scrollTo(0, 0)")
    seen: dict[str, Any] = page.evaluate(CHART_SEEN)
    assert seen["height"] > 150, seen
    assert seen["top"] >= 0, seen
    assert seen["left"] >= 0, seen
    assert seen["bottom"] <= seen["vh"], seen
    assert seen["right"] <= seen["vw"], seen
    assert all(seen["ours"]), seen
    return seen


def test_many_banners_leave_the_chart_in_the_first_screen(
    browser: Any, parent: Parent, artifacts_dir: Path
) -> None:
    server = MemlensServer(
        "watch", str(parent.proc.pid), "--children", "--port", "0", "--no-record"
    )
    page = None
    routes: list[Any] = []

    def route(ws: Any) -> None:
        ws.connect_to_server()
        routes.append(ws)

    try:
        by_pid = keys_by_pid(server, parent)
        kids = [by_pid[pid] for pid in parent.kids]
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = PageErrors(page)
        page.route_web_socket(re.compile(r"/ws"), route)
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        t = time.time()
        alerts = [group_leak(i, kids[2 * i : 2 * i + 2], t) for i in range(GROUPS)]
        for m in [*alerts, threshold(t + GROUPS)]:
            routes[0].send(json.dumps(m))
        page.wait_for_function(
            "n => document.querySelectorAll('#alerts .alert-banner').length === n",
            arg=GROUPS + 1,
        )
        banners = page.locator("#alerts .alert-banner")
        shown = page.locator("#alerts .alert-banner:visible")
        more = page.locator("#alerts .alerts-more")
        assert shown.count() == 2
        assert more.inner_text() == f"and {GROUPS + 1 - 2} more alerts"
        assert_chart_in_first_screen(page)

        parent.end_two()
        page.wait_for_selector("#exit-banner", state="visible", timeout=15_000)
        # Two banners' room: the exit banner and the worst alert, a critical group's leak.
        assert shown.count() == 1
        assert shown.nth(0).get_attribute("data-severity") == "critical"
        assert more.is_visible()
        assert more.inner_text() == f"and {GROUPS + 1 - 1} more alerts"
        assert more.get_attribute("aria-expanded") == "false"
        page.screenshot(path=str(artifacts_dir / "banners-folded.png"))
        assert_chart_in_first_screen(page)

        # A click opens them all; another folds them again.
        more.click()
        assert shown.count() == banners.count() == GROUPS + 1
        assert more.get_attribute("aria-expanded") == "true"
        assert more.inner_text() == "show fewer alerts"
        page.screenshot(path=str(artifacts_dir / "banners-open.png"), full_page=True)
        more.click()
        assert shown.count() == 1
        assert_chart_in_first_screen(page)

        # Dismissed banners leave the room to the next ones, and the fold goes when
        # nothing is left behind it.
        for left in range(GROUPS, 1, -1):
            shown.nth(0).locator(".alert-dismiss").click()
            assert shown.count() == 1
            assert more.inner_text() == f"and {left - 1} more alert" + ("s" if left > 2 else "")
        shown.nth(0).locator(".alert-dismiss").click()
        assert shown.count() == 1
        assert not more.is_visible()
        assert_chart_in_first_screen(page)
        assert list(errors) == []
    except Exception:
        if page is not None:
            page.screenshot(path=str(artifacts_dir / "banners-failed.png"), full_page=True)
        raise
    finally:
        if page is not None:
            page.close()
        server.stop()
