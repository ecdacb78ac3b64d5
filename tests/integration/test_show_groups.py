"""The summary `memlens record` and `memlens show` print, of a real recording of many
real processes: one row per group (its honest sum), its largest members and how many
more, never one row per process, so 12 workers are a few lines as in the report."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import run_memlens

WORKERS = 12


@pytest.fixture
def dozers(tmp_path: Path) -> Iterator[list[int]]:
    """12 copies of sleep named `dozer`, and one `loner`: a group and a process alone."""
    sleep = shutil.which("sleep")
    assert sleep is not None
    for name in ("dozer", "loner"):
        shutil.copy(sleep, tmp_path / name)
    procs = [subprocess.Popen([str(tmp_path / "dozer"), "600"]) for _ in range(WORKERS)]
    procs.append(subprocess.Popen([str(tmp_path / "loner"), "600"]))
    try:
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_show_summarises_a_group_in_one_row_and_its_largest_members(
    dozers: list[int], tmp_path: Path
) -> None:
    db = tmp_path / "r.db"
    pattern = f"^{tmp_path}/(dozer|loner)"
    recorded = run_memlens("record", "--name", pattern, "--duration", "2", "-o", str(db))
    assert recorded.returncode == 0, recorded.stderr
    shown = run_memlens("show", str(db))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "Σ a sum, in PSS where read" in shown.stdout
    group = [line for line in lines if f"Σ dozer ×{WORKERS}" in line]
    assert len(group) == 1
    assert group[0].split()[-1] == "running"
    members = [line for line in lines if "dozer (pid " in line]
    assert len(members) == 3  # the largest three, not all 12
    assert sum(f"… {WORKERS - 3} more" in line for line in lines) == 1
    assert sum(f"loner (pid {dozers[-1]})" in line for line in lines) == 1  # alone: itself
    assert recorded.stdout.count(f"Σ dozer ×{WORKERS}") == 1  # record prints the same
