"""Groups and honest sums with real processes: a parent whose forked children share its
pages (their PSS adds up to far less than their RSS, and `run`/`check --max-rss` judge
the PSS), 300 `sleep`s found by `--name`, a parent with 50 children of two kinds grouped
by command and by parent, and one group leak alert for 3 leaking children of one name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from helpers import FAST_DETECTOR, LEAKY_LIST, MB, ROOT, MemlensServer, run_memlens
from memlens.model import Target
from memlens.probes import open_process
from memlens.store import StoreReader
from memlens.watch.sampler import Sampler, SamplerConfig

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PSS needs /proc")

SHARED_MB = 200
# A parent that writes 200 MB, then (after a line on stdin, when argv[2] is "wait") forks
# 4 children that only sleep: its pages stay shared, copy-on-write, never written again.
# Everyone ends once the file argv[1] exists.
SHARING = f"""
import os, sys, time
stop = sys.argv[1]
data = b"x" * ({SHARED_MB} * 1024 * 1024)
print("ready", flush=True)
if sys.argv[2:] == ["wait"]:
    sys.stdin.readline()
kids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        while not os.path.exists(stop):
            time.sleep(0.05)
        os._exit(0)
    kids.append(pid)
print("forked", flush=True)
while not os.path.exists(stop):
    time.sleep(0.05)
for pid in kids:
    os.waitpid(pid, 0)
