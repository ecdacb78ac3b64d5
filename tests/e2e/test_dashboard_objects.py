"""Real Chromium shows, in the Python panel of a real `memlens watch`, the object types
whose counts grow fastest in a real child that runs the agent: counted when the page
opens, again on "Count now", and a type name from the program shown as text."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MemlensServer, python_child

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

CHILD = r"""
import time
import memlens.agent
memlens.agent.start()

Evil = type("Evil<b>x</b>", (), {})
HELD = []
print("ready", flush=True)
while True:
    HELD.extend(Evil() for _ in range(300))
    time.sleep(0.05)
"""
BLOCK = '#python-panel [data-role="objects"]'


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    with python_child(CHILD) as proc:
        yield proc


def counts(page: Any) -> int:
    return int(page.eval_on_selector(BLOCK, "el => Number(el.dataset.counts)"))


def rows(page: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = page.eval_on_selector_all(
        "#python-objects tbody tr",
        "trs => trs.map(tr => ({type: tr.cells[0].textContent, count: tr.cells[1].textContent,"
        " growth: tr.cells[2].textContent, sign: tr.cells[2].dataset.sign}))",
    )
    return found


def test_the_types_that_grow_fastest_are_counted_and_counted_again_on_the_button(
    browser: Any, child: subprocess.Popen[str], artifacts_dir: Path
) -> None:
    server = MemlensServer(
        "watch", str(child.pid), "--port", "0", "--interval", "0.2", "--no-record"
    )
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        errors = PageErrors(page)
        outside = OutsideRequests(page, server.base)
        page.goto(server.url)
        page.wait_for_selector("#python-panel[data-key]", state="visible", timeout=20_000)

        # The first count, asked as the page opened: the most numerous types.
        page.wait_for_function(
            "s => Number(document.querySelector(s).dataset.counts) >= 1", arg=BLOCK,
            timeout=20_000,
        )  # fmt: skip
        assert "most numerous" in (page.text_content('[data-role="obj-sub"]') or "")
        assert any(r["type"] == "__main__.Evil<b>x</b>" for r in rows(page))
        seen = counts(page)

        # Another on the button, rather than 30 s later: the growth since the first.
        page.click('[data-role="obj-count"]')
        page.wait_for_function(
            "a => Number(document.querySelector(a[0]).dataset.counts) > a[1]", arg=[BLOCK, seen],
            timeout=20_000,
        )  # fmt: skip
        top = rows(page)[0]
        assert top["type"] == "__main__.Evil<b>x</b>"  # text, never markup
        assert top["growth"].startswith("+")
        assert top["sign"] == "up"
        assert page.eval_on_selector_all("#python-objects b", "els => els.length") == 0
        assert "growth since" in (page.text_content('[data-role="obj-growth-head"]') or "")
        page.locator(BLOCK).screenshot(path=str(artifacts_dir / "dashboard-objects.png"))
        page.close()
        assert errors == []
        assert outside.seen == []
    finally:
        server.stop()
