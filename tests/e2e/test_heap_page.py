"""Real Chromium opens a heap profile's HTML page from disk with the network blocked: the
flame graph draws the profile's functions, search highlights and reports a share, a click
zooms and the breadcrumb goes back, markup in a function name stays text, and a profile
of 2,000 stacks of 50 frames draws."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from browser import MISSING, chromium_missing
from heapfixture import big_profile, frame, profile, service_profile, stack
from memlens.formats.heap_html import write_html

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

INJECTION = "</script><img src=x onerror=alert(1)>"


class Page:
    """A page from a file on a fresh context: every request but file: and data: is
    aborted and recorded, and so are script errors and dialogs."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("#flame[data-ready]", timeout=10_000)

    def _route(self, route: Any) -> None:
        if urlsplit(route.request.url).scheme in ("file", "data"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def flame(self, name: str) -> str | None:
        return self.page.eval_on_selector("#flame", f"el => el.dataset.{name} ?? null")

    def frames(self) -> list[dict[str, Any]]:
        return self.page.evaluate("() => memlensFlame.frames()")

    def click_frame(self, name: str) -> None:
        spot = self.page.evaluate("name => memlensFlame.locate(name)", name)
        assert spot is not None, name
        canvas = self.page.locator("#flame canvas.fg-canvas")
        canvas.click(position={"x": spot["x"], "y": spot["y"]})

    def close(self) -> None:
        assert self.errors == []
        assert self.dialogs == []
        assert self.outside == []
        self.context.close()


def test_the_page_draws_searches_and_zooms_offline(
    browser: Any, tmp_path: Path, artifacts_dir: Path
) -> None:
    path = tmp_path / "heap.html"
    write_html(service_profile(), path)
    page = Page(browser, path)
    p = page.page
    assert page.flame("fgKind") == "inuse"
    assert int(page.flame("fgTotal") or 0) == int(10.5 * 2**20)
    drawn = {f["name"]: f for f in page.frames()}
    assert {"all", "main", "handle", "load_rows", "build_cache", "fill", "parse"} <= set(drawn)
    assert "[no Python frame]" in drawn
    assert drawn["load_rows"]["label"] == "load_rows"  # wide enough: its name is written
    assert drawn["load_rows"]["w"] == pytest.approx(2 * drawn["fill"]["w"], rel=0.01)
    assert drawn["handle"]["y"] > drawn["main"]["y"]  # callees below their callers
    assert "bytes in use now" in (p.text_content(".fg-note") or "")

    # pointing at a frame says what it holds
    spot = p.evaluate("() => memlensFlame.locate('load_rows')")
    p.locator("#flame canvas.fg-canvas").hover(position={"x": spot["x"], "y": spot["y"]})
    assert p.text_content(".fg-d-name") == "load_rows"
    assert p.text_content(".fg-d-where") == "/srv/app/service.py:31"
    assert p.text_content(".fg-d-bytes") == "6.0 MB"
    assert "57.1 % of all" in (p.text_content(".fg-d-share") or "")

    # search: the cache module's frames light up, their share said once
    p.fill(".fg-search", "cache.py")
    assert page.flame("fgMatchFrames") == "2"
    assert page.flame("fgMatchShare") == "28.6"  # 3 of 10.5 MB, fill inside build_cache once
    assert "2 frames match: 3.0 MB, 28.6 % of all" in (p.text_content(".fg-match") or "")
    matched = {f["name"] for f in page.frames() if f["match"]}
    assert matched == {"build_cache", "fill"}
    p.screenshot(path=str(artifacts_dir / "heap-page-search.png"), full_page=True)
    p.fill(".fg-search", "no such thing")
    assert page.flame("fgMatchShare") == "0.0"
    assert p.text_content(".fg-match") == "no frame matches"
    p.fill(".fg-search", "")
    assert page.flame("fgMatchShare") is None

    # a click zooms: handle fills the width, what it does not call is gone
    assert p.is_disabled(".fg-reset")
    page.click_frame("handle")
    assert page.flame("fgZoom") == "handle"
    zoomed = {f["name"]: f for f in page.frames()}
    assert "parse" not in zoomed
    assert zoomed["handle"]["w"] == zoomed["all"]["w"] == drawn["all"]["w"]
    assert zoomed["load_rows"]["w"] == pytest.approx(2 * zoomed["build_cache"]["w"], rel=0.01)
    crumbs = p.locator(".fg-crumb").all_text_contents()
    assert crumbs == ["all", "main", "handle"]
    page.click_frame("build_cache")
    assert page.flame("fgZoom") == "build_cache"
    p.locator(".fg-crumb", has_text="main").click()
    assert page.flame("fgZoom") == "main"
    assert "parse" in {f["name"] for f in page.frames()}
    p.click(".fg-reset")
    assert page.flame("fgZoom") == ""
    assert not p.is_visible(".fg-crumbs")

    # the table's button finds a stack's allocating frame in the graph
    p.locator('#stacks tr[data-rank="2"] button').click()
    assert p.input_value(".fg-search") == "fill"
    assert page.flame("fgMatchFrames") == "1"
    p.screenshot(path=str(artifacts_dir / "heap-page.png"), full_page=True)
    page.close()


def test_growth_draws_what_grew_and_says_so(browser: Any, tmp_path: Path) -> None:
    stacks = [
        stack([frame("main", line=1), frame("grow", line=2)], 3 * 2**20),
        stack([frame("main", line=1), frame("shrink", line=3)], -(2**20)),
    ]
    path = tmp_path / "growth.html"
    write_html(profile(stacks, kind="growth", since_mark="before"), path)
    page = Page(browser, path)
    names = {f["name"] for f in page.frames()}
    assert "grow" in names
    assert "shrink" not in names
    note = page.page.text_content(".fg-note") or ""
    assert "growth of the bytes in use since mark “before”" in note
    assert "1 stack shrank, by 1.0 MB in all" in note
    page.close()


def test_markup_in_names_stays_text(browser: Any, tmp_path: Path) -> None:
    stacks = [stack([frame(INJECTION, "<b>x</b>.py", 1), frame("leaf\x1b[31m", line=2)], 2**20)]
    path = tmp_path / "hostile.html"
    write_html(profile(stacks), path)
    page = Page(browser, path)
    p = page.page
    assert p.locator("img").count() == 0
    assert p.locator("#stacks b").count() == 0
    page.click_frame(INJECTION)
    assert p.locator(".fg-crumb").all_text_contents()[1] == INJECTION
    assert p.text_content(".fg-d-name") == INJECTION
    page.click_frame("leaf\x1b[31m")
    assert p.text_content(".fg-d-name") == "leaf\\x1b[31m"  # a control character shown
    page.close()


def test_two_thousand_stacks_of_fifty_frames_draw(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "big.html"
    write_html(big_profile(2000, 50), path)
    page = Page(browser, path)
    frames = int(page.flame("fgFrames") or 0)
    assert frames > 1000
    page.page.fill(".fg-search", "fn_3")
    share = float(page.flame("fgMatchShare") or 0)
    assert 0 < share <= 100
    page.close()
