"""Real Python programs recorded by memlens (`memlens run --interval 1`, in real time;
tests/data/programs/ holds each program and its recording): `memlens analyze --replay`
gives each the verdict its behaviour calls for, and raises a live leak alarm on the
leaks only. bench/bench_leaks.py reports the same table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import ROOT, run_memlens

PROGRAMS = ROOT / "tests" / "data" / "programs"
EXPECTED: dict[str, dict[str, object]] = json.loads((PROGRAMS / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_program_gets_its_verdict_and_alarm(name: str) -> None:
    spec = EXPECTED[name]
    path = PROGRAMS / str(spec["file"])
    assert path.stat().st_size < 64 * 1024, "a shipped recording stays small"
    assert (PROGRAMS / f"{name}.py").is_file(), "the program that made it ships with it"
    done = run_memlens("analyze", str(path), "--replay", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    process = next(s for s in body["series"] if not str(s["target"]).startswith("sum-"))
    assert process["verdict"] == spec["verdict"], process["reason"]
    alarms = [a for a in process["alerts"] if a["kind"] == "leak"]
    assert bool(alarms) is spec["alarm"], process["alerts"]
    if spec["alarm"]:
        assert alarms[0]["cleared_s"] is None  # a leak's alarm stands to the end
    else:
        # what grew (a warm-up, a filling cache, a high-water mark) is shown calmly
        assert [a for a in process["alerts"] if a["kind"] == "growing"]


def test_the_recordings_are_what_memlens_wrote() -> None:
    """Each is a memlens binary export of a `memlens run` of its program."""
    for spec in EXPECTED.values():
        done = run_memlens("analyze", str(PROGRAMS / str(spec["file"])))
        assert done.returncode == 0, done.stderr
        assert "binary export of" in done.stdout
        assert f"tests/data/programs/{Path(str(spec['file'])).stem}.py" in done.stdout
