"""The commands that find and read Python agents: `ls`, `watch` with no target or with an
agent's address, and `run --agent`. Real children run the agent; each test has its own
runtime directory (XDG_RUNTIME_DIR), which the memlens subprocesses inherit.
"""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from helpers import MB, MemlensServer, run_memlens
from memlens.agent.client import AgentClient

TOKEN = "agent-token-for-the-cli-tests"

APP = r"""
import os, sys
import memlens.agent
{start}
held = []
print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "info":
        info = memlens.agent.info()
        print((info.tcp or "") + "|" + (info.socket or ""), flush=True)
    elif cmd == "alloc":
        buf = bytearray(int(arg) * 1024 * 1024)
        for i in range(0, len(buf), 4096):
            buf[i] = 1
        held.append(buf)
    print("ok", flush=True)
"""


@pytest.fixture
def runtime(runtime: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """conftest.py's runtime directory, and a table wide enough not to wrap names."""
    monkeypatch.setenv("COLUMNS", "200")
    return runtime


class App:
    """A real Python program, run from a file so that its name is known, with an agent."""

    def __init__(self, directory: Path, name: str, start: str, args: tuple[str, ...] = ()) -> None:
        script = directory / name
        script.write_text(APP.format(start=start))
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(script), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.line().startswith("ready")
        self.pid = self.proc.pid

    def line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the program ended"
        return line.strip()

    def command(self, text: str) -> list[str]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        out = []
        while (line := self.line()) != "ok":
            out.append(line)
        return out

    def addresses(self) -> tuple[str, str]:
        """(TCP address or "", Unix socket path)."""
        tcp, _, path = self.command("info")[0].partition("|")
        return tcp, path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def apps(runtime: Path, tmp_path: Path) -> Iterator[list[App]]:
    """Started by the test; all stopped at its end."""
    started: list[App] = []
    yield started
    for app in started:
        app.stop()


def start_app(
    apps: list[App], tmp_path: Path, name: str = "shop_app.py", start: str = "start()"
) -> App:
    app = App(tmp_path, name, f"memlens.agent.{start}")
    apps.append(app)
    return app


SECRET_ARGS = (
    "--aws-access-key-id",
    "AKIAIOSFODNN7EXAMPLE",
    "--access_key=wJalrXUtnFEMIK7MDENG",
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9",
    "Bearer sk-live-0123456789abcdef",
    "postgres://shop:hunter2-db@db/shop",
)
SECRETS = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENG", "eyJhbGci", "sk-live-", "hunter2-db")


def test_secrets_on_the_command_line_are_in_neither_ls_nor_the_hello(
    apps: list[App], tmp_path: Path
) -> None:
    app = App(tmp_path, "shop_app.py", "memlens.agent.start()", SECRET_ARGS)
    apps.append(app)
    result = run_memlens("ls", "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["pid"] == app.pid
    assert "--aws-access-key-id" in entry["argv"]  # the command line is there, masked
    with AgentClient.connect(app.addresses()[1]) as agent:
        hello = json.dumps(agent.agent)
    for shown in (result.stdout, hello):
        assert "--aws-access-key-id" in shown
        for secret in SECRETS:
            assert secret not in shown, (secret, shown)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def receive(ws: ClientConnection) -> dict[str, Any]:
    message = ws.recv(timeout=10)
    assert isinstance(message, str)
    parsed: dict[str, Any] = json.loads(message)
    return parsed


# -- memlens ls --------------------------------------------------------------------------


def test_ls_lists_the_processes_that_run_the_agent(apps: list[App], tmp_path: Path) -> None:
    app = start_app(apps, tmp_path)
    result = run_memlens("ls")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if f" {app.pid} " in line)
    assert app.name in row
    assert platform.python_version() in row
    assert "unix:" in result.stdout

    result = run_memlens("ls", "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["pid"] == app.pid
    assert entry["name"] == app.name
    assert entry["python"] == platform.python_version()
    assert entry["rss_bytes"] > 0
    assert entry["uptime_s"] >= 0
    assert entry["address"] == f"unix:{app.addresses()[1]}"
    assert entry["tcp"] is None
    assert entry["token_required"] is False


def test_ls_with_no_agent_says_how_to_start_one(runtime: Path) -> None:
    result = run_memlens("ls")
    assert result.returncode == 0
    assert "no Python process" in result.stdout
    assert "memlens run --agent" in result.stdout
    result = run_memlens("ls", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == []


def test_ls_leaves_out_a_process_that_ended(apps: list[App], tmp_path: Path) -> None:
    gone = start_app(apps, tmp_path, "gone_app.py")
    alive = start_app(apps, tmp_path, "alive_app.py")
    gone.proc.kill()
    gone.proc.wait()
    result = run_memlens("ls", "--json")
    assert [e["pid"] for e in json.loads(result.stdout)] == [alive.pid]


# -- memlens watch with no target --------------------------------------------------------


def test_watch_with_no_target_watches_the_one_agent(apps: list[App], tmp_path: Path) -> None:
    app = start_app(apps, tmp_path)
    server = MemlensServer("watch", "--port", "0", "--no-record", "--interval", "0.1")
    try:
        with connect(server.ws_url) as ws:
            hello = receive(ws)
        assert hello["type"] == "hello"
        assert [t["pid"] for t in hello["targets"]] == [app.pid]
    finally:
        assert server.stop() == 0


def test_watch_with_no_target_and_two_agents_lists_them(apps: list[App], tmp_path: Path) -> None:
    first = start_app(apps, tmp_path, "first_app.py")
    second = start_app(apps, tmp_path, "second_app.py")
    result = run_memlens("watch", "--no-record")
    assert result.returncode == 2
    for app in (first, second):
        assert any(
            f" {app.pid} " in line and app.name in line for line in result.stdout.splitlines()
        )
    assert "name one" in one_line(result.stderr)


def test_watch_with_no_target_and_no_agent_is_bad_usage(runtime: Path) -> None:
    result = run_memlens("watch", "--no-record")
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "name at least one PID" in line
    assert "--agent" in line
    assert result.stdout == ""


# -- memlens watch ADDRESS ---------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_watch_reads_a_process_through_its_agent(
    apps: list[App], tmp_path: Path, transport: str
) -> None:
    app = start_app(apps, tmp_path, start=f"start('127.0.0.1:0', token={TOKEN!r})")
    tcp, path = app.addresses()
    address = tcp if transport == "tcp" else f"unix:{path}"
    server = MemlensServer(
        "watch", address, "--agent-token", TOKEN, "--port", "0", "--no-record", "--interval", "0.1"
    )
    try:
        with connect(server.ws_url) as ws:
            hello = receive(ws)
            assert hello["type"] == "hello"
            (target,) = hello["targets"]
            assert (target["pid"], target["name"]) == (app.pid, app.name)
            fields: list[str] = hello["fields"]
            key = target["key"]

            def next_sample() -> list[Any]:
                for _ in range(600):
                    message = receive(ws)
                    if message["type"] == "tick" and key in message["samples"]:
                        sample: list[Any] = message["samples"][key]
                        return sample
                raise AssertionError("no tick for the target")

            first = next_sample()
            assert first[fields.index("rss")] > 0
            assert first[fields.index("threads")] >= 1
            assert first[fields.index("py_blocks")] > 0
            assert first[fields.index("gc_collections")] is not None
            assert first[fields.index("py_heap")] is None  # not tracing
            app.command("alloc 60")
            for _ in range(100):
                if next_sample()[fields.index("rss")] >= first[fields.index("rss")] + 50 * MB:
                    break
            else:
                raise AssertionError("the series did not follow the program's growth")
            app.stop()  # its agent goes with it: the target is reported as exited
            for _ in range(600):
                message = receive(ws)
                if message["type"] == "exit" and message["key"] == key:
                    assert message["reason"] == "exited"
                    break
            else:
                raise AssertionError("no exit for the target")
    finally:
        assert server.stop() == 0


def test_a_wrong_agent_token_is_one_line_and_exit_2(apps: list[App], tmp_path: Path) -> None:
    app = start_app(apps, tmp_path, start=f"start('127.0.0.1:0', token={TOKEN!r})")
    tcp, _ = app.addresses()
    result = run_memlens("watch", tcp, "--agent-token", "not-the-token", "--no-record")
    assert result.returncode == 2
    assert "refused" in one_line(result.stderr)
    result = run_memlens("watch", tcp, "--no-record")
    assert result.returncode == 2
    assert "--agent-token" in one_line(result.stderr)


def test_an_address_where_no_agent_listens_is_one_line_and_exit_3(runtime: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_memlens("watch", f"127.0.0.1:{port}", "--agent-token", TOKEN, "--no-record")
    assert result.returncode == 3
    assert f"no agent answers at 127.0.0.1:{port}" in one_line(result.stderr)


# -- memlens run --agent -----------------------------------------------------------------

REPORTER = r"""
import os, subprocess, sys
import memlens.agent
print("agent", os.getpid(), memlens.agent.is_running(), flush=True)
if len(sys.argv) > 1:
    subprocess.run([sys.executable, __file__], check=True)
"""


@pytest.mark.parametrize("agent", [True, False])
def test_run_agent_starts_the_agent_in_every_python_process(
    runtime: Path, tmp_path: Path, agent: bool
) -> None:
    script = tmp_path / "reporter.py"
    script.write_text(REPORTER)
    flags = ["--agent"] if agent else []
    result = run_memlens(
        "run", *flags, "-o", str(tmp_path / "x.db"), "--", sys.executable, str(script), "again"
    )
    assert result.returncode == 0, result.stderr
    reports = [line.split() for line in result.stdout.splitlines() if line.startswith("agent ")]
    assert len(reports) == 2  # the command and its own child
    assert reports[0][1] != reports[1][1]
    assert [r[2] for r in reports] == [str(agent)] * 2
