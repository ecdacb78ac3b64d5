"""Real Chromium shows the Python panel of a real `memlens watch` of a real Python child
running the agent: the traced heap against RSS, the switch that turns tracing on and off,
gc activity and pauses, and the allocation site that leaks; a process without an agent
gets no panel."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import Allocator, MemlensServer, python_child

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

CHILD = r"""
import time
import memlens.agent
memlens.agent.start()
HELD = []

def leak():
    HELD.append(bytearray(20_000))  # the line that leaks

print("ready", flush=True)
while True:
    leak()
    time.sleep(0.02)
"""
LEAK_LINE = (
    CHILD.splitlines().index("    HELD.append(bytearray(20_000))  # the line that leaks") + 1
)
PANEL = "#python-panel"


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    with python_child(CHILD) as proc:
        yield proc


def open_dashboard(browser: Any, server: MemlensServer) -> tuple[Any, PageErrors, OutsideRequests]:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    page.goto(server.url)
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
    return page, errors, outside


def test_the_python_panel_traces_the_heap_and_finds_the_leaking_line(
    browser: Any, child: subprocess.Popen[str], artifacts_dir: Path
) -> None:
    server = MemlensServer(
        "watch", str(child.pid), "--port", "0", "--interval", "0.2", "--no-record"
    )
    try:
        page, errors, outside = open_dashboard(browser, server)
        page.wait_for_selector(f"{PANEL}[data-key]", state="visible", timeout=20_000)
        key: str = page.eval_on_selector(PANEL, "el => el.dataset.key")
        assert key.startswith(f"{child.pid}-")
        assert page.eval_on_selector(".target-card", "el => el.dataset.key") == key

        # not traced yet: a note, no gap, the switch offers to trace
        assert page.eval_on_selector(PANEL, "el => el.dataset.tracing") == "false"
        assert page.is_visible('[data-role="trace-note"]')
        assert page.get_attribute('[data-role="heap-gap"]', "data-bytes") is None
        toggle = page.locator('[data-role="trace-toggle"]')
        assert toggle.text_content() == "Trace Python allocations"
        assert page.is_visible('[data-role="top-empty"]')
        page.wait_for_function(
            "() => /^[0-9,]+/.test(document.querySelector('[data-role=py-blocks]').textContent)",
            timeout=15_000,
        )

        page.select_option('[data-role="frames"]', "10")
        toggle.click()
        page.wait_for_selector(f'{PANEL}[data-tracing="true"]', timeout=15_000)
        assert toggle.text_content() == "Stop tracing"
        page.wait_for_function(
            "() => Number(document.querySelector('#python-panel').dataset.heapPoints) >= 3",
            timeout=15_000,
        )
        page.wait_for_selector('[data-role="heap-gap"][data-bytes]', timeout=15_000)
        gap = int(page.get_attribute('[data-role="heap-gap"]', "data-bytes") or "0")
        assert gap > 0  # RSS holds more than the traced heap: the interpreter itself, at least
        value = page.text_content('[data-role="heap-gap-value"]') or ""
        assert value.endswith(("KB", "MB", "GB"))
        assert not page.is_visible('[data-role="trace-note"]')
        assert "10 frames" in (page.text_content('[data-role="py-info"]') or "")

        # the server looks at the top sites every 10 s while tracing
        first_row = "#python-top tbody tr:first-child"
        page.wait_for_function(
            """line => {
                const row = document.querySelector('#python-top tbody tr');
                return row && row.dataset.file === '<string>' && row.dataset.line === String(line);
            }""",
            arg=LEAK_LINE,
            timeout=35_000,
        )
        row = page.eval_on_selector(
            first_row,
            """tr => ({
                site: tr.cells[0].textContent, title: tr.cells[0].title,
                growth: tr.cells[2].textContent, sign: tr.cells[2].dataset.sign,
                stacks: tr.dataset.stacks, opener: tr.querySelector('.py-tb-toggle') !== null,
            })""",
        )
        # traced with 10 frames: the site comes with its traceback, behind a button
        assert row["stacks"] == "traceback"
        assert row["opener"]
        assert row["site"] == f"\u25b8<string>:{LEAK_LINE}"
        assert row["title"] == f"<string>:{LEAK_LINE}"
        assert row["growth"].startswith("+")
        assert row["sign"] == "up"
        assert not page.is_visible('[data-role="top-empty"]')

        # gc: pauses asked every 5 s, collections and objects from the samples
        page.wait_for_selector('[data-role="gc-pauses"][data-count]', timeout=20_000)
        count = page.get_attribute('[data-role="gc-pauses"]', "data-count")
        assert count is not None
        assert count.isdigit()
        assert "gc pauses since" in (page.text_content('[data-role="gc-pauses-summary"]') or "")
        assert (page.text_content('[data-role="gc-uncollectable"]') or "").strip() != "–"
        # the heap is drawn on the RSS chart's time axis, their cursors move together
        same_axis = page.evaluate(
            """() => {
                const main = memlens.chart(), heap = memlens.python.heapChart;
                return main.scales.x.min === heap.scales.x.min
                    && main.scales.x.max === heap.scales.x.max
                    && uPlot.sync('memlens-time').plots.includes(heap);
            }"""
        )
        assert same_axis
        page.screenshot(path=str(artifacts_dir / "dashboard-python.png"), full_page=True)

        toggle.click()
        page.wait_for_selector(f'{PANEL}[data-tracing="false"]', timeout=15_000)
        page.wait_for_selector('[data-role="trace-toggle"]:not([disabled])', timeout=15_000)
        assert toggle.text_content() == "Trace Python allocations"
        assert page.is_visible('[data-role="trace-note"]')
        assert "not traced" in (page.text_content('[data-role="py-info"]') or "")
        assert not page.is_visible('[data-role="trace-error"]')
        # stays off: the samples agree once the switch's answer no longer holds
        page.wait_for_function(
            "() => !document.querySelector('[data-role=heap-gap]').hasAttribute('data-bytes')",
            timeout=15_000,
        )
        assert page.eval_on_selector(PANEL, "el => el.dataset.tracing") == "false"
        page.close()
        assert errors == []
        assert outside.seen == []
    finally:
        assert server.stop() == 0


def test_a_process_without_the_agent_gets_no_python_panel(
    browser: Any, allocator: Allocator
) -> None:
    server = MemlensServer(
        "watch", str(allocator.pid), "--port", "0", "--interval", "0.2", "--no-record"
    )
    try:
        page, errors, outside = open_dashboard(browser, server)
        page.wait_for_function(
            "() => Number(document.querySelector('.target-card')?.dataset.points) >= 3",
            timeout=15_000,
        )
        assert page.is_hidden(PANEL)
        assert page.get_attribute(PANEL, "data-key") is None
        page.close()
        assert errors == []
        assert outside.seen == []
    finally:
        assert server.stop() == 0
