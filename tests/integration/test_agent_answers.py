"""memlens against a hostile agent: a real process that speaks the agent protocol on a
Unix socket in the test's runtime directory, registers like an agent, and answers what
it is told to (wrong types, negative or huge numbers, no object at all, a trickle).

memlens's real client, links and poller must turn each into one clean error for that
agent, drop it, and carry on: never a traceback, never an exception out of a sample.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from memlens.agent import find_agent
from memlens.agent.client import AgentClient
from memlens.errors import AgentMisbehaved, AgentRequestFailed, AgentUnavailable
from memlens.model import Reading
from memlens.watch.agent_links import AgentLinks, Candidate
from memlens.watch.python_poll import PythonPoller, growing

FAKE = r"""
import json, os, socket, sys, threading, time
from memlens.agent import _entry

told = json.loads(sys.argv[1])
directory = _entry.runtime_dir()
path = os.path.join(directory, f"{os.getpid()}-fake.sock")
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(8)
identity = _entry.identity()
started = time.time()
entry = {**identity, "protocol": 1, "socket": path, "tcp": None, "token_required": False,
         "started": started}
_entry.write_entry(entry, directory)
HELLO = {**identity, "agent": "memlens", "protocol": 1, "started": started,
         "transport": "unix", "ops": ["stats", "top", "gc.pauses", "bye"]}
print("ready", flush=True)


def exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(conn):
    try:
        while True:
            message = json.loads(exact(conn, int.from_bytes(exact(conn, 4), "big")))
            op = message.get("op")
            default = {"ok": True, "result": HELLO if op == "hello" else {}}
            answer = {"id": message.get("id"), **told.get(op, default)}
            trickle = answer.pop("trickle_s", None)
            body = json.dumps(answer).encode()
            frame = len(body).to_bytes(4, "big") + body
            if trickle is None:
                conn.sendall(frame)
            for i in range(len(frame) if trickle is not None else 0):
                conn.sendall(frame[i : i + 1])
                time.sleep(trickle)
    except (EOFError, OSError):
        conn.close()


while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


# Hostile answers to stats: each must be AgentMisbehaved, never a value memlens uses.
BAD_STATS = {
    "tracemalloc is a number": ok({"tracemalloc": 7}),
    "tracemalloc fields of the wrong type": ok({"tracemalloc": {"tracing": "yes"}}),
    "a generation's count is a string": ok({"gc": {"generations": [{"collections": "many"}]}}),
    "generations is an object": ok({"gc": {"generations": {"0": 1}}}),
    "a negative rss": ok({"rss_bytes": -5}),
    "a huge rss": ok({"rss_bytes": 2**80}),
    "a float count": ok({"allocated_blocks": 1.5e300}),
    "a boolean count": ok({"threads": True}),
    "a result that is a list": ok([1, 2, 3]),
    "no result": {"ok": True},
    "ok is not a boolean": {"ok": "yes", "result": {}},
    "a busy answer an age away": {
        "ok": False,
        "code": "busy",
        "error": "x",
        "retry_after_s": 1e300,
    },
    "a negative retry": {"ok": False, "code": "busy", "error": "x", "retry_after_s": -1},
}


@pytest.fixture
def fake_agent() -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(told: dict[str, Any]) -> tuple[int, str]:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-c", FAKE, json.dumps(told)], stdout=subprocess.PIPE, text=True
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        entry = find_agent(proc.pid)
        assert entry is not None
        return proc.pid, entry.address

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.mark.parametrize("answer", BAD_STATS.values(), ids=BAD_STATS.keys())
def test_a_hostile_stats_answer_is_one_clean_error(fake_agent: Any, answer: Any) -> None:
    _, address = fake_agent({"stats": answer})
    with AgentClient.connect(address) as agent:
        with pytest.raises(AgentMisbehaved) as bad:
            agent.stats()
        assert "\n" not in str(bad.value)
        with pytest.raises(AgentUnavailable):  # the connection was dropped
            agent.stats()


BAD_HELLOS = {
    "pid is a string": ok({"pid": "1"}),
    "argv holds a number": ok({"argv": ["python", 7]}),
    "a name longer than any": ok({"name": "x" * 100_000}),
    "a started that is no time": ok({"started": -1}),
    "hello is a string": ok("memlens"),
}


@pytest.mark.parametrize("answer", BAD_HELLOS.values(), ids=BAD_HELLOS.keys())
def test_a_hostile_hello_is_one_clean_error(fake_agent: Any, answer: Any) -> None:
    _, address = fake_agent({"hello": answer})
    with pytest.raises(AgentMisbehaved):
        AgentClient.connect(address)


