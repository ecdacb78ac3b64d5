"""`memlens attach` and `memlens detach` on real children that never imported memlens,
run by other Pythons than memlens's own (pyenv's 3.10 to 3.13, a virtual environment of
its own), through gdb."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from attachchild import (
    ACCEPTING,
    BUSY,
    EXITS_WHEN_TRACED,
    IN_C_CALL,
    NEEDS_GDB,
    SLEEPING,
    THREADED,
    _python,
    child,
)
from helpers import run_memlens
from memlens.agent import find_agent
from memlens.agent.client import AgentClient
from memlens.analysis.leakmodel import DetectorConfig, Verdict
from memlens.analysis.leaks import detect

pytestmark = NEEDS_GDB


def attach(pid: int, *args: str) -> subprocess.CompletedProcess[str]:
    return run_memlens("attach", str(pid), *args, timeout=60)


def listed(pid: int) -> list[dict[str, object]]:
    out = run_memlens("ls", "--json")
    assert out.returncode == 0, out.stderr
    return [row for row in json.loads(out.stdout) if row["pid"] == pid]


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def settle_threads(pid: int, expected: int) -> None:
    """Waits for the agent's threads to end (they do once stop() returns), and fails if
    they do not."""
    deadline = time.monotonic() + 10
    while threads(pid) != expected:
        assert time.monotonic() < deadline, f"{threads(pid)} threads, not {expected}"
        time.sleep(0.05)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def assert_attached(proc: subprocess.Popen[str], out: subprocess.CompletedProcess[str]) -> None:
    assert out.returncode == 0, out.stderr
    assert f"attached to PID {proc.pid}" in out.stderr
    assert str(proc.pid) in out.stdout  # the `memlens ls` table
    assert listed(proc.pid)
    entry = find_agent(proc.pid)
    assert entry is not None
    with AgentClient.connect(entry.address) as agent:
        assert agent.stats()["rss_bytes"] > 0
    assert proc.poll() is None


@pytest.mark.parametrize("version", ["3.10", "3.12", "3.13"])
def test_attach_to_a_busy_loop_whose_output_goes_on(version: str) -> None:
    with child(_python(version), BUSY) as proc:
        assert proc.stdout is not None
        out = attach(proc.pid)
        assert_attached(proc, out)
        assert "gdb:pending-call" in out.stderr  # a busy main thread makes pending calls
        before = proc.stdout.readline()
        after = proc.stdout.readline()
        assert before.startswith("tick")
        assert after.startswith("tick")
        assert int(after.split()[1]) > int(before.split()[1])


@pytest.mark.parametrize(("version", "source"), [("3.11", SLEEPING), ("3.12", ACCEPTING)])
def test_attach_to_a_main_thread_blocked_outside_python(version: str, source: str) -> None:
    with child(_python(version), source) as proc:
        out = attach(proc.pid)
        assert_attached(proc, out)
        assert "gdb:direct" in out.stderr


def test_profile_names_the_worker_threads_function() -> None:
    # Python 3.11, as memlens's own here: the sampler's C extension loads in it.
    with child(_python(f"{sys.version_info[0]}.{sys.version_info[1]}"), THREADED) as proc:
        out = attach(proc.pid, "--profile", "--heap-interval", "16KiB")
        assert_attached(proc, out)
        entry = find_agent(proc.pid)
        assert entry is not None
        deadline = time.monotonic() + 30
        with AgentClient.connect(entry.address) as agent:
            while True:
                profile = agent.heap_profile(kind="allocated")
                functions = {f["function"] for s in profile["stacks"] for f in s["frames"]}
                if "grow_the_cache" in functions:
                    break
                assert time.monotonic() < deadline, functions
                time.sleep(0.2)


def test_attach_under_another_virtual_environment(tmp_path: Path) -> None:
    venv = tmp_path / "other venv"
    subprocess.run([_python("3.12"), "-m", "venv", "--without-pip", str(venv)], check=True)
    with child(str(venv / "bin" / "python"), SLEEPING) as proc:
        out = attach(proc.pid)
        assert_attached(proc, out)
        assert (
            listed(proc.pid)[0]["python"] == "3.12." + listed(proc.pid)[0]["python"].split(".")[2]
        )  # type: ignore[union-attr]


def test_the_agent_registers_where_memlens_looks_whatever_the_process_env_says() -> None:
    # A service started without XDG_RUNTIME_DIR would register in /tmp/memlens-UID; this
    # one names a directory memlens does not look in.
    elsewhere = tempfile.mkdtemp(prefix="mlt-other-", dir="/tmp")
    os.chmod(elsewhere, 0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": elsewhere}
    try:
        with child(_python("3.12"), SLEEPING, env=env) as proc:
            assert_attached(proc, attach(proc.pid))
            assert not os.listdir(elsewhere)
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


def test_attach_twice_says_it_runs_already() -> None:
    with child(_python("3.12"), SLEEPING) as proc:
        assert attach(proc.pid).returncode == 0
        again = attach(proc.pid)
        assert again.returncode == 0
        assert "already runs the memlens agent" in again.stderr


def test_detach_stops_the_agent_and_the_profiler_and_the_process_goes_on(runtime: Path) -> None:
    with child(_python("3.12"), BUSY) as proc:
        assert proc.stdout is not None
        assert attach(proc.pid, "--profile").returncode == 0
        entry = find_agent(proc.pid)
        assert entry is not None
        assert entry.socket is not None
        out = run_memlens("detach", str(proc.pid))
        assert out.returncode == 0, out.stderr
        assert "stopped the memlens agent" in out.stdout
        assert find_agent(proc.pid) is None
        assert not Path(entry.socket).exists()
        assert not (runtime / "memlens" / f"{proc.pid}.json").exists()
        assert listed(proc.pid) == []
        first = int(proc.stdout.readline().split()[1])
        assert int(proc.stdout.readline().split()[1]) > first
        assert proc.poll() is None
        # Once more: nothing to stop.
        again = run_memlens("detach", str(proc.pid))
        assert again.returncode == 0
        assert "runs no memlens agent" in again.stdout


def test_twenty_cycles_leave_threads_and_rss_where_they_were() -> None:
    from memlens.attach import attach as attach_in
    from memlens.attach import detach

    with child(_python("3.12"), SLEEPING) as proc:
        start_threads = threads(proc.pid)
        attach_in(proc.pid)  # the first load of the agent's modules is not a cycle's cost
        with AgentClient.connect(find_agent(proc.pid).address) as agent:  # type: ignore[union-attr]
            agent.stats()
        detach(proc.pid)
        series = []
        for _ in range(20):
            attach_in(proc.pid)
            with AgentClient.connect(find_agent(proc.pid).address) as agent:  # type: ignore[union-attr]
                agent.stats()
            assert detach(proc.pid)
            series.append(rss(proc.pid))
            settle_threads(proc.pid, start_threads)
        times = [30.0 * i for i in range(len(series))]
        config = dataclasses.replace(
            DetectorConfig(), min_points=20, min_duration=60, envelope_window=30, min_leak_window=60
        )
        assert detect(times, series, config=config).verdict != Verdict.LEAK, series
        assert proc.poll() is None


# -- refusals --------------------------------------------------------------------------


def test_not_cpython_is_refused() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        out = attach(proc.pid)
        assert out.returncode == 2
        assert "is not a CPython process" in out.stderr
    finally:
        proc.kill()
        proc.wait()


def test_python_older_than_3_10_is_refused() -> None:
    with child(_python("3.9"), SLEEPING) as proc:
        out = attach(proc.pid)
        assert out.returncode == 2
        assert "runs Python 3.9" in out.stderr
        assert "3.10" in out.stderr
        assert proc.poll() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="starts a child as another user: needs root")
def test_another_users_process_is_refused() -> None:
    # The system's Python: nobody may not enter /root, where pyenv's live.
    system = shutil.which("python3", path="/usr/bin")
    if system is None:
        pytest.skip("no /usr/bin/python3")
    with child(system, SLEEPING, user="nobody") as proc:
        out = attach(proc.pid)
        assert out.returncode == 2
        assert "belongs to user 'nobody'" in out.stderr
        assert find_agent(proc.pid) is None


def test_missing_gdb_names_the_package(tmp_path: Path) -> None:
    with child(_python("3.12"), SLEEPING) as proc:
        env = {**os.environ, "PATH": str(tmp_path)}  # no gdb on it
        out = subprocess.run(
            [sys.executable, "-m", "memlens", "attach", str(proc.pid)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.returncode == 2
        assert "install the package `gdb`" in out.stderr


def test_a_long_c_call_times_out_and_the_process_goes_on() -> None:
    with child(_python("3.12"), IN_C_CALL) as proc:
        out = attach(proc.pid, "--timeout", "5s")
        assert out.returncode == 3, out.stderr
        assert "timed out" in out.stderr
        assert "goes on running" in out.stderr
        assert find_agent(proc.pid) is None
        time.sleep(0.5)
        assert proc.poll() is None
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        assert state == "R"  # still summing, neither stopped nor traced
        assert "TracerPid:\t0" in Path(f"/proc/{proc.pid}/status").read_text()


def test_a_process_that_exits_during_the_attach() -> None:
    with child(_python("3.12"), EXITS_WHEN_TRACED) as proc:
        out = attach(proc.pid)
        assert out.returncode == 3, out.stderr
        assert "exited during the attach" in out.stderr or "exited before" in out.stderr
