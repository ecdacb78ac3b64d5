"""A tab opened once the live history has compacted its older part still gets all of it."""

from __future__ import annotations

from typing import Any

import pytest

from browser import MISSING, PageErrors, chromium_missing
from helpers import Allocator, MemlensServer

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

RECENT = 300  # memlens.watch.history.RECENT: samples kept with every field


def card(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """() => {
            const c = document.querySelector('.target-card[data-key]');
            return c && {key: c.dataset.key, points: Number(c.dataset.points),
                         bucketed: Number(c.dataset.bucketed)};
        }"""
    )
    return result


def test_a_late_tab_gets_the_recent_samples_and_the_older_buckets(
    browser: Any, allocator: Allocator
) -> None:
    # 20 samples a second, 2 minutes of history: past 15 s the older ones are buckets.
    server = MemlensServer(
        "watch",
        str(allocator.pid),
        "--port",
        "0",
        "--interval",
        "0.05",
        "--history",
        "2m",
        "--no-record",
        "--no-system",
    )
    first = browser.new_page(viewport={"width": 1280, "height": 900})
    late = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = PageErrors(late)
    try:
        first.goto(server.url)
        first.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        first.wait_for_function(
            "n => Number(document.body.dataset.ticks) >= n", arg=RECENT + 100, timeout=90_000
        )
        late.goto(server.url)
        late.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        late.wait_for_selector(".target-card[data-key]", timeout=15_000)
        seen = card(late)
        assert seen["key"] == card(first)["key"]
        assert seen["bucketed"] > 0
        assert int(late.evaluate("() => document.body.dataset.bucketedPoints")) > 0
        # every recent sample and the buckets before them, in the 10-minute window
        assert seen["points"] >= RECENT + seen["bucketed"]
        assert late.evaluate("() => document.getElementById('chart-empty').hidden")
        # and it goes on with the ticks
        late.wait_for_function(
            "n => Number(document.querySelector('.target-card[data-key]').dataset.points) > n",
            arg=seen["points"],
            timeout=15_000,
        )
    finally:
        first.close()
        late.close()
        server.stop()
    assert errors == []
