"""Real Chromium opens a tracker's HTML export from disk: both charts draw, the figures and
hotspots are the tracker's, markup in a tracked name stays text, and the page asks for
nothing outside itself."""

from __future__ import annotations

import gc
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import memlens
from browser import MISSING, chromium_missing
from memlens.units import human_bytes

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

INJECTION = "</script><script>alert(1)</script>"


class Blob:
    def __init__(self, nbytes: int) -> None:
        self.data = bytearray(nbytes)


class Page:
    """A page on a fresh context that records what must not happen: a request to anything
    but file: or data:, a script error, a console error, a dialog."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri())

    def _route(self, route: Any) -> None:
        if urlsplit(route.request.url).scheme in ("file", "data"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[memlens.AnalysisReport, Path]:
    tracker = memlens.Tracker().with_system_monitoring(interval=0.05)
    deadline = time.monotonic() + 10
    while len(tracker.analyze().system_snapshots) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    kept = []
    for n in range(200):
        blob = Blob(10_000 + 100 * n)
        tracker.track(blob)
        if n % 2:
            kept.append(blob)
    named = {INJECTION: Blob(5_000_000)}
    tracker.track(named["</script><script>alert(1)</script>"])  # the name as written
    del blob
    gc.collect()
    tracker.close()
    report = tracker.analyze()
    path = tracker.export(tmp_path_factory.mktemp("tracker-page") / "tracker.html")
    return report, path


def test_the_tracker_page_draws_its_charts_and_shows_the_figures(
    browser: Any, exported: tuple[memlens.AnalysisReport, Path], artifacts_dir: Path
) -> None:
    report, path = exported
    text = path.read_text()
    assert not re.search(r"[a-z]+://", text, re.IGNORECASE)  # no URL at all
    view = Page(browser, path)
    page = view.page
    try:
        page.wait_for_function("document.body.dataset.charts === '2'", timeout=15_000)
        for chart in ("memory-chart", "system-chart"):
            assert page.get_attribute(f"#{chart}", "data-ready") == "1"
            assert page.locator(f"#{chart} canvas").count() >= 1
        points = int(page.get_attribute("#memory-chart", "data-points") or 0)
        assert points == report.total_allocations + report.total_deallocations

        def card(key: str) -> str:
            return page.locator(f'#figures [data-stat="{key}"]').get_attribute("data-value") or ""

        assert int(card("total_allocations")) == report.total_allocations == 201
        assert int(card("total_deallocations")) == report.total_deallocations == 100
        assert int(card("current_memory_bytes")) == report.current_memory_bytes
        peak = page.locator('#figures [data-stat="peak_memory_bytes"] b').text_content()
        assert peak == human_bytes(report.peak_memory_bytes)

        # The largest hotspot is the one named with markup: shown as text, nothing ran.
        first = page.locator("#hotspots tbody tr").first
        assert first.locator("td").first.text_content() == f"named[{INJECTION!r}]"
        assert page.locator("#hotspots tbody tr").nth(1).locator("td").first.text_content() == (
            "blob"
        )
        count = page.locator("#hotspots tbody tr").nth(1).locator('[data-stat="count"]')
        assert count.text_content() == "200"
        assert page.locator("#threads tbody tr").count() == 1
        assert page.locator("#events tbody tr").count() == 200  # the latest 200 of 301

        data = json.loads(page.locator("#memlens-data").text_content() or "{}")
        assert data["system"]["lines"][0]["label"] == "memory used"
        page.screenshot(path=str(artifacts_dir / "tracker-html.png"), full_page=True)
        assert view.outside == []
        assert view.errors == []
        assert view.dialogs == []
    finally:
        view.context.close()
