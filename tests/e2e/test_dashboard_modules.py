"""Real Chromium loads the dashboard's ES modules from a real `memlens watch`: a module
that does not arrive leaves a page that says so, not a blank one; and format.js formats
the same as the module the dashboard imports and as the classic script the
self-contained pages inline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import memlens
from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import Allocator, MemlensServer
from memlens.formats.page import format_script

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

VALUES = "[null, NaN, 0, 1, 1023, 1024, 1536, 1048575, 1048576, -5242880, 3.5 * 1024 ** 5]"
CALLS = """(f) => ({
    bytes: VALUES.map(v => f.fmtBytes(v)),
    axis: f.fmtBytesAxis(null, [0, 512 * 1024, 1024 * 1024], 1, 0, 512 * 1024),
    incrs: f.BYTE_INCRS.length,
    durations: [0, 59, 61, 3599, 3601, 90000].map(s => f.fmtDuration(s)),
    thousands: f.fmtThousands(1234567),
    signed: [f.fmtSignedBytes(-2048), f.fmtSignedCount(0), f.fmtMs(0.0123)],
})"""


def run_calls(page: Any, handle: str) -> dict[str, Any]:
    """The same calls on the module's exports or on the classic script's globals."""
    script = f"async () => {{ const VALUES = {VALUES}; const f = {handle}; return ({CALLS})(f); }}"
    result: dict[str, Any] = page.evaluate(script)
    return result


def test_the_classic_format_script_formats_as_the_dashboards_module(
    browser: Any, allocator: Allocator
) -> None:
    server = MemlensServer("watch", str(allocator.pid), "--port", "0", "--no-record")
    page = browser.new_page()
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        module = run_calls(page, "await import('./static/js/format.js')")
    finally:
        page.close()
        server.stop()
    assert outside.seen == []
    assert errors == []

    classic_page = browser.new_page()
    classic_errors = PageErrors(classic_page)
    try:
        classic_page.set_content(f"<!DOCTYPE html><script>{format_script()}</script>")
        classic = run_calls(classic_page, "window")
    finally:
        classic_page.close()
    assert classic_errors == []
    assert classic == module
    assert module["bytes"][:7] == ["\u2013", "\u2013", "0 B", "1 B", "1023 B", "1.0 KB", "1.5 KB"]
    assert module["axis"] == ["0", "0.5 MB", "1.0 MB"]
    assert module["thousands"] == "1,234,567"


def test_a_module_that_does_not_load_leaves_a_page_that_says_so(
    browser: Any, allocator: Allocator
) -> None:
    server = MemlensServer("watch", str(allocator.pid), "--port", "0", "--no-record")
    page = browser.new_page()
    try:
        # the network drops one module deep in the graph
        page.route("**/static/js/markers.js", lambda route: route.abort())
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="failed"]', timeout=15_000)
        assert page.get_attribute("body", "data-load-failed") == "true"
        assert "did not load" in (page.text_content("#conn-text") or "")
        assert page.is_visible("#conn-state")
    finally:
        page.close()
        server.stop()


def test_the_tracker_page_carries_format_js_as_its_classic_script(tmp_path: Path) -> None:
    tracker = memlens.Tracker()
    held = [bytearray(1000) for _ in range(3)]
    for blob in held:
        tracker.track(blob)
    tracker.close()
    text = tracker.export(tmp_path / "tracker.html").read_text()
    assert format_script() in text
    assert not re.search(r"^\s*(export|import)\b", text, re.MULTILINE)
