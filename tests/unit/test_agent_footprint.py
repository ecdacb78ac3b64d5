"""What the agent leaves in its host until a viewer speaks: the listener, nothing more.

Every module a process imports adds objects that its garbage collector walks on every
full collection for the rest of its life, so a started agent that nobody talks to loads
only what listening needs, built on C modules (`_socket`, `_thread`, `select`, `posix`),
and the request handling comes with the first viewer, on the agent's own thread. The
child runs without `site` (-S), as bare as an interpreter gets, so that what it holds is
the agent's doing; it imports nothing but C modules itself, so that the agent's modules
are all there is to see. Only which modules are loaded is checked: object counts vary
from one Python version to the next.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import memlens
import memlens.agent
from memlens.agent.client import AgentClient

# The agent's threads are `_thread` threads, which `threading` does not count, and
# importing `threading` here would hide whether the agent loads it: threads are counted
# in /proc/self/task, and the thread that imports the request handling by its ident.
CHILD = r"""
import _thread, posix, sys

HOST = _thread.get_ident()
WHERE = []


class Spy:
    # Notes which thread first imports the request handling; finds nothing itself.
    def find_spec(self, name, path=None, target=None):
        if name == "memlens.agent.connection":
            WHERE.append("host" if _thread.get_ident() == HOST else "agent")
        return None


sys.meta_path.insert(0, Spy())
import memlens.agent

info = memlens.agent.start()
print("ready", info.socket, flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "modules":
        print(" ".join(sorted(sys.modules)), flush=True)
    elif command == "threads":
        print(len(posix.listdir("/proc/self/task")), flush=True)
    elif command == "where":
        print(" ".join(WHERE), flush=True)
"""

# Loaded by the first viewer that speaks, not by start().
REQUEST_HANDLING = (
    "memlens.agent.connection",
    "memlens.agent.protocol",
    "memlens.agent.session",
    "memlens.agent.stats",
    "memlens.agent.tracing",
    "memlens.agent.gcpauses",
    "memlens.agent.budget",
)
# Loaded by the request that needs it: an object count.
ON_DEMAND = ("memlens.agent.objects",)
# The viewer's side: never loaded by the agent.
VIEWER_SIDE = (
    "memlens.agent.client",
    "memlens.agent.answers",
    "memlens.agent.registry",
    "memlens.agent.launch",
)
# Heavy standard library that the agent does without, before a viewer and after.
HEAVY_STDLIB = ("inspect", "dataclasses", "typing", "logging", "pathlib", "secrets", "hashlib")
# What the agent's Python modules would bring (json: re, enum; socket: selectors, enum;
# threading, contextlib: collections, functools, os): listening uses their C halves.
PYTHON_STDLIB = (
    "json",
    "re",
    "enum",
    "socket",
    "selectors",
    "threading",
    "contextlib",
    "collections",
    "functools",
    "itertools",
    "struct",
    "os",
    "stat",
    "ipaddress",
)
# What a viewer polling `stats` and `gc.pauses` still does not load: `top` needs
# tracemalloc.py (with fnmatch, linecache, pickle), `objects` collections.
NOT_FOR_STATS = ("tracemalloc", "fnmatch", "linecache", "pickle", "hmac", *ON_DEMAND)


class Child:
    """A bare interpreter (no `site`) that starts the agent and answers line commands."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(Path(memlens.__file__).resolve().parents[1])
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-u", "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        word, self.socket = self.line().split(" ", 1)
        assert word == "ready"

    def line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the child ended with {self.proc.wait(timeout=30)}"
        return line.strip()

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.line()

    def modules(self) -> set[str]:
        return set(self.ask("modules").split())

    def threads(self) -> int:
        return int(self.ask("threads"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def child(runtime: Path) -> Iterator[Child]:
    started = Child()
    yield started
    started.close()


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def test_a_started_agent_loads_only_the_listener(child: Child) -> None:
    loaded = child.modules()
    assert "memlens.agent.server" in loaded
    assert not loaded & {*REQUEST_HANDLING, *ON_DEMAND, *VIEWER_SIDE, *HEAVY_STDLIB}
    assert not loaded & set(PYTHON_STDLIB)


def test_a_peer_that_hangs_up_unheard_loads_nothing(child: Child) -> None:
    # What `memlens ls` does to tell a live agent from a dead one.
    assert [e.pid for e in memlens.agent.list_agents()] == [child.proc.pid]
    idle = 2  # the program's thread and the agent's listener
    wait_until(lambda: child.threads() == idle, "the agent let the listing's probe go")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.connect(child.socket)
        wait_until(lambda: child.threads() == idle + 1, "the agent took the connection")
    wait_until(lambda: child.threads() == idle, "the agent let the connection go")
    assert not child.modules() & {*REQUEST_HANDLING, *HEAVY_STDLIB, *PYTHON_STDLIB}


def test_the_first_viewer_loads_the_request_handling_on_the_agents_thread(
    child: Child,
) -> None:
    with AgentClient.connect(f"unix:{child.socket}") as client:
        assert client.agent["pid"] == child.proc.pid
        stats = client.stats()
        again = client.stats()
        pauses = client.gc_pauses()
    assert stats["rss_bytes"] > 0
    # The program's, the agent's listener and this connection's, though `threading`
    # knows none but the first.
    assert stats["python_threads"] == 3
    assert stats["threads"] >= 3
    assert len(stats["gc"]["generations"]) == 3
    assert stats["gc"]["pauses_collecting"] is False
    assert stats["tracemalloc"]["tracing"] is False
    assert again["time"] >= stats["time"]
    assert pauses["collecting"] is True

    loaded = child.modules()
    assert set(REQUEST_HANDLING) <= loaded
    assert not loaded & {*VIEWER_SIDE, *HEAVY_STDLIB, *PYTHON_STDLIB, *NOT_FOR_STATS}
    assert child.ask("where") == "agent"  # not the host's thread

    # A second viewer finds it loaded; nothing is loaded twice.
    with AgentClient.connect(f"unix:{child.socket}") as client:
        assert client.stats()["rss_bytes"] > 0
    assert child.ask("where") == "agent"


def test_costly_requests_load_what_they_need_when_asked(child: Child) -> None:
    with AgentClient.connect(f"unix:{child.socket}") as client:
        assert client.objects(limit=3)["total"] > 0
        assert "memlens.agent.objects" in child.modules()
        assert "tracemalloc" not in child.modules()
        client.tracemalloc_start(frames=1)
        assert "tracemalloc" not in child.modules()  # switching needs only its C half
        assert client.top(limit=3)["by"] == "lineno"
        assert "tracemalloc" in child.modules()
        client.tracemalloc_stop()
