"""Real Chromium opens the real dashboard of a real `memlens watch` of a growing child."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MB, Allocator, MemlensServer

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)


def read_card(page: Any, key: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """key => {
            const card = document.querySelector(`.target-card[data-key="${key}"]`);
            if (!card) return null;
            const stat = name => card.querySelector(`[data-stat="${name}"]`);
            return {
                state: card.dataset.state,
                points: Number(card.dataset.points),
                current: Number(stat('current').dataset.bytes),
                currentText: stat('current').textContent,
                max: Number(stat('max').dataset.bytes),
                text: card.textContent,
            };
        }""",
        key,
    )
    return result


def key_of(page: Any) -> str:
    page.wait_for_selector(".target-card[data-key]", timeout=15_000)
    key: str = page.eval_on_selector(".target-card", "el => el.dataset.key")
    return key


def test_dashboard_follows_a_growing_child(
    browser: Any, allocator: Allocator, artifacts_dir: Path
) -> None:
    server = MemlensServer("watch", str(allocator.pid), "--port", "0", "--interval", "0.2")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        key = key_of(page)
        assert key.startswith(f"{allocator.pid}-")
        page.wait_for_function(
            "key => Number(document.querySelector(`.target-card[data-key='${key}']`)"
            ".dataset.points) >= 3",
            arg=key,
            timeout=15_000,
        )
        before = read_card(page, key)
        assert before["state"] == "running"
        assert abs(before["current"] - allocator.vmrss()) < 2 * MB
        assert "MB" in before["currentText"] or "KB" in before["currentText"]

        allocator.alloc(80)
        grown = allocator.vmrss()
        page.wait_for_function(
            "([key, want]) => Number(document.querySelector("
            "`.target-card[data-key='${key}'] [data-stat='current']`).dataset.bytes) >= want",
            arg=[key, grown - MB],
            timeout=15_000,
        )
        after = read_card(page, key)
        assert abs(after["current"] - grown) < 2 * MB
        assert after["max"] >= after["current"]
        assert after["points"] > before["points"]
        # Every tick the page received is plotted (the window holds all of them here).
        ticks = int(page.evaluate("document.body.dataset.ticks"))
        assert ticks >= 1
        page.screenshot(path=str(artifacts_dir / "dashboard.png"), full_page=True)

        # The process ends: the page says so and keeps its history on screen.
        allocator.stop()
        page.wait_for_selector(
            f'.target-card[data-key="{key}"][data-state="exited"]', timeout=15_000
        )
        assert page.is_visible("#exit-banner")
        ended = read_card(page, key)
        assert ended["points"] >= after["points"]
        assert "exited" in ended["text"]
        page.screenshot(path=str(artifacts_dir / "dashboard-exited.png"), full_page=True)
        assert server.proc.poll() is None
    finally:
        page.close()
        server.stop()
    assert outside.seen == []
    assert errors == []


def test_window_selector_and_reconnect_after_a_server_restart(
    browser: Any, allocator: Allocator
) -> None:
    server = MemlensServer("watch", str(allocator.pid), "--port", "0", "--interval", "0.1")
    port = urlsplit(server.base).port
    page = browser.new_page()
    outside = OutsideRequests(page, server.base)
    restarted = None
    try:
        page.goto(server.url)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
        key = key_of(page)
        for window in ("60", "600", "3600", "all"):
            page.click(f'button[data-window="{window}"]')
            assert read_card(page, key)["points"] >= 0
        server.stop()
        page.wait_for_selector('#conn-state[data-state="reconnecting"]', timeout=15_000)
        points = read_card(page, key)["points"]
        # The same token: the page's cookie holds it (a new token needs the new URL).
        assert server.token is not None
        restarted = _restart(allocator, port, server.token)
        page.wait_for_selector('#conn-state[data-state="connected"]', timeout=30_000)
        page.wait_for_function(
            "([key, n]) => Number(document.querySelector(`.target-card[data-key='${key}']`)"
            ".dataset.points) > n",
            arg=[key, points],
            timeout=15_000,
        )
    finally:
        page.close()
        server.stop()
        if restarted is not None:
            restarted.stop()
    assert outside.seen == []


def _restart(allocator: Allocator, port: int | None, token: str) -> MemlensServer:
    """The same server again on the same port, in a few tries: on a loaded machine the
    new one once failed to start right after the old one exited, and each try's
    failure says what the server printed."""
    failures = []
    for _ in range(3):
        try:
            return MemlensServer(
                "watch",
                str(allocator.pid),
                "--port",
                str(port),
                "--interval",
                "0.1",
                "--token",
                token,
            )
        except AssertionError as e:
            failures.append(str(e))
            time.sleep(1.0)
    raise AssertionError(f"the server did not start again: {failures}")
