"""`memlens profile PID` against real Python children that run the agent and allocate
known amounts in named functions: the output names those functions with their bytes
in proportion, in every format; the profiler is left as it was found (also on Ctrl-C);
every error is one line with its exit code.

Large blocks (4 MiB) with a 64 KiB interval make the sampler's estimate of each block
nearly exact (a block is sampled with probability 1 - e^-64 and weighs its size), and
the tracemalloc fallback is exact, so the ratio bounds below hold for both; function
names are checked where the sampler gives them (tracemalloc names none: "?")."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heap_fixtures import MB
from helpers import ROOT, run_memlens, unused_pid
from memlens.agent import autostart_env, find_agent
from memlens.agent.client import AgentClient
from memlens.formats.collapsed import parse_frame, read_collapsed

TOKEN = "profile-test-token-0123"
BLOCK = 4 * MB

# The child: its allocating lines are found by their text, so the file can change.
APP = r"""
import os, sys
{start}
held = {{"catalog": [], "sessions": []}}


def load_catalog(blocks):
    for _ in range(blocks):
        held["catalog"].append(bytearray({block}))  # catalog line


def cache_sessions(blocks):
    for _ in range(blocks):
        held["sessions"].append(bytearray({block}))  # sessions line


print("ready", os.getpid(), flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "catalog":
        load_catalog(int(arg))
    elif cmd == "sessions":
        cache_sessions(int(arg))
    elif cmd == "drop":
        held[arg].clear()
    print("ok", flush=True)
"""


class App:
    """A real Python program run from a file (so its frames name it) with an agent."""

    def __init__(self, directory: Path, start: str = "", env: dict[str, str] | None = None):
        self.script = directory / "shop_heap.py"
        self.script.write_text(APP.format(start=start, block=BLOCK))
        source = self.script.read_text().splitlines()
        self.lines = {
            name: next(i for i, text in enumerate(source, 1) if f"# {name} line" in text)
            for name in ("catalog", "sessions")
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(self.script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline().split()
        assert ready[:1] == ["ready"], ready
        self.pid = int(ready[1])

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def heap_status(self) -> dict[str, Any]:
        entry = find_agent(self.pid)
        assert entry is not None
        with AgentClient.connect(entry.address, token=TOKEN) as agent:
            return agent.heap_status()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def apps(runtime: Path) -> Iterator[list[App]]:
    started: list[App] = []
    yield started
    for app in started:
        app.stop()


def agent_app(apps: list[App], tmp_path: Path, *, token: str | None = None) -> App:
    """A child that starts its agent itself; its heap profiler is off."""
    start = f"import memlens.agent\nmemlens.agent.start(token={token!r})"
    app = App(tmp_path, start)
    apps.append(app)
    return app


def profiled_app(apps: list[App], tmp_path: Path) -> App:
    """A child started as `memlens run --profile --profile-interval 64KiB` starts it:
    the agent and the heap profiler run from its start."""
    env = {**autostart_env(), "MEMLENS_HEAP": "1", "MEMLENS_HEAP_INTERVAL": str(64 * 1024)}
    app = App(tmp_path, env=env)
    apps.append(app)
    return app


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def by_function(app: App, collapsed: str, sampler: str) -> dict[str, int]:
    """Bytes per allocating line of the app ('catalog', 'sessions'), from folded stacks;
    checks the frame's names where the sampler gives them."""
    found = {"catalog": 0, "sessions": 0}
    functions = {"catalog": "load_catalog", "sessions": "cache_sessions"}
    for frames, value in read_collapsed(collapsed):
        leaf = parse_frame(frames[-1])
        # The file as folded stacks shorten it: relative to a directory above it.
        if leaf is None or not f"/{app.script}".endswith(f"/{leaf.file}"):
            continue
        for name, line in app.lines.items():
            if leaf.line == line:
                if sampler == "sampling":
                    assert leaf.function == functions[name]
                    assert parse_frame(frames[-2]) is not None
                    assert parse_frame(frames[0]).function == "<module>"  # type: ignore[union-attr]
                found[name] += value
    return found


def profile_json(*args: str) -> dict[str, Any]:
    result = run_memlens("profile", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


# -- a profiler that already runs: the profile is taken at once ---------------------------


def test_inuse_names_the_functions_in_proportion(apps: list[App], tmp_path: Path) -> None:
    app = profiled_app(apps, tmp_path)
    app.command("catalog 6")  # 24 MiB
    app.command("sessions 2")  # 8 MiB
    sampler = app.heap_status()["sampler"]
    result = run_memlens("profile", str(app.pid))
    assert result.returncode == 0, result.stderr
    assert "profiling" not in result.stderr  # no window: at once
    assert f"heap profile of PID {app.pid}" in result.stderr
    found = by_function(app, result.stdout, sampler)
    assert 20 * MB <= found["catalog"] <= 28 * MB
    assert 2.0 <= found["catalog"] / found["sessions"] <= 4.5
    # It was running before; it still is, as it was.
    assert app.heap_status()["running"] is True
    assert app.heap_status()["interval_bytes"] == (64 * 1024 if sampler == "sampling" else 0)


def test_each_format(apps: list[App], tmp_path: Path) -> None:
    app = profiled_app(apps, tmp_path)
    app.command("catalog 3")
    app.command("sessions 1")
    doc = profile_json(str(app.pid), "--limit", "50")
    assert doc["format"] == "memlens.heap"
    assert doc["pid"] == app.pid
    assert doc["kind"] == "inuse"
    assert len(doc["stacks"]) <= 50
    assert doc["inuse_bytes"] >= 16 * MB

    out = tmp_path / "heap.pb.gz"
    result = run_memlens("profile", str(app.pid), "-o", str(out))  # format from the name
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    from pprof_decode import decode

    decoded = decode(out.read_bytes())
    assert decoded.s(decoded.default_sample_type) == "inuse_space"
    inuse = {}
    for frames, values in decoded.stacks():
        if frames[0][1] == str(app.script):
            inuse[frames[0][2]] = inuse.get(frames[0][2], 0) + values[3]
    assert 2.0 <= inuse[app.lines["catalog"]] / inuse[app.lines["sessions"]] <= 4.5

    out = tmp_path / "heap.folded"
    assert run_memlens("profile", str(app.pid), "-o", str(out)).returncode == 0
    assert by_function(app, out.read_text(), "?")["catalog"] >= 10 * MB

    out = tmp_path / "heap.html"
    result = run_memlens("profile", str(app.pid), "-o", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert page.lower().startswith("<!doctype html>")
    assert f"process {app.pid}" in page
    assert app.script.name in page


def test_allocated_counts_what_was_freed_too(apps: list[App], tmp_path: Path) -> None:
    app = profiled_app(apps, tmp_path)
    if app.heap_status()["sampler"] != "sampling":
        pytest.skip("tracemalloc cannot say what was allocated and freed")
    app.command("catalog 4")
    app.command("drop catalog")
    app.command("sessions 1")
    result = run_memlens("profile", str(app.pid), "--kind", "allocated")
    assert result.returncode == 0, result.stderr
    found = by_function(app, result.stdout, "sampling")
    assert 2.0 <= found["catalog"] / found["sessions"] <= 6.0
    inuse = by_function(app, run_memlens("profile", str(app.pid)).stdout, "sampling")
    assert inuse["catalog"] == 0
    assert inuse["sessions"] >= 3 * MB


# -- a window: started here, marked, stopped again -------------------------------------


DEFAULT_SIGINT_THEN_PROFILE = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'memlens', 'profile', *sys.argv[1:]])"
)


