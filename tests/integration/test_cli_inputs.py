"""Inputs that used to end in a traceback or a hang: intervals no clock can keep, places
memlens may not write or read, FIFOs where a recording should be, a reader that goes
away, memory that runs out, and a --name pattern that is in memlens's own ancestry."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ROOT, Allocator, run_memlens
from memlens.store import StoreReader

NINES = "9" * 400  # a plain number of seconds that is inf as a float


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["watch", "{pid}", "--interval", "inf"], "at most 3600 s"),
        (["watch", "{pid}", "--interval", "1e308"], "at most 3600 s"),
        (["watch", "{pid}", "--interval", "nan"], "at most 3600 s"),
        (["record", "{pid}", "--interval", "1e9"], "at most 3600 s"),
        (["exporter", "{pid}", "--interval", "inf"], "at most 3600 s"),
        (["exporter", "{pid}", "--otlp-interval", "inf"], "at most 3600 s"),
        (["run", "--interval", "inf", "--", "true"], "at most 3600 s"),
        (["check", "--interval", "1e308", "--", "true"], "at most 3600 s"),
        (["record", "{pid}", "--duration", NINES], "longer than 10 years"),
        (["record", "{pid}", "--duration", "5000d"], "longer than 10 years"),
        (["watch", "{pid}", "--history", NINES], "longer than 10 years"),
        (["check", "--warmup", NINES, "--", "true"], "longer than 10 years"),
        (["prune", "--samples", NINES], "longer than 10 years"),
    ],
)
def test_an_interval_or_duration_out_of_range_is_bad_usage(
    args: list[str], says: str, allocator: Allocator
) -> None:
    result = run_memlens(*[a.format(pid=allocator.pid) for a in args])
    assert result.returncode == 2
    assert says in one_line(result.stderr)


def test_a_config_file_interval_of_inf_is_bad_usage(tmp_path: Path) -> None:
    config = tmp_path / "memlens.toml"
    config.write_text("[leaks]\nevery = inf\n")
    result = run_memlens("check", "--config", str(config), "--", "true")
    assert result.returncode == 2
    assert "leaks.every" in one_line(result.stderr)


# -- a FIFO, a directory, a socket where a recording should be ----------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo.db"
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_by_every_command_that_takes_a_recording(
    fifo: Path, allocator: Allocator, tmp_path: Path
) -> None:
    export = tmp_path / "r.json"
    made = run_memlens(
        "record", str(allocator.pid), "--duration", "0.3", "-o", str(tmp_path / "r.db")
    )
    assert made.returncode == 0, made.stderr
    exported = run_memlens("export", str(tmp_path / "r.db"), "--format", "json", "-o", str(export))
    assert exported.returncode == 0, exported.stderr
    pid = str(allocator.pid)
    commands = [
        ["record", pid, "--duration", "0.5", "-o", str(fifo)],
        ["record", pid, "--duration", "0.5", "--db", str(fifo)],
        ["import", str(export), "--db", str(fifo)],
        ["import", str(fifo)],
        ["watch", pid, "--port", "0", "--db", str(fifo)],
        ["exporter", pid, "--port", "0", "--db", str(fifo)],
        ["run", "--db", str(fifo), "--", "true"],
        ["check", "-o", str(fifo), "--", "true"],
        ["serve", str(fifo), "--port", "0"],
        ["show", str(fifo)],
        ["show", "last", "--db", str(fifo)],
        ["ls-recordings", "--db", str(fifo)],
        ["export", str(fifo), "--format", "csv", "-o", str(tmp_path / "out.csv")],
        ["analyze", str(fifo)],
        ["report", str(fifo)],
        ["leaks", str(fifo)],
        ["prune", "--db", str(fifo)],
        ["check", str(fifo)],
    ]
    for args in commands:
        # A hang is what this guards against: it shows as the timeout, not as a time.
        result = run_memlens(*args, timeout=60)
        assert result.returncode == 2, (args, result.stderr)
        assert "is a FIFO" in one_line(result.stderr), args
    assert fifo.is_fifo()  # nothing replaced it


def test_a_directory_or_socket_as_the_store_is_refused(
    tmp_path: Path, allocator: Allocator
) -> None:
    import socket

    directory = tmp_path / "dir.db"
    directory.mkdir()
    sock_path = tmp_path / "s.db"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        for path, kind in ((directory, "is a directory"), (sock_path, "is a socket")):
            for args in (
                ["record", str(allocator.pid), "--duration", "0.3", "-o", str(path)],
                ["ls-recordings", "--db", str(path)],
            ):
                result = run_memlens(*args)
                assert result.returncode == 2, (args, result.stderr)
                assert kind in one_line(result.stderr)


# -- permissions, as a user other than root -------------------------------------------------

NOBODY = 65534


def _as_nobody() -> list[str] | None:
    """The start of a command line that runs Python as `nobody` with this memlens, or
    None where that cannot be done (not root, no setpriv, no interpreter nobody may run)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for python in (sys.executable, shutil.which(version)):
        if python is None:
            continue
        probe = subprocess.run(
            [*drop, python, "-c", "import memlens"],
            env=_nobody_env(),
            capture_output=True,
            timeout=30,
        )
        if probe.returncode == 0:
            return [*drop, python, "-m", "memlens"]
    return None


