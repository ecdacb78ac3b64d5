"""`memlens report` on real recording files: written through the real Store with labelled
series and the live alerts' events, then read back and judged by the real CLI; and a
short real recording of a real child, end to end."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from helpers import MB, Allocator, run_memlens
from leakgen import generate
from memlens.analysis.leakmodel import DetectorConfig
from memlens.analysis.leaks import detect
from memlens.model import Reading, SystemReading, Target, Tick
from memlens.report import build_report
from memlens.report.html import dump_report_html
from memlens.report.json import report_to_dict
from memlens.report.markdown import render_report_md
from memlens.store import Store, StoreReader, load_recording
from memlens.units import human_bytes

LEAKER = "1001-1"
STEADY = "1002-2"


@dataclass(frozen=True)
class Made:
    db: Path
    rid: int
    start: float
    end: float
    onset: float  # when the leaker's leak starts, by construction
    alert: float  # when the leak alert was raised


def write_recording(db: Path, *, events: bool = True, leak_seed: int = 1) -> Made:
    """Two processes sampled at 1 Hz: a leak that starts late (leakgen's late_onset_leak)
    with a thread leak beside it, and a steady one with a batch job; the leaker exits
    with code 3 at the end. With `events`, the live alerts a recording made with a
    config would hold: a leak raised, RSS above max_rss and back, system memory above."""
    leak = generate("late_onset_leak", leak_seed)
    steady = generate("flat_wander", 1)
    n = min(len(leak.times), len(steady.times))
    start = leak.times[0]
    store = Store.open(db)
    rid = store.begin_recording(
        name="nightly",
        command="python serve.py --port 8000",
        interval=1.0,
        host="box",
        started=start,
    )
    a = Target(LEAKER, "process", 1001, start - 5, "leaker", "python serve.py --port 8000")
    b = Target(STEADY, "process", 1002, start - 5, "steady", "python worker.py")
    onset = start + leak.params["start"]
    for i in range(n):
        t = leak.times[i]
        threads = 4 + max(0, int((t - onset) // 300))
        readings = {
            a.key: Reading(int(leak.values[i]), 900 * MB, 10 * MB, 0, threads, 20, 1.0),
            b.key: Reading(int(steady.values[i]), 700 * MB, 9 * MB, 0, 3, 15, 0.5),
        }
        tick = Tick(i + 1, t, readings, (a, b) if i == 0 else ())
        store.add_tick(rid, tick)
    end = leak.times[n - 1]
    a.state, a.exit_time, a.exit_code, a.exit_reason = "exited", end, 3, "exited"
    store.add_tick(rid, Tick(n + 1, end + 1, {b.key: readings[b.key]}, (), (a,)))
    alert = onset + (end - onset) * 0.6
    if events:
        finding = detect(
            [x for x in leak.times[:n] if x <= alert],
            [v for x, v in zip(leak.times[:n], leak.values[:n], strict=False) if x <= alert],
        )
        assert finding.is_leak
        store.add_event(
            rid,
            "leak",
            alert,
            {
                "state": "raised",
                "severity": "critical",
                "finding": {**finding.to_dict(), "severity": "critical"},
                "text": "leaker (PID 1001): LEAK (critical)",
                "name": "leaker",
                "pid": 1001,
            },
            a.key,
        )
        limit = 400 * MB
        store.add_event(
            rid,
            "threshold",
            start + 600,
            {
                "metric": "rss",
                "state": "above",
                "value": 410 * MB,
                "limit": limit,
                "text": "leaker (PID 1001): RSS 410.0 MB above the limit 400.0 MB",
            },
            a.key,
        )
        store.add_event(
            rid,
            "threshold",
            start + 900,
            {
                "metric": "rss",
                "state": "below",
                "value": 370 * MB,
                "limit": limit,
                "text": "leaker (PID 1001): RSS back below",
            },
            a.key,
        )
        store.add_event(
            rid,
            "threshold",
            end - 120,
            {
                "metric": "system_memory",
                "state": "above",
                "value": 93.5,
                "limit": 90.0,
                "text": "system memory 93.5% in use, above the limit 90%",
            },
            None,
        )
    store.end_recording(rid, ended=end + 1, exit_code=None)
    store.close()
    return Made(db, rid, start, end + 1, onset, alert)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    return write_recording(tmp_path_factory.mktemp("report") / "nightly.db")


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Made:
    return write_recording(tmp_path_factory.mktemp("quiet") / "quiet.db", events=False)


def report_json(made: Made, *args: str) -> dict[str, Any]:
    result = run_memlens("report", str(made.db), "--format", "json", *args, timeout=120)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def target(data: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(t for t in data["targets"] if t["key"] == key)
    return found


# -- JSON: the figures ----------------------------------------------------------------------


def test_json_has_the_period_the_figures_and_the_trend(made: Made) -> None:
    data = report_json(made)
    assert data["format"] == "memlens-report"
    assert data["version"] == 1
    assert data["recording"]["name"] == "nightly"
    assert data["period"]["start"] == made.start
    assert data["period"]["end"] == made.end
    assert data["period"]["duration"] == pytest.approx(made.end - made.start)
    assert data["period"]["hours"] is None

    reader = StoreReader.open(made.db)
    try:
        recording = load_recording(reader, reader.recording(made.rid))
    finally:
        reader.close()
    assert data["samples"] == recording.sample_count
    rss = [v for v in recording.series[LEAKER]["rss"] if v is not None]
    leaker = target(data, LEAKER)
    assert leaker["samples"] == len(recording.series[LEAKER]["t"])
    assert leaker["rss"]["max"] == max(rss)
    assert leaker["rss"]["min"] == min(rss)
    assert leaker["rss"]["current"] == rss[-1]
    assert leaker["rss"]["average"] == pytest.approx(sum(rss) / len(rss))
    assert min(rss) <= leaker["rss"]["p95"] <= max(rss)

    trend = leaker["trend"]
    assert trend["verdict"] == "leak"
    assert trend["rate"] > 0
    assert trend["rate_low"] <= trend["rate"] <= trend["rate_high"]
    # the onset found is near the one built in (within a tenth of the recording)
    assert abs(trend["onset"] - made.onset) < 0.1 * (made.end - made.start)
    assert trend["headline"].startswith("LEAK (")
    assert target(data, STEADY)["trend"]["verdict"] == "flat"

    threads = leaker["threads"]
    assert threads["first"] == 4
    assert threads["last"] > 4
    assert threads["grows"] is True
    assert target(data, STEADY)["threads"]["grows"] is False
    assert leaker["leak_windows"][0][0] <= made.alert <= leaker["leak_windows"][-1][1]


def test_json_leaks_and_violations_come_from_the_events(made: Made) -> None:
    data = report_json(made)
    leaks = data["leaks"]
    assert leaks["source"] == "events"
    assert leaks["count"] == 1
    assert leaks["critical"] == 1
    item = leaks["items"][0]
    assert item["target_key"] == LEAKER
    assert item["alerted"] == made.alert
    assert item["end"] is None  # never cleared
    assert leaks["total_leaked"] == item["growth"] > 0

    violations = data["thresholds"]["violations"]
    assert data["thresholds"]["source"] == "events"
    rss = next(v for v in violations if v["metric"] == "rss")
    assert rss["start"] == made.start + 600
    assert rss["end"] == made.start + 900
    assert rss["duration"] == 300
    assert rss["limit"] == 400 * MB
    assert rss["unit"] == "bytes"
    assert rss["peak"] >= 410 * MB
    system = data["system_memory"]
    assert system["recorded"] is False
    assert "not recorded" in system["note"]
    [sysv] = system["violations"]
    assert sysv["target_key"] is None
    assert sysv["unit"] == "percent"
    assert sysv["end"] is None
    assert sysv["duration"] == pytest.approx(made.end - (made.end - 121))

    [exit_] = data["exits"]
    assert exit_["target_key"] == LEAKER
    assert exit_["code"] == 3

    kinds = [r["kind"] for r in data["recommendations"]]
    assert kinds[0] == "leak"  # no Python heap recorded: what can be said from outside
    assert "threads" in kinds
    assert "system-memory" in kinds
    assert "flat" not in kinds
    first = data["recommendations"][0]
    assert first["subject"] == "leaker (1001)"
    assert any("tracemalloc" in a for a in first["advice"])
    assert any("MALLOC_ARENA_MAX=2" in a for a in first["advice"])


def test_without_events_the_detector_counts_the_leaks_and_says_so(quiet: Made) -> None:
    data = report_json(quiet)
    assert data["leaks"]["source"] == "detector"
    assert data["leaks"]["count"] == 1
    assert data["leaks"]["items"][0]["target_key"] == LEAKER
    assert data["leaks"]["total_leaked"] == target(data, LEAKER)["trend"]["growth"]
    assert data["thresholds"] == {"source": "none", "count": 0, "violations": []}
    assert data["system_memory"]["violations"] == []


def test_a_config_max_rss_finds_violations_in_the_samples(quiet: Made, tmp_path: Path) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text('[thresholds]\nmax_rss = "1MB"\n\n[leaks]\nmin_duration = "10m"\n')
    data = report_json(quiet, "--config", str(config))
    assert data["thresholds"]["source"] == "samples"
    violations = data["thresholds"]["violations"]
    assert {v["target_key"] for v in violations} == {LEAKER, STEADY}
    assert all(v["limit"] == 1 * MB for v in violations)
    assert target(data, LEAKER)["trend"]["limit"] == 1 * MB


def test_hours_keeps_the_last_hours_only(made: Made) -> None:
    whole = report_json(made)
    data = report_json(made, "--hours", "0.25")
    assert data["period"]["hours"] == 0.25
    assert data["period"]["end"] == made.end
    assert data["period"]["start"] == pytest.approx(made.end - 900)
    leaker = target(data, LEAKER)
    assert leaker["start"] >= made.end - 900
    assert 880 <= leaker["samples"] <= 901
    assert data["samples"] < whole["samples"]
    # the RSS violation ended long before the last quarter hour
    assert all(v["metric"] != "rss" for v in data["thresholds"]["violations"])
    assert data["leaks"]["count"] == 1  # still open: it overlaps the period


# -- Markdown and HTML ----------------------------------------------------------------------


def test_markdown_reads_as_a_report(made: Made) -> None:
    result = run_memlens("report", str(made.db), timeout=120)  # md to stdout by default
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for heading in (
        "# memlens report: nightly (recording 1)",
        "## Summary",
        "## Process memory",
        "## System memory",
        "## Leaks",
        "## Threshold violations",
        "## Exits",
        "## Recommendations",
        "### leaker (1001)",
    ):
        assert f"\n{heading}\n" in f"\n{text}", heading
    assert "| target | samples | current | min | max | average | p95 | trend |" in text
    assert "- **Leaks:** 1 (1 critical)" in text
    assert "from the leak alerts raised while it was recorded" in text
    assert "System-wide memory is not recorded" in text
    assert "| system memory | system |" in text
    assert "93.5%" in text
    assert "1. **Memory leaks** (leaker (1001)): RSS grows" in text
    assert "MALLOC_ARENA_MAX=2" in text
    assert re.search(r"\*\*Threads:\*\* 4 → \d+ .*growing", text)
    assert "report on recording 1 (nightly)" in result.stderr


def test_html_is_self_contained_and_carries_the_chart_data(made: Made, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run_memlens("report", str(made.db), "-o", str(out), timeout=120)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert not re.search(r"[a-z][a-z0-9+.-]*://", text, re.IGNORECASE)  # no URL at all
    assert "Content-Security-Policy" in text
    assert text.count("<script") == 3
    block = re.search(r'<script type="application/json" id="memlens-data">(.*?)</script>', text)
    assert block is not None
    data = json.loads(block.group(1))
    chart = next(c for c in data["charts"] if c["key"] == LEAKER)
    assert chart["windows"]
    assert any(m["kind"] == "leak" and m["t"] == made.alert for m in chart["marks"])
    assert any(m["kind"] == "exit" for m in chart["marks"])
    assert 'id="recommendations"' in text
    assert 'data-kind="system-memory"' in text


def test_markup_in_names_stays_text(tmp_path: Path) -> None:
    db = tmp_path / "evil.db"
    store = Store.open(db)
    rid = store.begin_recording(
        name="<b>x</b>",
        command="run </script><script>alert(1)</script>",
        interval=1.0,
        host="h",
        started=1_700_000_000.0,
    )
    evil = Target("1-1", "process", 1, 0.0, "<img src=x onerror=alert(1)>", "a | b")
    for i in range(30):
        store.add_tick(
            rid,
            Tick(
                i + 1,
                1_700_000_000.0 + i,
                {evil.key: Reading(MB, MB, 0, 0, 1, 3, 0.0)},
                (evil,) if i == 0 else (),
            ),
        )
    store.close()
    reader = StoreReader.open(db)
    try:
        recording = load_recording(reader, reader.recording(rid))
    finally:
        reader.close()
    report = build_report(recording)
    html = dump_report_html(report).decode()
    assert "<img src=x" not in html
    assert "</script><script>alert(1)" not in html
    md = render_report_md(report)
    assert "<img" not in md
    assert "| a \\| b" not in md  # the command line is not in a table cell...
    assert "a \\| b" in md or "`a | b`" in md  # ...but shown as code
    assert report_to_dict(report)["targets"][0]["name"] == "<img src=x onerror=alert(1)>"


# -- the machine ------------------------------------------------------------------------------


def test_the_machines_memory_swap_and_cpu_are_reported(tmp_path: Path) -> None:
    """A recording with the machine's readings: the report gives their figures in every
    format instead of saying they were not recorded."""
    db = tmp_path / "machine.db"
    total, t0 = 16 * 1024 * MB, 1_700_000_000.0
    percents = [40.0, 60.0, 50.0, 70.0]
    cpus = [None, 10.0, 30.0, 20.0]
    store = Store.open(db)
    rid = store.begin_recording(name="box", command=None, interval=1.0, host="h", started=t0)
    proc = Target("1-1", "process", 1, t0, "app", "app")
    for i, (percent, cpu) in enumerate(zip(percents, cpus, strict=True)):
        used = int(total * percent / 100)
        reading = SystemReading(
            t0 + i, cpu, total, used, total - used, percent, 2048 * MB, i * MB,
            None, None, None, None,
        )  # fmt: skip
        tick = Tick(
            i + 1, t0 + i, {proc.key: Reading(MB, MB, 0, 0, 1, 3, 0.0)}, (proc,) if i == 0 else ()
        )
        store.add_tick(rid, dataclasses.replace(tick, system=reading))
    store.end_recording(rid, ended=t0 + 4)
    store.close()

    result = run_memlens("report", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    machine = json.loads(result.stdout)["system_memory"]
    assert machine["recorded"] is True
    assert machine["readings"] == 4
    assert machine["memory_total"] == total
    assert machine["memory_percent"] == {"current": 70.0, "min": 40.0, "max": 70.0, "average": 55.0}
    assert machine["memory_used"]["max"] == int(total * 0.7)
    assert machine["swap_total"] == 2048 * MB
    assert machine["swap_used"] == {
        "current": 3 * MB,
        "min": 0.0,
        "max": 3 * MB,
        "average": 1.5 * MB,
    }
    assert machine["cpu_percent"] == {"current": 20.0, "min": 10.0, "max": 30.0, "average": 20.0}
    assert machine["violations"] == []
    assert "read 4 times" in machine["note"]

    md = run_memlens("report", str(db))
    assert md.returncode == 0, md.stderr
    assert (
        "- **System memory:** 70.0% of 16.0 GB in use at the end (min 40.0%, max 70.0%, "
        in md.stdout
    )
    assert "| memory in use | 70.0% | 40.0% | 70.0% | 55.0% |" in md.stdout
    assert "| CPU, all cores | 20.0% | 10.0% | 30.0% | 20.0% |" in md.stdout
    assert "- **Installed:** memory 16.0 GB, swap 2.0 GB" in md.stdout
    assert "not recorded" not in md.stdout

    reader = StoreReader.open(db)
    try:
        recording = load_recording(reader, reader.recording(rid))
    finally:
        reader.close()
    assert recording.system is not None
    assert recording.system["mem_percent"] == percents
    html = dump_report_html(build_report(recording)).decode()
    assert '<tr data-figure="memory_percent">' in html
    assert '<td class=num data-stat="max" data-value="70.0">70.0%</td>' in html


def test_a_system_memory_violations_peak_is_the_reports_maximum(tmp_path: Path) -> None:
    """The live alert keeps the percent it crossed at; the readings after it rise higher.
    The violation's peak and the machine's maximum are one figure, from the readings."""
    db = tmp_path / "machine.db"
    total, t0 = 16 * 1024 * MB, 1_700_000_000.0
    percents = [2.0, 2.6, 3.1, 3.5, 3.0, 2.2]
    store = Store.open(db)
    rid = store.begin_recording(name="box", command=None, interval=1.0, host="h", started=t0)
    proc = Target("1-1", "process", 1, t0, "app", "app")
    for i, percent in enumerate(percents):
        used = int(total * percent / 100)
        reading = SystemReading(
            t0 + i, 5.0, total, used, total - used, percent, 0, 0, None, None, None, None
        )
        tick = Tick(
            i + 1, t0 + i, {proc.key: Reading(MB, MB, 0, 0, 1, 3, 0.0)}, (proc,) if i == 0 else ()
        )
        store.add_tick(rid, dataclasses.replace(tick, system=reading))
    for t, state, value in ((t0 + 1, "above", 2.6), (t0 + 5, "below", 2.2)):
        text = f"system memory {value:.1f}% in use, {state} the limit 2.5%"
        data = {"metric": "system_memory", "state": state, "value": value, "limit": 2.5}
        store.add_event(rid, "threshold", t, {**data, "text": text})
    store.end_recording(rid, ended=t0 + 6)
    store.close()

    result = run_memlens("report", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    machine = json.loads(result.stdout)["system_memory"]
    [violation] = machine["violations"]
    assert machine["memory_percent"]["max"] == 3.5
    assert violation["peak"] == machine["memory_percent"]["max"]
    md = run_memlens("report", str(db))
    assert "| 2.6% | 3.5% | 2.5% |" in md.stdout  # crossed at, peak, limit


# -- errors ----------------------------------------------------------------------------------


def test_an_unknown_recording_is_one_line_and_exit_2(made: Made) -> None:
    result = run_memlens("report", f"{made.db}#99")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("memlens: error:")


def test_a_corrupt_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x07" * 4000)
    result = run_memlens("report", str(bad))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_an_unwritable_output_is_one_line_and_exit_2(made: Made, tmp_path: Path) -> None:
    result = run_memlens("report", str(made.db), "-o", str(tmp_path / "nope" / "r.md"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "cannot write" in result.stderr
    result = run_memlens("report", str(made.db), "--hours", "0")
    assert result.returncode == 2


# -- a real recording, end to end --------------------------------------------------------------


def test_a_short_real_recording_end_to_end(allocator: Allocator, tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    recorder = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "memlens",
            "record",
            str(allocator.pid),
            "--interval",
            "0.1",
            "--duration",
            "3s",
            "-o",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(3):
        allocator.alloc(16)
    _, err = recorder.communicate(timeout=60)
    assert recorder.returncode == 0, err
    result = run_memlens("report", str(db), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    leaker = target(data, next(t["key"] for t in data["targets"] if t["pid"] == allocator.pid))
    assert leaker["samples"] >= 10
    assert data["samples"] >= leaker["samples"]
    assert leaker["rss"]["max"] >= 48 * MB
    assert leaker["trend"]["verdict"] == "insufficient"  # 3 s cannot tell a leak
    machine = data["system_memory"]
    assert machine["recorded"] is True
    assert machine["readings"] >= 2
    assert machine["memory_total"] == psutil.virtual_memory().total
    assert 0 < machine["memory_percent"]["min"] <= machine["memory_percent"]["max"] <= 100
    assert [r["kind"] for r in data["recommendations"]] == ["insufficient"]
    assert data["leaks"] == {
        "source": "detector",
        "count": 0,
        "critical": 0,
        "total_leaked": 0.0,
        "items": [],
    }
    md = run_memlens("report", str(db))
    assert md.returncode == 0, md.stderr
    assert human_bytes(leaker["rss"]["max"]) in md.stdout
    assert "Too little data to judge" in md.stdout
    html = tmp_path / "real.html"
    assert run_memlens("report", str(db), "-o", str(html)).returncode == 0
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_build_report_rejects_a_bad_period(made: Made) -> None:
    reader = StoreReader.open(made.db)
    try:
        recording = load_recording(reader, reader.recording(made.rid))
    finally:
        reader.close()
    with pytest.raises(ValueError, match="hours"):
        build_report(recording, hours=0)
    report = build_report(recording, config=DetectorConfig(min_duration=3 * 3600))
    assert report.targets[0].trend.verdict.value == "insufficient"


@pytest.mark.parametrize(
    ("heap_share", "says"),
    [(0.0, "traced Python heap stays flat"), (0.9, "Python objects are kept alive")],
)
def test_with_the_agents_heap_the_advice_says_what_grows(
    tmp_path: Path, heap_share: float, says: str
) -> None:
    """A recording of a process that ran the Python agent holds its traced heap: the
    report compares it with RSS instead of saying it cannot tell."""
    leak = generate("linear_leak", 3)
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        rid = store.begin_recording(
            name="agent", command="python app.py", interval=1.0, host="box", started=leak.times[0]
        )
        app = Target("7-7", "process", 7, leak.times[0] - 1, "app", "python app.py")
        base = leak.values[0]
        for i, (t, v) in enumerate(zip(leak.times, leak.values, strict=True)):
            heap = int(20 * MB + heap_share * (v - base))
            reading = Reading(int(v), 900 * MB, 9 * MB, 0, 4, 10, 1.0, py_heap=heap)
            store.add_tick(rid, Tick(i + 1, t, {app.key: reading}, (app,) if i == 0 else ()))
    result = run_memlens("report", str(db), "--format", "json", timeout=120)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    first = data["recommendations"][0]
    assert first["subject"] == "app (7)"
    assert says in first["seen"]
