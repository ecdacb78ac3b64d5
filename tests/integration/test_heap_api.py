"""The page's heap profiler endpoints on a real `memlens watch`: a real Python child with
the agent, started, marked, profiled and stopped over real HTTP; the token, bad
parameters and a target without an agent refused cleanly, as JSON."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from helpers import MemlensServer, python_child

API = "api/python/heap"
CHILD = r"""
import time
import memlens.agent
memlens.agent.start()
HELD = []

def hold_blocks():
    HELD.append(bytearray(64_000))

print("ready", flush=True)
while True:
    hold_blocks()
    time.sleep(0.01)
"""


@pytest.fixture(scope="module")
def agent_watch() -> Iterator[tuple[MemlensServer, str]]:
    with python_child(CHILD) as child:
        server = MemlensServer("watch", str(child.pid), "--port", "0", "--no-record")
        try:
            key = server.get("api/targets", timeout=10).json()["targets"][0]["key"]
            yield server, key
        finally:
            assert server.stop() == 0


def python_info(server: MemlensServer, key: str) -> dict:
    targets = server.get("api/targets", timeout=10).json()["targets"]
    info: dict = next(t for t in targets if t["key"] == key)["python"] or {}
    return info


def wait_for_agent(server: MemlensServer, key: str) -> None:
    deadline = time.monotonic() + 20
    while not python_info(server, key).get("heap"):
        assert time.monotonic() < deadline, "the agent was not linked"
        time.sleep(0.2)


def test_start_mark_profile_and_stop_through_the_server(
    agent_watch: tuple[MemlensServer, str],
) -> None:
    server, key = agent_watch
    wait_for_agent(server, key)
    assert python_info(server, key)["heap"]["running"] is False
    off = server.get(API, params={"target": key}, timeout=30)
    assert off.status_code == 409
    assert off.json()["code"] == "not_profiling"

    started = server.post(API, json={"target": key, "op": "start", "interval_bytes": 65536})
    assert started.status_code == 200, started.text
    assert started.json()["running"] is True
    assert started.json()["sampler"] in ("sampling", "tracemalloc")
    assert python_info(server, key)["heap"]["running"] is True  # every tab learns it at once

    time.sleep(1.0)
    mark = server.post(API, json={"target": key, "op": "mark", "name": "before"})
    assert mark.status_code == 200, mark.text
    assert mark.json()["name"] == "before"
    assert [m["name"] for m in python_info(server, key)["heap"]["marks"]] == ["before"]
    time.sleep(1.0)

    inuse = server.get(API, params={"target": key, "limit": "50"}, timeout=30)
    assert inuse.status_code == 200, inuse.text
    profile = inuse.json()
    assert profile["target"] == key
    assert profile["format"] == "memlens.heap"
    assert profile["kind"] == "inuse"
    assert len(profile["stacks"]) <= 50
    functions = {f["function"] for s in profile["stacks"] for f in s["frames"]}
    assert "hold_blocks" in functions

    growth = server.get(API, params={"target": key, "kind": "growth", "since": "before"})
    assert growth.status_code == 200, growth.text
    assert growth.json()["since_mark"] == "before"
    assert growth.json()["inuse_bytes"] > 0  # it holds more every 10 ms

    unknown = server.get(API, params={"target": key, "kind": "growth", "since": "nope"})
    assert unknown.status_code == 409
    assert unknown.json()["code"] == "bad_request"

    stopped = server.post(API, json={"target": key, "op": "stop"})
    assert stopped.status_code == 200
    assert stopped.json()["running"] is False
    assert python_info(server, key)["heap"]["running"] is False


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"kind": "peak"},
        {"limit": "0"},
        {"limit": "20001"},
        {"limit": "ten"},
        {"kind": "growth"},  # growth needs a mark
        {"kind": "growth", "since": "x" * 65},
        {"kind": "growth", "since": "a\nb"},
    ],
)
def test_bad_query_parameters_are_a_400(
    watched: tuple[MemlensServer, str], params: dict[str, str]
) -> None:
    server, key = watched
    query = {"target": key, **params} if params else {}
    response = server.get(API, params=query, timeout=10)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


@pytest.mark.parametrize(
    "body",
    [
        {"op": "start"},
        {"target": "k", "op": "explode"},
        {"target": "k", "op": "start", "interval_bytes": 10},
        {"target": "k", "op": "start", "interval_bytes": True},
        {"target": "k", "op": "start", "frames": 129},
        {"target": "k", "op": "mark"},
        {"target": "k", "op": "mark", "name": ""},
        ["not", "an", "object"],
    ],
)
def test_bad_bodies_are_a_400(watched: tuple[MemlensServer, str], body: object) -> None:
    server, key = watched
    if isinstance(body, dict) and "target" in body:
        body = {**body, "target": key}
    response = server.post(API, json=body, timeout=10)
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_a_target_without_an_agent_is_a_clean_404(watched: tuple[MemlensServer, str]) -> None:
    server, key = watched
    got = server.get(API, params={"target": key}, timeout=10)
    assert got.status_code == 404
    assert got.json() == {"error": f"target {key!r} has no Python agent"}
    posted = server.post(API, json={"target": key, "op": "start"}, timeout=10)
    assert posted.status_code == 404
    nowhere = server.get(API, params={"target": "123-456"}, timeout=10)
    assert nowhere.status_code == 404
    assert "is not watched" in nowhere.json()["error"]


def test_without_the_token_or_from_another_site_it_is_refused(
    watched: tuple[MemlensServer, str],
) -> None:
    server, key = watched
    assert httpx.get(server.base + API, params={"target": key}).status_code == 401
    body = {"target": key, "op": "start"}
    assert httpx.post(server.base + API, json=body).status_code == 401
    foreign = server.post(API, json=body, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    form = server.post(API, data={"target": key, "op": "start"})
    assert form.status_code == 415
