"""The sampler against real processes: exits, PID reuse, descendants, --name discovery."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from helpers import MB, Allocator
from memlens.model import Tick
from memlens.probes import open_process, probe_backends
from memlens.watch.sampler import Sampler, SamplerConfig


def sampler_for(*pids: int, **config: object) -> Sampler:
    probes = [open_process(pid) for pid in pids]
    return Sampler(SamplerConfig(**config), on_tick=lambda t: None, probes=probes)  # type: ignore[arg-type]


def rounds_until(sampler: Sampler, done: object, limit: int = 400) -> list[Tick]:
    ticks = []
    for _ in range(limit):
        tick = sampler.sample_once()
        ticks.append(tick)
        if callable(done) and done(tick):
            return ticks
        time.sleep(0.02)
    raise AssertionError("condition never met")


def test_first_round_announces_targets_and_follows_growth(allocator: Allocator) -> None:
    sampler = sampler_for(allocator.pid)
    first = sampler.sample_once()
    key = first.new_targets[0].key
    assert first.seq == 1
    assert first.samples[key].cpu is None
    allocator.alloc(48)
    second = sampler.sample_once()
    assert second.seq == 2
    assert second.new_targets == ()
    assert second.samples[key].rss - first.samples[key].rss >= 46 * MB
    assert second.samples[key].cpu is not None
    sampler.stop()


def test_a_child_that_exits_becomes_an_exit_event_with_its_code() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(7)"], stdin=subprocess.PIPE
    )
    sampler = Sampler(
        SamplerConfig(),
        on_tick=lambda t: None,
        probes=[open_process(child.pid)],
        children_of_memlens=[child],
    )
    sampler.sample_once()
    assert child.stdin is not None
    child.stdin.close()
    ticks = rounds_until(sampler, lambda t: t.exits)
    gone = ticks[-1].exits[0]
    assert gone.state == "exited"
    assert gone.exit_code == 7
    assert gone.exit_reason == "exited"
    assert gone.exit_time is not None
    # Later rounds go on without the target and without failing.
    later = sampler.sample_once()
    assert later.samples == {}
    assert sampler.targets()[0].state == "exited"
    sampler.stop()


def _force_next_pid(pid: int) -> None:
    with open("/proc/sys/kernel/ns_last_pid", "w") as f:
        f.write(str(pid - 1))


@pytest.mark.skipif(
    not (
        sys.platform.startswith("linux")
        and os.geteuid() == 0
        and os.access("/proc/sys/kernel/ns_last_pid", os.W_OK)
    ),
    reason="forcing a PID to be reused needs root on Linux (ns_last_pid)",
)
@pytest.mark.parametrize("backend", probe_backends())
def test_a_reused_pid_ends_the_old_target_and_is_never_mixed_in(backend: str) -> None:
    old = subprocess.Popen(["sleep", "60"])
    pid = old.pid
    sampler = Sampler(
        SamplerConfig(backend=backend),
        on_tick=lambda t: None,
        probes=[open_process(pid, backend=backend)],
    )
    first = sampler.sample_once()
    old_key = first.new_targets[0].key
    old.kill()
    old.wait()
    # Start times have clock-tick resolution (10 ms): a PID reused within the same tick
    # would look like the same process to every tool that reads /proc. Wait past it.
    time.sleep(0.05)
    new = None
    for _ in range(50):  # another process may take the PID first; try again
        _force_next_pid(pid)
        candidate = subprocess.Popen(["sleep", "60"])
        if candidate.pid == pid:
            new = candidate
            break
        candidate.kill()
        candidate.wait()
    if new is None:
        pytest.skip("could not get the same PID back")
    try:
        tick = sampler.sample_once()
        assert old_key not in tick.samples
        assert [t.key for t in tick.exits] == [old_key]
        assert tick.exits[0].exit_reason == "pid-reused"
    finally:
        new.kill()
        new.wait()
        sampler.stop()


SPAWNER = r"""
import subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c",
        "import time; b = bytearray(16 * 1024 * 1024); b[::4096] = b'x' * 4096; time.sleep(60)"])
        for _ in range(2)]
print("spawned", flush=True)
sys.stdin.read()
for k in kids:
    k.kill(); k.wait()
