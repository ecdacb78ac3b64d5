"""The in-process agent, end to end: real Python children, real sockets, a real registry.

Each test has its own runtime directory (XDG_RUNTIME_DIR), so no test sees another's
agents. Nothing here measures time: waits are for lines a child prints, or polls with a
generous deadline for what happens in another process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from memlens.agent import autostart_env, list_agents, registry
from memlens.agent.client import AgentClient
from memlens.agent.launch import PTH_FILE
from memlens.errors import AgentBusy, AgentRefused, AgentRequestFailed, AgentUnavailable

TOKEN = "s3cret-token-for-the-agent-tests"
T = TypeVar("T")

CHILD = r"""
import gc, json, os, sys
{start}
LEAK = []

def leak(n):
    for _ in range(n):
        LEAK.append(bytearray(100_000))  # the leaking line

print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "leak":
        leak(int(arg))
    elif cmd == "gc":
        gc.collect()
    elif cmd == "stop":
        import memlens.agent
        memlens.agent.stop()
    elif cmd == "modules":
        names = sorted(m for m in sys.modules if m.startswith(("memlens", "psutil")))
        print(json.dumps(names), flush=True)
    print("ok", flush=True)
"""
LEAK_LINE = (
    CHILD.splitlines().index("        LEAK.append(bytearray(100_000))  # the leaking line") + 1
)
START = "import memlens.agent; memlens.agent.start({args})"


class Child:
    """A real Python process, with or without the agent, driven line by line."""

    def __init__(self, source: str, env: dict[str, str] | None = None) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept until kill() closes it
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", source],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env if env is not None else dict(os.environ),
        )
        self.lines_before_ready: list[str] = []
        while True:
            line = self.line()
            if line.startswith("ready"):
                break
            self.lines_before_ready.append(line)
        self.pid = self.proc.pid

    def line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the child ended: {self.error_output()}")
        return line.strip()

    def command(self, text: str) -> list[str]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        out = []
        while (line := self.line()) != "ok":
            out.append(line)
        return out

    def finish(self) -> int:
        """Closes its stdin, so it ends as a program does, and waits for it."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)

    def error_output(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        self.stderr.close()


@pytest.fixture
def spawn(runtime: Path) -> Iterator[Callable[..., Child]]:
    children: list[Child] = []

    def make(start: str = START.format(args=""), env: dict[str, str] | None = None) -> Child:
        child = Child(CHILD.format(start=start), env)
        children.append(child)
        return child

    yield make
    for child in children:
        child.kill()


def entry_of(pid: int) -> registry.AgentEntry:
    entry = registry.find_agent(pid)
    assert entry is not None, f"no registry entry for {pid}: {list_agents()}"
    return entry


def retry_busy(call: Callable[[], T]) -> T:
    """Costly requests may be refused while the agent rests; the answer says how long."""
    for _ in range(100):
        try:
            return call()
        except AgentBusy as exc:
            time.sleep(exc.retry_after_s)
    raise AssertionError("the agent stayed busy")


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def test_discovered_and_stats_read_over_a_private_socket(
    spawn: Callable[..., Child], runtime: Path
) -> None:
    child = spawn()
    entry = entry_of(child.pid)
    assert entry.socket is not None
    assert entry.tcp is None
    assert not entry.token_required
    assert entry.start_ticks == registry.process_start_ticks(child.pid)
    assert stat.S_IMODE(os.stat(runtime / "memlens").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(entry.socket).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(entry.path).st_mode) == 0o600

    with AgentClient.connect(entry.address) as client:
        assert client.agent["pid"] == child.pid
        assert client.agent["protocol"] == 1
        stats = client.stats()
    assert stats["rss_bytes"] > 0
    assert stats["max_rss_bytes"] > 0
    assert stats["threads"] >= 2  # the program's and the agent's
    assert stats["fds"] > 0
    assert len(stats["gc"]["generations"]) == 3
    assert stats["tracemalloc"]["tracing"] is False

    # The agent loads the standard library and itself, nothing of the viewer's side.
    (modules,) = child.command("modules")
    loaded = json.loads(modules)
    assert "memlens.agent.server" in loaded
    # The package itself and its version (a one-line leaf) come with any import.
    assert all(
        m in {"memlens", "memlens._version"} or m.startswith("memlens.agent") for m in loaded
    ), loaded
    assert "memlens.agent.client" not in loaded


def test_the_top_growing_site_is_the_leaking_line(spawn: Callable[..., Child]) -> None:
    child = spawn()
    with AgentClient.connect(entry_of(child.pid).address) as client:
        started = client.tracemalloc_start(frames=5)
        assert started["tracing"]
        assert started["frames"] == 5
        assert client.stats()["tracemalloc"]["tracing"] is True
        retry_busy(client.top)  # the baseline for growth
        child.command("leak 50")

        top = retry_busy(lambda: client.top(by="lineno", limit=5))
        assert top["baseline"] == "previous"
        site = top["sites"][0]
        assert (site["file"], site["line"]) == ("<string>", LEAK_LINE)
        assert site["size_diff_bytes"] >= 50 * 100_000
        assert site["count_diff"] >= 50

        # Unchanged since the last look: the leaking line holds memory but no longer grows.
        again = retry_busy(lambda: client.top(by="lineno", limit=100, order="growth"))
        same = [s for s in again["sites"] if s["line"] == LEAK_LINE and s["file"] == "<string>"]
        assert same
        assert same[0]["size_diff_bytes"] == 0
        by_size = retry_busy(lambda: client.top(limit=1, order="size"))
        assert by_size["sites"][0]["line"] == LEAK_LINE

        trace = retry_busy(lambda: client.top(by="traceback", limit=1, order="size"))
        frames = trace["sites"][0]["traceback"]
        assert frames[-1] == {"file": "<string>", "line": LEAK_LINE}
        assert len(frames) >= 2  # leak() and its caller

        assert client.tracemalloc_stop()["tracing"] is False
        assert client.stats()["tracemalloc"]["tracing"] is False
        with pytest.raises(AgentRequestFailed) as refused:
            client.top()
        assert refused.value.code == "not_tracing"


def test_object_counts_and_gc_pauses_on_demand(spawn: Callable[..., Child]) -> None:
    child = spawn()
    address = entry_of(child.pid).address
    with AgentClient.connect(address) as client:
        objects = retry_busy(lambda: client.objects(limit=5))
        assert objects["total"] > 0
        assert len(objects["types"]) == 5
        assert objects["types"][0]["count"] >= objects["types"][-1]["count"]

        assert client.stats()["gc"]["pauses_collecting"] is False
        first = client.gc_pauses()
        assert first["collecting"] is True
        assert first["since"] is None
        child.command("gc")
        second = client.gc_pauses()
        assert second["count"] >= 1
        assert any(p["generation"] == 2 for p in second["pauses"])
        assert second["max_s"] > 0

    def stopped_collecting() -> bool:
        with AgentClient.connect(address) as other:
            return other.stats()["gc"]["pauses_collecting"] is False

    wait_until(stopped_collecting, "gc pause collection to stop after the viewer left")


def test_tcp_needs_the_right_token_which_is_never_written_down(
    spawn: Callable[..., Child],
) -> None:
    # The token comes from the environment: a command line is no place for a secret.
    env = {**os.environ, "AGENT_TOKEN": TOKEN}
    child = spawn(START.format(args="'127.0.0.1:0', os.environ['AGENT_TOKEN']"), env)
    entry = entry_of(child.pid)
    assert entry.tcp is not None
    assert entry.tcp.startswith("127.0.0.1:")
    assert entry.token_required
    assert TOKEN not in entry.path.read_text()

    for wrong in (None, "wrong-token", TOKEN[:-1]):
        with pytest.raises(AgentRefused):
            AgentClient.connect(entry.tcp, token=wrong)
    with pytest.raises(AgentRefused):
        AgentClient.connect(entry.address)  # the Unix socket wants it too
    with AgentClient.connect(entry.tcp, token=TOKEN) as client:
        assert client.agent["transport"] == "tcp"
        assert client.stats()["rss_bytes"] > 0
    with AgentClient.connect(entry.address, token=TOKEN) as client:
        assert client.agent["transport"] == "unix"


def _raw(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(path)
    return sock


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return struct.pack(">I", len(body)) + body


def _read_until_closed(sock: socket.socket) -> bytes:
    """What the agent sent before it hung up (a hang-up with our bytes unread is a reset)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_garbage_closes_that_connection_and_the_host_runs_on(
    spawn: Callable[..., Child],
) -> None:
    child = spawn()
    path = entry_of(child.pid).socket
    assert path is not None

    garbage = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # a 1 GB length: refused before reading it
        struct.pack(">I", 5) + b"\xff\xfe{}}",  # not UTF-8
        struct.pack(">I", 4) + b"[1]]",  # not JSON
        _frame({"op": "stats"}),  # no hello first
        _frame({"op": "hello", "protocol": 99}),  # a protocol it does not speak
    ]
    for data in garbage:
        with _raw(path) as sock:
            sock.sendall(data)
            answer = _read_until_closed(sock)  # it hangs up (after an error frame, if any)
            if answer:
                assert json.loads(answer[4:])["ok"] is False

    # Within a good connection, a bad request is an error answer, not a hang-up.
    with _raw(path) as sock:
        sock.sendall(_frame({"id": 1, "op": "hello", "protocol": 1, "token": None}))
        sock.sendall(_frame({"id": 2, "op": "exec", "code": "import os"}))
        sock.sendall(_frame({"id": 3, "op": "tracemalloc.start", "frames": 10**6}))
        sock.sendall(_frame({"id": 4, "op": "stats"}))
        sock.sendall(_frame({"id": 5, "op": "bye"}))
        answers = [json.loads(chunk) for chunk in _split_frames(_read_until_closed(sock))]
    assert [a["id"] for a in answers] == [1, 2, 3, 4, 5]
    assert answers[1]["code"] == "unknown_op"
    assert answers[2]["code"] == "bad_request"
    assert answers[3]["ok"] is True

    child.command("gc")  # the program still runs
    with AgentClient.connect(f"unix:{path}") as client:
        assert client.stats()["rss_bytes"] > 0
    assert child.finish() == 0
    log = child.error_output()
    assert log.count("malformed") + log.count("closed a connection") == 1, log


def _split_frames(data: bytes) -> list[bytes]:
    frames = []
    while data:
        (length,) = struct.unpack(">I", data[:4])
        frames.append(data[4 : 4 + length])
        data = data[4 + length :]
    return frames


def _as_nobody(action: Callable[[], bytes]) -> bytes:
    """Runs `action` in a fork of this process that has become user 65534.

    A fork, not a new interpreter: the test's Python may live where nobody cannot read."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        result = b"crashed"
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            result = action()
        except BaseException as exc:
            result = repr(exc).encode()
        finally:
            os.write(write_end, result)
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        result = pipe.read()
    os.waitpid(pid, 0)
    return result


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
def test_another_user_cannot_connect(spawn: Callable[..., Child], runtime: Path) -> None:
    child = spawn()
    path = entry_of(child.pid).socket
    assert path is not None

    def try_connect() -> bytes:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        try:
            sock.connect(path)
        except PermissionError:
            return b"denied"
        try:
            sock.sendall(_frame({"id": 1, "op": "hello", "protocol": 1, "token": None}))
            return b"answered" if sock.recv(65536) else b"hung up"
        except (BrokenPipeError, ConnectionResetError):
            return b"hung up"

    assert _as_nobody(try_connect) == b"denied"

    # With the directory and socket opened up by hand, the agent still checks who it is.
    for place, mode in ((runtime, 0o755), (runtime / "memlens", 0o755), (Path(path), 0o666)):
        place.chmod(mode)
    assert _as_nobody(try_connect) == b"hung up"


def test_stop_and_exit_remove_the_entry_and_kill_leaves_a_stale_one(
    spawn: Callable[..., Child], runtime: Path
) -> None:
    stopped, exiting, killed = spawn(), spawn(), spawn()
    entries = {e.pid: e for e in list_agents()}
    assert set(entries) == {stopped.pid, exiting.pid, killed.pid}

    stopped.command("stop")
    assert registry.find_agent(stopped.pid) is None
    assert not os.path.exists(str(entries[stopped.pid].socket))
    with pytest.raises(AgentUnavailable):
        AgentClient.connect(entries[stopped.pid].address)

    assert exiting.finish() == 0
    assert not entries[exiting.pid].path.exists()

    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait(timeout=30)
    assert entries[killed.pid].path.exists()  # no chance to clean up
    assert [e.pid for e in list_agents()] == []
    assert not entries[killed.pid].path.exists()
    assert not os.path.exists(str(entries[killed.pid].socket))


def test_an_entry_whose_pid_names_another_process_is_stale(runtime: Path) -> None:
    directory = registry.runtime_dir()
    fields = {**registry.identity(), "socket": None, "tcp": None, "protocol": 1, "started": 0}
    ticks = fields["start_ticks"]
    assert ticks is not None
    registry.write_entry({**fields, "start_ticks": ticks + 1}, directory)
    assert list_agents() == []
    assert not registry.entry_path(os.getpid(), directory).exists()

    registry.write_entry(fields, directory)
    assert [e.pid for e in list_agents()] == [os.getpid()]


def test_a_runtime_directory_open_to_others_is_refused(runtime: Path) -> None:
    (runtime / "memlens").mkdir(mode=0o755)
    (runtime / "memlens").chmod(0o755)
    with pytest.raises(registry.RuntimeDirError):
        registry.runtime_dir()
    assert list_agents() == []


FORKING = r"""
import os, signal, sys
import memlens.agent
memlens.agent.start()
workers = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        os.write(1, b"worker %d\n" % os.getpid())  # one write: the workers share the pipe
        signal.pause()
    workers.append(pid)
os.write(1, b"ready %d\n" % os.getpid())
sys.stdin.readline()
for pid in workers:
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
os.write(1, b"workers done\n")
sys.stdin.read()
"""


def test_each_forked_worker_gets_its_own_agent(runtime: Path) -> None:
    """A plain os.fork() prefork of two workers (real gunicorn: test_agent_gunicorn.py)."""
    with subprocess.Popen(
        [sys.executable, "-u", "-c", FORKING],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as master:
        workers: set[int] = set()
        try:
            assert master.stdout is not None
            assert master.stdin is not None
            lines = [master.stdout.readline().split() for _ in range(3)]
            workers = {int(pid) for word, pid in lines if word == "worker"}
            assert len(workers) == 2

            entries = list_agents()
            assert {e.pid for e in entries} == {master.pid, *workers}
            assert len({e.socket for e in entries}) == 3
            for entry in entries:
                with AgentClient.connect(entry.address) as client:
                    assert client.agent["pid"] == entry.pid
                    assert client.stats()["rss_bytes"] > 0

            master.stdin.write("\n")
            master.stdin.flush()  # workers exit through sys.exit, so their atexit runs
            assert master.stdout.readline().strip() == "workers done"
            workers = set()  # reaped: their PIDs may name other processes from now on
            (left,) = list_agents()
            assert left.pid == master.pid  # the workers never touched the master's socket
            with AgentClient.connect(left.address) as client:
                assert client.stats()["threads"] >= 2
            master.stdin.close()
            assert master.wait(timeout=30) == 0
            assert list_agents() == []
        finally:
            if master.poll() is None:
                master.kill()
            for pid in workers:  # not our children: killing the master leaves them running
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


FORK_EXEC = r"""
import os, sys
import memlens.agent
memlens.agent.start()
pid = os.fork()
if pid == 0:
    code = "import os; os.write(1, b'execed\\n'); input()"
    os.execv(sys.executable, [sys.executable, "-c", code])
os.write(1, b"ready %d\n" % os.getpid())
sys.stdin.read()
"""


def test_a_forked_child_that_execs_leaves_no_ghost(runtime: Path) -> None:
    """Its agent started at fork, then exec() took it away; PID and start time stay."""
    with subprocess.Popen(
        [sys.executable, "-u", "-c", FORK_EXEC],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None
            assert sorted(parent.stdout.readline().split()[0] for _ in range(2)) == [
                "execed",
                "ready",
            ]
            assert len(list((runtime / "memlens").glob("*.json"))) == 2
            assert [e.pid for e in list_agents()] == [parent.pid]
            assert len(list((runtime / "memlens").glob("*.json"))) == 1
        finally:
            parent.kill()


NO_CODE = r"""
import os, sys
print("ready", os.getpid(), flush=True)
sys.stdin.read()
"""


def test_autostart_without_code_change_and_other_sitecustomize_still_runs(
    runtime: Path, tmp_path: Path
) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("print('their sitecustomize', flush=True)\n")
    env = autostart_env({**os.environ, "PYTHONPATH": str(theirs)})
    env["MEMLENS_AGENT_ADDRESS"] = "127.0.0.1:0"
    env["MEMLENS_AGENT_TOKEN"] = TOKEN

    child = Child(NO_CODE, env)
    try:
        assert child.lines_before_ready == ["their sitecustomize"]
        entry = entry_of(child.pid)
        assert entry.tcp is not None
        with AgentClient.connect(entry.tcp, token=TOKEN) as client:
            assert client.stats()["tracemalloc"]["tracing"] is False
    finally:
        child.kill()

    hook = Path(env["PYTHONPATH"].split(os.pathsep)[0])
    assert stat.S_IMODE(hook.stat().st_mode) == 0o700
    assert (hook / PTH_FILE.name).read_bytes() == PTH_FILE.read_bytes()


def test_uvicorn_workers_each_get_an_agent(runtime: Path, tmp_path: Path) -> None:
    """uvicorn starts workers as fresh interpreters: the start-up hook reaches each."""
    (tmp_path / "tinyapp.py").write_text(
        "async def app(scope, receive, send):\n    pass\n", encoding="utf-8"
    )
    env = autostart_env(dict(os.environ))
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tinyapp:app", "--workers", "2", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    ) as server:
        try:
            wait_until(lambda: _children_with_agents(server.pid) == 2, "two workers' agents")
            entries = list_agents()
            assert server.pid in {e.pid for e in entries}
            for entry in entries:
                with AgentClient.connect(entry.address) as client:
                    assert client.agent["pid"] == entry.pid
        finally:
            children = [e.pid for e in list_agents() if e.ppid == server.pid]
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                for pid in children:  # what a killed supervisor leaves behind
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


def _children_with_agents(pid: int) -> int:
    """uvicorn's workers; multiprocessing's resource tracker, another child, has one too."""
    return sum(1 for e in list_agents() if e.ppid == pid and "--multiprocessing-fork" in e.argv)


SITE_HOOK = r"""
import site, sys
site.addsitedir(sys.argv[1])
import memlens.agent
print(memlens.agent.is_running(), flush=True)
"""


@pytest.mark.parametrize(("value", "running"), [("1", "True"), ("", "False"), ("0", "False")])
def test_the_installed_pth_starts_the_agent_only_when_asked(
    runtime: Path, tmp_path: Path, value: str, running: str
) -> None:
    """The file a regular install puts in site-packages, processed as site.py would."""
    (tmp_path / PTH_FILE.name).write_bytes(PTH_FILE.read_bytes())
    env = {**os.environ, "MEMLENS_AGENT": value}
    out = subprocess.run(
        [sys.executable, "-c", SITE_HOOK, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == running
    assert out.stderr == ""
