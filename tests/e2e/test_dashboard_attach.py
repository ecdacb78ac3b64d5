"""Real Chromium on a real `memlens watch` of a Python child that never imported memlens:
its card offers "Look inside", which asks first, attaches the agent through the server,
and the Python panel follows; a process that is not Python gets no button."""

from __future__ import annotations

import subprocess
from typing import Any

import httpx
import pytest

from attachchild import NEEDS_GDB, SLEEPING, _python, child
from browser import MISSING, PageErrors, chromium_missing
from helpers import MemlensServer
from memlens.agent import find_agent

pytestmark = [pytest.mark.browser, NEEDS_GDB]

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

BUTTON = '.target-card [data-role="attach-button"]'


def test_look_inside_asks_then_attaches_and_the_python_panel_follows(browser: Any) -> None:
    with child(_python("3.12"), SLEEPING) as proc:
        other = subprocess.Popen(["sleep", "120"])
        server = MemlensServer(
            "watch", str(proc.pid), str(other.pid), "--port", "0", "--interval", "0.2",
            "--no-record",
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            errors = PageErrors(page)
            page.goto(server.url)
            page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
            card = f'.target-card[data-key^="{proc.pid}-"]'
            sleeper = f'.target-card[data-key^="{other.pid}-"]'
            page.wait_for_selector(f"{card} [data-role=attach-button]", state="visible")
            assert not page.is_visible(f"{sleeper} [data-role=attach-button]")

            questions: list[str] = []

            def answer(dialog: Any, accept: bool) -> None:
                questions.append(dialog.message)
                if accept:
                    dialog.accept()
                else:
                    dialog.dismiss()

            page.once("dialog", lambda d: answer(d, False))
            page.click(f"{card} [data-role=attach-button]")
            assert len(questions) == 1
            assert f"PID {proc.pid}" in questions[0]
            assert "stops for a moment" in questions[0]
            assert find_agent(proc.pid) is None  # said no: nothing asked of the server

            page.once("dialog", lambda d: answer(d, True))
            page.click(f"{card} [data-role=attach-button]")
            page.wait_for_selector("#python-panel[data-key]", state="visible", timeout=30_000)
            assert find_agent(proc.pid) is not None
            assert page.eval_on_selector("#python-panel", "el => el.dataset.key").startswith(
                f"{proc.pid}-"
            )
            page.wait_for_selector(f"{card} [data-role=attach]", state="hidden")
            assert errors == []
        finally:
            assert server.stop() == 0
            other.kill()
            other.wait()


def test_the_attach_request_needs_the_dashboard_token() -> None:
    with child(_python("3.12"), SLEEPING) as proc:
        server = MemlensServer("watch", str(proc.pid), "--port", "0", "--no-record")
        try:
            key = server.get("api/targets").json()["targets"][0]["key"]
            refused = httpx.post(server.base + "api/python/attach", json={"target": key})
            assert refused.status_code == 401
            assert find_agent(proc.pid) is None
            bad = server.post("api/python/attach", json={"target": 5})
            assert bad.status_code == 400
        finally:
            assert server.stop() == 0
