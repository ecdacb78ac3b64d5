"""Real Chromium shows the system strip: the machine's figures of a real `memlens watch`
as the server sent them, a recording's through `memlens serve` (GPUs included), and no
strip at all when the server reads no system figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MB, Allocator, MemlensServer
from memlens.model import GpuReading, Reading, SystemReading, Target, Tick
from memlens.store import Store

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

TILES = (
    "cpu_percent",
    "mem_percent",
    "swap_used",
    "disk_read_bps",
    "disk_write_bps",
    "net_rx_bps",
    "net_tx_bps",
)


class SentSystem:
    """Every memory percentage the server sent the page, from the frames themselves."""

    def __init__(self, page: Any) -> None:
        self.mem_percent: list[float] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        if not isinstance(payload, str):
            return
        message = json.loads(payload)
        if message.get("type") == "tick" and message.get("system"):
            self.mem_percent.append(message["system"]["mem_percent"])
        elif message.get("type") == "backfill" and message.get("system"):
            self.mem_percent.extend(message["system"]["mem_percent"])


def tile(page: Any, metric: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """metric => {
            const el = document.querySelector(`#system-strip [data-metric="${metric}"]`);
            if (!el) return null;
            return {
                value: el.dataset.value === undefined ? null : Number(el.dataset.value),
                text: el.querySelector('[data-role="value"]').textContent,
                sub: el.querySelector('[data-role="sub"]').textContent,
                label: el.querySelector('[data-role="label"]').textContent,
                points: Number(el.dataset.points),
                used: Number(el.dataset.used),
                total: Number(el.dataset.total),
            };
        }""",
        metric,
    )
    return result


def percent_of(text: str) -> float:
    assert text.endswith(" %"), text
    return float(text[:-2])


def test_the_strip_shows_what_a_live_watch_sent(
    browser: Any, allocator: Allocator, artifacts_dir: Path
) -> None:
    server = MemlensServer("watch", str(allocator.pid), "--port", "0", "--interval", "0.2")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    sent = SentSystem(page)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        page.wait_for_selector(
            "#system-strip:not([hidden]) [data-metric=mem_percent][data-value]", timeout=15_000
        )
        # at least two readings, so the rates are known and the sparklines have a line
        page.wait_for_function(
            "() => Number(document.querySelector('#system-strip').dataset.points) >= 2",
            timeout=15_000,
        )
        memory = tile(page, "mem_percent")
        assert abs(percent_of(memory["text"]) - memory["value"]) <= 0.05 + 1e-9
        assert any(abs(memory["value"] - v) < 1e-9 for v in sent.mem_percent)
        assert 0 < memory["value"] <= 100
        assert memory["used"] <= memory["total"]
        assert memory["sub"].endswith(" used")
        for metric in TILES:
            shown = tile(page, metric)
            assert shown is not None, metric
            assert shown["text"], metric
            assert shown["points"] >= 1, metric
        cpu = tile(page, "cpu_percent")
        assert 0 <= percent_of(cpu["text"]) <= 100
        assert tile(page, "net_rx_bps")["text"].endswith("/s")
        # at the top of the page, above the chart
        strip_y = page.eval_on_selector("#system-strip", "el => el.getBoundingClientRect().top")
        chart_y = page.eval_on_selector("#chart", "el => el.getBoundingClientRect().top")
        assert strip_y < chart_y
        page.screenshot(path=str(artifacts_dir / "system-strip.png"))
    finally:
        page.close()
        server.stop()
    assert outside.seen == []
    assert errors == []


def test_no_system_leaves_no_strip(browser: Any, allocator: Allocator) -> None:
    args = ("watch", str(allocator.pid), "--port", "0", "--interval", "0.1", "--no-system")
    server = MemlensServer(*args)
    page = browser.new_page()
    errors = PageErrors(page)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        page.wait_for_function("() => Number(document.body.dataset.ticks) >= 5", timeout=15_000)
        assert page.is_hidden("#system-strip")
        assert page.is_visible(".target-card")
    finally:
        page.close()
        server.stop()
    assert errors == []


def write_recording(path: Path) -> None:
    """Ten seconds of one process and of a 16 GB machine with one GPU, known values."""
    total, t0 = 16 * 1024 * MB, 1_700_000_000.0
    store = Store.open(path)
    rid = store.begin_recording(name="box", command=None, interval=1.0, host="h", started=t0)
    proc = Target("1-1", "process", 1, t0, "app", "app")
    for i in range(10):
        percent = 50.0 + i * 1.3  # 61.7 at the end
        used = int(total * percent / 100)
        gpu = GpuReading(0, "H100", "GPU-1", 80 * 1024 * MB, (10 + i) * 1024 * MB, None,
                         45.0 + i, None, ())  # fmt: skip
        reading = SystemReading(
            t0 + i, 12.5, total, used, total - used, percent, 0, 0, 1024.0, 0.0, 5e6, 2e3, (gpu,)
        )
        tick = Tick(i + 1, t0 + i, {proc.key: Reading((100 + i) * MB, MB, 0, 0, 1, 3, 0.0)})
        if i == 0:
            tick = dataclasses.replace(tick, new_targets=(proc,))
        store.add_tick(rid, dataclasses.replace(tick, system=reading))
    store.end_recording(rid, ended=t0 + 10)
    store.close()


def test_a_served_recording_shows_its_machine_and_gpu(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "box.db"
    write_recording(path)
    server = MemlensServer("serve", str(path), "--port", "0")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        page.wait_for_selector("#system-strip:not([hidden]) [data-metric=gpu]", timeout=15_000)
        memory = tile(page, "mem_percent")
        assert memory["text"] == "61.7 %"
        assert memory["value"] == pytest.approx(61.7)
        assert memory["total"] == 16 * 1024 * MB
        assert memory["sub"].endswith("of 16.0 GB used")
        # a point per reading in the chart's view, which is the whole recording (give or
        # take its first sample)
        in_view = int(page.get_attribute("#system-strip", "data-points") or 0)
        assert memory["points"] == in_view >= 9
        assert tile(page, "cpu_percent")["text"] == "12.5 %"
        assert tile(page, "swap_used")["text"] == "none"
        assert tile(page, "net_rx_bps")["text"] == "4.8 MB/s"
        gpu = tile(page, "gpu")
        assert gpu["label"] == "GPU 0 · H100"
        assert gpu["text"] == "54.0 %"
        assert gpu["sub"] == "memory 19.0 GB of 80.0 GB"
        assert gpu["points"] == in_view
        assert "last reading" in page.text_content("#system-strip h2")
    finally:
        page.close()
        server.stop()
    assert outside.seen == []
    assert errors == []
