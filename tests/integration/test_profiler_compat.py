"""Code written for the MemoryProfiler memlens replaces runs unchanged: that document's own
usage examples (tests/integration/fixtures/memory_profiler_examples.md, copied verbatim),
with only their import lines changed, run in a real Python process; and the familiar
names judged on a real leaking thread."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import memlens
from helpers import MB
from memlens.analysis import DetectorConfig
from memlens.config import Thresholds
from memlens.store import StoreReader

EXAMPLES = Path(__file__).parent / "fixtures" / "memory_profiler_examples.md"
IMPORTS = {
    "from scripts.memory_profiler import MemoryProfiler": "from memlens import MemoryProfiler",
    "from scripts.memory_profiler import MemoryThresholds": "from memlens import MemoryThresholds",
}
SHORT = DetectorConfig(min_duration=10, min_points=30, min_leak_window=10, envelope_window=0.5)


def _adapted() -> str:
    blocks = re.findall(r"```python\n(.*?)```", EXAMPLES.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 12
    source = "\n".join(blocks)
    lines = source.splitlines()
    changed = [IMPORTS.get(line, line) for line in lines]
    differ = [a for a, b in zip(lines, changed, strict=True) if a != b]
    assert sorted(differ) == sorted(IMPORTS)  # the import lines, and nothing else
    return "\n".join(changed)


def test_the_documents_examples_run_unchanged_but_for_their_imports(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _adapted()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert re.search(r"メモリ使用量: \d+\.\dMB", out)
    assert re.search(r"メモリ使用量変化: [+-]\d+\.\dMB", out)
    assert re.search(r"平均メモリ使用量: \d+\.\dMB", out)
    assert "期間: 24時間" in out
    assert re.search(r"スナップショット数: [1-9]", out)
    assert "検出されたリーク数: 0" in out
    assert re.search(r"GCオブジェクト数: [\d,]+個", out)
    assert "メモリ使用量トレンド: insufficient" in out  # one snapshot cannot tell
    assert re.search(r"推奨事項:\n  - 1 samples over 0 s; need at least", out)
    assert "tracemalloc監視を開始しました" in out
    # The data went where the examples say, as memlens stores any command reads: the
    # named folder (a recording before cleanup(), one after) and the default one.
    with StoreReader.open(tmp_path / "logs" / "memory" / "memlens.db") as reader:
        assert len(reader.recordings()) == 2
    with StoreReader.open(tmp_path / "logs" / "performance" / "memory" / "memlens.db") as reader:
        assert len(reader.recordings()) == 1


def _leak_steadily(held: list[bytearray], stop: threading.Event) -> None:
    while not stop.is_set():
        buf = bytearray(128 * 1024)
        for i in range(0, len(buf), 4096):
            buf[i] = 1
        held.append(buf)
        stop.wait(0.02)


def test_detect_memory_leaks_judges_the_past_and_takes_no_snapshot(tmp_path: Path) -> None:
    p = memlens.MemoryProfiler(tmp_path, detector=SHORT)
    held: list[bytearray] = []
    stop = threading.Event()
    leaker = threading.Thread(target=_leak_steadily, args=(held, stop))
    try:
        p.start_monitoring(interval=0.2)
        leaker.start()
        stop.wait(16)
        stop.set()
        leaker.join()
        p.monitoring_active = False
        assert p.monitoring_thread is None
        assert not p.monitoring
        kept = p.snapshots
        (leak,) = p.detect_memory_leaks(duration_minutes=0.25)
        assert p.snapshots == kept  # judged what was there: no snapshot taken
        assert leak.leak_rate_mb_per_sec > 0
        assert leak.total_leaked_mb > 0
        assert leak.start_snapshot in kept
        assert leak.end_snapshot == kept[-1]
        # Judged over the past 0.25 minutes of snapshots only: it starts at one of them.
        window = [snap for snap in kept if snap.timestamp >= kept[-1].timestamp - 15.0]
        assert leak.start_snapshot in window
        report = p.generate_memory_report(hours=1)
        assert report["memory_leaks"]["detected_count"] == 1
        assert report["memory_leaks"]["total_leaked_mb"] > 0
        assert report["snapshots_count"] == len(kept)
        assert (
            report["process_memory"]["max_mb"] * MB == report["profiler"]["process_memory"]["max"]
        )
        assert report["period_hours"] == 1
        json.dumps(report, allow_nan=False)
        # Over a window that holds a single snapshot, nothing can be judged.
        assert p.detect_memory_leaks(duration_minutes=1e-6) == []
    finally:
        stop.set()
        p.cleanup()
        held.clear()


def test_memory_thresholds_in_mb_become_limits_in_bytes(tmp_path: Path) -> None:
    p = memlens.Profiler(tmp_path)
    try:
        limits = memlens.MemoryThresholds(
            process_memory_mb=1e-3, system_memory_percent=0.01, leak_rate_mb_per_sec=2.0
        )
        p.thresholds = limits
        assert p.thresholds is limits
        assert limits.to_thresholds() == Thresholds(
            max_rss=1049, max_system_memory=0.01, max_leak_rate=2.0 * MB
        )
        p.take_snapshot()
        report = p.generate_memory_report()
    finally:
        p.cleanup()
    assert report["profiler"]["thresholds"]["max_rss"] == 1049
    assert sorted(v["metric"] for v in report["thresholds"]["violations"]) == [
        "rss",
        "system_memory",
    ]
    assert report["threshold_violations"] == 2
    assert report["system_memory"]["current_percent"] > 0.01
