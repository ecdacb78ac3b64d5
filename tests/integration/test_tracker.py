"""The Tracker on real allocations: names, sizes, lifetimes, the report, sampling, system
monitoring, threads, the exports, and the export a real child process writes at exit."""

from __future__ import annotations

import dataclasses
import gc
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import memlens
from memlens.api.tracker_export import (
    dump_binary,
    dump_json,
    load_tracker_binary,
    read_tracker_export,
    tracker_document,
)
from memlens.errors import CorruptRecording, NewerSchema, NotARecording
from memlens.model import SystemReading

MB = 1024 * 1024

Tracker = memlens.Tracker
SamplingConfig = memlens.SamplingConfig


class Payload:
    """A weak-referenceable object of a known deep size: its buffer dominates."""

    def __init__(self, nbytes: int) -> None:
        self.buffer = bytearray(nbytes)


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_track_records_name_type_size_place_and_thread() -> None:
    tracker = Tracker()
    numbers = list(range(10_000, 15_000))  # distinct ints, not the small-int cache
    line = sys._getframe().f_lineno + 1
    returned = tracker.track(numbers)
    assert returned is numbers
    (event,) = tracker.events()
    assert event.kind == "track"
    assert event.name == "numbers"
    assert event.type_name == "list"
    floor = sys.getsizeof(numbers) + sum(sys.getsizeof(n) for n in numbers)
    assert event.size == floor  # the list and every int, each once
    assert event.size_nodes == 5_001
    assert not event.size_truncated
    assert event.file == __file__
    assert event.line == line
    assert event.thread_id == threading.get_ident()
    assert event.thread_name == threading.current_thread().name
    assert event.lifetime == "untracked"  # a list takes no weak reference
    assert event.stack is None  # the default sampling keeps no stacks
    assert event.current_bytes == event.size


def test_an_objects_end_is_observed_and_the_report_adds_up() -> None:
    tracker = Tracker()
    big = Payload(4 * MB)
    tracker.track(big)
    small = Payload(1 * MB)
    tracker.track(small)
    report = tracker.analyze()
    assert report.total_allocations == 2
    assert report.active_allocations == 2
    assert report.current_memory_bytes >= 5 * MB
    peak = report.current_memory_bytes
    del big
    gc.collect()
    report = tracker.analyze()
    assert report.total_deallocations == 1
    assert report.active_allocations == 1
    assert 1 * MB <= report.current_memory_bytes < 2 * MB
    assert report.peak_memory_bytes == peak
    assert report.untracked_lifetime == 0
    assert report.allocation_rate > 0
    assert report.deallocation_rate > 0
    assert report.allocation_rate == pytest.approx(2 * report.deallocation_rate)
    kinds = [(e.kind, e.name) for e in tracker.events()]
    assert kinds == [("track", "big"), ("track", "small"), ("end", "big")]
    end = tracker.events()[-1]
    assert end.id == tracker.events()[0].id
    assert end.current_bytes == report.current_memory_bytes
    assert end.lifetime == "tracked"
    stats = tracker.stats()
    assert (stats.total_allocations, stats.total_deallocations) == (2, 1)
    assert stats.current_memory_bytes == report.current_memory_bytes


def test_objects_without_weak_references_stay_active_and_are_superseded_by_their_id() -> None:
    tracker = Tracker()
    rows = [bytearray(100_000)]
    tracker.track(rows)
    tracker.track(rows)  # the same object again: its first record is superseded
    report = tracker.analyze()
    assert report.total_allocations == 2
    assert report.superseded == 1
    assert report.active_allocations == 1
    assert report.untracked_lifetime == 1
    assert report.untracked_lifetime_bytes == report.current_memory_bytes
    assert 100_000 < report.current_memory_bytes < 101_000
    del rows
    gc.collect()
    assert tracker.analyze().total_deallocations == 0  # its end cannot be seen


def test_hotspots_group_by_name_type_and_place_largest_first() -> None:
    tracker = Tracker()
    keep = []
    for _ in range(5):
        chunk = Payload(100_000)
        tracker.track(chunk)
        keep.append(chunk)
    label = Payload(10)
    tracker.track(label)
    report = tracker.analyze()
    first, second = report.hotspots
    assert (first.var_name, first.type_name) == ("chunk", f"{__name__}.Payload")
    assert first.allocation_count == 5
    assert first.total_size == sum(e.size for e in tracker.events() if e.name == "chunk")
    assert first.location.startswith(f"{__file__}:")
    assert first.average_size == first.total_size / 5
    assert second.var_name == "label"
    assert report.active_allocations == 6


