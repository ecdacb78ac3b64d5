"""Real Chromium draws groups on the chart of a real `memlens watch --children` of a
parent with children of two kinds, 20 `sleep`s and 5 "grower"s that allocate known
amounts: a sum, a mean, the top members and the others as a band per group, a legend of
groups (never one entry per process), members pinned by a click on their line or in the
legend, and which measure a sum is."""

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

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import BROWSER_DETECTOR, MB, MemlensServer
from memlens.analysis.groups import MEASURE_TEXT, group_leak_text, honest_sum

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

SLEEPERS = 20
GROWERS = 5


def grown_mb(i: int) -> int:
    """What grower i allocates when told to grow: each a different amount."""
    return 8 * (i + 1) + 16


# A grower names itself "grower" (its comm, what --group-by name reads), allocates and
# touches memory on command, or keeps allocating on a thread of its own ("leak").
GROWER = r"""
import ctypes, sys, threading, time
ctypes.CDLL(None).prctl(15, b"grower", 0, 0, 0)
held = []
def alloc(mb):
    buf = bytearray(mb * 1024 * 1024)
    for i in range(0, len(buf), 4096):
        buf[i] = 1
    held.append(buf)
def leak(step, every, most):
    grown = 0
    while grown < most:
        alloc(step)
        grown += step
        time.sleep(every)
print("ready", flush=True)
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "alloc":
        alloc(int(args[0]))
    elif cmd == "leak":
        step, every, most = int(args[0]), float(args[1]), int(args[2])
        threading.Thread(target=leak, args=(step, every, most), daemon=True).start()
    print("ok", flush=True)
"""

# The parent: starts the sleepers and the growers, prints the growers' PIDs, then passes
# commands on: "grow" (grower i allocates grown_mb(i) once), "spurt" (grower i allocates
# grown_mb(GROWERS - 1 - i): the smallest grows most), "leak STEP EVERY MOST".
PARENT = rf"""
import subprocess, sys
GROWER = {GROWER!r}
sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range({SLEEPERS})]
growers = [
    subprocess.Popen([sys.executable, "-u", "-c", GROWER], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)
    for _ in range({GROWERS})
]
for g in growers:
    assert g.stdout.readline().strip() == "ready"
print("ready " + " ".join(str(g.pid) for g in growers), flush=True)
def tell(g, text):
    g.stdin.write(text + "\n")
    g.stdin.flush()
    assert g.stdout.readline().strip() == "ok"
try:
    for line in sys.stdin:
        cmd, *args = line.split()
        for i, g in enumerate(growers):
            if cmd == "grow":
                tell(g, f"alloc {{8 * (i + 1) + 16}}")
            elif cmd == "spurt":
                tell(g, f"alloc {{8 * ({GROWERS} - i) + 16}}")
            else:
                tell(g, "leak " + " ".join(args))
        print("ok", flush=True)
finally:
    for p in sleepers + growers:
        p.kill()
"""


class Family:
    """The parent and its children, for as long as the test runs."""

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
        self.growers = [int(p) for p in first[1:]]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def family() -> Iterator[Family]:
    fam = Family()
    try:
        yield fam
    finally:
        fam.stop()


def keys_by_pid(server: MemlensServer, family: Family) -> dict[int, str]:
    """The process targets by PID, once the watch has found every child."""
    deadline = time.monotonic() + 20
    while True:
        targets = server.get("api/targets").json()["targets"]
        found = {t["pid"]: t["key"] for t in targets if t["kind"] == "process"}
        if len(found) == 1 + SLEEPERS + GROWERS or time.monotonic() > deadline:
            assert set(family.growers) <= set(found)
            return found
        time.sleep(0.2)


def open_page(browser: Any, server: MemlensServer) -> tuple[Any, PageErrors, OutsideRequests]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    page.goto(server.url)
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
    return page, errors, outside


def groups(page: Any) -> dict[str, dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        """() => memlens.grouping.groups.map(g => ({
            label: g.label, keys: g.keys, top: g.top, pinned: g.pinned, others: g.others,
            measure: g.measure }))"""
    )
    return {g["label"]: g for g in found}


def series(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        """() => memlens.grouping.specs.map(s => ({
            kind: s.kind, group: s.group || null, key: s.key || null, pinned: !!s.pinned }))"""
    )
    return found


def wait_for_top(page: Any, group: str, keys: list[str]) -> None:
    page.wait_for_function(
        """([group, keys]) => {
            const g = memlens.grouping.groups.find(g => g.label === group);
            return !!g && JSON.stringify(g.top) === JSON.stringify(keys);
        }""",
        arg=[group, keys],
        timeout=20_000,
    )


def click_line(page: Any, key: str) -> None:
    """A click on the line of member `key`, a few points before its newest."""
    x, y = page.evaluate(
        """key => {
            const u = memlens.chart();
            const si = memlens.grouping.specs.findIndex(s => s.key === key) + 1;
            const ys = u.data[si];
            let i = ys.length - 1;
            while (i > 0 && ys[i] == null) i--;
            i = Math.max(0, i - 3);
            const box = u.over.getBoundingClientRect();
            return [box.left + u.valToPos(u.data[0][i], "x"), box.top + u.valToPos(ys[i], "y")];
        }""",
        key,
    )
    page.mouse.move(x - 20, y)
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_groups_on_the_chart(
    browser: Any, family: Family, tmp_path: Path, artifacts_dir: Path
) -> None:
    family.command("grow")
    server = MemlensServer(
        "watch",
        str(family.pid),
        "--children",
        "--detail",
        "--port",
        "0",
        "--no-record",
        "--interval",
        "0.5",
    )
    page = None
    try:
        by_pid = keys_by_pid(server, family)
        growers = [by_pid[pid] for pid in family.growers]
        largest_first = growers[::-1]  # grower i allocates more than grower i - 1
        page, errors, outside = open_page(browser, server)
        page.wait_for_selector('#chart[data-grouped="true"]', timeout=15_000)

        # Two groups, the parent alone, the tree's total; the growers are the top 5.
        wait_for_top(page, "grower", largest_first)
        found = groups(page)
        assert sorted(found) == ["grower", "sleep"]
        assert len(found["sleep"]["keys"]) == SLEEPERS
        assert len(found["grower"]["keys"]) == GROWERS
        assert len(found["sleep"]["top"]) == 5
        assert len(found["sleep"]["others"]) == SLEEPERS - 5
        kinds = [(s["kind"], s["group"]) for s in series(page)]
        for group in ("sleep", "grower"):
            assert kinds.count(("sum", group)) == 1
            assert kinds.count(("mean", group)) == 1
            assert kinds.count(("member", group)) == 5
        assert ("hi", "sleep") in kinds  # the others' band: its top
        assert ("lo", "sleep") in kinds  # and its bottom
        assert ("hi", "grower") not in kinds  # all five drawn: no others
        assert kinds.count(("single", None)) == 1  # the parent, alone in its group
        assert kinds.count(("total", None)) == 1  # the tree's total

        # The legend lists groups, their top members and "others (n)", not 27 processes.
        legend = page.locator("#group-list")
        assert legend.locator(".gl-group").count() == 2
        assert page.get_attribute('.gl-group[data-group="sleep"]', "data-count") == "20"
        assert legend.locator(".gl-member:visible").count() == 11
        others = page.locator('.gl-group[data-group="sleep"] .gl-others summary')
        assert "others (15)" in others.inner_text()
        assert "RSS min" in others.inner_text()

        # A sum says which measure it is: PSS (--detail reads every process's).
        measure = page.locator("#group-measure")
        assert measure.inner_text() == "sum: PSS"
        assert measure.get_attribute("title") == MEASURE_TEXT["pss"]
        sum_el = page.locator('.gl-group[data-group="grower"] [data-role="group-sum"]')
        assert sum_el.get_attribute("data-measure") == "pss"
        assert "PSS" in sum_el.inner_text()

        # The sum drawn is analysis.groups.honest_sum of the members' values at that row.
        rows, drawn = page.evaluate(
            """keys => {
                const u = memlens.chart(), s = memlens.store;
                const specs = memlens.grouping.specs;
                const si = specs.findIndex(x => x.kind === "sum" && x.group === "grower") + 1;
                const j = u.data[0].length - 1, t = u.data[0][j], i = s.times.indexOf(t);
                return [keys.map(k => [s.cols.get(k)[i], (s.pss.get(k) || [])[i] ?? null, null])
                                .filter(r => r[0] != null), u.data[si][j]];
            }""",
            growers,
        )
        assert len(rows) == GROWERS
        assert drawn == honest_sum([tuple(r) for r in rows]).total
        assert drawn >= sum(grown_mb(i) for i in range(GROWERS)) * MB * 0.9

        # A click on the smallest grower's line pins it; it stays drawn past the top 3.
        smallest = largest_first[-1]
        click_line(page, smallest)
        page.wait_for_selector(f'.gl-member[data-key="{smallest}"][data-pinned="true"]')
        page.wait_for_selector(f'#target-chips .chip[data-pinned][data-key="{smallest}"]')
        page.select_option("#group-top", "3")
        wait_for_top(page, "grower", largest_first[:3])
        found = groups(page)
        assert found["grower"]["pinned"] == [smallest]
        assert found["grower"]["others"] == [largest_first[3]]
        lines = [s["key"] for s in series(page) if s["group"] == "grower" and s["kind"] == "member"]
        assert lines == [*largest_first[:3], smallest]
        assert "others (1)" in page.inner_text('.gl-group[data-group="grower"] .gl-others summary')

        # A process among the others is pinned from the legend's list of them.
        page.click('.gl-group[data-group="sleep"] .gl-others summary')
        other = found["sleep"]["others"][-1]
        page.click(f'.gl-group[data-group="sleep"] .gl-other-list [data-key="{other}"] button')
        page.wait_for_function(
            "key => memlens.grouping.specs.some(s => s.key === key && s.pinned)", arg=other
        )
        assert "others (16)" in page.inner_text('.gl-group[data-group="sleep"] .gl-others summary')

        # Ranked by growth in view instead: after a spurt that grows the smallest most
        # (the growers' RSS now about equal), the top 3 are the first three growers.
        page.click('.gl-group[data-group="sleep"] .gl-others summary')  # closed again
        family.command("spurt")
        page.select_option("#group-by", "growth")
        wait_for_top(page, "grower", growers[:3])
        found = groups(page)
        assert found["grower"]["pinned"] == []  # the pinned one is among the top now
        assert found["grower"]["others"] == growers[3:]
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(artifacts_dir / "groups-chart.png"))
        assert list(errors) == []
        assert outside.seen == []
    except Exception:
        if page is not None:
            page.screenshot(path=str(artifacts_dir / "groups-chart-failed.png"), full_page=True)
        raise
    finally:
        if page is not None:
            page.close()
        server.stop()


def leak_message(key: str, t: float, state: str = "raised") -> dict[str, Any]:
    return {
        "type": "leak",
        "t": t,
        "key": key,
        "state": state,
        "severity": "medium",
        "text": f"LEAK: {key} grows",
        "group": "grower",
    }


def group_message(
    members: list[str], of: int, t: float, state: str = "raised", *, text: bool = True
) -> dict[str, Any]:
    rate = 3 * MB / 60
    msg: dict[str, Any] = {
        "type": "group_leak",
        "t": t,
        "key": None,
        "state": state,
        "group": "grower",
        "count": len(members),
        "of": of,
        "rate_each": rate,
        "members": members,
        "severity": "high",
    }
    if text:
        msg["text"] = group_leak_text("grower", len(members), of, rate)
    return msg


BANNERS = "n => document.querySelectorAll('#alerts .alert-banner').length === n"
GROUP_BANNER = '#alerts .alert-banner[data-alert-type="group_leak"][data-group="grower"]'


def test_a_group_banner_holds_its_members_leaks(
    browser: Any, family: Family, artifacts_dir: Path
) -> None:
    """Messages sent to the page through its real socket, beside the real server's."""
    server = MemlensServer("watch", str(family.pid), "--children", "--port", "0", "--no-record")
    page = None
    routes: list[Any] = []

    def route(ws: Any) -> None:
        ws.connect_to_server()  # the server's messages pass on as they are
        routes.append(ws)

    def send(*messages: dict[str, Any]) -> None:
        for m in messages:
            routes[0].send(json.dumps(m))

    try:
        by_pid = keys_by_pid(server, family)
        growers = [by_pid[pid] for pid in family.growers]
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = PageErrors(page)
        page.route_web_socket(re.compile(r"/ws"), route)
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        page.wait_for_selector('#chart[data-grouped="true"]')
        t = time.time()

        # Three members leak: three banners, until their group's banner holds them.
        send(*(leak_message(k, t) for k in growers[:3]))
        page.wait_for_function(BANNERS, arg=3)
        send(group_message(growers[:3], GROWERS, t + 1, text=False))
        page.wait_for_selector(GROUP_BANNER, state="visible")
        assert page.locator("#alerts .alert-banner:visible").count() == 1
        text = page.inner_text(f"{GROUP_BANNER} .alert-text")
        assert text == group_leak_text("grower", 3, GROWERS, 3 * MB / 60)  # the page's own words
        assert text == "3 of 5 processes of grower leak, about 3.0 MB/min each"
        assert page.get_attribute(GROUP_BANNER, "data-severity") == "high"
        assert page.get_attribute(GROUP_BANNER, "role") == "alert"
        assert page.inner_text(f"{GROUP_BANNER} .alert-tag") == "GROUP LEAK · high"
        page.eval_on_selector(GROUP_BANNER, "el => { el.dataset.seen = 'first'; }")

        # A fourth: the same banner, its counts updated in place.
        send(leak_message(growers[3], t + 2), group_message(growers[:4], GROWERS, t + 2))
        page.wait_for_selector(f'{GROUP_BANNER}[data-count="4"][data-seen="first"]')
        assert page.locator("#alerts .alert-banner:visible").count() == 1
        assert page.inner_text(f"{GROUP_BANNER} .alert-text").startswith("4 of 5 processes")

        # The banner opens on its members; one of them is pinned on the chart from there.
        page.click(f"{GROUP_BANNER} .alert-members summary")
        names = page.locator(f"{GROUP_BANNER} .alert-member-list li")
        assert names.count() == 4
        page.screenshot(path=str(artifacts_dir / "group-banner.png"))
        page.click(f'{GROUP_BANNER} .alert-member-list li[data-key="{growers[0]}"] button')
        page.wait_for_selector(f'.gl-member[data-key="{growers[0]}"][data-pinned="true"]')

        # Cleared: the group's banner goes, and the members' own leaks stand again.
        send(group_message(growers[:4], GROWERS, t + 3, state="cleared"))
        page.wait_for_selector(GROUP_BANNER, state="detached")
        page.wait_for_function(BANNERS, arg=4)
        page.click("#alerts .alerts-more")  # past two, they wait behind "and 2 more alerts"
        for k in growers[:4]:
            assert page.locator(f'#alerts .alert-banner[data-alert-key="{k}"]').is_visible()
        assert list(errors) == []
    except Exception:
        if page is not None:
            page.screenshot(path=str(artifacts_dir / "group-banner-failed.png"), full_page=True)
        raise
    finally:
        if page is not None:
            page.close()
        server.stop()