"""


@contextlib.contextmanager
def sharing_tree(stop: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SHARING, str(stop), "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        stop.touch()
        proc.stdin.close()  # a parent still waiting for its line goes on, and ends
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


def test_forked_children_sharing_pages_sum_to_their_pss(tmp_path: Path) -> None:
    with sharing_tree(tmp_path / "stop") as proc:
        sampler = Sampler(
            SamplerConfig(children=True, rescan_interval=0.0, agents=False, system=False),
            on_tick=lambda t: None,
            probes=[open_process(proc.pid)],
        )
        try:
            first = sampler.sample_once()  # the parent alone: its PSS is all of its RSS
            [total] = [t for t in first.new_targets if t.kind == "sum"]
            assert first.samples[total.key].pss >= SHARED_MB * MB  # type: ignore[operator]
            assert proc.stdin is not None
            assert proc.stdout is not None
            proc.stdin.write("fork\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "forked"
            # The round that finds the 4 children reads their PSS, and the parent's again:
            # it fell at the fork, which the parent's statm cannot show.
            tick = sampler.sample_once()
            assert len([t for t in tick.new_targets if t.kind == "process"]) == 4
        finally:
            sampler.stop()
    members = [k for k in tick.samples if k != total.key]
    assert len(members) == 5
    summed = tick.samples[total.key]
    assert summed.rss == sum(tick.samples[k].rss for k in members)
    assert summed.rss >= 5 * SHARED_MB * MB
    assert summed.pss == sum(tick.samples[k].pss or 0 for k in members)
    assert summed.pss is not None
    assert summed.rss / summed.pss > 3
    assert summed.uss is not None
    assert summed.uss < summed.pss
    assert all(tick.samples[k].pss is not None for k in members)


def _full_samples(db: Path) -> tuple[str, list[int]] | None:
    """The sum's key and the RSS of its samples that hold all 5 processes, once the
    recording has them."""
    if not db.exists():
        return None
    try:
        with StoreReader.open(db) as reader:
            info = reader.recording("last")
            sums = [t for t in reader.targets(info.id) if t.kind == "sum"]
            if not sums:
                return None
            rss = reader.series(info.id, sums[0].key)["rss"]
    except Exception:  # the store is still being made
        return None
    return sums[0].key, [int(v) for v in rss if v is not None and v >= 5 * SHARED_MB * MB]


def test_run_and_check_judge_a_forked_tree_on_its_pss(tmp_path: Path) -> None:
    db, stop = tmp_path / "run.db", tmp_path / "stop"
    limit = "600MB"  # above the tree's PSS (about 220 MB), below its RSS sum (over 1 GB)
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "memlens",
            "run",
            "--db",
            str(db),
            "--interval",
            "0.2",
            "--max-rss",
            limit,
            "--no-maps",
            "--no-agents",
            "--",
            sys.executable,
            "-c",
            SHARING,
            str(stop),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 90
        while (got := _full_samples(db)) is None or len(got[1]) < 3:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the tree's 5 processes were never recorded"
            time.sleep(0.2)
        stop.touch()
        out, err = run.communicate(timeout=60)
    finally:
        stop.touch()
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, err
    assert "above the limit" not in err  # no threshold alert: the PSS total stays below
    assert "RSS counted per process;" in out
    assert "PSS" in out
    with StoreReader.open(db) as reader:
        info = reader.recording("last")
        [total] = [t for t in reader.targets(info.id) if t.kind == "sum"]
        series = reader.series(info.id, total.key)
        events = reader.events(info.id)
    assert not [e for e in events if e.kind == "threshold"]
    full = [
        (r, p)
        for r, p in zip(series["rss"], series["pss"], strict=True)
        if r and r >= 5 * SHARED_MB * MB
    ]
    rss_last, pss_last = full[-1]
    assert pss_last is not None
    assert rss_last / pss_last > 3
    assert max(series["rss"]) > 600 * MB  # type: ignore[type-var]  # an RSS sum fails it
    # Never more than a third of the RSS sum, not even in the round that found the
    # children: the parent, whose PSS the fork halved and more, is read again in it.
    honest = [p if p is not None else r for r, p in zip(series["rss"], series["pss"], strict=True)]
    assert 3 * max(honest) < max(series["rss"])  # type: ignore[type-var,operator]

    passed = run_memlens("check", "--max-rss", limit, "--db", str(db), str(info.id))
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PSS (shared pages counted once" in passed.stdout
    assert "RSS counted per process" in passed.stdout
    failed = run_memlens("check", "--max-rss", "100MB", "--db", str(db), str(info.id))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"FAIL\s+max-rss\s+total", failed.stdout)


def test_pss_is_read_again_after_the_process_execs() -> None:
    from memlens.probes._linux import LinuxProcessProbe

    shell = subprocess.Popen(
        ["sh", "-c", "read line; exec sleep 600"], stdin=subprocess.PIPE, text=True
    )
    assert shell.stdin is not None
    probe = LinuxProcessProbe(shell.pid)
    try:
        before = probe.read_rollup()
        assert before is not None
        shell.stdin.write("go\n")
        shell.stdin.flush()
        deadline = time.monotonic() + 30
        while Path(f"/proc/{shell.pid}/comm").read_text().strip() != "sleep":
            assert time.monotonic() < deadline, "the shell never became sleep"
            time.sleep(0.01)
        # The kept smaps_rollup belonged to the shell's memory, gone with the exec.
        after = probe.read_rollup()
        assert after is not None
        assert after[1] is not None
    finally:
        probe.close()
        shell.kill()
        shell.wait()
        shell.stdin.close()


@contextlib.contextmanager
def processes(commands: list[list[str]]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            procs.append(subprocess.Popen(command, stdin=subprocess.DEVNULL))
        yield procs
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()


def _tag() -> str:
    """A sleep time no other process on this machine uses: what --name matches."""
    return f"{3000 + os.getpid() % 1000}.{uuid.uuid4().int % 10**8:08d}"


def test_300_sleeps_found_by_name_all_get_the_group_sleep() -> None:
    tag = _tag()
    with processes([["sleep", tag] for _ in range(300)]) as sleeps:
        server = MemlensServer(
            "watch",
            "--name",
            re.escape(f"sleep {tag}"),
            "--port",
            "0",
            "--no-record",
            "--no-maps",
            "--no-agents",
            "--no-system",
        )
        try:
            targets: dict[int, dict[str, object]] = {}
            with connect(server.ws_url) as ws:
                hello = json.loads(ws.recv(timeout=10))
                assert hello["group_by"] == "name"
                targets.update({t["pid"]: t for t in hello["targets"]})
                deadline = time.monotonic() + 60
                while len(targets) < 300:
                    assert time.monotonic() < deadline, f"{len(targets)} of 300 found"
                    message = json.loads(ws.recv(timeout=10))
                    if message["type"] == "target":
                        targets[message["target"]["pid"]] = message["target"]
        finally:
            server.stop()
    assert set(targets) == {p.pid for p in sleeps}
    assert {t["group"] for t in targets.values()} == {"sleep"}
    assert {t["ppid"] for t in targets.values()} == {os.getpid()}


# A parent of 25 `sleep`s and 25 `sh worker.sh`s: both kinds carry TAG in their command
# lines, the parent does not (it reads TAG from its environment).
PARENT = """
import os, subprocess, sys
tag, worker = os.environ["TAG"], os.environ["WORKER"]
kids = [subprocess.Popen(["sleep", tag]) for _ in range(25)]
kids += [subprocess.Popen(["sh", worker, tag], stdin=subprocess.PIPE) for _ in range(25)]
print("ready", flush=True)
sys.stdin.readline()
for kid in kids:
    kid.kill()
    kid.wait()
