"""Heap profiles in recordings: two real runs under `memlens run --profile` of a program
whose leak in `f` the second run mostly fixes; the recordings keep the profiles, and
`memlens diff` names f's stack with its change. `memlens report` lists the largest
stacks of a run's last profile, their names shown as data."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from heap_fixtures import frame, profile, stack
from helpers import MB, run_memlens, synthetic_day
from memlens.store import Store, StoreReader
from memlens.watch.heap_keep import HeapKeeper
from memlens.watch.heap_points import compact
from pprof_decode import decode

# Leaks `f_blocks` blocks of 64 KiB in f and 30 in g, says so, then waits for its file.
PROGRAM = """
import os, sys, time
held = []
def f(n):
    for _ in range(n):
        held.append(bytearray(64 * 1024))
def g(n):
    for _ in range(n):
        held.append(bytearray(64 * 1024))
f(int(sys.argv[1]))
g(30)
print("leaked", time.time(), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
"""
PATIENCE = 90.0


def _profiled_run(tmp_path: Path, name: str, f_blocks: int) -> Path:
    db, done = tmp_path / f"{name}.db", tmp_path / f"{name}.done"
    config = tmp_path / "memlens.toml"
    config.write_text('[leaks]\nstacks_every = "1s"\n')
    program = tmp_path / "leak.py"
    program.write_text(PROGRAM)
    run = subprocess.Popen(
        [sys.executable, "-m", "memlens", "run", "--profile", "--profile-interval", "16KiB",
         "--config", str(config), "-o", str(db), "--interval", "0.2", "--",
         sys.executable, str(program), str(f_blocks), str(done)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        word, leaked = run.stdout.readline().split()
        assert word == "leaked"
        # A profile taken after the leak is in the recording before the program ends.
        deadline = time.monotonic() + PATIENCE
        while not _profiled_after(db, float(leaked)):
            assert time.monotonic() < deadline, "no heap profile after the leak was kept"
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            time.sleep(0.1)
    finally:
        done.touch()
        _, err = run.communicate(timeout=PATIENCE)
    assert run.returncode == 0, err
    return db


def _profiled_after(db: Path, t: float) -> bool:
    if not db.exists():
        return False
    with StoreReader.open(db) as reader:
        rows = [r for info in reader.recordings() for r in reader.heap_profiles(info.id)]
    return any(r.t > t for r in rows)


def test_diff_names_the_stack_whose_leak_the_fix_shrank(tmp_path: Path) -> None:
    before = _profiled_run(tmp_path, "before", 320)  # 20 MB held by f
    after = _profiled_run(tmp_path, "after", 32)  # 2 MB
    done = run_memlens("diff", str(before), str(after), "--json")
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    stacks = diff["stacks"]
    assert stacks["a"]["pid"] != stacks["b"]["pid"]
    top = stacks["changes"][0]
    assert top["frames"][-1]["function"] == "f"
    assert top["frames"][-1]["file"].endswith("leak.py")
    # Sampled estimates of 20 MB and 2 MB held: the change is about -18 MB.
    assert top["a"] > 12 * MB
    assert top["b"] < 6 * MB
    assert top["change"] == top["b"] - top["a"]
    assert all(abs(c["change"]) <= abs(top["change"]) for c in stacks["changes"])
    assert [s for s in diff["summary"] if s.startswith("The stack that changed most: f (leak.py:")]
    text = run_memlens("diff", str(before), str(after))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("heap in use by stack")))
    first = lines[start + 2].split()
    assert first[4].startswith("-")  # A, B (value unit each), then the change
    assert first[6:8] == ["f", f"(leak.py:{_line_of_f()})"]
    # The last profile kept, exported as memlens profile writes one: f's stack is in it.
    folded = run_memlens("export", str(before), "--format", "collapsed", "-o", "-")
    assert folded.returncode == 0, folded.stderr
    sizes = {
        line.rsplit(" ", 1)[0].split(";")[-1]: int(line.rsplit(" ", 1)[1])
        for line in folded.stdout.splitlines()
    }
    [f_size] = [n for leaf, n in sizes.items() if leaf.startswith("f (") and "leak.py:" in leaf]
    assert abs(f_size - top["a"]) <= 1  # whole bytes in the folded file
    pb = tmp_path / "before.pb.gz"
    assert run_memlens("export", str(before), "-o", str(pb)).returncode == 0
    assert "f" in decode(pb.read_bytes()).strings
    # A run without heap profiles compares no stacks, and has no profile to export.
    plain = tmp_path / "plain.db"
    assert run_memlens("run", "-o", str(plain), "--", sys.executable, "-c", "pass").returncode == 0
    none = json.loads(run_memlens("diff", str(before), str(plain), "--json").stdout)
    assert none["stacks"] is None
    assert "heap in use by stack" not in run_memlens("diff", str(before), str(plain)).stdout
    refused = run_memlens("export", str(plain), "--format", "pprof", "-o", str(tmp_path / "x"))
    assert refused.returncode == 2
    assert "kept no heap profile" in refused.stderr


def _line_of_f() -> int:
    """The line of f's allocation in PROGRAM as written to leak.py (its first line is
    the empty one after the opening quotes)."""
    lines = PROGRAM.split("\n")
    return next(i for i, line in enumerate(lines) if "bytearray" in line) + 1


def test_a_report_lists_the_last_profiles_largest_stacks_their_names_shown_as_data(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hostile.db"
    rid, key = synthetic_day(db, seconds=120)
    evil = frame("<img src=x onerror=alert(1)>\x1b[2J", "/srv/<b>app.py", 3)
    kept = profile([stack([frame("main"), evil], 9 * MB), stack([frame("main")], 1 * MB)])
    store = Store.open(db)
    try:
        point = compact(kept, time.time())
        HeapKeeper(lambda k, t, row, drop: store.add_heap_profile(rid, k, t, row, drop)).on_point(
            key, point
        )
        store.flush()
    finally:
        store.close()
    data = json.loads(run_memlens("report", str(db), "--format", "json").stdout)
    heap = data["heap"]
    assert (heap["target_key"], heap["pid"], heap["inuse_bytes"]) == (key, 4242, 10 * MB)
    assert [s["inuse_bytes"] for s in heap["stacks"]] == [9 * MB, 1 * MB]
    assert heap["stacks"][0]["frames"][-1]["function"] == "<img src=x onerror=alert(1)>\x1b[2J"
    md = run_memlens("report", str(db), "--format", "md").stdout
    assert "## Heap in use by stack" in md
    row = r"| 9.0 MB | &lt;img src=x onerror=alert(1)&gt;\\x1b\[2J (&lt;b&gt;app.py:3) ← main"
    assert row in md  # Markdown's own characters escaped, the escape made visible
    assert "\x1b" not in md
    html = run_memlens("report", str(db), "--format", "html").stdout
    assert '<section id="heap">' in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    # A recording without heap profiles has no such section.
    plain = tmp_path / "plain.db"
    synthetic_day(plain, seconds=120)
    assert json.loads(run_memlens("report", str(plain), "--format", "json").stdout)["heap"] is None
    assert "Heap in use by stack" not in run_memlens("report", str(plain)).stdout
