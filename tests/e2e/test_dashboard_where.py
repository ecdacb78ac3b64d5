"""Real Chromium shows where a real child's memory lives: the "where" panel of a real
`memlens watch`, its stacked categories as the server sent them, the mapping that grew
most after the child allocated, and a hostile file name shown as text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MB, MemlensServer
from memlens.model import MAP_CATEGORIES

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

HOSTILE = "<img src=x onerror=window.__pwned=1>\x1b[31m.bin"

# Maps a 4 MB file with a hostile name (read: resident), gives glibc's malloc arenas of
# its own to two threads, then allocates on command.
CHILD = r"""
import ctypes, mmap, sys, threading
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
def small_blocks():
    for _ in range(4000):
        libc.malloc(1000)
for t in [threading.Thread(target=small_blocks) for _ in range(2)]:
    t.start(); t.join()
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
total = sum(m[i] for i in range(0, len(m), 4096))
held = []
print("ready", flush=True)
for line in sys.stdin:
    buf = mmap.mmap(-1, int(line) << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for i in range(0, len(buf), 4096):
        buf[i] = 1
    held.append(buf)
    print("ok", flush=True)
"""


class SentMaps:
    """Every maps reading the server sent the page, from the frames themselves."""

    def __init__(self, page: Any) -> None:
        self.readings: list[dict[str, Any]] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        if not isinstance(payload, str):
            return
        message = json.loads(payload)
        if message.get("type") == "maps":
            self.readings.append(message)
        elif message.get("type") == "backfill":
            self.readings.extend(message.get("maps", []))


def readings(page: Any) -> int:
    return int(page.eval_on_selector("#where-panel", "el => Number(el.dataset.readings)"))


def test_where_panel_shows_categories_and_what_grew(
    browser: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    data = tmp_path / HOSTILE
    data.write_bytes(b"\1" * (4 * MB))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    server = MemlensServer(
        "watch", str(child.pid), "--port", "0", "--interval", "0.2",
        "--maps-interval", "0.3", "--no-record",
    )  # fmt: skip
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    sent = SentMaps(page)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        page.wait_for_selector("#where-panel:not([hidden])", timeout=15_000)
        page.wait_for_function(
            "() => Number(document.querySelector('#where-panel').dataset.readings) >= 2",
            timeout=15_000,
        )
        child.stdin.write("30\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "ok"
        before = readings(page)
        page.wait_for_function(
            "n => Number(document.querySelector('#where-panel').dataset.readings) >= n + 2",
            arg=before,
            timeout=15_000,
        )
        shown = page.evaluate(
            """() => ({
                polygons: [...document.querySelectorAll('#where-chart polygon')].map(
                    p => [p.dataset.category, Number(p.dataset.rss)]),
                legend: [...document.querySelectorAll('#where-legend li')].map(
                    li => [li.dataset.category, Number(li.dataset.rss)]),
                rows: [...document.querySelectorAll('#where-grew tbody tr')].map(tr => ({
                    label: tr.dataset.label, category: tr.dataset.category,
                    growth: Number(tr.dataset.growth), text: tr.cells[0].textContent})),
                reading: document.querySelector('[data-role="where-reading"]').textContent,
                images: document.querySelectorAll('#where-panel img').length,
                pwned: window.__pwned === 1,
            })"""
        )
        # The chart's categories are those of the newest reading the server sent.
        newest = max(sent.readings, key=lambda m: m["t"])
        expected = [[c, newest["categories"][c]["rss"]] for c in MAP_CATEGORIES]
        assert shown["polygons"] == expected
        assert shown["legend"] == expected
        assert newest["categories"]["anon"]["rss"] >= 30 * MB
        # Since the first reading, the 30 MB mapping grew most: a new anonymous one.
        first = shown["rows"][0]
        assert (first["label"], first["category"]) == ("[anon]", "anon")
        assert first["growth"] >= 30 * MB
        assert shown["reading"]
        # The runtimes the mappings show plainly are named: glibc's arenas here.
        assert "glibc malloc" in [r["name"] for r in newest["runtimes"]]
        for runtime in newest["runtimes"]:
            assert f"{runtime['name']}: " in shown["reading"]
        # The hostile name is text: no element made of it, no script run.
        assert shown["images"] == 0
        assert shown["pwned"] is False
        labels = {m["label"] for r in sent.readings for m in r["top"]}
        assert str(data) in labels
        # A moment clicked near the end: the growth counts from there (nothing grew since).
        box = page.eval_on_selector("#where-chart", "el => el.getBoundingClientRect().toJSON()")
        page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
        page.wait_for_function(
            "() => document.querySelector('#where-since').value === 'clicked' && "
            "document.querySelector('#where-chart line.where-moment') !== null",
            timeout=5_000,
        )
        page.screenshot(path=str(artifacts_dir / "where-panel.png"))
    finally:
        page.close()
        server.stop()
        child.kill()
        child.wait(10)
        child.stdin.close()
        child.stdout.close()
    assert outside.seen == []
    assert errors == []


BIG = "import sys; b = bytearray(80 << 20); b[::4096] = b'\\1' * (len(b) // 4096); "
BIG += "print('ready', flush=True); sys.stdin.read()"


def test_where_panel_follows_the_largest_target_until_one_is_chosen(browser: Any) -> None:
    small = subprocess.Popen(["sleep", "600"])
    big = subprocess.Popen(
        [sys.executable, "-c", BIG], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert big.stdout is not None
    assert big.stdout.readline().strip() == "ready"
    server = MemlensServer(
        "watch", str(small.pid), str(big.pid), "--port", "0", "--interval", "0.2",
        "--maps-interval", "0.3", "--no-record",
    )  # fmt: skip
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors = PageErrors(page)
    try:
        page.goto(server.url)
        page.wait_for_function(
            "() => document.querySelectorAll('#where-target option').length === 2",
            timeout=20_000,
        )
        # The small `sleep` was named first, yet the panel shows the 80 MB process.
        page.wait_for_function(  # a target's key is "PID-start ticks"
            f"() => document.querySelector('#where-panel').dataset.key.startsWith('{big.pid}-')",
            timeout=10_000,
        )
        key = page.eval_on_selector("#where-panel", "el => el.dataset.key")
        other = page.eval_on_selector_all("#where-target option", "os => os.map(o => o.value)")
        chosen = next(k for k in other if k != key)
        page.select_option("#where-target", chosen)
        page.wait_for_function(
            "k => document.querySelector('#where-panel').dataset.key === k",
            arg=chosen,
            timeout=5_000,
        )
        readings_then = readings(page)
        page.wait_for_function(
            "n => Number(document.querySelector('#where-panel').dataset.readings) !== n",
            arg=readings_then,
            timeout=10_000,
        )
        # The user's choice stands as new readings come: the panel no longer follows size.
        assert page.eval_on_selector("#where-panel", "el => el.dataset.key") == chosen
    finally:
        page.close()
        server.stop()
        for p in (small, big):
            p.kill()
            p.wait(10)
        assert big.stdin is not None
        big.stdin.close()
        big.stdout.close()
    assert errors == []
