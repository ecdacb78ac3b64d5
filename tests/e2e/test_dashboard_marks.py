"""Real Chromium shows marks on the RSS chart: `memlens.mark(text)` in a real child that
runs the agent, while `memlens watch` serves it (live, and in a tab opened afterwards);
and `memlens mark PID TEXT` from a shell in a recording that `memlens serve` shows."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MemlensServer, run_memlens, wait_for_recorded_target

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

# Marks what it reads on stdin, one a line, and says how many recordings took each.
MARKER = r"""
import sys
import memlens, memlens.agent

memlens.agent.start()
print("ready", flush=True)
for line in sys.stdin:
    print(memlens.mark(line.rstrip("\n").replace("\\e", "\x1b")), flush=True)
"""
HOSTILE = "batch 2 <b>starts</b> & <img src=x onerror=alert(1)>"


@pytest.fixture
def marker() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", MARKER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def mark(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(text + "\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "1"  # the agent took it


def open_dashboard(browser: Any, server: MemlensServer) -> tuple[Any, PageErrors, OutsideRequests]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    page.goto(server.url)
    page.wait_for_selector('#conn-state[data-state="connected"]', timeout=15_000)
    return page, errors, outside


def wait_for_marks(page: Any, n: int) -> None:
    page.wait_for_function(
        "n => Number(document.querySelector('#chart').dataset.marks) >= n"
        " && Number(document.querySelector('#chart').dataset.marksVisible) >= n",
        arg=n,
        timeout=20_000,
    )


def listed(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.eval_on_selector_all(
        "#mark-list .mark-item",
        """els => els.map(el => ({
            text: el.querySelector('.mark-text').textContent,
            key: el.dataset.key || null,
            t: Number(el.dataset.t),
            elements: el.querySelectorAll('b, img').length,
        }))""",
    )
    return found


def test_a_programs_marks_appear_live_and_in_a_later_tab(
    browser: Any, marker: subprocess.Popen[str], artifacts_dir: Path
) -> None:
    server = MemlensServer("watch", str(marker.pid), "--port", "0", "--interval", "0.2")
    pages: list[tuple[Any, PageErrors, OutsideRequests]] = []
    try:
        pages.append(open_dashboard(browser, server))
        page = pages[0][0]
        page.wait_for_selector(".target-card[data-key]", timeout=15_000)
        key: str = page.eval_on_selector(".target-card", "el => el.dataset.key")
        assert page.eval_on_selector("#mark-list", "el => el.hidden")
        assert page.eval_on_selector("#chart", "el => el.dataset.marks") == "0"

        mark(marker, HOSTILE)
        wait_for_marks(page, 1)
        mark(marker, "phase 3\\e[31m")
        wait_for_marks(page, 2)
        shown = listed(page)
        assert [m["text"] for m in shown] == [HOSTILE, "phase 3\u00b7[31m"]
        assert all(m["key"] == key for m in shown)
        assert all(m["elements"] == 0 for m in shown)  # text, never markup
        assert shown[0]["t"] < shown[1]["t"]
        page.screenshot(path=str(artifacts_dir / "dashboard-marks.png"), full_page=True)

        # A tab opened later has them from the backfill, once each.
        pages.append(open_dashboard(browser, server))
        later = pages[1][0]
        wait_for_marks(later, 2)
        assert [m["text"] for m in listed(later)] == [HOSTILE, "phase 3\u00b7[31m"]
        assert later.eval_on_selector("#chart", "el => el.dataset.marks") == "2"
    finally:
        server.stop()
        for page, errors, outside in pages:
            page.close()
            assert errors == []
            assert outside.seen == []


def test_a_shell_mark_in_a_recording_is_on_the_served_chart(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        recorder = subprocess.Popen(
            [sys.executable, "-m", "memlens", "record", str(child.pid), "--duration", "3s",
             "--interval", "0.1", "-o", str(db)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for_recorded_target(db, child.pid, recorder)
        done = run_memlens("mark", str(child.pid), "deploy <v2>", "--db", str(db))
        assert done.returncode == 0, done.stderr
        _, err = recorder.communicate(timeout=60)
        assert recorder.returncode == 0, err
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    server = MemlensServer("serve", str(db), "--port", "0")
    try:
        page, errors, outside = open_dashboard(browser, server)
        wait_for_marks(page, 1)
        [only] = listed(page)
        assert only["text"] == "deploy <v2>"
        page.close()
        assert errors == []
        assert outside.seen == []
    finally:
        server.stop()
