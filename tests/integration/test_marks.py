"""Marks: `memlens mark PID TEXT` from a shell into a live recording, `memlens.mark(text)`
from a program with a Profiler; each kept in the recording and shown in the exports, the
report, the chart, and usable as `analyze --since`."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from helpers import run_memlens
from helpers import wait_for_recorded_target as _wait_for_target
from memlens.store import StoreReader

SVG = "{http://www.w3.org/2000/svg}"
SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"


def test_a_mark_from_the_shell_is_kept_shown_and_judged_from(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    child = subprocess.Popen([sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        recorder = subprocess.Popen(
            [sys.executable, "-m", "memlens", "record", str(child.pid), "--duration", "4s",
             "--interval", "0.1", "-o", str(db)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait_for_target(db, child.pid, recorder)
        marked = run_memlens("mark", str(child.pid), "batch 2 <starts>\x1b", "--db", str(db))
        assert marked.returncode == 0, marked.stderr
        assert "batch 2 <starts>\\x1b" in marked.stdout  # the escape made visible
        _, err = recorder.communicate(timeout=60)
        assert recorder.returncode == 0, err
        # The recording has ended: nothing watches the PID any more.
        late = run_memlens("mark", str(child.pid), "too late", "--db", str(db))
        assert late.returncode == 2
        assert f"watching PID {child.pid}" in late.stderr
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    text = "batch 2 <starts>\x1b"
    exported = json.loads(run_memlens("export", str(db), "--format", "json", "-o", "-").stdout)
    [mark] = [e for e in exported["events"] if e["kind"] == "mark"]
    assert mark["data"]["text"] == text
    assert mark["data"]["source"] == "shell"
    report = json.loads(run_memlens("report", str(db), "--format", "json").stdout)
    [target] = report["targets"]
    assert {"t": mark["t"], "kind": "mark", "text": text} in target["marks"]
    chart = ET.fromstring(run_memlens("export", str(db), "--format", "svg", "-o", "-").stdout)
    [drawn] = chart.findall(f".//{SVG}g[@class='mark'][@data-kind='mark']")
    assert float(drawn.attrib["data-t"]) == mark["t"]
    assert "".join(drawn.itertext()) == "batch 2 <starts>\\x1b"
    # analyze --since judges the samples from the mark on, and only those.
    [series] = exported["series"].values()
    after = sum(1 for t in series["t"] if t >= mark["t"])
    assert 0 < after < len(series["t"])
    whole = json.loads(run_memlens("analyze", str(db), "--json").stdout)
    since = json.loads(run_memlens("analyze", str(db), "--json", "--since", text).stdout)
    assert whole["points"] == len(series["t"])
    assert since["points"] == after
    unknown = run_memlens("analyze", str(db), "--since", "nope")
    assert unknown.returncode == 2
    assert "no mark 'nope'" in unknown.stderr


PROGRAM = """
import sys
import memlens

p = memlens.Profiler(sys.argv[1])
print(memlens.mark("before any snapshot"), flush=True)
for i in range(5):
    p.take_snapshot()
print(memlens.mark("phase 2"), flush=True)
for i in range(5):
    p.take_snapshot()
p.cleanup()
print(memlens.mark("after cleanup"), flush=True)
"""


def test_a_mark_from_the_program_goes_into_its_profilers_recording(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # A Profiler opens its recording when made; after cleanup() it has none.
    assert done.stdout.split() == ["1", "1", "0"]
    db = tmp_path / "memlens.db"
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        marks = reader.events(info.id, kinds=["mark"])
    assert [m.data["text"] for m in marks] == ["before any snapshot", "phase 2"]
    assert all(m.data["source"] == "program" for m in marks)
    since = json.loads(run_memlens("analyze", str(db), "--json", "--since", "phase 2").stdout)
    assert since["points"] == 5


UNDER_RUN = """
import time
import memlens

# The recorder writes this process's target once it has sampled it: until then the
# mark has no recording to go to, and says so by returning 0.
for _ in range(400):
    if memlens.mark("warm-up done"):
        break
    time.sleep(0.05)
else:
    raise SystemExit("never marked")
time.sleep(0.3)
"""


def test_a_program_under_memlens_run_marks_its_own_recording(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    done = run_memlens(
        "run", "-o", str(db), "--interval", "0.05", "--", sys.executable, "-c", UNDER_RUN,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        [mark] = reader.events(info.id, kinds=["mark"])
        targets = {t.key: t for t in reader.targets(info.id)}
    assert mark.data["text"] == "warm-up done"
    assert mark.data["source"] == "program"
    marked = targets[mark.target_key or ""]
    assert marked.kind == "process"
    assert marked.pid == mark.data["pid"]
    assert "python" in marked.name