def test_the_node_limit_bounds_the_walk_and_says_so() -> None:
    tracker = Tracker(SamplingConfig(max_nodes=100))
    huge = [[n] for n in range(100_000)]
    tracker.track(huge)
    event = tracker.events()[-1]
    assert event.size_truncated
    assert event.size_nodes == 100
    assert tracker.stats().truncated_sizes == 1


def test_presets() -> None:
    assert SamplingConfig.demo() == SamplingConfig(rate=0.10, stack_depth=10)
    assert SamplingConfig.full() == SamplingConfig(rate=1.0, stack_depth=20)
    assert SamplingConfig.high_performance() == SamplingConfig(rate=0.01, stack_depth=0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        SamplingConfig(rate=1.5)


def test_sampling_records_a_share_of_calls_and_counts_them_all() -> None:
    tracker = Tracker().with_sampling(SamplingConfig(rate=0.1, seed=7))
    item = Payload(10)
    for _ in range(10_000):
        tracker.track(item)
    stats = tracker.stats()
    assert stats.track_calls == 10_000
    # binomial(10,000, 0.1): mean 1,000, standard deviation 30
    assert 850 < stats.total_allocations < 1150
    nothing = Tracker(SamplingConfig(rate=0.0))
    nothing.track(item)
    assert nothing.stats().track_calls == 1
    assert nothing.events() == []


def called_from_here(tracker: memlens.Tracker, obj: object) -> None:
    tracker.track(obj)


def test_full_sampling_keeps_stacks_and_high_performance_keeps_none() -> None:
    tracker = Tracker(SamplingConfig.full())
    payload = Payload(1)
    called_from_here(tracker, payload)
    stack = tracker.events()[-1].stack
    assert stack is not None
    assert 2 <= len(stack) <= 20
    assert stack[0].function == "called_from_here"
    assert stack[1].function == "test_full_sampling_keeps_stacks_and_high_performance_keeps_none"
    assert stack[1].file == __file__
    fast = Tracker(dataclasses.replace(SamplingConfig.high_performance(), rate=1.0))
    fast.track(stack)
    assert fast.events()[-1].stack is None


def test_the_global_tracker() -> None:
    assert Tracker.global_() is Tracker.global_()
    before = Tracker.global_().stats().total_allocations
    marker = Payload(1234)
    assert memlens.track(marker) is marker
    event = Tracker.global_().events()[-1]
    assert (event.name, event.type_name) == ("marker", f"{__name__}.Payload")
    assert Tracker.global_().stats().total_allocations == before + 1


def test_system_monitoring_runs_in_the_background_and_track_reads_its_last_reading() -> None:
    with Tracker().with_system_monitoring(interval=0.05) as tracker:
        assert tracker.monitoring
        wait_for(lambda: len(tracker.analyze().system_snapshots) >= 3)
        obj = Payload(10)
        tracker.track(obj)
        event = tracker.events()[-1]
        assert isinstance(event.system, SystemReading)
        assert event.system.mem_total > 0
        snapshots = tracker.analyze().system_snapshots
        assert event.system in snapshots
        later = snapshots[-1]
        assert later.cpu_percent is not None
        assert later.net_rx_bps is not None
        assert later.net_rx_bps >= 0
        assert [s.t for s in snapshots] == sorted(s.t for s in snapshots)
    assert not tracker.monitoring
    count = len(tracker.analyze().system_snapshots)
    time.sleep(0.2)
    assert len(tracker.analyze().system_snapshots) == count  # stopped


def test_threads_share_one_tracker_and_keep_their_own_figures() -> None:
    tracker = Tracker()
    per_thread = 300
    start = threading.Barrier(5)
    stop_reading = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        start.wait()
        for _ in range(per_thread):
            obj = Payload(100)
            tracker.track(obj)
            del obj  # ends at once: ends come from every thread while others track

    def read() -> None:
        start.wait()
        try:
            while not stop_reading.is_set():
                tracker.analyze()
                tracker.events()
        except BaseException as e:
            errors.append(e)

    workers = [threading.Thread(target=work, name=f"worker-{i}") for i in range(4)]
    reader = threading.Thread(target=read)
    for t in [*workers, reader]:
        t.start()
    for t in workers:
        t.join()
    stop_reading.set()
    reader.join()
    assert errors == []
    report = tracker.analyze()
    assert report.total_allocations == 4 * per_thread
    assert report.total_deallocations == 4 * per_thread
    assert report.active_allocations == 0
    assert report.current_memory_bytes == 0
    figures = {t.thread_name: t for t in report.threads}
    assert set(figures) == {f"worker-{i}" for i in range(4)}
    for t in figures.values():
        assert (t.track_calls, t.allocations, t.deallocations) == (per_thread,) * 3
        assert t.current_bytes == 0
        assert t.bytes_tracked > 100 * per_thread
    ids = [e.id for e in tracker.events() if e.kind == "track"]
    assert len(set(ids)) == 4 * per_thread


# -- exports ------------------------------------------------------------------------------------


@pytest.fixture
def busy_tracker() -> memlens.Tracker:
    tracker = Tracker(SamplingConfig.full()).with_system_monitoring(interval=0.05)
    wait_for(lambda: tracker.system_reading is not None)
    kept = []
    for n in range(300):
        record = Payload(1000 + n)
        tracker.track(record)
        if n % 3:
            kept.append(record)
    tracker.track([1, 2, 3])
    tracker.close()
    tracker.kept = kept  # type: ignore[attr-defined]
    return tracker


def test_the_json_export_holds_the_documented_fields(
    busy_tracker: memlens.Tracker, tmp_path: Path
) -> None:
    path = busy_tracker.export(tmp_path / "run.json")
    document = json.loads(path.read_text())
    assert document["format"] == "memlens-tracker"
    assert document["version"] == 1
    assert set(document) == {
        "format",
        "version",
        "memlens_version",
        "started",
        "exported",
        "sampling",
        "summary",
        "hotspots",
        "threads",
        "system",
        "events",
    }
    summary = document["summary"]
    report = busy_tracker.analyze()
    assert summary["total_allocations"] == report.total_allocations == 301
    assert summary["total_deallocations"] == report.total_deallocations == 100
    assert summary["unnamed"] == 1
    assert document["hotspots"][0]["var_name"] == "record"
    assert document["sampling"]["rate"] == 1.0
    tracked = [e for e in document["events"] if e["kind"] == "track"]
    assert tracked[0]["name"] == "record"
    assert tracked[0]["stack"][0][2] == "busy_tracker"
    assert tracked[0]["system"] is not None
    reading = document["system"][tracked[0]["system"]]
    assert reading["mem_total"] > 0
    assert tracked[-1]["name_captured"] is False
    assert "a list display" in tracked[-1]["name_note"]


def test_the_binary_export_reads_back_as_the_json_one_and_is_smaller(
    busy_tracker: memlens.Tracker, tmp_path: Path
) -> None:
    document = tracker_document(busy_tracker)
    data = dump_binary(document)
    as_json = dump_json(document)
    assert load_tracker_binary(data, "x") == json.loads(as_json)
    assert len(data) < len(as_json) / 5
    path = busy_tracker.export(tmp_path / "run.mltrk")
    assert path.read_bytes()[:6] == b"MLTRK\x01"
    again = read_tracker_export(path)
    assert again["summary"]["total_allocations"] == 301
    assert read_tracker_export(busy_tracker.export(tmp_path / "r.json"))["events"]


def test_damaged_and_newer_binary_exports_are_refused(
    busy_tracker: memlens.Tracker, tmp_path: Path
) -> None:
    data = dump_binary(tracker_document(busy_tracker))
    with pytest.raises(CorruptRecording, match="damaged"):
        load_tracker_binary(data[:-20], "cut.mltrk")
    with pytest.raises(NewerSchema, match="version 2"):
        load_tracker_binary(b"MLTRK\x02" + data[6:], "new.mltrk")
    with pytest.raises(NotARecording):
        load_tracker_binary(b"MLREC\x01", "other")
    other = tmp_path / "other.json"
    other.write_text('{"format": "memlens-recording"}')
    with pytest.raises(NotARecording):
        read_tracker_export(other)


AT_EXIT = """
import sys
import memlens

class Session:
    pass

tracker = memlens.Tracker().with_auto_export(sys.argv[1])
session = Session()
tracker.track(session)
user_rows = [[n] for n in range(100)]
memlens.Tracker.global_()
tracker.track(user_rows)
"""


def test_the_auto_export_is_written_when_the_interpreter_exits(tmp_path: Path) -> None:
    path = tmp_path / "at-exit.json"
    result = subprocess.run(
        [sys.executable, "-c", AT_EXIT, str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(path.read_text())
    # -c has no source file: the names are placeholders that say so
    names = [(e["name"], e["name_note"]) for e in document["events"]]
    assert all(name.startswith("<expression at <string>:") for name, _ in names)
    assert all("no source" in note for _, note in names)
    script = tmp_path / "job.py"
    script.write_text(AT_EXIT)
    path = tmp_path / "at-exit.mltrk"
    result = subprocess.run(
        [sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    document = read_tracker_export(path)
    assert [e["name"] for e in document["events"] if e["kind"] == "track"] == [
        "session",
        "user_rows",
    ]
    assert document["summary"]["total_allocations"] == 2