def _nobody_env() -> dict[str, str]:
    import site

    paths = [str(ROOT / "src"), *site.getsitepackages()]
    return {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PYTHONPATH": os.pathsep.join(paths)}


@pytest.fixture
def as_nobody() -> list[str]:
    command = _as_nobody()
    if command is None:
        pytest.skip("needs root, setpriv and a Python that the user nobody may run")
    return command


@contextlib.contextmanager
def shared_dir() -> Iterator[Path]:
    """A directory under /tmp that nobody may enter (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="memlens-perm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _run_as(command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args],
        env=_nobody_env(),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd="/",
    )


def test_a_store_in_a_directory_of_root_is_one_line_for_another_user(
    as_nobody: list[str],
) -> None:
    sleeper = subprocess.Popen(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "sleep", "30"]
    )
    try:
        with shared_dir() as top:
            private = top / "root-home"
            private.mkdir(mode=0o700)
            (private / "memlens.db").touch()
            locked = top / "locked"
            locked.mkdir(mode=0o755)  # nobody may enter and read it, not write there
            unreadable = top / "unreadable.db"
            made = run_memlens(
                "record", "--name", "no-such-process-x", "--duration", "0.2", "-o", str(unreadable)
            )
            assert made.returncode == 0, made.stderr
            unreadable.chmod(0o600)
            cases = [
                (
                    [
                        "record",
                        str(sleeper.pid),
                        "--duration",
                        "0.5",
                        "--db",
                        str(private / "memlens.db"),
                    ],
                    "cannot write",
                ),
                (
                    [
                        "record",
                        str(sleeper.pid),
                        "--duration",
                        "0.5",
                        "--db",
                        str(private / "sub" / "x.db"),
                    ],
                    "cannot",
                ),
                (
                    ["record", str(sleeper.pid), "--duration", "0.5", "-o", str(locked / "x.db")],
                    "cannot write",
                ),
                (
                    ["watch", str(sleeper.pid), "--port", "0", "--db", str(private / "memlens.db")],
                    "cannot write",
                ),
                (["ls-recordings", "--db", str(private / "memlens.db")], "cannot read"),
                (["show", "last", "--db", str(private / "memlens.db")], "cannot read"),
                (["show", str(unreadable)], "cannot be read"),
                (["analyze", str(unreadable)], "cannot be read"),
                (["prune", "--db", str(private / "memlens.db")], "cannot write"),
            ]
            for args, says in cases:
                result = _run_as(as_nobody, *args)
                assert result.returncode == 2, (args, result.stderr)
                line = one_line(result.stderr)
                assert says in line, (args, line)
                assert "ermission denied" in line, (args, line)
            assert not (locked / "x.db").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# -- a reader that goes away -----------------------------------------------------------------


def _with_closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """memlens writing into a pipe whose reading end is closed before it starts."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "memlens", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.close(write)


def test_a_closed_pipe_ends_every_command_quietly(allocator: Allocator, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    made = run_memlens(
        "record", str(allocator.pid), "--duration", "0.5", "--interval", "0.1", "-o", str(db)
    )
    assert made.returncode == 0, made.stderr
    for args in (
        ["ls", "--json"],
        ["ls"],
        ["show", str(db)],
        ["ls-recordings", "--db", str(db)],
        ["export", str(db), "--format", "csv", "-o", "-"],
        ["analyze", str(db)],
        ["analyze", str(db), "--json"],
        ["report", str(db)],
        ["--help"],
    ):
        result = _with_closed_stdout(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr == "", (args, result.stderr)


# -- memory running out ----------------------------------------------------------------------


def test_running_out_of_memory_is_one_line(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text("time,rss\n0,100\n1,200\n2,300\n")
    big = tmp_path / "big.csv"
    with big.open("w") as f:
        f.write("time,rss\n")
        f.writelines(f"{i},{100_000_000 + 7 * i}\n" for i in range(2_000_000))
    limit = 200 << 20  # address space: enough to start and read a small file

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def analyze(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "memlens", "analyze", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            preexec_fn=limited,
        )

    fits = analyze(small)
    assert fits.returncode == 0, fits.stderr  # the limit leaves memlens room to work
    result = analyze(big)
    assert result.returncode == 2
    assert (
        one_line(result.stderr) == "memlens: error: out of memory while running `memlens analyze`"
    )


# -- --name and memlens's own ancestry --------------------------------------------------------

PARENT = r"""
import subprocess, sys
# This parent's command line holds the pattern, as `timeout 60 memlens ... --name X` does.
result = subprocess.run([sys.executable, "-m", "memlens", *sys.argv[2:]], cwd=sys.argv[1])
sys.exit(result.returncode)
"""


def test_name_matches_neither_memlens_nor_its_ancestors(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    marker = "zz-lineage-marker"
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        wrapper = subprocess.run(
            [
                sys.executable,
                "-c",
                PARENT,
                str(ROOT),
                "record",
                "--name",
                f"{marker}|lineage",
                "--duration",
                "1.5",
                "--interval",
                "0.2",
                "-o",
                str(db),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wrapper.returncode == 0, wrapper.stderr
    finally:
        target.kill()
        target.wait()
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        assert [t.pid for t in reader.targets(info.id)] == [target.pid]


MEMLENS = (sys.executable, "-m", "memlens")


def test_name_does_not_match_another_memlens_watching_the_same_pattern(tmp_path: Path) -> None:
    marker = "zz-other-memlens-marker"
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    # `memlens watch --name X` already running while `memlens record --name X` starts:
    # its arguments hold the pattern, but it is not one of the processes asked for.
    other = subprocess.Popen(
        [*MEMLENS, "record", "--name", marker, "--duration", "30", "-o", str(tmp_path / "o.db")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "r.db"
    try:
        result = subprocess.run(
            [*MEMLENS, "record", "--name", marker, "--duration", "1.5", "-o", str(db)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert other.poll() is None  # it was there all along
    finally:
        for proc in (target, other):
            proc.kill()
            proc.wait()
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        assert [t.pid for t in reader.targets(info.id)] == [target.pid]
