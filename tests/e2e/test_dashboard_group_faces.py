"""Real Chromium and a real `memlens watch` over groups of real processes: a group whose
members all exit has no sum any more in the legend (a sum of processes that are gone is
not what the group holds now), while the group that runs keeps its own; a group's label
by parent shows whole in the table, the parent's PID included."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, PageErrors, chromium_missing
from helpers import MemlensServer

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

EACH = 5  # two groups of 5: past the 8 processes from which the chart draws groups


# A goner names itself "goner" and holds 32 MB: bigger than any keeper (a copy of sleep).
GONER = r"""
import ctypes, time
ctypes.CDLL(None).prctl(15, b"goner", 0, 0, 0)
held = bytearray(32 * 1024 * 1024)
held[::4096] = b"\x01" * len(range(0, len(held), 4096))
time.sleep(600)
"""


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[dict[str, list[subprocess.Popen[bytes]]]]:
    """`keeper`s (copies of sleep) and bigger `goner`s, each command line naming
    `tmp_path`, which the watch's --name matches."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    shutil.copy(sleep, tmp_path / "keeper")
    procs = {
        "keeper": [subprocess.Popen([str(tmp_path / "keeper"), "600"]) for _ in range(EACH)],
        "goner": [
            subprocess.Popen([sys.executable, "-c", GONER, str(tmp_path)]) for _ in range(EACH)
        ],
    }
    try:
        yield procs
    finally:
        for group in procs.values():
            for p in group:
                p.kill()
                p.wait()


def states_in_table_order(page: Any) -> list[str]:
    states: list[str] = page.eval_on_selector_all(
        "tr.tt-row", "rows => rows.map(r => r.getAttribute('data-state') || 'running')"
    )
    return states


def group_sum(page: Any, label: str) -> str:
    text: str = page.inner_text(
        f'.gl-group[data-group="{label}"] [data-role="group-sum"] .gl-value'
    )
    return text


def test_a_group_whose_members_all_exited_has_no_sum_now(
    browser: Any, sleepers: dict[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    server = MemlensServer(
        "watch", "--name", re.escape(str(tmp_path)), "--port", "0", "--no-record"
    )
    page = None
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = PageErrors(page)
        page.goto(server.url)
        page.wait_for_function(
            """() => ["keeper", "goner"].every(label => {
                const el = document.querySelector(
                    `.gl-group[data-group="${label}"] [data-role="group-sum"] .gl-value`);
                return el && el.getAttribute("data-bytes");
            })""",
            timeout=20_000,
        )
        assert group_sum(page, "goner").endswith("B")
        for p in sleepers["goner"]:
            p.kill()
            p.wait()
        page.wait_for_function(
            """n => memlens.grouping.groups.some(g => g.label === "goner" && g.keys.filter(
                k => memlens.state.targets.get(k).state === "exited").length === n)""",
            arg=EACH,
            timeout=20_000,
        )
        page.wait_for_function(
            """() => document.querySelector(
                '.gl-group[data-group="goner"] [data-role="group-sum"] .gl-value').textContent
                === "\u2013" """,
            timeout=10_000,
        )
        head = page.inner_text('.gl-group[data-group="goner"] .gl-count')
        assert head == f"{EACH} processes ({EACH} exited)"
        assert group_sum(page, "keeper").endswith("B")  # the running group keeps its sum
        # The table lists what runs first, in either direction (as `memlens top` does),
        # though the goners were the biggest.
        ordered = ["running"] * EACH + ["exited"] * EACH
        page.wait_for_function(
            "n => document.querySelectorAll('tr.tt-row[data-state=\"exited\"]').length === n",
            arg=EACH,
        )
        assert states_in_table_order(page) == ordered
        page.click('.tt th[data-col="rss"] .tt-sort')
        page.wait_for_selector('.tt th[data-col="rss"][aria-sort="ascending"]')
        assert states_in_table_order(page) == ordered
        assert list(errors) == []
    finally:
        if page is not None:
            page.close()
        server.stop()


# A parent named like a server's master (its comm: 15 characters, the most Linux keeps)
# with 9 sleeping children: their group by parent is "children of gunicorn-master [PID]".
MASTER = r"""
import ctypes, subprocess, sys
ctypes.CDLL(None).prctl(15, b"gunicorn-master", 0, 0, 0)
kids = [subprocess.Popen(["sleep", "600"]) for _ in range(9)]
print("ready", flush=True)
sys.stdin.read()
for k in kids:
    k.kill()
"""


def test_a_long_group_label_shows_whole_in_the_table(browser: Any) -> None:
    master = subprocess.Popen(
        [sys.executable, "-c", MASTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert master.stdout is not None
    assert master.stdout.readline().strip() == "ready"
    label = f"children of gunicorn-master [{master.pid}]"
    server = MemlensServer(
        "watch", str(master.pid), "--children", "--group-by", "parent", "--port", "0", "--no-record"
    )
    page = None
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors = PageErrors(page)
        page.goto(server.url)
        cell = f'tr.tt-row td[data-col="group"][title="{label}"]'
        page.wait_for_selector(cell, timeout=20_000)
        assert page.inner_text(cell) == label
        assert page.eval_on_selector(cell, "td => td.scrollWidth <= td.clientWidth")
        assert list(errors) == []
    finally:
        if page is not None:
            page.close()
        server.stop()
        master.communicate(timeout=10)
