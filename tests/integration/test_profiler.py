"""memlens.Profiler and its commands on real allocations, real threads, real children
and a real store."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import memlens
from helpers import MB, ROOT, Allocator, run_memlens
from memlens.analysis import DetectorConfig
from memlens.config import Thresholds
from memlens.store import StoreReader

# The detector tuned for runs of seconds (docs/library.md, "Short runs").
SHORT = DetectorConfig(min_duration=10, min_points=30, min_leak_window=10, envelope_window=0.5)
CHUNK = 128 * 1024


@pytest.fixture
def profiler(tmp_path: Path) -> Iterator[memlens.Profiler]:
    p = memlens.Profiler(tmp_path / "data")
    try:
        yield p
    finally:
        p.cleanup()


def _touched(size: int) -> bytearray:
    buf = bytearray(size)
    for i in range(0, size, 4096):
        buf[i] = 1
    return buf


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def _recording(path: Path) -> tuple[int, int | None, float | None]:
    """(samples, id, ended) of the newest recording in the store at `path`."""
    with StoreReader.open(path) as reader:
        info = reader.recording("last")
        return info.sample_count, info.id, info.ended


def test_snapshots_follow_a_real_allocation(tmp_path: Path) -> None:
    p = memlens.Profiler(tmp_path, trace=True)
    try:
        before = p.take_snapshot(context="before")
        held = _touched(50 * MB)
        after = p.take_snapshot(context="after")
        assert after.context == "after"
        assert after.timestamp > before.timestamp
        assert 45 <= after.process_memory_mb - before.process_memory_mb <= 56
        assert before.tracemalloc_current_mb is not None
        assert after.tracemalloc_current_mb is not None
        assert after.tracemalloc_peak_mb is not None
        assert 49 <= after.tracemalloc_current_mb - before.tracemalloc_current_mb <= 51
        assert after.tracemalloc_peak_mb >= after.tracemalloc_current_mb
        assert after.gc_objects_count is not None
        assert after.gc_objects_count > 1000
        assert after.thread_count >= 2  # this one and the store's writer
        assert after.file_descriptors >= 3
        assert 0 < after.system_memory_percent <= 100
        assert len(held) == 50 * MB
    finally:
        p.cleanup()
    # Kept in the store with the Python fields, and tracemalloc stopped again.
    with StoreReader.open(tmp_path / "memlens.db") as reader:
        info = reader.recording("last")
        (target,) = reader.targets(info.id)
        series = reader.series(info.id, target.key)
        notes = reader.events(info.id, kinds=["note"])
    assert info.ended is not None
    assert len(series["t"]) == 2
    assert all(v is not None for v in series["py_heap"] + series["py_blocks"])
    assert [n.data["context"] for n in notes] == ["before", "after"]
    assert notes[1].data["gc_objects_count"] == after.gc_objects_count
    import tracemalloc

    assert not tracemalloc.is_tracing()


def test_without_tracing_the_tracemalloc_figures_are_none(profiler: memlens.Profiler) -> None:
    snap = profiler.take_snapshot()
    assert snap.tracemalloc_current_mb is None
    assert snap.tracemalloc_peak_mb is None
    assert snap.to_dict()["context"] == ""


def test_monitoring_runs_one_thread_and_stops(profiler: memlens.Profiler) -> None:
    assert profiler.start_monitoring(interval=0.05)
    assert not profiler.start_monitoring(interval=0.05)
    assert len(_threads("memlens-profiler")) == 1
    deadline = time.monotonic() + 30
    while sum(s.context == "monitoring" for s in profiler.snapshots) < 3:
        assert time.monotonic() < deadline, "monitoring took no snapshots"
        time.sleep(0.02)
    profiler.stop_monitoring()
    profiler.stop_monitoring()  # twice is fine
    assert not profiler.monitoring
    assert _threads("memlens-profiler") == []


CHILD = """
import sys, memlens
p = memlens.Profiler(sys.argv[1])
p.start_monitoring(interval=0.05)
p.take_snapshot()
print("monitoring", flush=True)
"""


def test_monitoring_stops_at_exit(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "monitoring"
    assert done.stderr == ""
    samples, _, ended = _recording(tmp_path / "memlens.db")
    assert samples >= 1
    assert ended is not None  # ended and written out by the exit hook


def _leak_steadily(held: list[bytes], stop: threading.Event) -> None:
    while not stop.is_set():
        held.append(b"\x01" * CHUNK)  # the leaking line
        time.sleep(0.02)


def test_watch_memory_leaks_finds_a_leaking_thread(tmp_path: Path) -> None:
    p = memlens.Profiler(tmp_path, detector=SHORT)
    held: list[bytes] = []
    stop = threading.Event()
    leaker = threading.Thread(target=_leak_steadily, args=(held, stop))
    leaker.start()
    try:
        leaks = p.watch_memory_leaks(duration_minutes=0.25)
    finally:
        stop.set()
        leaker.join()
    try:
        (leak,) = leaks
        assert leak.leak_rate_mb_per_sec > 0
        assert leak.total_leaked_mb > 0
        assert leak.duration_seconds >= 15
        assert leak.severity in ("low", "medium", "high", "critical")
        assert leak.analysis.startswith("LEAK")
        assert leak.finding is not None
        assert leak.finding.is_leak
        assert leak.start_snapshot.context == "leak detection: start"
        assert leak.end_snapshot.context == "leak detection: end"
        top = leak.top_allocations[0]
        where, line = top.split(": ", 1)[0].rsplit(":", 1)
        assert where == __file__
        source = Path(__file__).read_text().splitlines()[int(line) - 1]
        assert "the leaking line" in source
        report = p.generate_memory_report(hours=1)
        assert report["leaks"]["source"] == "events"
        assert report["leaks"]["count"] == 1
    finally:
        p.cleanup()
        held.clear()


def test_watch_memory_leaks_on_a_steady_process_finds_none(tmp_path: Path) -> None:
    # The steady process is the test runner itself. After hundreds of tests its caches
    # (and the profiler's own store) still settle by some hundred KB a minute, which six
    # seconds cannot tell from a leak: only growth of 2 MB/min or more counts here.
    quick = DetectorConfig(
        min_duration=5,
        min_points=20,
        min_leak_window=5,
        envelope_window=0.25,
        min_rate=2 * MB / 60,
    )
    p = memlens.Profiler(tmp_path, detector=quick)
    try:
        assert p.watch_memory_leaks(duration_minutes=0.1) == []
    finally:
        p.cleanup()


def test_watch_memory_leaks_refuses_a_duration_the_detector_cannot_judge(
    profiler: memlens.Profiler,
) -> None:
    with pytest.raises(ValueError, match="min_duration"):
        profiler.watch_memory_leaks(duration_minutes=0.5)


def test_profile_function_gives_the_result_and_two_snapshots(
    profiler: memlens.Profiler,
) -> None:
    def build(size: int) -> bytearray:
        return _touched(size)

    result, before, after = profiler.profile_function(build, 32 * MB)
    assert len(result) == 32 * MB
    assert before.context.startswith("before ")
    assert before.context.endswith("build")
    assert after.context.startswith("after ")
    assert after.process_memory_mb - before.process_memory_mb >= 28


def test_generate_memory_report_has_the_documented_keys(profiler: memlens.Profiler) -> None:
    for _ in range(3):
        profiler.take_snapshot()
    report = profiler.generate_memory_report(hours=24)
    assert report["format"] == "memlens-report"
    for key in ("recording", "period", "targets", "leaks", "thresholds", "system_memory"):
        assert key in report
    assert "recommendations" in report
    mine = report["profiler"]
    assert mine["snapshots"] == 3
    memory = mine["process_memory"]
    assert set(memory) >= {"current", "min", "max", "average", "p95", "trend", "rate"}
    assert memory["min"] <= memory["current"] <= memory["max"]
    assert memory["trend"] == "insufficient"
    assert set(mine["system_memory"]) >= {"current", "min", "max", "average"}
    assert mine["traced_memory"] is None  # tracemalloc was off
    assert mine["gc_objects"]["current"] > 0
    assert mine["thresholds"] == {}
    json.dumps(report, allow_nan=False)


def test_crossed_thresholds_are_violations(tmp_path: Path) -> None:
    p = memlens.Profiler(tmp_path, thresholds=Thresholds(max_rss=1, max_system_memory=0.01))
    try:
        p.take_snapshot()
        p.thresholds = Thresholds(max_rss=1, max_system_memory=0.01, max_gc_growth=1e12)
        p.take_snapshot()
        report = p.generate_memory_report()
    finally:
        p.cleanup()
    violations = report["thresholds"]["violations"]
    assert report["thresholds"]["source"] == "events"
    assert sorted(v["metric"] for v in violations) == ["rss", "system_memory"]
    assert all(v["end"] is None for v in violations)  # still above
    assert report["profiler"]["thresholds"]["max_rss"] == 1


def test_max_snapshots_bounds_memory_not_the_store(tmp_path: Path) -> None:
    p = memlens.Profiler(tmp_path, max_snapshots=5)
    try:
        for i in range(12):
            p.take_snapshot(context=str(i))
        assert [s.context for s in p.snapshots] == [str(i) for i in range(7, 12)]
    finally:
        p.cleanup()
    assert p.snapshots == []
    samples, _, _ = _recording(tmp_path / "memlens.db")
    assert samples == 12


def test_cleanup_deletes_what_is_past_retention(tmp_path: Path) -> None:
    p = memlens.Profiler(tmp_path, retention=0.5)
    p.take_snapshot()
    p.take_snapshot()
    time.sleep(1.0)  # both are now older than the retention
    p.cleanup()
    p.cleanup()  # twice is fine
    samples, first, ended = _recording(tmp_path / "memlens.db")
    assert samples == 0
    assert ended is not None  # the recording itself stays
    p.take_snapshot()  # a snapshot after cleanup starts a new recording
    assert p.recording_id is not None
    assert p.recording_id != first
    p.cleanup()


def test_memlens_report_reads_a_profilers_store(tmp_path: Path) -> None:
    p = memlens.Profiler(tmp_path, name="profiled run")
    try:
        p.take_snapshot()
        p.take_snapshot()
    finally:
        p.cleanup()
    done = run_memlens("report", "last", "--db", str(tmp_path / "memlens.db"), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["recording"]["name"] == "profiled run"
    assert report["samples"] == 2


def test_snapshot_command_reads_a_child(allocator: Allocator) -> None:
    allocator.alloc(50)
    done = run_memlens("snapshot", str(allocator.pid), "--json")
    assert done.returncode == 0, done.stderr
    snap = json.loads(done.stdout)
    assert snap["pid"] == allocator.pid
    assert snap["agent"] is False
    assert abs(snap["process_memory_mb"] * MB - allocator.vmrss()) < 4 * MB
    assert snap["process_memory_mb"] > 50
    assert snap["tracemalloc_current_mb"] is None
    assert snap["gc_objects_count"] is None
    assert snap["thread_count"] == 1
    text = run_memlens("snapshot", str(allocator.pid))
    assert text.returncode == 0
    assert f"(PID {allocator.pid})" in text.stdout
    assert "process memory" in text.stdout


AGENT_CHILD = """
import time, tracemalloc, memlens.agent
memlens.agent.start()
tracemalloc.start()
held = bytearray(20 * 1024 * 1024)
print("ready", flush=True)
time.sleep(60)
"""


def test_snapshot_command_reads_the_agent_of_a_python_child() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", AGENT_CHILD], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        done = run_memlens("snapshot", str(child.pid), "--json", "--objects")
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert done.returncode == 0, done.stderr
    snap = json.loads(done.stdout)
    assert snap["agent"] is True
    assert snap["tracemalloc_current_mb"] >= 20
    assert snap["tracemalloc_peak_mb"] >= snap["tracemalloc_current_mb"]
    assert snap["gc_objects_count"] > 1000


def test_snapshot_command_refuses_a_bad_pid() -> None:
    done = run_memlens("snapshot", "abc")
    assert done.returncode == 2
    assert "not a PID" in done.stderr


def test_monitor_and_leaks_commands_on_a_child(allocator: Allocator, tmp_path: Path) -> None:
    out = tmp_path / "run.db"
    done = run_memlens(
        "monitor", str(allocator.pid), "--duration", "1s", "--interval", "0.1", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    samples, _, ended = _recording(out)
    assert samples >= 5
    assert ended is not None
    judged = run_memlens("leaks", str(out), "--json")
    assert judged.returncode == 0, judged.stderr
    finding = json.loads(judged.stdout)
    assert finding["verdict"] == "insufficient"  # a second cannot tell
    assert finding["pid"] == allocator.pid
    # Without RUN: the newest recording of the store.
    again = run_memlens("leaks", "--db", str(out), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["pid"] == allocator.pid


LEAKING_PROFILER = """
import sys, threading, time
import memlens
from memlens.analysis.leakmodel import DetectorConfig