def test_an_error_answer_is_shown_on_one_line(fake_agent: Any) -> None:
    told = {"stats": {"ok": False, "code": "internal\n" * 50, "error": "one\ntwo\x1b[31m" * 500}}
    _, address = fake_agent(told)
    with AgentClient.connect(address) as agent, pytest.raises(AgentRequestFailed) as failed:
        agent.stats()
    assert "\n" not in str(failed.value)
    assert "\x1b" not in str(failed.value)
    assert len(str(failed.value)) < 400
    assert len(failed.value.code) <= 64


def test_an_answer_trickled_a_byte_at_a_time_is_given_up_on(fake_agent: Any) -> None:
    _, address = fake_agent({"stats": {"trickle_s": 0.2, **ok({"rss_bytes": 1, "pad": "x" * 400})}})
    with AgentClient.connect(address, timeout=1.0) as agent, pytest.raises(AgentUnavailable):
        agent.stats()  # each byte comes well within the timeout, the answer never does


def _reading() -> Reading:
    fields = dict.fromkeys(Reading._fields)
    return Reading(**{**fields, "rss": 1, "vms": 1, "shared": 0, "threads": 1, "fds": 1})


def test_the_links_drop_a_misbehaving_agent_for_good_and_samples_go_on(
    fake_agent: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pid, _ = fake_agent({"stats": ok({"tracemalloc": 7})})
    links = AgentLinks(recheck=0.0)
    candidate = Candidate("p1", pid, None)
    with caplog.at_level(logging.WARNING, logger="memlens.watch.agent_links"):
        assert links.scan([candidate], time.monotonic()) == ["p1"]
        reading = _reading()
        assert links.fill("p1", reading) == reading  # as if it had no agent
        assert "p1" not in links
        assert links.scan([candidate], time.monotonic() + 60) == []  # never linked again
        assert links.fill("p1", reading) == reading
    warnings = [r for r in caplog.records if "no longer asked" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize(
    "told",
    [
        {"gc.pauses": ok({"pauses": [{"duration_s": float("inf")}]})},  # written as Infinity
        {"gc.pauses": ok({"pauses": [{"duration_s": "long"}] * 5})},
        {"gc.pauses": ok({"pauses": [{}] * 5000})},  # more than an agent keeps
        {"gc.pauses": ok({"count": -1})},
    ],
)
def test_the_poller_publishes_nothing_a_misbehaving_agent_says(
    fake_agent: Any, told: dict[str, Any]
) -> None:
    pid, _ = fake_agent(told)
    links = AgentLinks(recheck=0.0)
    assert links.scan([Candidate("p1", pid, None)], time.monotonic()) == ["p1"]
    published: list[dict[str, Any]] = []
    poller = PythonPoller(links, published.append, lambda: True)
    assert poller.poll_once(time.monotonic()) == 0
    assert published == []
    assert "p1" not in links
    assert poller.poll_once(time.monotonic() + 60) == 0


def test_counting_objects_now_waits_out_the_agents_rest(fake_agent: Any) -> None:
    """The page's "Count now" never asks an agent that said it rests: it is asked when
    the rest ends."""
    busy = {"ok": False, "code": "busy", "error": "resting", "retry_after_s": 20.0}
    pid, _ = fake_agent({"objects": busy})
    links = AgentLinks(recheck=0.0)
    assert links.scan([Candidate("p1", pid, None)], time.monotonic()) == ["p1"]
    published: list[dict[str, Any]] = []
    try:
        poller = PythonPoller(links, published.append, lambda: True)
        poller.poll_once(time.monotonic())
        assert not any("objects" in m for m in published)
        assert poller.count_objects_now("p1") > 10.0
        assert "p1" in links  # busy is not misbehaving
    finally:
        links.forget("p1")


def test_the_types_that_grew_come_first_then_the_new_ones() -> None:
    before = {"dict": 100, "Order": 10, "list": 50}
    base = (1000.0, before, 160)
    counts = {"dict": 105, "Order": 510, "list": 40, "Fresh": 7}
    got = growing(base, counts, {"total": 700, "elapsed_s": 0.01})
    assert [(t["type"], t["growth"], t["new"]) for t in got["types"]] == [
        ("Order", 500, False),
        ("dict", 5, False),
        ("Fresh", None, True),
    ]
    assert got["total_growth"] == 540
    assert got["since"] == 1000.0
    assert not got["first"]
    first = growing(base, before, {"total": 160})
    assert first["first"]
    assert [t["type"] for t in first["types"]] == ["dict", "list", "Order"]
