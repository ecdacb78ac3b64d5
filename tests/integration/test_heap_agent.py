"""The heap profiler through the agent: ops, refusals, the fallback, `run --profile`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import python_child, run_memlens
from memlens.agent import find_agent
from memlens.agent.client import AgentClient
from memlens.errors import AgentBusy, AgentRequestFailed

APP = """
import sys
import memlens.agent
memlens.agent.start()
held = []
def grow(n):
    for _ in range(n):
        held.append(bytearray(100_000))
print("ready", flush=True)
for line in sys.stdin:
    grow(int(line))
    print("ok", flush=True)
"""


@pytest.fixture
def app(runtime: Path) -> Iterator[tuple[subprocess.Popen[str], AgentClient]]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", APP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    entry = find_agent(proc.pid)
    assert entry is not None
    client = AgentClient.connect(entry.address)
    try:
        yield proc, client
    finally:
        client.close()
        proc.kill()
        proc.communicate()


def grow(proc: subprocess.Popen[str], blocks: int) -> None:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(f"{blocks}\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "ok"


def grown_at(profile: dict, function: str) -> float:
    return sum(
        s["inuse_bytes"]
        for s in profile["stacks"]
        if s["frames"] and s["frames"][-1]["function"] == function
    )


def test_the_profiler_is_off_until_asked_and_stats_says_so(app) -> None:
    _, client = app
    assert client.stats()["heap"]["running"] is False
    with pytest.raises(AgentRequestFailed, match="heap profiler is off"):
        client.heap_profile()
    state = client.heap_start(interval_bytes=64 * 1024)
    assert state["running"] is True
    assert state["sampler"] == "sampling"
    assert state["interval_bytes"] == 64 * 1024
    assert client.stats()["heap"]["running"] is True
    assert client.heap_stop()["running"] is False


def test_marks_and_growth_name_the_function_that_grew(app) -> None:
    proc, client = app
    client.heap_start(interval_bytes=64 * 1024)
    grow(proc, 50)
    assert client.heap_mark("before")["name"] == "before"
    grow(proc, 100)  # 10 MB
    growth = client.heap_profile(kind="growth", since="before")
    assert growth["since_mark"] == "before"
    assert 5e6 < grown_at(growth, "grow") < 20e6
    inuse = client.heap_profile()
    assert 8e6 < grown_at(inuse, "grow") < 25e6  # 15 MB in all
    assert [m["name"] for m in client.heap_status()["marks"]] == ["before"]


def test_bad_requests_are_refused_cleanly(app) -> None:
    _, client = app
    client.heap_start()
    with pytest.raises(AgentRequestFailed, match="no mark named"):
        client.heap_profile(kind="growth", since="nowhere")
    with pytest.raises(AgentRequestFailed, match="needs since"):
        client.heap_profile(kind="growth")
    with pytest.raises(AgentRequestFailed, match="interval_bytes must be"):
        client.request("heap.start", interval_bytes=10)
    with pytest.raises(AgentRequestFailed, match="1 to 64 characters"):
        client.heap_mark("x" * 65)
    assert client.stats()["heap"]["running"] is True  # still serving


def test_where_the_extension_cannot_be_used_tracemalloc_takes_its_place(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMLENS_HEAP_FALLBACK", "1")
    source = APP.replace('print("ready"', 'grow(30)\nprint("ready"')
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", source],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        entry = find_agent(proc.pid)
        assert entry is not None
        with AgentClient.connect(entry.address) as client:
            state = client.heap_start()
            assert state["sampler"] == "tracemalloc"
            assert "MEMLENS_HEAP_FALLBACK" in state["fallback_reason"]
            grow(proc, 40)  # 4 MB, traced exactly
            profile = client.heap_profile()
            assert profile["sampler"] == "tracemalloc"
            assert profile["interval_bytes"] == 0
            top = profile["stacks"][0]
            assert top["frames"][-1]["function"] == "?"
            assert 4e6 <= top["inuse_bytes"] < 4.5e6
            client.heap_stop()
    finally:
        proc.kill()
        _, err = proc.communicate()
    lines = [line for line in err.splitlines() if "memlens heap" in line]
    assert len(lines) == 1, err
    assert "using tracemalloc" in lines[0]


REPORTER = """
import json, sys
from memlens.agent import heap
print(json.dumps(heap.PROFILER.status()), flush=True)
"""


def test_run_profile_starts_the_agent_and_the_profiler(runtime: Path, tmp_path: Path) -> None:
    script = tmp_path / "report_heap.py"
    script.write_text(REPORTER)
    result = run_memlens(
        "run",
        "--profile",
        "--profile-interval",
        "64KiB",
        "-o",
        str(tmp_path / "x.db"),
        "--",
        sys.executable,
        str(script),
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    assert status["running"] is True
    assert status["interval_bytes"] == 64 * 1024


def test_run_profile_refuses_an_absurd_interval(runtime: Path, tmp_path: Path) -> None:
    result = run_memlens(
        "run", "--profile", "--profile-interval", "10", "--", sys.executable, "-c", "pass"
    )
    assert result.returncode == 2
    assert "--profile-interval must be from 1KiB to 1GiB" in result.stderr


def test_a_program_that_traces_itself_keeps_its_tracemalloc(runtime: Path) -> None:
    source = (
        "import tracemalloc; tracemalloc.start()\n"
        "import memlens.agent; memlens.agent.start()\n"
        "print('ready', flush=True)\nimport time; time.sleep(60)\n"
    )
    env_backup = os.environ.get("MEMLENS_HEAP_FALLBACK")
    os.environ["MEMLENS_HEAP_FALLBACK"] = "1"
    try:
        with python_child(source) as proc:
            entry = find_agent(proc.pid)
            assert entry is not None
            with (
                AgentClient.connect(entry.address) as client,
                pytest.raises(Exception, match="traces with tracemalloc itself"),
            ):
                client.heap_start()
    finally:
        if env_backup is None:
            os.environ.pop("MEMLENS_HEAP_FALLBACK", None)
        else:
            os.environ["MEMLENS_HEAP_FALLBACK"] = env_backup


def patient_top(client: AgentClient) -> dict:
    """`top`, waiting out the agent's rest after the previous costly request."""
    for _ in range(20):
        try:
            return client.top(by="traceback", limit=5)
        except AgentBusy as busy:
            time.sleep(busy.retry_after_s + 0.05)
    raise AssertionError("the agent stayed busy")


def test_tracemalloc_above_the_sampler_still_answers_top(app) -> None:
    # tracemalloc calls down into RAW while it holds its tables' lock, and announces each
    # new object to itself under that lock: a stack captured there would wait for ever.
    proc, client = app
    client.heap_start(interval_bytes=4096)  # a sample every few KiB: RAW ones too
    client.tracemalloc_start(frames=5)
    for _ in range(3):
        grow(proc, 50)
        top = patient_top(client)
        assert top["total_bytes"] > 0
        assert client.heap_profile()["samples"] > 0
    with pytest.raises(AgentRequestFailed, match="another allocator hook"):
        client.heap_stop()  # tracemalloc's hooks sit above it
    client.tracemalloc_stop()
    assert client.heap_stop()["running"] is False
