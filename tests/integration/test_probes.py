"""Both probe backends read a real child's memory within a page of what /proc says."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import MB, Allocator
from memlens.errors import TargetGone, TargetNotFound
from memlens.probes import open_process, probe_backends

PAGE = os.sysconf("SC_PAGE_SIZE")
BACKENDS = probe_backends()


@pytest.mark.parametrize("backend", BACKENDS)
def test_rss_follows_a_child_that_allocates_a_known_amount(
    allocator: Allocator, backend: str
) -> None:
    probe = open_process(allocator.pid, backend=backend)
    try:
        before = probe.read()
        # The reading and the kernel's own figure agree within a page or so.
        assert abs(before.rss - allocator.vmrss()) <= 4 * PAGE
        allocator.alloc(64)
        after = probe.read()
        kernel = allocator.vmrss()
        assert abs(after.rss - kernel) <= 4 * PAGE
        grown = after.rss - before.rss
        assert 64 * MB - 2 * MB <= grown <= 64 * MB + 4 * MB
        assert after.vms >= after.rss
        assert after.threads >= 1
        assert after.fds >= 3  # stdin, stdout, stderr at least
        assert after.cpu is not None
        assert after.cpu >= 0.0
        assert before.cpu is None  # the first reading has no delta to speak of
    finally:
        probe.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_only_readings_follow_the_child_and_repeat_the_slower_fields(
    allocator: Allocator, backend: str
) -> None:
    probe = open_process(allocator.pid, backend=backend)
    try:
        full = probe.read()
        idle = [probe.read(full=False) for _ in range(3)]
        # Nothing moved: the same memory, and the slower fields of the full reading.
        for r in idle:
            assert abs(r.rss - full.rss) <= 4 * PAGE
            assert (r.threads, r.fds, r.swap) == (full.threads, full.fds, full.swap)
        allocator.alloc(32)
        grown = probe.read(full=False)
        assert abs(grown.rss - allocator.vmrss()) <= 4 * PAGE
        assert 32 * MB - 2 * MB <= grown.rss - idle[-1].rss <= 32 * MB + 4 * MB
        assert grown.vms >= idle[-1].vms + 32 * MB - 2 * MB
        assert grown.threads == full.threads  # repeated until the next full reading
        allocator.alloc(1)  # the child's `buf` now names this one, not the 32 MB
        allocator.command("free")  # a large bytearray is its own mapping: RSS drops
        shrunk = probe.read(full=False)
        assert abs(shrunk.rss - allocator.vmrss()) <= 4 * PAGE
        assert shrunk.rss < grown.rss - 16 * MB
    finally:
        probe.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_detail_adds_uss_and_pss(allocator: Allocator, backend: str) -> None:
    allocator.alloc(32)
    probe = open_process(allocator.pid, backend=backend, detail=True)
    try:
        r = probe.read()
        assert r.uss is not None
        assert r.pss is not None
        assert 32 * MB <= r.uss <= r.rss
        assert r.uss <= r.pss <= r.rss
        plain = open_process(allocator.pid, backend=backend)
        reading = plain.read()
        plain.close()
        assert reading.uss is None
        assert reading.pss is None
    finally:
        probe.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_identity_is_pid_and_start_time(allocator: Allocator, backend: str) -> None:
    probe = open_process(allocator.pid, backend=backend)
    ident = probe.identity
    assert ident.pid == allocator.pid
    assert ident.key.startswith(f"{allocator.pid}-")
    assert abs(ident.start_time - _psutil_create_time(allocator.pid)) < 0.05
    assert probe.name.startswith("python")
    assert "-c" in probe.cmdline
    probe.close()


def _psutil_create_time(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).create_time())


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_process_that_ends_reads_as_gone_even_before_it_is_reaped(backend: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    probe = open_process(child.pid, backend=backend)
    probe.read()
    assert child.stdin is not None
    child.stdin.close()  # the child exits; it stays a zombie until we wait for it
    _wait_for_zombie(child.pid)
    with pytest.raises(TargetGone):
        probe.read()
    child.wait()
    with pytest.raises(TargetGone):
        probe.read()
    probe.close()


def _wait_for_zombie(pid: int) -> None:
    import psutil

    proc = psutil.Process(pid)
    for _ in range(500):
        if proc.status() == psutil.STATUS_ZOMBIE:
            return
        import time

        time.sleep(0.01)
    raise AssertionError("child did not exit")


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_and_invalid_pids(backend: str) -> None:
    from helpers import unused_pid

    with pytest.raises(TargetNotFound, match="no process"):
        open_process(unused_pid(), backend=backend)
    with pytest.raises(TargetNotFound, match="not a valid PID"):
        open_process(-3, backend=backend)