def test_a_leaking_group_has_one_banner(
    browser: Any, family: Family, tmp_path: Path, artifacts_dir: Path
) -> None:
    """The real alert engine over real leaking children: one banner for their group."""
    config = tmp_path / "memlens.toml"
    config.write_text(BROWSER_DETECTOR)
    server = MemlensServer(
        "watch",
        str(family.pid),
        "--children",
        "--port",
        "0",
        "--no-record",
        "--interval",
        "0.2",
        "--config",
        str(config),
    )
    page = None
    try:
        by_pid = keys_by_pid(server, family)
        growers = [by_pid[pid] for pid in family.growers]
        page, errors, outside = open_page(browser, server)
        page.wait_for_selector('#chart[data-grouped="true"]')
        family.command("leak 1 0.25 100")  # 4 MB/s each, for 25 s

        page.wait_for_selector(GROUP_BANNER, state="visible", timeout=60_000)
        text = page.inner_text(f"{GROUP_BANNER} .alert-text")
        assert re.fullmatch(r"[2-5] of 5 processes of grower leak, about .+/min each", text), text
        count = int(text[0])
        assert page.get_attribute(GROUP_BANNER, "data-count") == str(count)
        # One banner: the members' own leak alerts came, and are folded into it. (The
        # tree's total, no member of a group, may have a leak banner of its own.)
        raised = page.evaluate(
            """keys => keys.filter(k => {
                const e = memlens.alerts.latest.get("leak|" + k);
                return !!e && e.msg.state !== "cleared";
            })""",
            growers,
        )
        assert len(raised) >= 2
        assert page.locator(f"{GROUP_BANNER}:visible").count() == 1
        for key in growers:
            assert page.locator(f'#alerts .alert-banner[data-alert-key="{key}"]').count() == 0
        page.click(f"{GROUP_BANNER} .alert-members summary")
        listed = page.eval_on_selector_all(
            f"{GROUP_BANNER} .alert-member-list li", "els => els.map(el => el.dataset.key)"
        )
        assert len(listed) >= 2
        assert set(listed) <= set(growers)
        page.screenshot(path=str(artifacts_dir / "group-leak.png"))
        assert list(errors) == []
        assert outside.seen == []
    except Exception:
        if page is not None:
            page.screenshot(path=str(artifacts_dir / "group-leak-failed.png"), full_page=True)
        raise
    finally:
        if page is not None:
            page.close()
        server.stop()


