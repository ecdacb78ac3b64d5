"""Real Chromium shows the stacks a leak alert names (`heap_growth`) in the alert's banner,
from `memlens serve` of a recording that holds the alert: the frames, which are the
profiled process's own text, are shown as text, never as markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser import MISSING, OutsideRequests, PageErrors, chromium_missing
from helpers import MB, MemlensServer
from memlens.model import Reading, Target, Tick
from memlens.store import Store

pytestmark = pytest.mark.browser

if chromium_missing():
    pytest.skip(MISSING, allow_module_level=True)

T0 = 1_800_000_000.0
KEY = "4242-1"
EVIL = '<img src=x onerror="window.pwned=1">'


def recording(db: Path) -> None:
    store = Store.open(db)
    rid = store.begin_recording(
        name="svc", command="python app.py", interval=1.0, host="h", started=T0
    )
    target = Target(KEY, "process", 4242, T0 - 5, "svc", "python app.py")
    for i in range(120):
        reading = Reading(100 * MB + i * MB, 300 * MB, 0, 0, 2, 9, 1.0)
        store.add_tick(rid, Tick(i + 1, T0 + i, {KEY: reading}, (target,) if i == 0 else ()))
    main = {"function": "<module>", "file": "/srv/app.py", "line": 3}
    remember = {"function": "remember", "file": "/srv/shop/cache.py", "line": 12}
    evil = {"function": EVIL, "file": "/srv/x.py", "line": 7}
    stacks = [
        {
            **remember,
            "frames": [main, remember],
            "depth": 2,
            "growth_bytes": 90.0 * MB,
            "inuse_bytes": 95.0 * MB,
        },
        {
            **evil,
            "frames": [main, evil],
            "depth": 2,
            "growth_bytes": 5.0 * MB,
            "inuse_bytes": 5.0 * MB,
        },
    ]
    store.add_event(
        rid,
        "leak",
        T0 + 110,
        {
            "state": "raised",
            "severity": "high",
            "finding": {"verdict": "leak", "severity": "high", "onset": T0, "rate": MB},
            "text": "svc (PID 4242): LEAK (high); grew most in remember (shop/cache.py:12)",
            "name": "svc",
            "pid": 4242,
            "heap_growth": {
                "from": T0 + 2,
                "to": T0 + 108,
                "sampler": "sampling",
                "stacks": stacks,
            },
        },
        KEY,
    )
    store.end_recording(rid, ended=T0 + 120, exit_code=None)
    store.close()


def test_the_leak_banner_lists_the_stacks_as_text(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "svc.db"
    recording(db)
    server = MemlensServer("serve", str(db), "--port", "0")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = PageErrors(page)
    outside = OutsideRequests(page, server.base)
    try:
        page.goto(server.url)
        banner = f'#alerts .alert-banner[data-alert-type="leak"][data-alert-key="{KEY}"]'
        page.wait_for_selector(f"{banner} .alert-stacks[data-stacks='2']", timeout=15_000)
        page.click(f"{banner} .alert-stacks summary")
        shown = page.eval_on_selector_all(
            f"{banner} .alert-stack",
            """els => els.map(el => ({
                grew: el.querySelector('.alert-stack-grew').textContent,
                at: el.querySelector('.alert-stack-at').textContent,
                callers: el.querySelector('.alert-stack-callers').textContent,
                visible: el.getBoundingClientRect().height > 0,
            }))""",
        )
        summary = page.text_content(f"{banner} .alert-stacks summary")
        pwned = page.evaluate(
            "() => window.pwned === 1 || document.querySelector('#alerts img') !== null"
        )
    finally:
        page.close()
        server.stop()
    assert shown == [
        {
            "grew": "+90.0 MB",
            "at": "remember (shop/cache.py:12)",
            "callers": "< <module>",
            "visible": True,
        },
        {"grew": "+5.0 MB", "at": f"{EVIL} (srv/x.py:7)", "callers": "< <module>", "visible": True},
    ]
    assert summary is not None
    assert summary.startswith("where the heap grew (profiles ")
    assert pwned is False
    assert errors == []
    assert outside.seen == []
