"""A leak alert names the function that leaks, with real parts: a real Python child
started with the agent and the heap profiler on (MEMLENS_AGENT=1, MEMLENS_HEAP=1) that
leaks about 4 MB/s in a known function, a real `memlens watch` and a WebSocket client,
the real store, and `memlens report` of what was recorded. The detector's windows are
scaled down as in test_alerts_live.py, and the profiles kept every 2 s instead of 30,
so the alert comes within a minute."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from helpers import FAST_DETECTOR, MemlensServer, profiled_child, run_memlens
from memlens.store import StoreReader

LEAKER = """
import time
held = []

def grow_cache():
    held.append("x" * 200_000)  # kept for ever: about 4 MB/s

print("ready", flush=True)
while True:
    grow_cache()
    time.sleep(0.05)
"""
GROW_LINE = (
    LEAKER.splitlines().index('    held.append("x" * 200_000)  # kept for ever: about 4 MB/s') + 1
)
SETTINGS = FAST_DETECTOR + 'stacks_every = "2s"\n'
PATIENCE = 120.0  # s for the alert (never a pass threshold)


@pytest.fixture
def profiled() -> Iterator[subprocess.Popen[str]]:
    with profiled_child(LEAKER) as proc:
        yield proc


def next_leak(ws: Any, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        message: dict[str, Any] = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == "leak" and message["state"] == "raised":
            return message
    raise AssertionError("no leak alert")


def test_the_leak_alert_names_the_function_that_leaks(
    profiled: subprocess.Popen[str], tmp_path: Path, private_store: Path
) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text(SETTINGS)
    server = MemlensServer(
        "watch", str(profiled.pid), "--port", "0", "--interval", "0.2", "--config", str(config)
    )
    try:
        with connect(server.ws_url) as ws:
            hello = json.loads(ws.recv(timeout=10))
            [target] = hello["targets"]
            leak = next_leak(ws, time.monotonic() + PATIENCE)
    finally:
        assert server.stop() == 0

    # On the stream: the stacks, the leaking function first, and the text naming it.
    assert leak["key"] == target["key"]
    growth = leak["heap_growth"]
    assert growth["sampler"] in {"sampling", "tracemalloc"}
    assert growth["from"] < growth["to"] <= leak["t"]
    top = growth["stacks"][0]
    assert top["function"] == "grow_cache"
    assert (top["file"], top["line"]) == ("<string>", GROW_LINE)
    assert [f["function"] for f in top["frames"][-2:]] == ["<module>", "grow_cache"]
    assert top["growth_bytes"] > 1024 * 1024
    assert f"grew most in grow_cache (<string>:{GROW_LINE}), +" in leak["text"]
    assert "grew most in grow_cache" in server.stderr  # the console line too

    # In the recording, as it was sent.
    with StoreReader.open(private_store) as reader:
        info = reader.recording("last")
        raised = [e for e in reader.events(info.id, kinds=["leak"]) if e.data["state"] == "raised"]
    assert raised[0].data["heap_growth"] == growth

    # In the report of the recording.
    result = run_memlens("report", str(private_store), "--format", "json", timeout=120)
    assert result.returncode == 0, result.stderr
    [item] = json.loads(result.stdout)["leaks"]["items"]
    assert item["stacks"][0]["function"] == "grow_cache"
    assert item["stacks"][0]["line"] == GROW_LINE
    md = run_memlens("report", str(private_store), "--format", "md", timeout=120)
    assert md.returncode == 0, md.stderr
    assert f"| grow_cache (&lt;string&gt;:{GROW_LINE}) |" in md.stdout