def test_the_chart_groups_as_the_server_does(browser: Any, family: Family) -> None:
    """`--group-by parent`: the page's groups are the server's, not the names."""
    server = MemlensServer(
        "watch",
        str(family.pid),
        "--children",
        "--group-by",
        "parent",
        "--port",
        "0",
        "--no-record",
    )
    page = None
    try:
        keys_by_pid(server, family)
        targets = server.get("api/targets").json()["targets"]
        label = next(t["group"] for t in targets if t["pid"] == family.growers[0])
        assert label.startswith("children of ")
        assert f"[{family.pid}]" in label
        children = sorted(t["key"] for t in targets if t["group"] == label)
        assert len(children) == SLEEPERS + GROWERS
        page, errors, _ = open_page(browser, server)
        page.wait_for_function(
            "n => memlens.grouping.groups.length === 1"
            " && memlens.grouping.groups[0].keys.length === n",
            arg=len(children),
        )
        found = groups(page)
        assert list(found) == [label]
        assert sorted(found[label]["keys"]) == children
        assert page.inner_text("#group-by-server") == "groups by parent"
        assert page.get_attribute(f'.gl-group[data-group="{label}"]', "data-count") == "25"
        assert list(errors) == []
    finally:
        if page is not None:
            page.close()
        server.stop()


def test_overlapping_leak_windows_shade_the_chart_once(
    browser: Any, family: Family, artifacts_dir: Path
) -> None:
    """Five members of one group leak over windows that overlap: one shaded span, not five
    stacked into a dark block; a window apart from them is a span of its own."""
    server = MemlensServer("watch", str(family.pid), "--children", "--port", "0", "--no-record")
    page = None
    routes: list[Any] = []

    def route(ws: Any) -> None:
        ws.connect_to_server()
        routes.append(ws)

    def send(*messages: dict[str, Any]) -> None:
        for m in messages:
            routes[0].send(json.dumps(m))

    def windowed(key: str, lo: float, hi: float) -> dict[str, Any]:
        msg = leak_message(key, hi)
        msg["finding"] = {"onset": lo, "severity": "medium"}
        return msg

    try:
        by_pid = keys_by_pid(server, family)
        growers = [by_pid[pid] for pid in family.growers]
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = PageErrors(page)
        page.route_web_socket(re.compile(r"/ws"), route)
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        page.wait_for_selector('#chart[data-grouped="true"]')
        page.wait_for_function("() => memlens.store.times.length >= 4", timeout=20_000)
        t0, t1 = page.evaluate("() => [memlens.store.times[0], memlens.store.times.at(-1)]")
        step = (t1 - t0) / 20

        # one member's early window, alone; then all five over windows that overlap
        send(windowed(growers[0], t0 + step, t0 + 3 * step))
        page.wait_for_function("() => document.getElementById('chart').dataset.leakShades === '1'")
        send(
            *(windowed(k, t0 + (8 + i) * step, t0 + (14 + i) * step) for i, k in enumerate(growers))
        )
        page.wait_for_function(
            "() => document.getElementById('chart').dataset.markersVisible === '6'"
        )
        page.wait_for_function("() => document.getElementById('chart').dataset.leakShades === '2'")
        page.screenshot(path=str(artifacts_dir / "leak-shades.png"))
        assert list(errors) == []
    finally:
        if page is not None:
            page.close()
        server.stop()
