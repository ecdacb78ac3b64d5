"""Real Chromium and the token: the printed URL opens the page, the token leaves the
address bar, and reloads and new tabs of the bare URL keep receiving ticks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from browser import MISSING, PageErrors, chromium_missing
from helpers import Allocator, MemlensServer

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

POINTS = "() => Number(document.querySelector('.target-card')?.dataset.points || 0)"


@pytest.fixture
def server(allocator: Allocator) -> Iterator[MemlensServer]:
    srv = MemlensServer(
        "watch", str(allocator.pid), "--port", "0", "--interval", "0.2", "--no-record"
    )
    try:
        yield srv
    finally:
        assert srv.stop() == 0


def live_ticks(page: Any) -> None:
    """Connected, and the points of the card keep growing: ticks arrive."""
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
    page.wait_for_function(f"() => ({POINTS})() >= 1", timeout=15_000)
    now = page.evaluate(POINTS)
    page.wait_for_function(f"want => ({POINTS})() >= want", arg=now + 3, timeout=15_000)


def test_the_printed_url_then_reloads_and_new_tabs_of_the_bare_url(
    browser: Any, server: MemlensServer
) -> None:
    assert server.token is not None
    context = browser.new_context()
    try:
        page = context.new_page()
        errors = PageErrors(page)
        page.goto(server.url)
        assert page.url == server.base  # the token left the address bar
        live_ticks(page)
        page.reload()
        live_ticks(page)
        tab = context.new_page()
        tab_errors = PageErrors(tab)
        tab.goto(server.base)
        live_ticks(tab)
        assert not errors
        assert not tab_errors
        cookies = context.cookies()
        assert [c["httpOnly"] for c in cookies] == [True]
        assert cookies[0]["sameSite"] == "Strict"
    finally:
        context.close()


def test_the_bare_url_without_the_cookie_says_to_use_the_printed_url(
    browser: Any, server: MemlensServer
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(server.base)
        assert response is not None
        assert response.status == 401
        assert "URL memlens printed" in page.inner_text("body")
    finally:
        context.close()