"""


def _grouped(pattern: str, group_by: str, count: int) -> list[Target]:
    """The targets a sampler finds by `pattern`, grouped by `group_by`, once it has
    found `count` (a process caught right after its exec shows an empty command line
    for a moment: the matcher looks at it again in the next round)."""
    sampler = Sampler(
        SamplerConfig(
            name_pattern=re.compile(pattern),
            group_by=group_by,
            rescan_interval=0.0,
            agents=False,
            system=False,
        ),
        on_tick=lambda t: None,
    )
    try:
        found: list[Target] = []
        for _ in range(200):
            found.extend(sampler.sample_once().new_targets)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"found {len(found)} of {count} processes")
    finally:
        sampler.stop()


def test_a_parent_with_50_children_of_two_kinds_grouped_by_command_and_by_parent(
    tmp_path: Path,
) -> None:
    tag = _tag()
    worker = tmp_path / "worker.sh"
    worker.write_text("read line\n")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TAG": tag, "WORKER": str(worker)},
    )
    assert parent.stdin is not None
    assert parent.stdout is not None
    try:
        assert parent.stdout.readline().strip() == "ready"
        parent_name = Path(f"/proc/{parent.pid}/comm").read_text().strip()
        by_command = _grouped(re.escape(tag), "command", 50)
        by_parent = _grouped(re.escape(tag), "parent", 50)
        by_name = _grouped(re.escape(tag), "name", 50)
    finally:
        parent.stdin.write("done\n")
        parent.stdin.close()
        parent.wait(timeout=30)
        parent.stdout.close()

    def groups(targets: list[Target]) -> dict[str, int]:
        out: dict[str, int] = {}
        for target in targets:
            out[target.group] = out.get(target.group, 0) + 1
        return out

    assert groups(by_command) == {"sleep": 25, "sh worker.sh": 25}
    assert groups(by_parent) == {f"children of {parent_name} [{parent.pid}]": 50}
    assert groups(by_name) == {"sleep": 25, "sh": 25}
    assert {t.ppid for t in by_parent} == {parent.pid}


def test_three_leaking_children_of_one_name_make_one_group_alert(tmp_path: Path) -> None:
    tag = _tag()
    config = tmp_path / "memlens.toml"
    config.write_text(FAST_DETECTOR)
    source = f"# {tag}\n{LEAKY_LIST}"
    with processes([[sys.executable, "-u", "-c", source] for _ in range(3)]) as leaky:
        label = Path(f"/proc/{leaky[0].pid}/comm").read_text().strip()
        server = MemlensServer(
            "watch",
            "--name",
            re.escape(tag),
            "--port",
            "0",
            "--interval",
            "0.2",
            "--config",
            str(config),
            "--no-record",
            "--no-maps",
            "--no-agents",
        )
        try:
            raised: list[dict[str, object]] = []
            with connect(server.ws_url) as ws:
                deadline = time.monotonic() + 150
                while not raised or raised[-1]["count"] != 3:
                    assert time.monotonic() < deadline, f"no group leak of 3: {raised}"
                    message = json.loads(ws.recv(timeout=30))
                    if message["type"] == "group_leak":
                        assert message["state"] == "raised", message
                        raised.append(message)
        finally:
            server.stop()
    first, last = raised[0], raised[-1]
    assert first["count"] in (2, 3)  # members judged in one round raise it together
    assert first["of"] == 3
    assert first["key"] is None
    assert last["group"] == first["group"]
    assert first["group"] == label
    assert len(last["members"]) == 3  # type: ignore[arg-type]
    assert last["rate_each"] is not None
    assert last["rate_each"] > 1 * MB
    assert "3 of 3 processes of" in str(last["text"])
    # The terminal shows the group once, not one leak line per member.
    lines = server.stderr.splitlines()
    assert len([line for line in lines if "group_leak:" in line]) == 1
    assert len([line for line in lines if " leak: " in line]) <= 1
