"""`memlens maps` and the map probe on real children, each compared to smaps itself."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memlens.cli import main
from memlens.errors import EXIT_UNREADABLE, TargetGone
from memlens.probes.maps import MapsProbe, MapsReading, Usage

MB = 1024 * 1024
KB = 1024

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


class Child:
    """A Python child that sets its memory up, prints one line (its answer) and waits
    for stdin to close."""

    def __init__(self, source: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", source, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.answer = self.proc.stdout.readline().strip()
        assert self.answer, "the child ended before it was ready"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def child() -> Iterator[list[Child]]:
    made: list[Child] = []
    yield made
    for c in made:
        c.stop()


def start(made: list[Child], source: str, *args: str) -> Child:
    c = Child(source, *args)
    made.append(c)
    return c


ANON = """
import ctypes, mmap, sys
m = mmap.mmap(-1, 100 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for i in range(0, len(m), 4096):
    m[i] = 1
print(hex(ctypes.addressof(ctypes.c_char.from_buffer(m))), flush=True)
sys.stdin.read()
"""

FILE = """
import mmap, sys
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
total = sum(m[i] for i in range(0, len(m), 4096))
print("ready", flush=True)
sys.stdin.read()
"""

SHM = """
import sys
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(create=True, size=20 << 20)
for i in range(0, shm.size, 4096):
    shm.buf[i] = 1
print(shm.name, flush=True)
sys.stdin.read()
shm.close()
shm.unlink()
"""

THREADS = """
import sys, threading
gate = threading.Event()
threads = [threading.Thread(target=gate.wait) for _ in range(50)]
for t in threads:
    t.start()
print("ready", flush=True)
sys.stdin.read()
gate.set()
"""

MALLOC = """
import ctypes, sys
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
print("ready", flush=True)
for line in sys.stdin:
    for _ in range(int(line)):
        p = libc.malloc(1 << 20)
        ctypes.memset(p, 1, 1 << 20)  # touched: resident
    print("ok", flush=True)
"""

MANY_MAPPINGS = """
import mmap, sys
keep = []
for i in range(4000):
    prot = mmap.PROT_READ if i % 2 else mmap.PROT_READ | mmap.PROT_WRITE
    keep.append(mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE, prot=prot))
print("ready", flush=True)
sys.stdin.read()
"""


def smaps_entries(pid: int) -> dict[int, dict[str, object]]:
    """smaps itself, parsed the plainest way: start address → its header and fields."""
    out: dict[int, dict[str, object]] = {}
    current: dict[str, object] = {}
    with open(f"/proc/{pid}/smaps", "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            head = line.split(None, 5)
            if "-" in head[0] and ":" not in head[0]:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                current = {"end": hi, "perms": head[1], "path": head[5] if len(head) > 5 else ""}
                out[lo] = current
            elif head[0].endswith(":") and len(head) >= 2 and head[1].isdigit():
                current[head[0][:-1]] = int(head[1]) * KB
    return out


def consistent(pid: int) -> tuple[MapsReading, Usage]:
    """A reading and the kernel's rollup taken around it with no change in between."""
    probe = MapsProbe(pid)
    try:
        for _ in range(50):
            before = probe.rollup()
            reading = probe.read()
            if probe.rollup() == before:
                return reading, before
    finally:
        probe.close()
    pytest.fail("the child's memory kept changing")


def assert_adds_up(reading: MapsReading, rollup: Usage) -> None:
    """The categories sum to smaps_rollup: RSS, USS and swap exactly, PSS within the
    1 KiB per mapping that smaps rounds away."""
    cats = list(reading.categories.values())
    total = Usage(*(sum(u[i] for u in cats) for i in range(4)))
    assert total == reading.total
    assert total.rss == rollup.rss
    assert total.uss == rollup.uss
    assert total.swap == rollup.swap
    assert 0 <= rollup.pss - total.pss <= len(reading.mappings) * KB


