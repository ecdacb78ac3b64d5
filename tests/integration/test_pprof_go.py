"""The pprof file opens in the real `go tool pprof` (Debian's golang-go, which
scripts/test installs where it is missing), whose -top shows the profile's functions
with their exact values, and whose -raw lists each stack."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from heap_fixtures import HANDLE, MAIN, MB, frame, profile, stack
from memlens.formats.heap_profile import HeapProfile, from_dict
from memlens.formats.pprof import dump_pprof

GO = shutil.which("go") or next(
    (p for p in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go") if os.access(p, os.X_OK)), None
)
pytestmark = pytest.mark.skipif(GO is None, reason="go is not installed (scripts/test installs it)")

# flat flat% sum% cum cum% name
_ROW = re.compile(r"^\s*(-?\d+)B?\s+\S+%\s+\S+%\s+(-?\d+)B?\s+\S+%\s+(.+)$")


def pprof(path: Path, *args: str) -> str:
    assert GO is not None
    env = {**os.environ, "HOME": str(path.parent), "PPROF_TMPDIR": str(path.parent)}
    result = subprocess.run(
        [GO, "tool", "pprof", *args, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def top(path: Path, sample_index: str | None = None) -> dict[str, tuple[int, int]]:
    """{function: (flat, cum)} from `go tool pprof -top`, in bytes or objects."""
    args = ["-top", "-unit=B", "-nodecount=1000"]
    if sample_index is not None:
        args.append(f"-sample_index={sample_index}")
    rows = {}
    for line in pprof(path, *args).splitlines():
        m = _ROW.match(line)
        if m is not None:
            rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return rows


def write(tmp_path: Path, p: HeapProfile) -> Path:
    path = tmp_path / "heap.pb.gz"
    path.write_bytes(dump_pprof(p))
    return path


def test_top_shows_each_function_with_its_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, from_dict(profile()))
    out = pprof(path, "-top")
    assert "Type: inuse_space" in out
    rows = top(path)
    # flat: bytes allocated in the function itself (the leaf); cum: under it.
    assert rows["load_catalog"] == (6 * MB, 9 * MB)
    assert rows["JSONDecoder.raw_decode"] == (3 * MB, 3 * MB)
    assert rows["main"] == (1 * MB, 10 * MB)
    assert rows["Shop.handle"] == (0, 9 * MB)
    assert rows["[no Python frame]"] == (512 * 1024, 512 * 1024)
    assert next(iter(rows)) == "load_catalog"  # the largest first
    assert top(path, "alloc_space")["JSONDecoder.raw_decode"] == (30 * MB, 30 * MB)
    assert top(path, "inuse_objects")["JSONDecoder.raw_decode"] == (30, 30)
    assert top(path, "alloc_objects")["load_catalog"] == (10, 310)


def test_raw_lists_each_stack_leaf_first(tmp_path: Path) -> None:
    path = write(tmp_path, from_dict(profile()))
    out = pprof(path, "-raw")
    assert (
        "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]" in out
    )
    assert "PeriodType: space bytes" in out
    assert "Period: 524288" in out
    samples = re.findall(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+): ([\d ]+)$", out, re.MULTILINE)
    locations = dict(re.findall(r"^\s*(\d+): 0x0 M=1 (\S+) ", out, re.MULTILINE))
    stacks = {
        tuple(locations[i] for i in ids.split()): tuple(int(v) for v in values)
        for *values, ids in samples
    }
    assert stacks[("load_catalog", "Shop.handle", "main")] == (10, 20 * MB, 3, 6 * MB)
    assert stacks[("main",)] == (1, 1 * MB, 1, 1 * MB)
    assert len(stacks) == 4


def test_allocated_and_growth_profiles_open(tmp_path: Path) -> None:
    path = write(tmp_path, from_dict(profile(kind="allocated")))
    assert "Type: alloc_space" in pprof(path, "-top")
    growth = profile(
        [
            stack([MAIN, HANDLE], 5 * MB, 5, alloc=0, alloc_count=0),
            stack([MAIN, frame("drop_cache")], -2 * MB, -2, alloc=0, alloc_count=0),
        ],
        kind="growth",
    )
    path = write(tmp_path, from_dict(growth))
    rows = top(path)
    assert rows["Shop.handle"] == (5 * MB, 5 * MB)
    assert rows["drop_cache"] == (-2 * MB, -2 * MB)
    assert rows["main"] == (0, 3 * MB)
