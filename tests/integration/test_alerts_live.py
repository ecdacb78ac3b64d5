"""Live alerts with real parts: real Python programs that leak through a growing list or
fill a bounded lru_cache, a real `memlens watch` server and WebSocket clients, the real
store, and `memlens serve` of what was recorded.

The detector's defaults need 5 minutes of data; a settings file scales its windows down
(every parameter that sets a duration, by the same idea) so a minute tells the two
programs apart. docs/leak-detection.md explains the parameters.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from helpers import FAST_DETECTOR, LEAKY_LIST, MemlensServer, python_child, run_memlens
from memlens.analysis import detect
from memlens.config import load_settings
from memlens.store import StoreReader

BOUNDED_CACHE = """
import functools, random, time

@functools.lru_cache(maxsize=300)
def page(n):
    return str(n).encode() * (200_000 // len(str(n)))  # about 200 KB each

print("ready", flush=True)
while True:
    page(random.randrange(1_000_000))  # always a miss: fills to 300 entries, then evicts
    time.sleep(0.05)
"""


@pytest.fixture
def programs() -> Iterator[tuple[subprocess.Popen[str], subprocess.Popen[str]]]:
    with python_child(LEAKY_LIST) as leaky, python_child(BOUNDED_CACHE) as cache:
        yield leaky, cache


def messages_until(ws: Any, wanted: str, deadline: float) -> list[dict[str, Any]]:
    seen = []
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        seen.append(message)
        if message["type"] == wanted:
            return seen
    raise AssertionError(f"no {wanted} message in {len(seen)} messages")


def test_a_growing_list_is_a_leak_and_a_bounded_cache_is_not(
    programs: tuple[subprocess.Popen[str], subprocess.Popen[str]],
    tmp_path: Path,
    private_store: Path,
) -> None:
    leaky, cache = programs
    config = tmp_path / "memlens.toml"
    config.write_text(FAST_DETECTOR)
    server = MemlensServer(
        "watch",
        str(leaky.pid),
        str(cache.pid),
        "--port",
        "0",
        "--interval",
        "0.2",
        "--config",
        str(config),
    )
    try:
        with connect(server.ws_url) as ws:
            hello = json.loads(ws.recv(timeout=10))
            keys = {t["pid"]: t["key"] for t in hello["targets"]}
            backfill = json.loads(ws.recv(timeout=10))
            assert backfill["type"] == "backfill"
            assert backfill["alerts"] == []
            seen = messages_until(ws, "leak", time.monotonic() + 90)
        leak = seen[-1]
        assert leak["key"] == keys[leaky.pid]
        assert leak["state"] == "raised"
        assert leak["finding"]["verdict"] == "leak"
        assert leak["finding"]["rate"] > 1024 * 1024  # about 4 MB/s
        assert f"(PID {leaky.pid}): LEAK" in leak["text"]
        time.sleep(15)  # the cache has long stopped growing: it must stay quiet
        with connect(server.ws_url) as late:
            json.loads(late.recv(timeout=10))
            fill = json.loads(late.recv(timeout=10))
        alerted = {a["key"] for a in fill["alerts"] if a["type"] == "leak"}
        assert alerted == {keys[leaky.pid]}  # a tab opened later gets the alert too
    finally:
        assert server.stop() == 0
    assert f"(PID {leaky.pid}): LEAK" in server.stderr

    settings = load_settings(config)
    with StoreReader.open(private_store) as reader:
        info = reader.recording("last")
        events = reader.events(info.id, kinds=["leak"])
        assert {e.target_key for e in events} == {keys[leaky.pid]}
        assert events[0].data["finding"]["verdict"] == "leak"
        verdicts = {}
        for pid, key in keys.items():
            series = reader.series(info.id, key)
            verdicts[pid] = detect(series["t"], series["rss"], config=settings.detector).verdict
    assert verdicts[leaky.pid].value == "leak"
    assert verdicts[cache.pid].value in {"plateau", "step", "flat"}

    replay = MemlensServer("serve", str(private_store), "--port", "0")
    try:
        with connect(replay.ws_url) as ws:
            json.loads(ws.recv(timeout=10))
            fill = json.loads(ws.recv(timeout=10))
        assert [a["key"] for a in fill["alerts"] if a["type"] == "leak"] == [keys[leaky.pid]]
    finally:
        assert replay.stop() == 0


def test_record_keeps_threshold_crossings_and_prints_them(tmp_path: Path) -> None:
    with python_child(LEAKY_LIST) as leaky:
        out = tmp_path / "run.db"
        result = run_memlens(
            "record",
            str(leaky.pid),
            "--interval",
            "0.1",
            "--duration",
            "4s",
            "--max-rss",
            "15MB",
            "-o",
            str(out),
        )
    assert result.returncode == 0, result.stderr
    assert "above the limit 15.0 MB" in result.stderr
    with StoreReader.open(out) as reader:
        events = reader.events(reader.recording("last").id, kinds=["threshold"])
    assert [(e.data["metric"], e.data["state"]) for e in events] == [("rss", "above")]
    assert events[0].data["value"] > 15 * 1024 * 1024
    assert events[0].target_key is not None


def test_no_alerts_and_a_bad_config_file(tmp_path: Path) -> None:
    bad = tmp_path / "memlens.toml"
    bad.write_text("[thresholds]\nmax_rss = 'lots'\n")
    result = run_memlens("record", "1", "--config", str(bad), "--duration", "1s")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"memlens: error: {bad}: thresholds.max_rss: 'lots' is not a size (try 500MB, 2GB, 512KB)"
    ]
    quiet = run_memlens(
        "record", "1", "--no-alerts", "--max-rss", "1KB", "--duration", "1s",
        "-o", str(tmp_path / "q.db"),
    )  # fmt: skip
    assert quiet.returncode == 0, quiet.stderr
    assert "threshold" not in quiet.stderr


def test_the_live_alert_and_analyze_give_one_severity(tmp_path: Path) -> None:
    """The live alert measured the time to the target's memory limit; the recording keeps
    that limit, so analyze on the same series gives the same severity."""
    config = tmp_path / "memlens.toml"
    config.write_text(FAST_DETECTOR)
    out = tmp_path / "run.db"
    with python_child(LEAKY_LIST) as leaky:
        result = run_memlens(
            "record", str(leaky.pid), "--interval", "0.5", "--duration", "40s",
            "--config", str(config), "-o", str(out), timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with StoreReader.open(out) as reader:
        rid = reader.recording("last").id
        raised = [e for e in reader.events(rid, kinds=["leak"]) if e.data["state"] == "raised"]
    assert raised, result.stderr
    live = raised[-1]
    analyzed = run_memlens("analyze", str(out), "--json")
    assert analyzed.returncode == 0, analyzed.stderr
    [series] = json.loads(analyzed.stdout)["series"]
    assert series["verdict"] == "leak"
    assert series["limit"] == live.data["finding"]["limit"]
    assert series["severity"] == live.data["severity"]