held = []
def leak():
    while True:
        held.append(bytearray(128 * 1024))
        for i in range(0, len(held[-1]), 4096):
            held[-1][i] = 1
        time.sleep(0.02)

threading.Thread(target=leak, daemon=True).start()
quick = DetectorConfig(min_duration=10, min_points=30, min_leak_window=10, envelope_window=0.5)
with memlens.Profiler(sys.argv[1], detector=quick) as p:
    leaks = p.watch_memory_leaks(duration_minutes=0.25)
    print(leaks[0].finding.verdict.value, leaks[0].finding.severity.value, flush=True)
"""


def test_every_command_gives_the_profilers_verdict_on_its_store(tmp_path: Path) -> None:
    """A Profiler with a short detector configuration: the recording keeps it, so
    `memlens leaks`, `analyze` and `report` judge with it and say the same."""
    child = subprocess.run(
        [sys.executable, "-c", LEAKING_PROFILER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    verdict, severity = child.stdout.split()
    assert verdict == "leak"
    db = str(tmp_path / "memlens.db")
    leaks = run_memlens("leaks", "--db", db, "--json")
    assert leaks.returncode == 0, leaks.stderr
    found = json.loads(leaks.stdout)
    assert (found["verdict"], found["severity"]) == (verdict, severity)
    assert found["settings"] == "the recording's settings"
    analyzed = run_memlens("analyze", db, "--json")
    assert json.loads(analyzed.stdout)["verdict"] == verdict
    text = run_memlens("analyze", db)
    assert "judged with the recording's settings" in text.stdout
    report = run_memlens("report", db, "--format", "json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["leaks"]["count"] == 1
    [judged] = [t for t in data["targets"] if t["trend"]["verdict"] != "insufficient"]
    assert judged["trend"]["verdict"] == verdict
    assert "judged with the recording's settings" in report.stderr
    overridden = run_memlens("leaks", "--db", db, "--config", str(_defaults(tmp_path)))
    assert "INSUFFICIENT" in overridden.stdout
    assert "(--config)" in overridden.stdout
    # The CI gate on the same recording: its leak criterion fails with the same verdict.
    checked = run_memlens("check", "--db", db, "last")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "settings:  the recording's settings" in checked.stdout
    assert "FAIL" in checked.stdout


def _defaults(folder: Path) -> Path:
    path = folder / "memlens.toml"
    path.write_text("[leaks]\n")
    return path
