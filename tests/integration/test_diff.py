"""`memlens diff RUN_A RUN_B`: two real runs of a child that holds known amounts, and two
stored recordings (one leaking, one flat) whose verdicts differ."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from helpers import MB, MemlensServer, run_memlens
from memlens.model import Reading, Target, Tick
from memlens.store import Store

HOLD = "import sys, time; x = b'x' * ({mb} << 20); time.sleep(1.5); sys.exit({code})"


def _record(path: Path, mb: int, code: int) -> None:
    done = run_memlens(
        "run", "-o", str(path), "--interval", "0.1", "--",
        sys.executable, "-c", HOLD.format(mb=mb, code=code),
    )  # fmt: skip
    assert done.returncode == code, done.stderr


def test_two_real_runs_side_by_side(tmp_path: Path) -> None:
    before, after = tmp_path / "before.db", tmp_path / "after.db"
    _record(before, 80, 0)
    _record(after, 20, 3)
    done = run_memlens("diff", str(before), str(after), "--json")
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    assert diff["format"] == "memlens-diff"
    a, b, changes = diff["a"], diff["b"], diff["changes"]
    # The bytes held differ by 60 MB; the interpreter around them is the same.
    assert abs(a["peak"] - b["peak"] - 60 * MB) < 8 * MB
    assert changes["peak"]["change"] == b["peak"] - a["peak"]
    assert changes["peak"]["ratio"] == b["peak"] / a["peak"] - 1
    assert changes["exit_code"] == {"a": 0, "b": 3, "change": None, "ratio": None}
    assert any(s.startswith("B peaks ") and s.endswith("% lower.") for s in diff["summary"])
    assert "The exit code changed: 0 → 3." in diff["summary"]
    text = run_memlens("diff", str(before), str(after))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    [peak] = [line for line in lines if line.startswith("peak RSS")]
    assert re.fullmatch(r"\(-\d+%\)", peak.split()[-1])
    [code] = [line for line in lines if line.startswith("exit code")]
    assert code.split()[2:] == ["0", "3", "changed"]


def _stored(store: Store, name: str, slope: float) -> None:
    """Ten minutes at 1 Hz of one process whose RSS grows by `slope` bytes/s, with a
    small sawtooth as a garbage collector makes."""
    start = time.time() - 3600
    target = Target(
        key=f"{name}-1", kind="process", pid=4000, start_time=start, name=name, cmdline=name
    )
    rid = store.begin_recording(name=name, command=name, interval=1.0, host="test", started=start)
    for i in range(600):
        rss = int(100 * MB + slope * i + (i % 30) * 64 * 1024)
        reading = Reading(rss, 2 * rss, 4 * MB, 0, 4, 12, 1.0)
        store.add_tick(
            rid, Tick(i + 1, start + i, {target.key: reading}, (target,) if i == 0 else ())
        )
    store.end_recording(rid, ended=start + 600)


def test_a_fixed_leak_reads_as_fixed(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    store = Store.open(db)
    try:
        _stored(store, "leaky", 100 * 1024)
        _stored(store, "fixed", 0.0)
        store.flush(60)
    finally:
        store.close()
    done = run_memlens("diff", "leaky", "fixed", "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    diff = json.loads(done.stdout)
    assert diff["a"]["verdict"] == "leak"
    assert diff["a"]["leak_rate"] > 50 * 1024
    assert diff["b"]["verdict"] != "leak"
    assert diff["b"]["leak_rate"] is None
    assert diff["summary"][0] == f"B no longer leaks (A: leak, B: {diff['b']['verdict']})."
    # FILE#ID names the same recordings.
    again = run_memlens("diff", f"{db}#1", f"{db}#2", "--json")
    assert json.loads(again.stdout)["changes"] == diff["changes"]
    text = run_memlens("diff", "leaky", "fixed", "--db", str(db)).stdout
    [verdict] = [line for line in text.splitlines() if line.startswith("leak verdict")]
    assert verdict.split()[2:] == ["leak", diff["b"]["verdict"], "changed"]


def test_an_unknown_run_is_a_usage_error(tmp_path: Path) -> None:
    done = run_memlens("diff", str(tmp_path / "none.db"), str(tmp_path / "none.db"))
    assert done.returncode == 2
    assert done.stderr.strip()


def test_serve_overlays_two_runs_aligned_at_their_starts(tmp_path: Path) -> None:
    before, after = tmp_path / "before.db", tmp_path / "after.db"
    _record(before, 40, 0)
    _record(after, 10, 0)
    exported = {
        side: json.loads(run_memlens("export", str(path), "--format", "json", "-o", "-").stdout)
        for side, path in (("A", before), ("B", after))
    }
    shift = exported["A"]["recording"]["started"] - exported["B"]["recording"]["started"]
    for args in ((str(before), str(after)), (str(before), "--compare", str(after))):
        server = MemlensServer("serve", *args, "--port", "0")
        try:
            targets = server.get("api/targets").json()["targets"]
            names = sorted(t["name"] for t in targets)
            expected = sorted(
                f"{side}: {t['name']}" for side, doc in exported.items() for t in doc["targets"]
            )
            assert names == expected
            for target in exported["B"]["targets"]:
                key = target["key"] + "-B"
                got = server.get("api/samples", params={"target": key}).json()["series"]
                original = exported["B"]["series"][target["key"]]
                assert got["rss"] == original["rss"]
                assert got["t"] == pytest.approx([t + shift for t in original["t"]], abs=1e-6)
            for target in exported["A"]["targets"]:
                got = server.get("api/samples", params={"target": target["key"]}).json()
                assert got["series"]["t"] == pytest.approx(
                    exported["A"]["series"][target["key"]]["t"], abs=1e-6
                )
        finally:
            server.stop()
    both = run_memlens("serve", str(before), str(after), "--compare", str(after))
    assert both.returncode == 2
