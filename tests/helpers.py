"""Real parts for tests: child processes that allocate known amounts, a memlens server."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

MB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent

# A child that leaks through a growing list, 4 MB/s, for as long as it runs.
LEAKY_LIST = """
import time
leak = []
print("ready", flush=True)
while True:
    leak.append("x" * 200_000)  # 200 KB kept for ever: 4 MB/s
    time.sleep(0.05)
"""

# Settings (memlens.toml) that scale the leak detector's windows down so a minute of data
# is enough for a verdict and a live alert (docs/leak-detection.md has each parameter).
FAST_DETECTOR = """
[leaks]
every = "2s"
persistence = 2
min_duration = "30s"
min_points = 20
envelope_window = "1s"
min_leak_window = "10s"
young_age = "0s"   # the live levels' minutes, scaled down as well: no warm-up prior
fast_rate = 0      # and no fast rule (its windows are minutes long)
"""

# The same, faster still for the pages' live alerts: a verdict within seconds.
BROWSER_DETECTOR = """
[leaks]
every = "1s"
persistence = 2
min_duration = "15s"
min_points = 20
envelope_window = "1s"
min_leak_window = "8s"
young_age = "0s"
fast_rate = 0
"""

# A child that allocates and touches memory on command, so its RSS moves by known amounts.
ALLOCATOR_SOURCE = r"""
import sys
held = []
print("ready", flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "alloc":
        buf = bytearray(int(arg) * 1024 * 1024)
        for i in range(0, len(buf), 4096):
            buf[i] = 1
        held.append(buf)
    elif cmd == "free":
        held.clear()
    elif cmd == "exit":
        sys.exit(int(arg or 0))
    print("ok", flush=True)
"""


class Allocator:
    """A real Python child whose memory grows when told to."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-c", ALLOCATOR_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._line() == "ready"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        if not text.startswith("exit"):
            assert self._line() == "ok"

    def alloc(self, mb: int) -> None:
        self.command(f"alloc {mb}")

    def vmrss(self) -> int:
        """What the kernel reports in /proc/PID/status, in bytes."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class MemlensServer:
    """`python -m memlens ARGS --port 0` in a real subprocess; knows its URL."""

    def __init__(self, *args: str, timeout: float = 20.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memlens", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self.stderr = ""
        self._reader: threading.Thread | None = None
        self.url = self._wait_for_url(timeout)

    def _wait_for_url(self, timeout: float) -> str:
        # A reader thread, not select(): select cannot see lines already in Python's buffer.
        found: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if re.match(r"^http://\S+$", line.strip()):
                    found.put(line.strip())
            found.put(None)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        try:
            url = found.get(timeout=timeout)
        except queue.Empty:
            url = None
        if url is None:
            self.stop()  # keeps what it printed on stderr in self.stderr
            err = getattr(self, "stderr", "")
            raise AssertionError(f"memlens printed no URL: {self.lines!r} {err!r}")
        return url

    @property
    def base(self) -> str:
        """The URL without a query string, ending in '/'."""
        return self.url.split("?", 1)[0]

    @property
    def token(self) -> str | None:
        """The token the printed URL carries (None when the server needs none)."""
        found = parse_qs(urlsplit(self.url).query).get("token")
        return found[0] if found else None

    @property
    def auth(self) -> dict[str, str]:
        """Headers that present the token, as a script would."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def ws_url(self) -> str:
        query = "?" + self.url.split("?", 1)[1] if "?" in self.url else ""
        return self.base.replace("http://", "ws://") + "ws" + query

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET base + path with the token (Authorization: Bearer)."""
        kwargs["headers"] = {**self.auth, **kwargs.get("headers", {})}
        return httpx.get(self.base + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        kwargs["headers"] = {**self.auth, **kwargs.get("headers", {})}
        return httpx.post(self.base + path, **kwargs)

    def stop(self) -> int:
        if self.proc.stderr is not None and self.proc.stderr.closed:
            return self.proc.returncode  # stopped already
        code = self._stop()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc.stderr is not None:
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
        return code

    def _stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def python_child(source: str) -> Iterator[subprocess.Popen[str]]:
    """A real Python child running `source`, which prints "ready" once set up (the Python
    agent started, say); killed and reaped on the way out. It inherits the test's
    environment, so its agent registers in the test's private runtime directory."""
    proc = subprocess.Popen([sys.executable, "-u", "-c", source], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@contextlib.contextmanager
def profiled_child(source: str) -> Iterator[subprocess.Popen[str]]:
    """`python_child`, started with the Python agent and the heap profiler on as `memlens
    run --profile` starts them (MEMLENS_AGENT=1, MEMLENS_HEAP=1); yielded once its agent
    has registered."""
    from memlens.agent import find_agent
    from memlens.agent.launch import autostart_env

    env = {**autostart_env(), "MEMLENS_HEAP": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", source], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while find_agent(proc.pid) is None:  # it registers once it listens
            assert time.monotonic() < deadline, "the child's agent did not register"
            time.sleep(0.05)
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def agent_tracing(pid: int) -> bool:
    """Whether the agent of process `pid` traces with tracemalloc, asked over its socket."""
    from memlens.agent import find_agent
    from memlens.agent.client import AgentClient

    entry = find_agent(pid)
    assert entry is not None, f"process {pid} has no agent"
    with AgentClient.connect(entry.address) as agent:
        return bool(agent.stats()["tracemalloc"]["tracing"])


def unused_pid() -> int:
    """A PID no process holds right now."""
    limit = int(Path("/proc/sys/kernel/pid_max").read_text())
    for pid in range(limit - 1, 1, -1):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise AssertionError("every PID is taken")


def run_memlens(*args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memlens", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def synthetic_day(path: Path, *, seconds: int = 86_400, spike_at: int = 50_000) -> tuple[int, str]:
    """A recording of one target sampled at 1 Hz for `seconds`: a slow sawtooth over a
    rising floor, and one single-sample spike of 900 MB. Returns (recording id, key)."""
    from memlens.model import Reading, Target, Tick
    from memlens.store import Store

    start = time.time() - seconds - 60
    target = Target(
        key="4242-1000",
        kind="process",
        pid=4242,
        start_time=start,
        name="synthetic",
        cmdline="synthetic --day",
    )
    store = Store.open(path)
    try:
        rid = store.begin_recording(
            name="synthetic day",
            command="synthetic --day",
            interval=1.0,
            host="test",
            started=start,
        )
        for i in range(seconds):
            rss = 200 * MB + i * 1024 + (i % 600) * 64 * 1024
            if i == spike_at:
                rss = 900 * MB
            reading = Reading(rss, 2 * rss, 4 * MB, 0, 4, 12, 1.0)
            new = (target,) if i == 0 else ()
            store.add_tick(rid, Tick(i + 1, start + i, {target.key: reading}, new))
        store.end_recording(rid, ended=start + seconds)
        store.flush(60)
    finally:
        store.close()
    return rid, target.key


def _store_reader() -> Any:
    from memlens.store import StoreReader

    return StoreReader


def wait_for_recorded_target(db: Path, pid: int, recorder: subprocess.Popen[str]) -> None:
    """Until the recorder has written the target (it may take a moment to start)."""
    for _ in range(600):
        assert recorder.poll() is None, "the recorder ended early"
        if db.exists():
            try:
                with _store_reader().open(db) as reader:
                    info = reader.recording("last")
                    if any(t.pid == pid for t in reader.targets(info.id)) and info.sample_count:
                        return
            except Exception:  # the file is being created
                pass
        time.sleep(0.05)
    raise AssertionError("the recorder never wrote its target")
