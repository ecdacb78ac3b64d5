"""`record`, `run`, `ls-recordings`, `show` and `prune` on real processes and real stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import MB, ROOT, Allocator, run_memlens
from memlens.store import StoreReader

FAMILY = r"""
import os, signal, subprocess, sys, time
GRANDCHILD = "import time; b = bytearray(24 << 20); b[::4096] = b'x' * 6144; time.sleep(30)"
kids = [subprocess.Popen([sys.executable, "-c", GRANDCHILD]) for _ in range(2)]
print("family ready", flush=True)
def stop(signum, frame):
    print(f"child got signal {signum}", flush=True)
    for k in kids:
        k.terminate(); k.wait()
    sys.exit(42)
signal.signal(signal.SIGINT, stop)
time.sleep(2.5)
for k in kids:
    k.terminate(); k.wait()
sys.exit(int(sys.argv[1]))
"""


def test_run_records_the_child_and_its_children_and_passes_the_exit_code(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    result = run_memlens(
        "run", "--interval", "0.2", "--db", str(db), "--", sys.executable, "-c", FAMILY, "7"
    )
    assert result.returncode == 7, result.stderr
    assert "family ready" in result.stdout
    reader = StoreReader.open(db)
    try:
        info = reader.recording("last")
        assert info.exit_code == 7
        targets = reader.targets(info.id)
        processes = [t for t in targets if t.kind == "process"]
        assert len(processes) == 3  # the child and both grandchildren
        assert len([t for t in targets if t.kind == "sum"]) == 1
        assert all(t.state == "exited" for t in targets)
        grandchildren = [t for t in processes if t.parent is not None]
        for t in grandchildren:
            assert max(v for v in reader.series(info.id, t.key)["rss"] if v) >= 24 * MB
    finally:
        reader.close()
    assert "recorded into" in result.stdout


def test_sigint_to_memlens_reaches_the_child_and_its_code_comes_back(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "memlens",
            "run",
            "--interval",
            "0.2",
            "--db",
            str(db),
            "--",
            sys.executable,
            "-u",
            "-c",
            FAMILY.replace("time.sleep(2.5)", "time.sleep(60)"),
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "family ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert "child got signal 2" in out
    assert proc.returncode == 42, err


def test_a_command_that_cannot_start(tmp_path: Path) -> None:
    result = run_memlens("run", "--db", str(tmp_path / "x.db"), "--", "/no/such/program")
    assert result.returncode == 2
    assert "cannot start '/no/such/program'" in result.stderr
    assert run_memlens("run").returncode == 2


def test_record_for_a_duration_then_list_and_show(allocator: Allocator, tmp_path: Path) -> None:
    out = tmp_path / "rec.db"
    allocator.alloc(16)
    result = run_memlens(
        "record", str(allocator.pid), "--duration", "1.5", "--interval", "0.1", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert f"recorded into {out}" in result.stdout
    assert (
        f"python3 (pid {allocator.pid})" in result.stdout
        or f"(pid {allocator.pid})" in result.stdout
    )
    reader = StoreReader.open(out)
    try:
        info = reader.recording("last")
        key = reader.targets(info.id)[0].key
        assert len(reader.series(info.id, key)["t"]) >= 5
    finally:
        reader.close()
    listed = run_memlens("ls-recordings", "--db", str(out))
    assert listed.returncode == 0
    assert str(info.id) in listed.stdout
    shown = run_memlens("show", str(out))
    assert shown.returncode == 0
    assert f"recording {info.id}" in shown.stdout
    assert "MB" in shown.stdout
    by_id = run_memlens("show", str(info.id), "--db", str(out))
    assert by_id.returncode == 0
    assert run_memlens("show", "999", "--db", str(out)).returncode == 2


def test_record_stops_when_every_target_has_exited(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    # The child ends half a second after the recording's file appears, not after a fixed
    # time: on a loaded machine memlens may take longer than that to start.
    waits = (
        "import os, sys, time\n"
        "end = time.monotonic() + 60\n"
        "while not os.path.exists(sys.argv[1]) and time.monotonic() < end:\n"
        "    time.sleep(0.05)\n"
        "time.sleep(0.5)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", waits, str(db)])
    result = run_memlens("record", str(child.pid), "--interval", "0.1", "-o", str(db))
    child.wait()
    assert result.returncode == 0
    assert "exited" in result.stdout


def test_prune_drops_old_samples(allocator: Allocator, tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    run_memlens(
        "record", str(allocator.pid), "--duration", "0.5", "--interval", "0.1", "-o", str(db)
    )
    kept = run_memlens("prune", "--db", str(db))
    assert kept.returncode == 0
    assert "pruned 0 samples" in kept.stdout
    time.sleep(0.2)
    gone = run_memlens("prune", "--samples", "0.1s", "--events", "0.1s", "--db", str(db))
    assert gone.returncode == 0
    assert "pruned 0 samples" not in gone.stdout
    assert not os.path.exists(tmp_path / "nothing.db")
    assert run_memlens("prune", "--db", str(tmp_path / "nothing.db")).returncode == 0


def test_kill_9_of_a_recording_memlens_loses_at_most_the_last_second(
    allocator: Allocator, tmp_path: Path
) -> None:
    import sqlite3

    db = tmp_path / "killed.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "memlens",
            "record",
            str(allocator.pid),
            "--interval",
            "0.05",
            "-o",
            str(db),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    time.sleep(4.0)
    killed_at = time.time()
    proc.kill()
    proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    reader = StoreReader.open(db)
    try:
        info = reader.recording("last")
        key = reader.targets(info.id)[0].key
        times = reader.series(info.id, key)["t"]
    finally:
        reader.close()
    assert info.ended is None  # it never got to say goodbye
    # Sampling every 50 ms for about 4 s, committing at least every second: all but about
    # the last second is there.
    assert times[-1] >= killed_at - 1.5
    assert len(times) >= 20


def test_bad_places_to_record_give_one_line(tmp_path: Path, allocator: Allocator) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a recording\n")
    for target, says in (
        (str(text), "is not a memlens recording"),
        ("/proc/memlens-test.db", "cannot write the recording"),
    ):
        result = run_memlens("record", str(allocator.pid), "--duration", "0.5", "-o", target)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert says in lines[0]
    watched = run_memlens("watch", str(allocator.pid), "--port", "0", "--db", str(text))
    assert watched.returncode == 2
    assert "is not a memlens recording" in watched.stderr


def test_run_with_the_dashboard(tmp_path: Path) -> None:
    import json
    import re

    from websockets.sync.client import connect

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "memlens",
            "run",
            "--web",
            "--port",
            "0",
            "--interval",
            "0.2",
            "--db",
            str(tmp_path / "w.db"),
            "--",
            sys.executable,
            "-c",
            "import sys, time; sys.stdin.read(); sys.exit(5)",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    assert proc.stdin is not None
    url = None
    for _ in range(50):
        line = proc.stderr.readline()
        m = re.search(r"(http://\S+)", line)
        if m:
            url = m.group(1)
            break
    assert url is not None
    base, _, query = url.partition("?")  # the URL carries the dashboard's token
    with connect(base.replace("http://", "ws://") + "ws?" + query) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "hello"
        proc.stdin.close()  # the child ends with code 5
        for _ in range(100):
            message = json.loads(ws.recv(timeout=10))
            if message["type"] == "exit" and message["exit_code"] == 5:
                break
        else:
            raise AssertionError("no exit event")
    proc.wait(timeout=30)
    assert proc.returncode == 5
    assert proc.stdout is not None
    proc.stdout.close()
    proc.stderr.close()
