"""Runtimes named where the mappings make them plain, on real ones: a JVM's heap with
-Xmx, the Go heap, V8 (node), glibc's malloc arenas; each skipped where the runtime is
not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from memlens.probes.maps import MapsReading, read_maps

MB = 1 << 20


@contextmanager
def started(args: list[str], cwd: Path | None = None) -> Iterator[int]:
    """A child that prints one line when it is ready, and is killed afterwards."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=cwd)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip().startswith("ready")
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


def runtime(reading: MapsReading, name: str) -> dict[str, object]:
    found = [r for r in reading.runtimes if r.name == name]
    assert len(found) == 1, reading.runtimes
    return vars(found[0])


JAVA = """
public class Hold {
    public static void main(String[] args) throws Exception {
        byte[][] kept = new byte[48][];
        for (int i = 0; i < kept.length; i++) { kept[i] = new byte[1 << 20]; }
        System.out.println("ready " + kept.length);
        Thread.sleep(120_000);
    }
}
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="no java here")
def test_jvm_heap_is_its_xmx_reservation(tmp_path: Path) -> None:
    source = tmp_path / "Hold.java"
    source.write_text(JAVA)
    with started(["java", "-Xmx256m", str(source)]) as pid:
        reading = read_maps(pid)
    heap = runtime(reading, "JVM")
    assert heap["size"] == 256 * MB
    assert heap["rss"] >= 48 * MB  # the 48 arrays live in it
    held = [m for m in reading.mappings if m.role == "Java heap"]
    assert sum(m.size for m in held) == 256 * MB
    assert max(held, key=lambda m: m.usage.rss).category == "anon"


@pytest.mark.skipif(shutil.which("java") is None, reason="no java here")
def test_jvm_without_xmx_is_named_and_nothing_more(tmp_path: Path) -> None:
    source = tmp_path / "Hold.java"
    source.write_text(JAVA)
    with started(["java", str(source)]) as pid:
        reading = read_maps(pid)
    assert runtime(reading, "JVM")["size"] == 0
    assert not [m for m in reading.mappings if m.role == "Java heap"]


GO = """
package main

import ("fmt"; "time")

func main() {
    kept := make([][]byte, 0)
    for i := 0; i < 48; i++ {
        b := make([]byte, 1<<20)
        for j := range b { b[j] = 1 }
        kept = append(kept, b)
    }
    fmt.Println("ready", len(kept))
    time.Sleep(120 * time.Second)
}
"""


@pytest.mark.skipif(shutil.which("go") is None, reason="no go here")
def test_go_heap(tmp_path: Path) -> None:
    (tmp_path / "main.go").write_text(GO)
    env = {**os.environ, "GOCACHE": str(tmp_path / "cache"), "GOFLAGS": "-mod=mod"}
    built = subprocess.run(
        ["go", "build", "-o", "hold", "main.go"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        pytest.skip(f"go cannot build here: {built.stderr.strip()[:200]}")
    with started([str(tmp_path / "hold")]) as pid:
        reading = read_maps(pid)
    heap = runtime(reading, "Go")
    assert heap["rss"] >= 48 * MB
    assert reading.runtimes[0].name == "Go"  # no glibc: a static Go binary has no arenas
    assert all(r.name != "glibc malloc" for r in reading.runtimes)


@pytest.mark.skipif(shutil.which("node") is None, reason="no node here")
def test_node_is_named_v8_and_its_spaces_are_not_guessed() -> None:
    script = "console.log('ready'); setTimeout(() => {}, 120000);"
    with started(["node", "-e", script]) as pid:
        reading = read_maps(pid)
    assert runtime(reading, "V8")["size"] == 0
    assert not [
        m for m in reading.mappings if m.role and m.role not in ("malloc arena", "thread stack")
    ]


ARENAS = """
import ctypes, sys, threading
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
gate = threading.Event()
written = threading.Semaphore(0)
def work():
    for _ in range(64):
        p = libc.malloc(64 << 10)   # below the mmap threshold: in this thread's arena
        ctypes.memset(p, 1, 64 << 10)
    written.release()
    gate.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: written.acquire()  # every thread has written its 4 MB
print("ready", flush=True)
sys.stdin.read()
"""


def test_glibc_arenas_of_threads_that_malloc() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", ARENAS], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        reading = read_maps(proc.pid)
    finally:
        proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
    arenas = runtime(reading, "glibc malloc")
    assert isinstance(arenas["count"], int)
    assert arenas["count"] >= 1
    assert isinstance(arenas["rss"], int)
    assert arenas["rss"] >= 4 * 64 * (64 << 10) // 2  # most of the 16 MB the threads wrote
    held = [m for m in reading.mappings if m.role == "malloc arena"]
    assert {m.category for m in held} == {"anon"}
    assert all(m.start % (64 * MB) == 0 for m in held if m.perms == "rw-p")