def cli_json(pid: int, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    capsys.readouterr()
    assert main(["maps", str(pid), "--json", *extra]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_touched_anonymous_mmap_is_anon(
    child: list[Child], capsys: pytest.CaptureFixture[str]
) -> None:
    c = start(child, ANON)
    address = int(c.answer, 16)
    raw = smaps_entries(c.pid)[address]
    assert raw["Rss"] == 100 * MB
    reading, rollup = consistent(c.pid)
    assert_adds_up(reading, rollup)
    mapping = next(m for m in reading.mappings if m.start == address)
    assert mapping.category == "anon"
    assert mapping.usage.rss == raw["Rss"]
    assert reading.categories["anon"].rss >= 100 * MB
    out = cli_json(c.pid, capsys, "--top", "3")
    categories = out["categories"]
    assert isinstance(categories, dict)
    assert set(categories) == {"heap", "anon", "file", "stack", "shmem", "other"}
    assert set(categories["anon"]) == {"rss", "pss", "uss", "swap"}
    assert categories["anon"]["rss"] >= 100 * MB
    top = out["top"]
    assert isinstance(top, list)
    assert len(top) == 3
    assert top[0]["start"] == hex(address)
    assert top[0]["category"] == "anon"
    assert str(out["reading"]).startswith("most of it (")


def test_mapped_file_read_is_file(
    child: list[Child], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"\1" * (50 * MB))
    c = start(child, FILE, str(data))
    entries = smaps_entries(c.pid)
    start_address, raw = next((a, e) for a, e in entries.items() if e["path"] == str(data))
    assert raw["Rss"] == 50 * MB
    reading, rollup = consistent(c.pid)
    assert_adds_up(reading, rollup)
    mapping = next(m for m in reading.mappings if m.start == start_address)
    assert (mapping.category, mapping.path, mapping.usage.rss) == ("file", str(data), 50 * MB)
    assert reading.categories["file"].rss >= 50 * MB
    out = cli_json(c.pid, capsys)
    assert out["categories"]["file"]["rss"] >= 50 * MB  # type: ignore[index]


def test_shared_memory_is_shmem(child: list[Child]) -> None:
    c = start(child, SHM)
    path = f"/dev/shm/{c.answer}"
    entries = smaps_entries(c.pid)
    start_address, raw = next((a, e) for a, e in entries.items() if e["path"] == path)
    assert raw["Rss"] == 20 * MB
    reading, rollup = consistent(c.pid)
    assert_adds_up(reading, rollup)
    mapping = next(m for m in reading.mappings if m.start == start_address)
    assert (mapping.category, mapping.usage.rss) == ("shmem", 20 * MB)
    assert reading.categories["shmem"].rss == 20 * MB


def _stack_pointers(pid: int) -> list[int]:
    """Each thread's stack pointer as the kernel shows it (task/TID/syscall: the number,
    six arguments, the stack pointer, the program counter), but the main thread's."""
    pointers = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        if int(tid) == pid:
            continue
        with open(f"/proc/{pid}/task/{tid}/syscall") as f:
            fields = f.read().split()
        assert len(fields) == 9, f"thread {tid} is not blocked: {fields}"
        pointers.append(int(fields[7], 16))
    return pointers


def test_threads_stacks_are_stack(child: list[Child], capsys: pytest.CaptureFixture[str]) -> None:
    c = start(child, THREADS)
    reading, rollup = consistent(c.pid)
    assert_adds_up(reading, rollup)
    assert reading.thread_stacks == 50
    pointers = _stack_pointers(c.pid)
    assert len(pointers) == 50
    holding = [next(m for m in reading.mappings if m.start <= sp < m.end) for sp in pointers]
    assert {m.category for m in holding} == {"stack"}
    assert {m.role for m in holding} == {"thread stack"}
    in_stacks = sum(m.usage.rss for m in reading.mappings if m.category == "stack")
    assert reading.categories["stack"].rss == in_stacks
    assert in_stacks >= sum(m.usage.rss for m in set(holding)) > 0
    capsys.readouterr()
    assert main(["maps", str(c.pid)]) == 0
    assert "thread stacks: 50" in capsys.readouterr().out


def test_malloc_growth_is_heap_or_anon(child: list[Child]) -> None:
    c = start(child, MALLOC)
    assert c.proc.stdin is not None
    assert c.proc.stdout is not None
    before, _ = consistent(c.pid)
    c.proc.stdin.write("200\n")
    c.proc.stdin.flush()
    assert c.proc.stdout.readline().strip() == "ok"
    after, rollup = consistent(c.pid)
    assert_adds_up(after, rollup)
    grew = {k: after.categories[k].rss - before.categories[k].rss for k in after.categories}
    native = grew["heap"] + grew["anon"]
    assert native >= 200 * MB
    assert native >= 0.95 * sum(grew.values())


def test_ends_mid_read_is_target_gone(child: list[Child]) -> None:
    c = start(child, MANY_MAPPINGS)
    probe = MapsProbe(c.pid)
    chunks = []

    def end_it() -> None:
        chunks.append(1)
        if len(chunks) == 1:
            c.proc.kill()
            c.proc.wait(10)

    try:
        with pytest.raises(TargetGone):
            probe.read(between=end_it)
    finally:
        probe.close()
    assert len(chunks) == 1  # the first chunk was read, the rest was not


def test_ended_process_is_one_line_exit_3(
    child: list[Child], capsys: pytest.CaptureFixture[str]
) -> None:
    c = start(child, THREADS)
    os.kill(c.pid, signal.SIGKILL)
    os.waitid(os.P_PID, c.pid, os.WEXITED | os.WNOWAIT)  # a zombie: /proc/PID is still there
    capsys.readouterr()
    assert main(["maps", str(c.pid)]) == EXIT_UNREADABLE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"memlens: error: process {c.pid} has exited\n"


def _as_other_user() -> list[str] | None:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def test_another_users_process_is_one_line_exit_3(child: list[Child]) -> None:
    prefix = _as_other_user()
    if prefix is None:
        pytest.skip("running as root without setpriv: no other user to read from")
    if prefix:
        target = start(child, THREADS).pid  # root's, read as nobody
    else:
        target = 1
        if os.stat("/proc/1").st_uid == os.geteuid():
            pytest.skip("PID 1 is this user's: no other user's process to read")
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "memlens", "maps", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    if prefix and "No module named memlens" in done.stderr:
        pytest.skip("user nobody cannot import this checkout")
    assert done.returncode == EXIT_UNREADABLE, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"memlens: error: not allowed to read process {target}'s memory map")


def test_hostile_mapped_file_name_is_shown_safely(
    child: list[Child], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "evil\x1b]0;PWN\x07\nname\u202e.bin"
    data.write_bytes(b"\1" * MB)
    c = start(child, FILE, str(data))
    capsys.readouterr()
    assert main(["maps", str(c.pid), "--top", "100"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\u202e" not in out
    line = next(line for line in out.splitlines() if "evil" in line)
    # The kernel writes a newline in a path as \012; memlens shows the rest escaped.
    assert line.endswith("evil\\x1b]0;PWN\\x07\\012name\\u202e.bin")
    document = cli_json(c.pid, capsys, "--top", "100")
    paths = [m["path"] for m in document["top"]]  # type: ignore[attr-defined]
    assert str(data).replace("\n", "\\012") in paths
