"""Real Chromium, a real `memlens watch --name` over two groups of real processes, and one
group whose members all exit: its legend has no sum any more (a sum of processes that
are gone is not what the group holds now), while the group that runs keeps its own."""

from __future__ import annotations

import re
import shutil
import subprocess
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


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[dict[str, list[subprocess.Popen[bytes]]]]:
    """`keeper`s and `goner`s: copies of sleep, so each group has its own name."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    procs: dict[str, list[subprocess.Popen[bytes]]] = {}
    for name in ("keeper", "goner"):
        program = tmp_path / name
        shutil.copy(sleep, program)
        procs[name] = [subprocess.Popen([str(program), "600"]) for _ in range(EACH)]
    try:
        yield procs
    finally:
        for group in procs.values():
            for p in group:
                p.kill()
                p.wait()


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
        assert list(errors) == []
    finally:
        if page is not None:
            page.close()
        server.stop()
