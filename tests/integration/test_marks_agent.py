"""Marks through the agent: `memlens.mark(text)` in a program that runs the agent is kept
in the agent's ring, and a `memlens record`/`run --agent` of it reads and records it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_memlens
from helpers import wait_for_recorded_target as _wait_for_target
from memlens.agent import marks
from memlens.agent.answers import checked
from memlens.errors import AgentMisbehaved
from memlens.store import StoreReader

MARKER = """
import sys
import memlens, memlens.agent

memlens.agent.start()
print(memlens.mark("before anyone watched"), flush=True)
for line in sys.stdin:
    print(memlens.mark(line.strip()), flush=True)
"""


@pytest.mark.parametrize("extra", [[], ["--no-alerts"]])
def test_a_programs_mark_reaches_a_recording_through_its_agent(
    tmp_path: Path, extra: list[str]
) -> None:
    db = tmp_path / "run.db"
    child = subprocess.Popen(
        [sys.executable, "-c", MARKER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "1"  # the agent took it
        recorder = subprocess.Popen(
            [sys.executable, "-m", "memlens", "record", str(child.pid), "--duration", "4s",
             "--interval", "0.1", "-o", str(db), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait_for_target(db, child.pid, recorder)
        child.stdin.write("batch 2 <starts>\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "1"
        _, err = recorder.communicate(timeout=60)
        assert recorder.returncode == 0, err
    finally:
        child.kill()
        child.wait(10)
        child.stdin.close()
        child.stdout.close()
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        found = reader.events(info.id, kinds=["mark"])
        [target] = [t for t in reader.targets(info.id) if t.pid == child.pid]
    # The mark set before the recording began is still in the ring, and is kept too.
    assert [m.data["text"] for m in found] == ["before anyone watched", "batch 2 <starts>"]
    assert all(m.data["source"] == "program" for m in found)
    assert all(m.data["pid"] == child.pid for m in found)
    assert all(m.target_key == target.key for m in found)
    assert found[0].t < found[1].t


UNDER_RUN = """
import time
import memlens, memlens.agent

assert memlens.agent.is_running()
time.sleep(0.5)
print(memlens.mark("warm-up done"), flush=True)
time.sleep(1.5)
"""


def test_a_mark_under_run_agent_is_recorded_once(tmp_path: Path) -> None:
    """`memlens run --agent` both names its store and reads the agent: one mark, not two."""
    db = tmp_path / "run.db"
    done = run_memlens(
        "run", "--agent", "-o", str(db), "--interval", "0.05", "--",
        sys.executable, "-c", UNDER_RUN, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "1"
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        [mark] = reader.events(info.id, kinds=["mark"])
    assert mark.data["text"] == "warm-up done"
    assert mark.data["source"] == "program"


def test_the_ring_keeps_the_newest_marks_numbered() -> None:
    marks.clear()
    try:
        for i in range(marks.MAX_MARKS + 6):
            marks.add(f"m{i}", when=float(i))
        got = marks.since(0)
        assert got["last"] == marks.MAX_MARKS + 6
        assert len(got["marks"]) == marks.MAX_MARKS
        assert got["marks"][0] == {"seq": 7, "time": 6.0, "text": "m6"}
        assert [m["text"] for m in marks.since(got["last"] - 2)["marks"]] == [
            f"m{marks.MAX_MARKS + 4}",
            f"m{marks.MAX_MARKS + 5}",
        ]
        assert len(marks.add("x" * 5000) and marks.since(got["last"])["marks"][0]["text"]) == (
            marks.MAX_TEXT
        )
    finally:
        marks.clear()


def test_a_hostile_marks_answer_is_refused() -> None:
    """What an agent answers about marks is bounded before memlens keeps any of it."""
    good = {"last": 1, "marks": [{"seq": 1, "time": 1.0, "text": "ok"}]}
    assert checked("marks", good, "addr") == good
    too_long = {"last": 1, "marks": [{"seq": 1, "time": 1.0, "text": "x" * (marks.MAX_TEXT + 1)}]}
    too_many = {"last": 99, "marks": [good["marks"][0]] * (marks.MAX_MARKS + 1)}
    for answer in (too_long, too_many, {"last": -1, "marks": []}):
        with pytest.raises(AgentMisbehaved):
            checked("marks", answer, "addr")