"""


@pytest.fixture
def spawner() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", SPAWNER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "spawned"
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait()
    proc.stdout.close()


def test_children_get_their_own_series_and_a_summed_one(spawner: subprocess.Popen[str]) -> None:
    sampler = sampler_for(spawner.pid, children=True, rescan_interval=0.0)
    ticks = rounds_until(sampler, lambda t: len(t.samples) >= 4)
    targets = {t.key: t for t in sampler.targets()}
    sums = [t for t in targets.values() if t.kind == "sum"]
    assert len(sums) == 1
    total = sums[0]
    assert len(total.members) == 3
    children = [t for t in targets.values() if t.parent is not None]
    assert len(children) == 2
    assert all(t.parent == total.members[0] for t in children)
    # Each child holds its 16 MB; the summed series is the sum of the members' readings.
    last = ticks[-1]
    rounds_until(sampler, lambda t: all(t.samples[c.key].rss > 16 * MB for c in children))
    last = sampler.sample_once()
    assert last.samples[total.key].rss == sum(last.samples[m].rss for m in total.members)
    assert last.samples[total.key].threads == sum(last.samples[m].threads for m in total.members)
    sampler.stop()


def test_name_and_children_together_put_matching_children_under_their_parent(
    spawner: subprocess.Popen[str],
) -> None:
    # Both the spawner and its two children match; only the spawner becomes a root.
    pattern = re.compile(r"spawned|bytearray\(16")
    sampler = Sampler(
        SamplerConfig(name_pattern=pattern, children=True, rescan_interval=0.0),
        on_tick=lambda t: None,
    )
    rounds_until(sampler, lambda t: len(t.samples) >= 4)
    sums = [t for t in sampler.targets() if t.kind == "sum"]
    assert len(sums) == 1
    assert sums[0].pid == spawner.pid
    assert len(sums[0].members) == 3
    sampler.stop()


def test_name_pattern_picks_up_processes_as_they_start() -> None:
    marker = f"memlens-test-{uuid.uuid4().hex[:8]}"
    script = f"import time; time.sleep(60)  # {marker}"
    first = subprocess.Popen([sys.executable, "-c", script])
    sampler = Sampler(
        SamplerConfig(name_pattern=re.compile(re.escape(marker)), rescan_interval=0.0),
        on_tick=lambda t: None,
    )
    second = None
    try:
        tick = rounds_until(sampler, lambda t: t.samples, limit=20)[-1]
        assert {t.pid for t in tick.new_targets} == {first.pid}
        second = subprocess.Popen([sys.executable, "-c", script])
        rounds_until(sampler, lambda t: any(x.pid == second.pid for x in t.new_targets))
        # memlens's own process never matches, even though its arguments might.
        assert os.getpid() not in {t.pid for t in sampler.targets()}
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.kill()
                proc.wait()
        sampler.stop()


def test_the_thread_delivers_ticks_in_order_and_stops(allocator: Allocator) -> None:
    got: list[Tick] = []
    arrived = threading.Event()

    def on_tick(tick: Tick) -> None:
        got.append(tick)
        if len(got) >= 5:
            arrived.set()

    sampler = Sampler(
        SamplerConfig(interval=0.05), on_tick=on_tick, probes=[open_process(allocator.pid)]
    )
    sampler.start()
    assert arrived.wait(30)
    sampler.stop()
    count = len(got)
    time.sleep(0.2)
    assert len(got) == count  # stopped means stopped
    assert [t.seq for t in got] == list(range(1, count + 1))
    assert all(b.time > a.time for a, b in itertools.pairwise(got))


def test_many_targets_read_memory_every_round_and_the_rest_in_turn(allocator: Allocator) -> None:
    # full_read_limit=0 puts even one process in the mode used for hundreds of them.
    probe = open_process(allocator.pid)
    sampler = Sampler(
        SamplerConfig(full_read_limit=0, slow_every=3), on_tick=lambda t: None, probes=[probe]
    )
    key = probe.identity.key
    first = sampler.sample_once().samples[key]
    allocator.alloc(24)
    allocator.command("free")
    allocator.alloc(32)
    rounds = [sampler.sample_once().samples[key] for _ in range(6)]
    # Memory is fresh every round, right after the allocation.
    assert rounds[0].rss - first.rss >= 30 * MB
    # The slower fields are read in full once every three rounds and repeated between.
    assert first.cpu is None
    assert sum(r.cpu is not None for r in rounds) >= 4
    assert all(r.threads == first.threads for r in rounds)
    sampler.stop()
