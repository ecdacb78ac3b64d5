"""`memlens mark PID TEXT` reaches every running watch of PID through the mark spool, with
real watches: a recording-only `memlens record`, and `memlens run` beside a second
watch of its child; files in a watch's inbox that memlens did not write are refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import run_memlens, wait_for_recorded_target
from memlens.store import StoreReader
from memlens.watch.mark_spool import MAX_FILE

SLEEPER = "import time; print('ready', flush=True); time.sleep(120)"
PATIENCE = 60.0


def _marks(db: Path) -> list[dict[str, object]]:
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        return [
            {"text": e.data["text"], "source": e.data["source"], "key": e.target_key}
            for e in reader.events(info.id, kinds=["mark"])
        ]


def _wait_for_marks(db: Path, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = _marks(db)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{db} never held {count} marks")


def _inbox(runtime: Path, watcher: int) -> Path:
    path = runtime / "memlens" / "marks" / str(watcher)
    deadline = time.monotonic() + PATIENCE
    while not (path / "watching").exists():
        assert time.monotonic() < deadline, "the watch never opened its inbox"
        time.sleep(0.05)
    return path


def _record(pid: int, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "memlens", "record", str(pid), "--interval", "0.1", "-o", str(db)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 0, err
    return err


def test_a_recording_only_watch_records_a_shell_mark_and_refuses_planted_files(
    tmp_path: Path, runtime: Path
) -> None:
    db = tmp_path / "rec.db"
    child = subprocess.Popen([sys.executable, "-c", SLEEPER], stdout=subprocess.PIPE, text=True)
    recorder = None
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        recorder = _record(child.pid, db)
        wait_for_recorded_target(db, child.pid, recorder)
        inbox = _inbox(runtime, recorder.pid)
        body = {"pid": child.pid, "t": time.time(), "text": "planted"}
        big = inbox / "m-1-0123456789abcdef.json"
        big.write_bytes(json.dumps(body).encode() + b" " * MAX_FILE)
        planted = [big]
        if os.geteuid() == 0:  # another user's file, as only root can make one here
            foreign = inbox / "m-2-0123456789abcdef.json"
            foreign.write_bytes(json.dumps(body).encode())
            os.chown(foreign, 65534, 65534)
            planted.append(foreign)
        marked = run_memlens("mark", str(child.pid), "batch <2>\x1b[2J")
        assert marked.returncode == 0, marked.stderr
        assert "in 1 running watch: batch <2>\\x1b[2J" in marked.stdout
        [mark] = _wait_for_marks(db, 1)
        assert all(not p.exists() for p in planted)
        err = _stop(recorder)
        assert err.count("refused a mark file") == len(planted)
    finally:
        if recorder is not None and recorder.poll() is None:
            recorder.kill()
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    assert _marks(db) == [{"text": "batch <2>\x1b[2J", "source": "shell", "key": mark["key"]}]
    assert str(mark["key"]).startswith(f"{child.pid}-")
    assert not (runtime / "memlens" / "marks" / str(recorder.pid)).exists()  # gone with it


CHILD = """
import os, sys, time
print(os.getpid(), flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
"""


def test_one_shell_mark_reaches_memlens_run_and_a_second_watch_of_its_child(
    tmp_path: Path, runtime: Path
) -> None:
    run_db, rec_db, done = tmp_path / "run.db", tmp_path / "rec.db", tmp_path / "done"
    runner = subprocess.Popen(
        [sys.executable, "-m", "memlens", "run", "-o", str(run_db), "--interval", "0.1", "--",
         sys.executable, "-c", CHILD, str(done)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    recorder = None
    try:
        assert runner.stdout is not None
        pid = int(runner.stdout.readline())
        recorder = _record(pid, rec_db)
        wait_for_recorded_target(rec_db, pid, recorder)
        wait_for_recorded_target(run_db, pid, runner)
        _inbox(runtime, runner.pid)
        marked = run_memlens("mark", str(pid), "phase 2")
        assert marked.returncode == 0, marked.stderr
        assert "in 2 running watches" in marked.stdout
        for db in (run_db, rec_db):
            [mark] = _wait_for_marks(db, 1)
            assert (mark["text"], mark["source"]) == ("phase 2", "shell")
        done.touch()
        runner.communicate(timeout=PATIENCE)
        assert runner.returncode == 0
        _, err = recorder.communicate(timeout=PATIENCE)  # its target is gone: it ends
        assert recorder.returncode == 0, err
    finally:
        done.touch()
        for proc in (runner, recorder):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    # Nothing watches the PID any more: no inbox takes it, and no recording is open.
    late = run_memlens("mark", str(pid), "too late", "--db", str(run_db))
    assert late.returncode == 2
    assert f"no running watch of PID {pid}" in late.stderr


PROFILED = """
import os, sys, time
import memlens
p = memlens.Profiler(sys.argv[1])
p.take_snapshot()
print(os.getpid(), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
p.take_snapshot()
p.cleanup()
"""


def test_a_profilers_process_has_no_inbox_and_gets_the_mark_through_its_store(
    tmp_path: Path, runtime: Path
) -> None:
    done = tmp_path / "done"
    child = subprocess.Popen(
        [sys.executable, "-c", PROFILED, str(tmp_path), str(done)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        db = tmp_path / "memlens.db"
        # The snapshot is committed by the store's writer within about a second.
        wait_for_recorded_target(db, pid, child)
        marked = run_memlens("mark", str(pid), "by hand", "--db", str(db))
        assert marked.returncode == 0, marked.stderr
        assert marked.stdout.startswith("marked recording ")
    finally:
        done.touch()
        _, err = child.communicate(timeout=PATIENCE)
    assert child.returncode == 0, err
    assert [(m["text"], m["source"]) for m in _marks(db)] == [("by hand", "shell")]
    assert not (runtime / "memlens" / "marks").exists() or not any(
        (runtime / "memlens" / "marks").iterdir()
    )  # the Profiler samples on demand: it keeps no inbox