def start_profile(*args: str) -> subprocess.Popen[str]:
    """`memlens profile ARGS` in the background, once it has begun its window."""
    # As at a terminal, where Ctrl-C reaches it: SIGINT at its default (a background job
    # of a script has it ignored, and an ignored SIGINT stays ignored across exec).
    proc = subprocess.Popen(
        [sys.executable, "-c", DEFAULT_SIGINT_THEN_PROFILE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    seen = ""
    while "memlens: profiling PID" not in seen:  # after a warning of the fallback, say
        line = proc.stderr.readline()
        assert line, seen + proc.stderr.read()
        seen += line
    return proc


def test_a_profiler_started_here_is_stopped_again(apps: list[App], tmp_path: Path) -> None:
    app = agent_app(apps, tmp_path)
    app.command("sessions 2")  # before the window: not profiled
    assert app.heap_status()["running"] is False
    proc = start_profile(str(app.pid), "--duration", "5s", "--interval", "64KiB")
    app.command("catalog 4")  # within the window (milliseconds of its 5 s)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    status = app.heap_status()
    assert status["running"] is False
    sampler = "sampling" if "sampled every 64.0 KB" in err else "tracemalloc"
    found = by_function(app, out, sampler)
    assert 12 * MB <= found["catalog"] <= 20 * MB
    assert found["sessions"] == 0


def test_growth_over_a_window(apps: list[App], tmp_path: Path) -> None:
    app = profiled_app(apps, tmp_path)
    sampler = app.heap_status()["sampler"]
    app.command("catalog 4")  # before the window: no growth
    proc = start_profile(str(app.pid), "--kind", "growth", "--duration", "5s")
    app.command("drop catalog")
    app.command("sessions 3")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    found = by_function(app, out, sampler)
    assert found["catalog"] == 0  # shrank: not in folded stacks
    assert 10 * MB <= found["sessions"] <= 14 * MB
    assert app.heap_status()["running"] is True  # it ran before: left running
    out_json = profile_json(str(app.pid), "--kind", "growth", "--duration", "0")
    assert out_json["kind"] == "growth"


def test_ctrl_c_in_the_window_stops_the_profiler_and_exits_130(
    apps: list[App], tmp_path: Path
) -> None:
    app = agent_app(apps, tmp_path)
    proc = start_profile(str(app.pid), "--duration", "10m")
    assert app.heap_status()["running"] is True
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == ""
    assert app.heap_status()["running"] is False


# -- errors: one line each, and its exit code --------------------------------------------


def test_a_dead_pid() -> None:
    pid = unused_pid()
    result = run_memlens("profile", str(pid))
    assert result.returncode == 2
    assert f"no process with PID {pid}" in one_line(result.stderr)
    result = run_memlens("profile", "abc")
    assert result.returncode == 2
    assert "is not a PID" in one_line(result.stderr)


def test_a_process_without_agent_says_how_to_start_one(runtime: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        result = run_memlens("profile", str(child.pid))
    finally:
        child.kill()
        child.wait()
    assert result.returncode == 3
    line = one_line(result.stderr)
    assert f"PID {child.pid}" in line
    assert "runs no memlens agent" in line
    assert "memlens run --profile -- python app.py" in line
    assert "MEMLENS_AGENT=1" in line


def test_an_agent_that_refuses_the_token(apps: list[App], tmp_path: Path) -> None:
    app = agent_app(apps, tmp_path, token=TOKEN)
    result = run_memlens("profile", str(app.pid), "--duration", "0")
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "refused" in line
    assert "--agent-token" in line
    result = run_memlens(
        "profile", str(app.pid), "--duration", "0", "--agent-token", TOKEN, "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pid"] == app.pid


def test_binary_formats_refuse_a_terminal(apps: list[App], tmp_path: Path) -> None:
    app = profiled_app(apps, tmp_path)
    for fmt in ("pprof", "html"):
        leader, follower = pty.openpty()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "memlens", "profile", str(app.pid), "--format", fmt],
                stdout=follower,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                timeout=60,
                cwd=ROOT,
            )
        finally:
            os.close(follower)
            os.close(leader)
        assert proc.returncode == 2
        line = one_line(proc.stderr)
        assert f"{fmt} output would garble the terminal: give -o FILE" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "10"], "--interval must be from 1KiB to 1GiB"),
        (["--limit", "0"], "--limit is 1 to 20000"),
        (["--duration", "forever"], "is not a duration"),
        (["--kind", "leaks"], "invalid choice"),
    ],
)
def test_bad_options(args: list[str], message: str) -> None:
    result = run_memlens("profile", str(os.getpid()), *args)
    assert result.returncode == 2
    assert message in one_line(result.stderr)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_another_users_process_is_refused(apps: list[App], tmp_path: Path) -> None:
    import pwd

    import memlens.cli  # imported before dropping privileges

    app = agent_app(apps, tmp_path)
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        code = 99
        try:
            sys.stderr = open(write_end, "w", closefd=False)  # noqa: SIM115
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            code = memlens.cli.main(["profile", str(app.pid)])
            sys.stderr.flush()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as err:
        stderr = err.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 2
    assert f"PID {app.pid} belongs to user 'root'" in one_line(stderr)
    assert app.heap_status()["running"] is False
