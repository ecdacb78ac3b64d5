"""SIGTERM and SIGHUP (systemd, `docker stop`, a closed terminal) stop every long-running
command as Ctrl-C does: the recording is ended in the store, and the exit code is 0 (for
`run`, its command's). And `run` records its command's exit however it falls between
two rounds."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, Allocator, MemlensServer, run_memlens
from memlens.store import StoreReader


def assert_ended(db: Path) -> None:
    """The recording has an end, so `show` does not call it running or cut short."""
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        assert info.ended is not None
        assert info.ended >= info.started
    listed = run_memlens("ls-recordings", "--db", str(db))
    assert listed.returncode == 0
    assert "cut short" not in listed.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("command", ["watch", "exporter"])
def test_a_server_stops_on_sigterm_and_sighup_as_on_ctrl_c(
    command: str, signum: int, allocator: Allocator, tmp_path: Path
) -> None:
    db = tmp_path / "w.db"
    server = MemlensServer(command, str(allocator.pid), "--port", "0", "--db", str(db))
    server.proc.send_signal(signum)
    code = server.proc.wait(timeout=30)
    server.stop()
    assert code == 0, server.stderr
    assert "Traceback" not in server.stderr
    assert_ended(db)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_demo_stops_on_sigterm_and_sighup(signum: int, tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    server = MemlensServer("demo", "--port", "0", "--db", str(db))
    server.proc.send_signal(signum)
    # Checked before stop(): a memlens killed outright leaves the workload holding its
    # pipes, and reading them to the end would wait for the workload.
    assert server.proc.wait(timeout=30) == 0
    server.stop()
    assert_ended(db)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_serve_stops_on_sigterm_and_sighup(
    signum: int, allocator: Allocator, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    made = run_memlens("record", str(allocator.pid), "--duration", "0.3", "-o", str(db))
    assert made.returncode == 0, made.stderr
    server = MemlensServer("serve", str(db), "--port", "0")
    server.proc.send_signal(signum)
    assert server.proc.wait(timeout=30) == 0
    server.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_record_stops_on_sigterm_and_sighup(
    signum: int, allocator: Allocator, tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "memlens",
            "record",
            str(allocator.pid),
            "--interval",
            "0.1",
            "-o",
            str(db),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    _wait_for_samples(db, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"recorded into {db}" in out
    assert_ended(db)


def _wait_for_samples(db: Path, proc: subprocess.Popen[str]) -> None:
    """Until the recording holds a sample: memlens is up and sampling. If it never does,
    memlens is stopped and what it said is the failure's message, so that nothing of it
    is left running into the next test."""
    import time

    for _ in range(600):
        if proc.poll() is not None:
            break
        if db.exists():
            try:
                with StoreReader.open(db) as reader:
                    info = reader.recording("last")
                    if info.sample_count:
                        return
            except Exception:  # created but not written yet
                pass
        time.sleep(0.1)
    proc.kill()
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"memlens recorded nothing (exit {proc.returncode}): {err}")


CHILD = r"""
import signal, sys, time
def stop(signum, frame):
    print(f"child got signal {signum}", flush=True)
    sys.exit(40 + signum)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGHUP, stop)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_run_passes_sigterm_and_sighup_to_its_command_and_exits_with_its_code(
    signum: int, tmp_path: Path
) -> None:
    db = tmp_path / "run.db"
    proc = _run_until_ready(db, CHILD)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert f"child got signal {signum}" in out
    assert proc.returncode == 40 + signum, err
    assert_ended(db)
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        assert info.exit_code == 40 + signum
        process = next(t for t in reader.targets(info.id) if t.kind == "process")
        assert (process.state, process.exit_code) == ("exited", 40 + signum)


def test_run_kills_a_command_that_ignores_sigterm_after_a_grace(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    proc = _run_until_ready(db, stubborn)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL, err
    assert_ended(db)


@pytest.mark.parametrize(("seconds", "code"), [(3.1, 0), (2.9, 0), (1.02, 0), (3.1, 5), (0.0, 3)])
def test_run_records_its_commands_exit_whenever_it_falls(
    seconds: float, code: int, tmp_path: Path
) -> None:
    db = tmp_path / "x.db"
    result = run_memlens(
        "run",
        "-o",
        str(db),
        "--",
        sys.executable,
        "-c",
        f"import sys, time; time.sleep({seconds}); sys.exit({code})",
    )
    assert result.returncode == code, result.stderr
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        assert info.exit_code == code
        targets = reader.targets(info.id)
    if seconds:  # a command that ends at once may be gone before memlens can open it
        process = next(t for t in targets if t.kind == "process" and t.parent is None)
        assert (process.state, process.exit_code) == ("exited", code)
        assert all(t.state == "exited" for t in targets)
    shown = run_memlens("show", str(db))
    assert shown.returncode == 0
    assert "running" not in shown.stdout


def _run_until_ready(db: Path, code: str) -> subprocess.Popen[str]:
    """`memlens run -o DB -- python -c CODE`, once the command has said "ready"."""
    run = [sys.executable, "-m", "memlens", "run", "--interval", "0.2", "-o", str(db)]
    proc = subprocess.Popen(
        [*run, "--", sys.executable, "-u", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc
