"""Real Chromium shows the calm "growing" level of a recording served by `memlens serve`:
a badge with the rate on the target's card, the live rule's sentence as its title, and no
banner; the alerts are the real engine's, raised on a process that grows from its start
(young: growing, not yet a leak)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MB, MemlensServer
from memlens.config import Settings
from memlens.model import Reading, Target, Tick
from memlens.store import Store
from memlens.watch.alerts import AlertEngine

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

SECONDS = 6 * 60  # a young process: the trend rule waits 8 minutes before a leak alarm
RATE = 3 * MB / 60  # 3 MB/min from the start


def growing_recording(path: Path) -> str:
    start = time.time() - SECONDS - 60
    target = Target("5151-1", "process", 5151, start, "service", "service --serve")
    engine = AlertEngine(Settings(), limit_of=lambda _t: None)
    with Store.open(path) as store:
        rid = store.begin_recording(
            name="growing", command="service --serve", interval=1.0, host="test", started=start
        )
        for i in range(SECONDS):
            rss = int(100 * MB + RATE * i + (i % 5) * 64 * 1024)
            new = (target,) if i == 0 else ()
            tick = Tick(i + 1, start + i, {target.key: Reading(rss, 2 * rss, 0, 0, 1, 3, 1.0)}, new)
            store.add_tick(rid, tick)
            for alert in engine.process(tick):
                store.add_event(rid, alert.kind, alert.t, alert.data, alert.key)
        store.end_recording(rid, ended=start + SECONDS)
        store.flush(60)
    kinds = [a.kind for a in engine.alerts]
    assert "growing" in kinds, kinds
    assert "leak" not in kinds, kinds
    return target.key


def test_the_growing_level_is_a_calm_badge(
    browser: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    path = tmp_path / "growing.db"
    key = growing_recording(path)
    server = MemlensServer("serve", str(path), "--port", "0")
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=30_000)
        card = f'.target-card[data-key="{key}"]'
        badge = f'{card} [data-role="leak"][data-level="growing"]'
        page.wait_for_selector(badge, timeout=10_000)
        text = page.inner_text(badge)
        assert text.startswith("growing · ")
        assert text.endswith("/min")
        title = page.get_attribute(badge, "title") or ""
        assert "service (PID 5151)" in title
        # the latest reason's sentence (a young process's growth), not the first one's
        # (a short run that grew): a status whose reason changes is sent again
        assert "since the process started" in title
        assert "too short to call a trend" not in title
        assert page.get_attribute(badge, "data-severity") is None
        assert page.get_attribute(card, "data-leak") is None  # no alarm on the card
        # the messages received: the status raised (a short run), then again (young)
        assert page.evaluate("document.body.dataset.alerts") == "2"
        assert page.locator("#alerts").is_hidden()  # a status, not a banner
        assert list(errors) == []
        assert outside.seen == []
    except Exception:
        page.screenshot(path=str(artifacts_dir / "growing.png"))
        raise
    finally:
        page.close()
        server.stop()
