"""The viewer's side of the Python agent with real parts: a real Python child running
the agent, the real sampler linking it, a real `memlens watch` server sending its Python
fields, top allocation sites and gc pauses to a WebSocket client, and the page's
tracemalloc switch over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

from helpers import MemlensServer, agent_tracing, python_child
from memlens.probes import open_process
from memlens.watch.sampler import Sampler, SamplerConfig

CHILD = r"""
import time
import memlens.agent
memlens.agent.start()
HELD = []

def leak():
    HELD.append(bytearray(50_000))  # the line that leaks

print("ready", flush=True)
while True:
    leak()
    time.sleep(0.02)
"""
LEAK_LINE = (
    CHILD.splitlines().index("    HELD.append(bytearray(50_000))  # the line that leaks") + 1
)


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    with python_child(CHILD) as proc:
        yield proc


tracing = agent_tracing


def test_the_sampler_links_the_agent_and_fills_the_python_fields(
    child: subprocess.Popen[str],
) -> None:
    sampler = Sampler(
        SamplerConfig(tracemalloc_frames=1),
        on_tick=lambda _t: None,
        probes=[open_process(child.pid)],
    )
    try:
        first = sampler.sample_once()
        (target,) = first.new_targets
        assert target.python is not None
        assert target.python["pid"] == child.pid
        assert str(target.python["python"]).startswith(f"{sys.version_info[0]}.")
        assert tracing(child.pid)  # --tracemalloc switched it on
        time.sleep(0.3)
        reading = sampler.sample_once().samples[target.key]
        assert reading.py_blocks is not None
        assert reading.py_blocks > 1000
        assert reading.gc_collections is not None
        assert reading.py_heap is not None
        assert reading.py_heap > 50_000  # what the child leaked since tracing began
        assert reading.py_heap_peak is not None
        assert reading.py_heap_peak >= reading.py_heap
        assert reading.rss > reading.py_heap
    finally:
        sampler.stop()
    assert not tracing(child.pid)  # and off again: memlens started it


def test_without_an_agent_or_with_no_agents_the_fields_stay_unknown(
    child: subprocess.Popen[str],
) -> None:
    me = open_process(os.getpid())
    sampler = Sampler(SamplerConfig(agents=False), on_tick=lambda _t: None, probes=[me])
    try:
        tick = sampler.sample_once()
        assert all(r.py_blocks is None for r in tick.samples.values())
    finally:
        sampler.stop()
    sampler = Sampler(
        SamplerConfig(agents=False), on_tick=lambda _t: None, probes=[open_process(child.pid)]
    )
    try:
        tick = sampler.sample_once()
        assert tick.new_targets[0].python is None
        assert all(r.py_blocks is None for r in tick.samples.values())
    finally:
        sampler.stop()


def receive_until(ws: Any, wanted: Any, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        message: dict[str, Any] = json.loads(ws.recv(timeout=deadline - time.monotonic()))
        if wanted(message):
            return message
    raise AssertionError("the message never came")


def test_a_watch_sends_the_heap_the_growing_line_and_gc_pauses(
    child: subprocess.Popen[str],
) -> None:
    server = MemlensServer(
        "watch", str(child.pid), "--port", "0", "--interval", "0.2", "--no-record"
    )
    try:
        with connect(server.ws_url) as ws:
            hello = json.loads(ws.recv(timeout=10))
            fields = hello["fields"]
            assert "py_heap" in fields
            key = hello["targets"][0]["key"]
            linked = receive_until(
                ws,
                lambda m: m["type"] == "tick" and m["samples"][key][fields.index("py_blocks")],
                time.monotonic() + 15,
            )
            assert linked["samples"][key][fields.index("gc_collections")] is not None
            assert linked["samples"][key][fields.index("py_heap")] is None  # not tracing yet
            # nothing traced yet: the page's switch turns tracemalloc on
            api = "api/python/tracemalloc"
            on = server.post(api, json={"target": key, "on": True, "frames": 1}, timeout=10)
            assert on.status_code == 200, on.text
            assert on.json()["tracing"] is True
            update = receive_until(ws, lambda m: m["type"] == "target", time.monotonic() + 10)
            assert update["target"]["python"]["tracing"] is True  # every tab learns it
            tick = receive_until(
                ws,
                lambda m: m["type"] == "tick" and m["samples"][key][fields.index("py_heap")],
                time.monotonic() + 15,
            )
            assert tick["samples"][key][fields.index("py_heap")] > 0
            top = receive_until(
                ws, lambda m: m["type"] == "python" and "top" in m, time.monotonic() + 30
            )
            assert top["key"] == key
            site = top["top"]["sites"][0]
            assert (site["file"], site["line"]) == ("<string>", LEAK_LINE)
            assert site["size_diff_bytes"] > 0
            pauses = receive_until(
                ws, lambda m: m["type"] == "python" and "gc" in m, time.monotonic() + 30
            )
            assert pauses["gc"]["collecting"] is True
        with connect(server.ws_url) as late:  # a tab opened later gets the latest answers
            json.loads(late.recv(timeout=10))
            fill = json.loads(late.recv(timeout=10))
        assert {m["key"] for m in fill["python"]} == {key}
        assert any("top" in m for m in fill["python"])
        off = server.post(api, json={"target": key, "on": False}, timeout=10)
        assert off.status_code == 200
        assert off.json()["tracing"] is False
        assert not tracing(child.pid)
    finally:
        assert server.stop() == 0


def test_the_tracemalloc_switch_refuses_what_a_foreign_page_could_send(
    child: subprocess.Popen[str],
) -> None:
    server = MemlensServer("watch", str(child.pid), "--port", "0", "--no-record")
    try:
        api = "api/python/tracemalloc"
        key = server.get("api/targets", timeout=10).json()["targets"][0]["key"]
        form = server.post(api, data={"target": key, "on": "true"}, timeout=10)
        assert form.status_code == 415
        foreign = server.post(
            api,
            json={"target": key, "on": True},
            headers={"Origin": "http://evil.example"},
            timeout=10,
        )
        assert foreign.status_code == 403
        assert server.post(api, json={"target": "nope", "on": True}, timeout=10).status_code == 404
        assert server.post(api, json={"target": key, "on": "yes"}, timeout=10).status_code == 400
        assert server.post(api, json={"target": key, "on": True, "frames": 0}).status_code == 400
        assert server.get(api, timeout=10).status_code == 405
        assert not tracing(child.pid)
    finally:
        assert server.stop() == 0


def test_count_now_refuses_what_a_foreign_page_could_send(child: subprocess.Popen[str]) -> None:
    server = MemlensServer("watch", str(child.pid), "--port", "0", "--no-record")
    try:
        api = "api/python/objects"
        key = server.get("api/targets", timeout=10).json()["targets"][0]["key"]
        assert server.post(api, data={"target": key}, timeout=10).status_code == 415
        foreign = server.post(
            api, json={"target": key}, headers={"Origin": "http://evil.example"}, timeout=10
        )
        assert foreign.status_code == 403
        assert server.post(api, json={"target": "nope"}, timeout=10).status_code == 404
        assert server.post(api, json={"target": 7}, timeout=10).status_code == 400
        assert server.post(api, json=[key], timeout=10).status_code == 400
        assert server.get(api, timeout=10).status_code == 405
        # The agent is found once the sampler links it: then the count is asked for.
        deadline = time.monotonic() + 30
        while (answer := server.post(api, json={"target": key}, timeout=10)).status_code == 404:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json()["target"] == key
        assert answer.json()["in_s"] >= 0
    finally:
        assert server.stop() == 0


SELF_TRACING_CHILD = CHILD.replace(
    "memlens.agent.start()", "memlens.agent.start()\nimport tracemalloc\ntracemalloc.start(3)"
)


@pytest.mark.parametrize(
    ("source", "extra", "frames"),
    [(CHILD, ["--tracemalloc", "5"], 5), (SELF_TRACING_CHILD, [], 3)],
    ids=["switched-on-by-watch", "the-program-traces"],
)
def test_the_hello_says_tracing_when_the_agent_traces(
    source: str, extra: list[str], frames: int
) -> None:
    with python_child(source) as proc:
        server = MemlensServer(
            "watch", str(proc.pid), "--port", "0", "--interval", "0.2", "--no-record", *extra
        )
        try:
            with connect(server.ws_url) as ws:
                fields = json.loads(ws.recv(timeout=10))["fields"]
                receive_until(
                    ws,
                    lambda m: (
                        m["type"] == "tick"
                        and any(s[fields.index("py_heap")] for s in m["samples"].values())
                    ),
                    time.monotonic() + 15,
                )
            assert tracing(proc.pid)
            with connect(server.ws_url) as late:
                hello = json.loads(late.recv(timeout=10))
            (target,) = hello["targets"]
            assert target["python"]["tracing"] is True
            assert target["python"]["frames"] == frames
        finally:
            assert server.stop() == 0
