"""Real Chromium shows the leak and threshold alerts of a real `memlens watch` of a child
whose memory grows steadily: banners, card badges and markers on the chart, in a tab open
all along and in one opened afterwards (from the backfill)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import BROWSER_DETECTOR, MB, Allocator, MemlensServer

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

SEVERITIES = ("low", "medium", "high", "critical")
STEP_MB = 2  # every STEP_EVERY seconds: a leak of about 10 MB/s
STEP_EVERY = 0.2
MOST_MB = 500  # growth stops here, whatever happens


class Grower:
    """Makes the child allocate STEP_MB every STEP_EVERY seconds, on a thread of its own."""

    def __init__(self, child: Allocator) -> None:
        self.child = child
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        grown = 0
        while grown < MOST_MB and not self.done.wait(STEP_EVERY):
            self.child.alloc(STEP_MB)
            grown += STEP_MB

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=10)


def banner(kind: str, key: str, extra: str = "") -> str:
    return f'#alerts .alert-banner[data-alert-type="{kind}"][data-alert-key="{key}"]{extra}'


def read_banner(page: Any, selector: str) -> dict[str, Any]:
    result: dict[str, Any] = page.eval_on_selector(
        selector,
        """el => ({
            severity: el.dataset.severity || null,
            state: el.dataset.state,
            role: el.getAttribute('role'),
            tag: el.querySelector('.alert-tag').textContent,
            text: el.querySelector('.alert-text').textContent,
            live: el.closest('[aria-live]') !== null || el.getAttribute('role') === 'alert',
        })""",
    )
    return result


def markers(page: Any) -> tuple[int, int]:
    held, shown = page.eval_on_selector(
        "#chart", "el => [Number(el.dataset.markers), Number(el.dataset.markersVisible)]"
    )
    return int(held), int(shown)


def wait_for_markers(page: Any, at_least: int) -> None:
    page.wait_for_function(
        "n => Number(document.querySelector('#chart').dataset.markers) >= n"
        " && Number(document.querySelector('#chart').dataset.markersVisible) >= 1",
        arg=at_least,
        timeout=15_000,
    )


def open_dashboard(browser: Any, server: MemlensServer) -> tuple[Any, PageErrors, OutsideRequests]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    page.goto(server.url)
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
    return page, errors, outside


def test_leak_and_threshold_alerts_on_the_dashboard(
    browser: Any, allocator: Allocator, tmp_path: Path, artifacts_dir: Path
) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text(
        f'[thresholds]\nmax_rss = "{allocator.vmrss() + 16 * MB}"\n{BROWSER_DETECTOR}'
    )
    server = MemlensServer(
        "watch", str(allocator.pid), "--port", "0", "--interval", "0.2", "--config", str(config)
    )
    pages: list[tuple[Any, PageErrors, OutsideRequests]] = []
    grower = None
    try:
        pages.append(open_dashboard(browser, server))
        first = pages[0][0]
        first.wait_for_selector(".target-card[data-key]", timeout=15_000)
        key: str = first.eval_on_selector(".target-card", "el => el.dataset.key")
        assert key.startswith(f"{allocator.pid}-")
        card = f'.target-card[data-key="{key}"]'
        grower = Grower(allocator)

        # RSS passes max_rss: a banner and a badge until it is back below.
        above = banner("threshold", key, '[data-metric="rss"][data-state="above"]')
        first.wait_for_selector(above, state="visible", timeout=20_000)
        limit = read_banner(first, above)
        assert limit["role"] == "alert"
        assert "RSS" in limit["text"]
        assert "above the limit" in limit["text"]
        first.wait_for_selector(f'{card} [data-role="threshold"][data-metric="rss"]')
        wait_for_markers(first, 1)

        # The growth is judged a leak: a banner coloured by its severity, with the text.
        leak = banner("leak", key, '[data-state="raised"]')
        first.wait_for_selector(leak, state="visible", timeout=45_000)
        found = read_banner(first, leak)
        assert found["severity"] in SEVERITIES
        assert found["role"] == "alert"
        assert found["live"]
        assert found["tag"] == f"LEAK · {found['severity']}"
        assert "LEAK" in found["text"]
        assert f"(PID {allocator.pid})" in found["text"]
        badge = first.text_content(f'{card}[data-leak] [data-role="leak"][data-severity]')
        assert badge is not None
        assert badge.startswith("LEAK · ")
        wait_for_markers(first, 2)  # the limit crossed, the leak raised

        # Markers are the page's, not the window's: every window keeps them.
        held = markers(first)[0]
        for window in ("60", "3600", "all", "600"):
            first.click(f'button[data-window="{window}"]')
            first.wait_for_selector(f'button[data-window="{window}"][aria-pressed="true"]')
            assert markers(first)[0] >= held
        wait_for_markers(first, held)
        first.screenshot(path=str(artifacts_dir / "dashboard-alerts.png"), full_page=True)

        # A tab opened later gets the same alerts from the backfill.
        pages.append(open_dashboard(browser, server))
        second = pages[1][0]
        second.wait_for_selector(leak, state="visible", timeout=15_000)
        second.wait_for_selector(above, state="visible", timeout=15_000)
        again = read_banner(second, leak)
        assert again["severity"] in SEVERITIES
        assert "LEAK" in again["text"]
        second.wait_for_selector(f'{card} [data-role="leak"][data-severity]', timeout=15_000)
        wait_for_markers(second, 2)
        assert int(second.evaluate("document.body.dataset.alerts")) >= 2
        second.screenshot(path=str(artifacts_dir / "dashboard-alerts-backfill.png"), full_page=True)

        # Dismissing hides that tab's banner only: the badge and the markers stay.
        second.click(f"{leak} .alert-dismiss")
        second.wait_for_selector(leak, state="hidden", timeout=5_000)
        assert second.is_visible(f'{card} [data-role="leak"]')
        assert markers(second)[0] >= 2
        assert first.is_visible(leak)
        assert server.proc.poll() is None
    finally:
        if grower is not None:
            grower.stop()
        for page, _, _ in pages:
            page.close()
        server.stop()
    for _, errors, outside in pages:
        assert outside.seen == []
        assert errors == []
