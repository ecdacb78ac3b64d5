"""The agent under a real gunicorn: a prefork master and two sync workers, each its own agent.

Each test has its own runtime directory (XDG_RUNTIME_DIR, set by conftest.py), so the
registry it reads holds only the agents of the gunicorn it started. Nothing here measures
time: waits poll with a generous deadline for what happens in other processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from memlens.agent import autostart_env, list_agents, registry
from memlens.agent.client import AgentClient

APP = r"""
import os
{start}

def app(environ, start_response):
    body = b"served by %d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
START = "import memlens.agent\nmemlens.agent.start()"


def wait_until(predicate: Callable[[], bool], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


class Gunicorn:
    """`gunicorn --workers 2` serving the app in `directory` on a Unix socket there."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.bind = directory / "http.sock"
        self.log = directory / "gunicorn.log"
        command = [sys.executable, "-m", "gunicorn", "--workers=2", f"--bind=unix:{self.bind}"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*command, "app:app"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
            )
        self.pid = self.proc.pid
        self.workers: set[int] = set()  # every worker PID seen, to kill if the master is

    def worker_entries(self) -> list[registry.AgentEntry]:
        entries = [e for e in list_agents() if e.ppid == self.pid]
        self.workers.update(e.pid for e in entries)
        return entries

    def wait_for_workers(self) -> list[registry.AgentEntry]:
        wait_until(lambda: len(self.worker_entries()) == 2, "two workers' agents", self.log)
        return self.worker_entries()

    def get(self) -> bytes:
        """One HTTP request over the Unix socket; the whole answer, the server hangs up."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(str(self.bind))
            sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        return data

    def terminate(self) -> int:
        """SIGTERM, gunicorn's graceful stop: the master stops and reaps its workers."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.workers = set()  # reaped: their PIDs may name other processes from now on
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            for pid in self.workers:  # not our children: a killed master leaves them running
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def gunicorn(directory: Path, env: dict[str, str]) -> Iterator[Gunicorn]:
    server = Gunicorn(directory, env)
    try:
        yield server
    finally:
        server.kill()


def check_stats(entries: list[registry.AgentEntry]) -> None:
    for entry in entries:
        with AgentClient.connect(entry.address) as client:
            assert client.agent["pid"] == entry.pid
            stats = client.stats()
        assert stats["rss_bytes"] > 0
        assert stats["threads"] >= 2  # the worker's own and the agent's


def check_answers(server: Gunicorn, workers: set[int]) -> None:
    head, _, body = server.get().partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"200", head
    word, pid = body.rsplit(b" ", 1)
    assert word == b"served by"
    assert int(pid) in workers


def sockets_in(directory: Path) -> set[str]:
    return {str(p) for p in directory.rglob("*") if stat.S_ISSOCK(p.lstat().st_mode)}


def check_stopped_cleanly(server: Gunicorn, runtime: Path) -> None:
    # gunicorn (25.1+) may keep its own control socket in XDG_RUNTIME_DIR: look at ours.
    agents = runtime / "memlens"
    entries = list_agents()
    assert {e.socket for e in entries} <= sockets_in(agents)
    assert all(e.path.exists() for e in entries)

    assert server.terminate() == 0, server.log.read_text(errors="replace")
    # Read the directory itself: list_agents() would tidy away what a dead agent left.
    assert list(agents.glob("*.json")) == []
    assert sockets_in(agents) == set()
    assert list_agents() == []


def test_gunicorn_started_with_the_agent_gives_master_and_workers_one_each(
    runtime: Path, tmp_path: Path
) -> None:
    """The no-code path (`memlens run --agent`): the start-up hook starts the master's agent,
    and each forked worker starts its own."""
    (tmp_path / "app.py").write_text(APP.format(start=""), encoding="utf-8")
    with gunicorn(tmp_path, autostart_env(dict(os.environ))) as server:
        workers = server.wait_for_workers()
        entries = list_agents()
        assert len(entries) == 3
        assert len({e.pid for e in entries}) == 3
        assert len({e.socket for e in entries}) == 3
        (master,) = [e for e in entries if e.pid == server.pid]
        assert master.ppid == os.getpid()
        assert {e.ppid for e in workers} == {server.pid}
        check_stats(entries)
        check_answers(server, {e.pid for e in workers})
        check_stopped_cleanly(server, runtime)


def test_agent_started_in_the_app_module_gives_each_worker_one(
    runtime: Path, tmp_path: Path
) -> None:
    """Without --preload each worker imports the app after the fork: one agent per worker,
    none in the master."""
    (tmp_path / "app.py").write_text(APP.format(start=START), encoding="utf-8")
    with gunicorn(tmp_path, dict(os.environ)) as server:
        workers = server.wait_for_workers()
        entries = list_agents()
        assert sorted(e.pid for e in entries) == sorted(e.pid for e in workers)
        assert len({e.socket for e in entries}) == 2
        assert server.pid not in {e.pid for e in entries}
        check_stats(entries)
        check_answers(server, {e.pid for e in workers})
        check_stopped_cleanly(server, runtime)
